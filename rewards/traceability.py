"""What a dataset export can prove: the on-chain roots that cover its labels.

Each accepted answer paid out is a leaf of its epoch's contributions tree (answer id, item id,
worker wallet, salted label commitment, reward, epoch); the manifest lists, per epoch, the root,
the transaction that posted it and which of the job's answers it covers, so a requester can
check any label's provenance against the chain without trusting the platform.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from annotation.jobs import require_manager
from annotation.models import Answer, AnswerStatus, Job
from app.extensions import db
from app.identity.models import User
from rewards.models import ChainTx, ContributionLeaf, PayoutEpoch


def job_manifest(user: User, job: Job) -> dict[str, Any]:
    """The manifest of `job`'s accepted answers and the roots covering them."""
    require_manager(user, job)
    rows = db.session.execute(
        db.select(ContributionLeaf.answer_id, ContributionLeaf.item_id, ContributionLeaf.epoch_id)
        .join(Answer, Answer.id == ContributionLeaf.answer_id)
        .where(Answer.job_id == job.id).order_by(ContributionLeaf.answer_id)).all()
    accepted = db.session.scalar(db.select(db.func.count()).select_from(Answer).where(
        Answer.job_id == job.id, Answer.status == AnswerStatus.ACCEPTED)) or 0
    by_epoch: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for answer_id, item_id, epoch_id in rows:
        by_epoch[epoch_id].append((answer_id, item_id))
    epochs = []
    for epoch_id in sorted(by_epoch):
        epoch = db.session.get(PayoutEpoch, epoch_id)
        post = db.session.scalar(db.select(ChainTx).where(
            ChainTx.epoch_id == epoch_id, ChainTx.purpose == "post_epoch", ChainTx.status == "confirmed"))
        epochs.append({
            "epoch": epoch_id, "chain_id": epoch.chain_id, "distributor": epoch.distributor,
            "contributions_root": epoch.contributions_root,
            "posted_in_tx": post.tx_hash if post else None, "posted_in_block": post.block_number if post else None,
            "answers": [{"answer_id": a, "item_id": i} for a, i in by_epoch[epoch_id]],
        })
    return {
        "format": "fairlabel-manifest-v1", "job_id": job.id, "title": job.title,
        "accepted_answers": int(accepted), "answers_on_chain": len(rows),
        "leaf_encoding": ["uint256 answerId", "uint256 itemId", "address wallet", "bytes32 labelCommitment",
                          "uint256 reward", "uint256 epoch"],
        "epochs": epochs,
        "note": ("Accepted answers appear here once their reward is released and paid out in an "
                 "epoch; each annotator can download the proof (with the label's salt) for their own."),
    }
