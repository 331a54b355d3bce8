"""A job's escrow: the money terms fixed at funding, what the escrow must hold, and refills.

Lock order, everywhere money and a job meet: the job's row (shared, for answers; exclusive, for
a close) → the job's budget row (`budget_for(job, lock=True)`) → ledger accounts in id order.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func

from annotation.models import Answer, AnswerStatus, Job, JobStatus
from app.extensions import db
from rewards.accounts import escrow_account, escrow_balance, requester_account
from rewards.errors import InsufficientFunds
from rewards.ledger import post_transfer
from rewards.models import Hold, HoldStatus, JobBudget, LedgerTransfer
from rewards.policy import PayPolicy, current_policy


def budget_for(job: Job, policy: PayPolicy | None = None, *, lock: bool = False) -> JobBudget:
    """The job's money terms, fixed from the policy the first time it is asked for."""
    query = db.select(JobBudget).where(JobBudget.job_id == job.id)
    if lock:  # and re-read: another transaction may have changed it while we waited
        query = query.with_for_update().execution_options(populate_existing=True)
    budget = db.session.scalar(query)
    if budget is None:
        policy = policy or current_policy()
        budget = JobBudget(job_id=job.id, token=policy.token, fee_per_answer=policy.fee_for(job.reward),
                           topup_per_answer=0)
        db.session.add(budget)
        db.session.flush()
    return budget


def publish_cost(job: Job, policy: PayPolicy | None = None) -> int:
    """What publishing this job reserves: (reward + fee) × overlap × items."""
    policy = policy or current_policy()
    return (job.reward + policy.fee_for(job.reward)) * job.overlap * job.n_items


def fund_job(job: Job, slots: int) -> None:
    """Reserve `(reward + fee + top-up) × slots` from the requester into the job's escrow."""
    budget = budget_for(job)
    per_slot = job.reward + budget.fee_per_answer + budget.topup_per_answer
    if per_slot == 0 or slots <= 0:
        return
    requester = requester_account(budget.token, job.owner_id)
    escrow = escrow_account(budget.token, job.id)
    amount = per_slot * slots
    try:
        post_transfer(f"job:{job.id}:fund-to:{job.overlap * job.n_items}",
                      {requester: -amount, escrow: amount},
                      kind="job_funding", memo={"job_id": job.id, "slots": slots})
    except InsufficientFunds:
        balance = requester.balance
        raise InsufficientFunds(
            f"This needs {amount} {budget.token} ({slots} answers × (reward {job.reward} + fee "
            f"{budget.fee_per_answer}{f' + pay-floor top-up {budget.topup_per_answer}' if budget.topup_per_answer else ''})"
            f") but your balance is {balance} {budget.token}. Add funds first; nothing was reserved.",
            needed=amount, balance=balance) from None




@dataclass(frozen=True)
class EscrowNeeds:
    undecided_slots: int  # answers the job may still pay for
    owed_topups: int  # top-ups accepted answers are due and not yet paid
    required: int  # what the escrow must hold to pay all of that
    balance: int

    @property
    def shortfall(self) -> int:
        return max(self.required - self.balance, 0)

    @property
    def surplus(self) -> int:
        return max(self.balance - self.required, 0)


def escrow_needs(job: Job, budget: JobBudget | None = None) -> EscrowNeeds:
    budget = budget or budget_for(job)
    counts = dict(db.session.execute(
        db.select(Answer.status, func.count()).where(
            Answer.job_id == job.id, Answer.status != AnswerStatus.PENDING).group_by(Answer.status)
    ).all())
    accepted, rejected = counts.get(AnswerStatus.ACCEPTED, 0), counts.get(AnswerStatus.REJECTED, 0)
    undecided = max(job.overlap * job.n_items - accepted - rejected, 0)
    if job.status is JobStatus.CLOSED:
        undecided = 0
    owed = 0
    if budget.topup_per_answer:
        topped = topped_total(job)
        owed = budget.topup_per_answer * accepted - topped
    per_slot = job.reward + budget.fee_per_answer + budget.topup_per_answer
    return EscrowNeeds(undecided, owed, per_slot * undecided + owed,
                       escrow_balance(budget.token, job.id))


def topped_total(job: Job) -> int:
    return int(db.session.scalar(
        db.select(func.coalesce(func.sum(Hold.amount), 0)).where(
            Hold.job_id == job.id, Hold.kind == "topup", Hold.status != HoldStatus.REVERSED)) or 0)


def refill_escrow(job: Job, budget: JobBudget) -> int:
    """Move what the escrow lacks from the requester's balance (as much as there is); return
    what is still missing. A job that is still short is paused so it stops taking work.

    The caller holds the budget's lock (`budget_for(job, lock=True)`), taken before any ledger
    account: the job's row is written here, and everything else that writes the job's row and
    then moves money (publishing, uploads, resuming) takes the budget lock first, so the two
    orders can never cross."""
    needs = escrow_needs(job, budget)
    if needs.shortfall == 0:
        return 0
    requester = requester_account(budget.token, job.owner_id)
    escrow = escrow_account(budget.token, job.id)
    db.session.refresh(requester, ["balance"])
    amount = min(needs.shortfall, requester.balance)
    if amount > 0:
        n = db.session.scalar(db.select(func.count()).select_from(LedgerTransfer).where(
            LedgerTransfer.key.like(f"job:{job.id}:refill:%")))
        post_transfer(f"job:{job.id}:refill:{n + 1}", {requester: -amount, escrow: amount},
                      kind="floor_reserve", memo={"job_id": job.id})
    missing = needs.shortfall - amount
    if missing and job.status is JobStatus.PUBLISHED:
        job.status = JobStatus.PAUSED
        budget.floor_notice = (budget.floor_notice or "") + (
            f" Your balance does not cover it: the job is paused until you add {missing} "
            f"{budget.token} and resume it.")
        db.session.flush()
    return missing
