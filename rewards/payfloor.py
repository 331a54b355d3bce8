"""The hourly pay floor, enforced in the payment path.

A job estimated under the floor is refused at create and publish (`check_pay_floor`). Once
enough answers are measured, a job whose reward misses the floor gets a per-answer top-up
target; every accepted answer is topped up to it from escrow, and the escrow is refilled from the
requester's balance. A requester who cannot cover the top-ups has the job paused; what is owed is
derived from the ledger and paid as soon as money arrives (`settle_job_shortfall`).
"""
from __future__ import annotations

from sqlalchemy import func

from annotation.jobs import seconds_per_answer
from annotation.models import Answer, AnswerStatus, Job
from app.extensions import db
from app.identity.models import User
from rewards.accounts import escrow_account, worker_accounts
from rewards.errors import BelowPayFloor, InsufficientFunds
from rewards.escrow import budget_for, escrow_needs, refill_escrow
from rewards.holds import new_hold, record_holds
from rewards.ledger import TransferSpec, post_transfers
from rewards.models import Hold, HoldStatus, JobBudget
from rewards.policy import PayPolicy, current_policy


def check_pay_floor(job: Job) -> None:
    """Refuse a job whose estimated hourly pay is under the floor, showing the numbers."""
    policy = current_policy()
    if policy.floor_units_per_hour == 0:
        return
    seconds, measured = seconds_per_answer(job, min_answers=policy.floor_min_answers)
    needed = policy.floor_reward(seconds)
    if job.reward >= needed:
        return
    basis = "measured median" if measured else "your estimate of"
    hourly = job.reward * 3600 / seconds
    raise BelowPayFloor(
        f"The reward of {job.reward} {policy.token} for {basis} {seconds:.0f} s per answer pays "
        f"{hourly:.0f} {policy.token}/h ({policy.to_currency(hourly)} {policy.floor_currency}/h), under "
        f"the floor of {policy.floor_units_per_hour} {policy.token}/h ({policy.floor_per_hour} "
        f"{policy.floor_currency}/h). Raise the reward to at least {needed} {policy.token} or "
        f"correct the time per answer.",
        field="reward", reward=job.reward, seconds_per_answer=seconds, minimum_reward=needed,
        floor_per_hour=policy.floor_units_per_hour)



def raise_topup_if_floor_missed(job: Job, budget: JobBudget, policy: PayPolicy) -> None:
    """Measure the job; if it misses the floor, raise its top-up target and refill the escrow."""
    if policy.floor_units_per_hour == 0:
        return
    seconds, measured = seconds_per_answer(job, min_answers=policy.floor_min_answers)
    if not measured:
        return
    target = max(policy.floor_reward(seconds) - job.reward, 0)
    if target <= budget.topup_per_answer:
        return
    budget = budget_for(job, policy, lock=True)  # one writer raises the target
    if target <= budget.topup_per_answer:
        return
    raised_from, budget.topup_per_answer = budget.topup_per_answer, target
    hourly = job.reward * 3600 / seconds
    budget.floor_notice = (
        f"Answers take a median {seconds:.0f} s, so a reward of {job.reward} {budget.token} pays "
        f"{hourly:.0f} {budget.token}/h, under the floor of {policy.floor_units_per_hour} "
        f"{budget.token}/h. Every accepted answer is topped up by {target} {budget.token} "
        f"(previously {raised_from}), reserved from your balance.")
    db.session.flush()
    refill_escrow(job, budget)




def pay_owed_topups(job: Job, budget: JobBudget, policy: PayPolicy) -> None:
    """Top accepted answers up to the target, oldest owed first, from what the escrow can spare
    beyond the rewards it must keep for undecided slots."""
    target = budget.topup_per_answer
    needs = escrow_needs(job, budget)
    if needs.owed_topups <= 0:
        return
    keep = (job.reward + budget.fee_per_answer + target) * needs.undecided_slots
    spendable = max(needs.balance - keep, 0)
    topped = db.select(Hold.answer_id, func.sum(Hold.amount).label("topped")).where(
        Hold.job_id == job.id, Hold.kind == "topup", Hold.status != HoldStatus.REVERSED
    ).group_by(Hold.answer_id).subquery()
    query = (db.select(Answer.id, Answer.worker_id, func.coalesce(topped.c.topped, 0))
             .outerjoin(topped, topped.c.answer_id == Answer.id)
             .where(Answer.job_id == job.id, Answer.status == AnswerStatus.ACCEPTED,
                    func.coalesce(topped.c.topped, 0) < target)
             .order_by(Answer.id))
    owed = db.session.execute(query).all()
    escrow = escrow_account(budget.token, job.id)
    pending = worker_accounts(budget.token, [row[1] for row in owed], ("pending",))
    specs, holds = [], []
    for answer_id, worker_id, already in owed:
        amount = min(target - int(already), spendable)
        if amount <= 0:
            break
        spendable -= amount
        key = f"answer:{answer_id}:topup:{int(already) + amount}"
        specs.append(TransferSpec(key, {escrow: -amount, pending[worker_id, "pending"]: amount}, "floor_topup",
                                  {"answer_id": answer_id, "job_id": job.id}))
        holds.append(new_hold(key, "topup", worker_id, job.id, answer_id, amount, policy))
    if specs:
        post_transfers(specs)
        record_holds(holds)




def settle_job_shortfall(job: Job) -> int:
    """Refill the escrow from the requester and pay owed top-ups; what is still missing."""
    budget = budget_for(job, lock=True)
    if not budget.topup_per_answer:
        return 0
    missing = refill_escrow(job, budget)
    pay_owed_topups(job, budget, current_policy())
    return missing


def require_funded_to_resume(job: Job) -> None:
    """A paused job resumes only if its escrow covers what it may still pay (top-ups included)."""
    missing = settle_job_shortfall(job)
    if missing:
        budget = budget_for(job)
        raise InsufficientFunds(
            f"Resuming needs {missing} {budget.token} more in this job's budget for pay-floor "
            f"top-ups; add funds first.", needed=missing)


def jobs_owing_topups(user: User) -> list[Job]:
    return db.session.scalars(
        db.select(Job).join(JobBudget, JobBudget.job_id == Job.id)
        .where(Job.owner_id == user.id, JobBudget.topup_per_answer > 0).order_by(Job.id)).all()


def settle_shortfalls_of(user: User) -> None:
    """New money for a requester first pays top-ups their jobs owe."""
    for job in jobs_owing_topups(user):
        settle_job_shortfall(job)
