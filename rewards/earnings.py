"""Paying for accepted work, and what workers see of their earnings."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func

from annotation.models import Answer, AnswerStatus, Job
from app.extensions import db
from app.identity.models import User
from rewards.accounts import settlement_accounts, worker_balances, worker_ref
from rewards.escrow import budget_for
from rewards.holds import new_hold, record_holds
from rewards.ledger import TransferSpec, post_transfers
from rewards.models import Hold, HoldStatus, LedgerAccount, LedgerEntry, LedgerTransfer
from rewards.payfloor import pay_owed_topups, raise_topup_if_floor_missed
from rewards.policy import PayPolicy, current_policy


def pay_answers(job: Job, answers: Sequence[Answer]) -> None:
    """Accepted answers earn reward (+ top-up) into the worker's pending balance, and the fee
    goes to the platform, from the job's escrow, in one batch of transfers.

    The job's budget is locked first (the lock order of rewards/escrow.py), then every account
    is fetched (or created) before any balance moves, and the batch moves each balance once, in
    account-id order: creating an account mid-way, or locking transfer by transfer, could
    deadlock two requests on PostgreSQL.
    """
    accepted = sorted((a for a in answers if a.status is AnswerStatus.ACCEPTED), key=lambda a: a.id)
    if not accepted:
        return
    policy = current_policy()
    budget = budget_for(job, policy, lock=True)
    if job.reward + budget.fee_per_answer > 0:
        escrow, fees, pending = settlement_accounts(budget.token, job.id, sorted({a.worker_id for a in accepted}))
        specs, holds = [], []
        for answer in accepted:
            legs = {escrow: -(job.reward + budget.fee_per_answer), pending[answer.worker_id]: job.reward,
                    fees: budget.fee_per_answer}
            key = f"answer:{answer.id}:reward"
            specs.append(TransferSpec(key, legs, "reward", {"answer_id": answer.id, "job_id": job.id}))
            if job.reward:
                holds.append(new_hold(key, "reward", answer.worker_id, job.id, answer.id, job.reward, policy))
        post_transfers(specs)
        record_holds(holds)
    # Only now, with this batch's rewards out of escrow, does escrow_needs see the job as it is.
    raise_topup_if_floor_missed(job, budget, policy)
    if budget.topup_per_answer:
        pay_owed_topups(job, budget, policy)


@dataclass(frozen=True)
class Earnings:
    pending: int  # accepted, still within the hold period
    available: int  # ready to pay out
    in_flight: int  # being paid out
    paid_out: int  # confirmed on chain, in the worker's wallet
    awaiting_review: int  # what submitted, undecided answers would earn if accepted
    n_accepted: int
    n_rejected: int
    n_pending: int
    next_release_at: dt.datetime | None

    @property
    def total(self) -> int:
        return self.pending + self.available + self.in_flight + self.paid_out


def earnings_of(worker: User, policy: PayPolicy | None = None) -> Earnings:
    policy = policy or current_policy()
    rows = db.session.execute(
        db.select(Answer.status, func.count(), func.coalesce(func.sum(Job.reward), 0))
        .join(Job, Job.id == Answer.job_id)
        .where(Answer.worker_id == worker.id).group_by(Answer.status)
    ).all()
    counts = {status: (int(n), int(total)) for status, n, total in rows}
    balances = worker_balances(policy.token, worker.id)
    next_release = db.session.scalar(db.select(func.min(Hold.release_at)).where(
        Hold.worker_id == worker.id, Hold.status == HoldStatus.HELD))
    return Earnings(
        pending=balances["pending"],
        available=balances["available"],
        in_flight=balances["in_flight"],
        paid_out=_paid_out(worker_ref(policy.token, worker.id, "payout").code),
        awaiting_review=counts.get(AnswerStatus.PENDING, (0, 0))[1],
        n_accepted=counts.get(AnswerStatus.ACCEPTED, (0, 0))[0],
        n_rejected=counts.get(AnswerStatus.REJECTED, (0, 0))[0],
        n_pending=counts.get(AnswerStatus.PENDING, (0, 0))[0],
        next_release_at=next_release,
    )


def _paid_out(in_flight_code: str) -> int:
    """What left the worker's payout-in-flight account as confirmed payouts."""
    return -int(db.session.scalar(
        db.select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == in_flight_code, LedgerTransfer.kind == "payout_sent")) or 0)


def answer_history(worker: User, *, limit: int = 100) -> list[tuple[Answer, Job, int]]:
    """The worker's latest answers with their job and what each earned (reward, top-ups, bonuses)."""
    rows = db.session.execute(
        db.select(Answer, Job).join(Job, Job.id == Answer.job_id)
        .where(Answer.worker_id == worker.id).order_by(Answer.id.desc()).limit(limit)
    ).all()
    paid = dict(db.session.execute(
        db.select(Hold.answer_id, func.sum(Hold.amount)).where(
            Hold.answer_id.in_([a.id for a, _ in rows]), Hold.status != HoldStatus.REVERSED)
        .group_by(Hold.answer_id)).all()) if rows else {}
    return [(answer, job, int(paid.get(answer.id, 0))) for answer, job in rows]
