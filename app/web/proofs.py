"""Contribution proofs: an annotator's on-chain records, downloadable, and verified in the browser.

`/verify` checks a proof in the browser (static/js/verify-proof.js) and asks this server only for
the root posted for the proof's epoch (`/verify/root?epoch=N`): from the configured chain, or,
when the node cannot be reached, from this server's record of the confirmed posting transaction.
The answer says which, and the page repeats it.
"""
from __future__ import annotations

import json
import logging
import re

from flask import Response, abort, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from app.extensions import db, limiter
from app.web import web
from rewards.chain.errors import ChainError, ChainUnavailable
from rewards.models import ContributionLeaf, PayoutEpoch
from rewards.payouts import PostedRoot, contribution_proof, root_on_chain, root_on_record
from rewards.payouts.proofs import MAX_EPOCH

log = logging.getLogger(__name__)

ROOT_LOOKUP_LIMIT = "120 per minute"  # each lookup that is not cached asks the node
_CACHE_SIZE = 10_000


@web.get("/me/contributions")
@login_required
def contributions():
    if not current_user.is_annotator:
        abort(403, "This page is for annotators.")
    rows = db.session.execute(
        db.select(ContributionLeaf, PayoutEpoch).join(PayoutEpoch, PayoutEpoch.id == ContributionLeaf.epoch_id)
        .where(ContributionLeaf.worker_id == current_user.id)
        .order_by(ContributionLeaf.answer_id.desc()).limit(500)).all()
    return render_template("proofs/contributions.html", rows=rows)


@web.get("/me/contributions/<int:answer_id>/proof.json")
@login_required
def contribution_proof_download(answer_id: int):
    proof = contribution_proof(current_user, answer_id)
    return Response(json.dumps(proof, indent=2), mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="fairlabel-proof-{answer_id}.json"'})


@web.get("/verify")
def verify_proof_page():
    """Anyone can check a proof here: the work happens in the browser; only the epoch number is sent."""
    return render_template("proofs/verify.html")


@web.get("/verify/root")
@limiter.limit(ROOT_LOOKUP_LIMIT)
def posted_root():
    """JSON: the contributions root posted for `?epoch=N` (null if none), and where it was learned."""
    text = request.args.get("epoch", "")
    if not re.fullmatch(r"[0-9]{1,10}", text):
        abort(400, f"epoch must be a whole number from 1 to {MAX_EPOCH}.")
    return jsonify(_posted_root(int(text)).as_json())


def _posted_root(epoch: int) -> PostedRoot:
    """From the configured chain (cached once found: a root buried under the confirmation rule is
    final), else from the record, with the reason."""
    config = current_app.config
    cache = current_app.extensions.setdefault("fairlabel_posted_roots", {})
    chain = None
    try:
        from rewards.onchain import current_chain

        chain = current_chain()
        key = (chain.chain_id, chain.distributor.address, epoch)
        if key in cache:
            return cache[key]
        found = root_on_chain(chain, epoch)
    except ChainUnavailable as exc:
        log.warning("posted root of epoch %s from the record: %s", epoch, exc.message)
        note = "the chain node could not be reached"
    except ChainError as exc:
        log.warning("posted root of epoch %s from the record: %s", epoch, exc.message)
        note = "the chain could not be read"
    else:
        if found.root is not None:
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[key] = found
        return found
    chain_id = chain.chain_id if chain else config.get("CHAIN_ID")
    distributor = chain.distributor.address if chain else config.get("CHAIN_DISTRIBUTOR_ADDRESS")
    if not distributor:
        return PostedRoot(epoch, None, "record", int(chain_id or 0), "(not configured)", note=note)
    return root_on_record(chain_id, distributor, epoch, note=note)
