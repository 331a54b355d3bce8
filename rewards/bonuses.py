"""Bonuses: a requester's extra pay to a worker, for one answer or for their work on a job."""
from __future__ import annotations

import datetime as dt
from typing import Any

from annotation.models import Answer, Job
from app.extensions import db
from app.identity.models import User
from rewards.accounts import escrow_account, pending_account, requester_account
from rewards.errors import InsufficientFunds, InvalidAmount, RewardsConflict, RewardsNotFound
from rewards.escrow import budget_for, escrow_needs
from rewards.holds import new_hold, record_holds
from rewards.ledger import post_transfer
from rewards.models import LedgerTransfer
from rewards.policy import current_policy
from rewards.settlement import _require_amount


def bonus_transfer_key(requester: User, key: str) -> str:
    """The ledger key of a requester's bonus: their own key, scoped to them."""
    return f"bonus:{requester.id}:{(key or '').strip()}"


def _already_posted(key: str) -> bool:
    return db.session.scalar(db.select(LedgerTransfer.id).where(LedgerTransfer.key == key)) is not None


def pay_bonus(requester: User, job: Job, *, amount: Any, key: str, worker_id: int | None = None,
              answer_id: int | None = None, source: str = "escrow", now: dt.datetime | None = None,
              reason: str = "") -> LedgerTransfer:
    """A bonus from the job's owner to a worker (for one answer, or for their work on the job),
    paid from what the job's escrow can spare or from the owner's balance. Held like any other
    earning. `key` is the requester's id for this bonus: sending it again pays nothing.

    Only the owner pays from a job (an admin moderates but never spends a requester's money), and
    nobody pays a bonus to themselves.
    """
    if job.owner_id != requester.id:
        raise RewardsNotFound(f"Job {job.id} not found.")
    amount = _require_amount(amount)
    key = key.strip() if isinstance(key, str) else ""
    if not key or len(key) > 100:
        raise InvalidAmount("A bonus needs a key of 1–100 characters (your id for it).", field="key")
    if source not in ("escrow", "balance"):
        raise InvalidAmount("source must be 'escrow' or 'balance'.", field="source")
    if worker_id is not None and int(worker_id) == requester.id:
        raise RewardsConflict("Nobody pays a bonus to themselves.")
    if answer_id is not None:
        answer = db.session.get(Answer, int(answer_id))
        if answer is None or answer.job_id != job.id:
            raise RewardsNotFound(f"Answer {answer_id} is not part of job {job.id}.")
        worker_id = answer.worker_id
    elif worker_id is None or db.session.scalar(
            db.select(Answer.id).where(Answer.job_id == job.id, Answer.worker_id == int(worker_id)).limit(1)) is None:
        raise RewardsNotFound("A bonus goes to an annotator who answered in this job; name the answer or worker.")
    worker_id = int(worker_id)
    if worker_id == requester.id:
        raise RewardsConflict("Nobody pays a bonus to themselves.")
    policy = current_policy()
    budget = budget_for(job, policy, lock=True)  # one spender of the job's money at a time
    transfer_key = bonus_transfer_key(requester, key)
    pending = pending_account(budget.token, worker_id)
    if source == "escrow":
        payer = escrow_account(budget.token, job.id)
        db.session.refresh(job, ["n_items", "status"])
        spare = escrow_needs(job, budget).surplus
        if amount > spare and not _already_posted(transfer_key):
            raise InsufficientFunds(
                f"This job's budget can spare {spare} {budget.token} beyond what it must keep for "
                f"its remaining answers; pay the bonus from your balance instead.", spare=spare)
    else:
        payer = requester_account(budget.token, requester.id)
    memo = {"job_id": job.id, "worker_id": worker_id, "answer_id": answer_id, "reason": reason[:500]}
    try:
        transfer = post_transfer(transfer_key, {payer: -amount, pending: amount}, kind="bonus", memo=memo)
    except InsufficientFunds:
        raise InsufficientFunds(f"Your balance does not cover a bonus of {amount} {budget.token}.") from None
    record_holds([new_hold(transfer_key, "bonus", worker_id, job.id, answer_id, amount, policy, now=now)])
    return transfer
