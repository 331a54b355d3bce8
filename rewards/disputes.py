"""Disputes: a requester contests an accepted answer within its hold; someone who is party to
neither side decides."""
from __future__ import annotations

import datetime as dt

from annotation.models import Answer, AnswerStatus, Job, JobStatus
from app.extensions import db, utcnow
from app.identity.models import User
from rewards.errors import InvalidAmount, RewardsConflict, RewardsNotFound
from rewards.escrow import budget_for
from rewards.funding import refund_job
from rewards.holds import release_holds
from rewards.ledger import reverse_transfer
from rewards.models import Hold, HoldStatus


def dispute_answer(requester: User, answer: Answer, *, reason: str, now: dt.datetime | None = None) -> list[Hold]:
    """The job's owner disputes an accepted answer within its hold: its earnings stop at
    pending until someone who is not a party decides."""
    now = now or utcnow()
    job = db.session.get(Job, answer.job_id)
    if job.owner_id != requester.id:
        raise RewardsNotFound(f"Answer {answer.id} not found.")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 1000:
        raise InvalidAmount("Say why you dispute this answer (1–1000 characters).", field="reason")
    holds = db.session.scalars(db.select(Hold).where(Hold.answer_id == answer.id).with_for_update()).all()
    open_holds = [h for h in holds if h.status is HoldStatus.HELD and h.release_at > now]
    if answer.status is not AnswerStatus.ACCEPTED or not open_holds:
        raise RewardsConflict("Only an accepted answer still within its hold period can be disputed.")
    for hold in open_holds:
        hold.status, hold.dispute_reason = HoldStatus.DISPUTED, reason
    db.session.flush()
    return open_holds


def resolve_dispute(admin: User, answer: Answer, *, uphold: bool, now: dt.datetime | None = None) -> None:
    """An admin decides a dispute: upheld, the answer is rejected and each of its earnings goes
    back where it came from by a reversing transfer (rewards, fees and top-ups to the job's
    escrow, a balance-funded bonus to the requester's balance); dismissed, the earnings are
    released to the worker. Nobody decides a dispute they are party to: not the job's owner (who
    disputed) and not the answer's worker."""
    now = now or utcnow()
    if not admin.is_admin:
        raise RewardsNotFound(f"Answer {answer.id} not found.")
    job = db.session.get(Job, answer.job_id)
    if admin.id in (job.owner_id, answer.worker_id):
        raise RewardsConflict("You are a party to this dispute; another admin must decide it.")
    budget_for(job, lock=True)  # the budget before any account (rewards/escrow.py's lock order)
    holds = db.session.scalars(db.select(Hold).where(
        Hold.answer_id == answer.id, Hold.status == HoldStatus.DISPUTED).with_for_update()).all()
    if not holds:
        raise RewardsConflict(f"Answer {answer.id} has no open dispute.")
    if not uphold:
        for hold in holds:
            hold.status, hold.release_at = HoldStatus.HELD, now
        db.session.flush()
        release_holds(now=now, worker_id=answer.worker_id)
        return
    for hold in sorted(holds, key=lambda h: h.id):
        reverse_transfer(f"hold:{hold.id}:reverse", hold.key, kind="dispute_upheld",
                         memo={"answer_id": answer.id})
        hold.status, hold.decided_at = HoldStatus.REVERSED, now
    answer.status = AnswerStatus.REJECTED
    answer.overruled_by = "dispute"
    answer.reject_reason = f"The requester disputed this answer and an admin upheld it: {holds[0].dispute_reason}"
    db.session.flush()
    if job.status is JobStatus.CLOSED:
        refund_job(job)
