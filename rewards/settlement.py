"""Money following work: fund a job's budget, pay accepted answers, refund what is left.

Connected to annotation's signals, so every path that publishes, scores or closes — a view, the
CLI, a background job, a test — moves the money in the same transaction as the work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation.models import Answer, AnswerStatus, Job, User
from annotation.signals import answers_decided, job_closed, slots_opened
from app.extensions import db
from rewards.ledger import TransferSpec, balance_of, get_account, post_transfer, post_transfers


def treasury():
    return get_account("treasury", kind="treasury")


def requester_account(user_id: int):
    return get_account(f"requester:{user_id}", kind="requester", user_id=user_id)


def job_account(job: Job):
    return get_account(f"job:{job.id}", kind="job_escrow", job_id=job.id)


def worker_account(user_id: int):
    return get_account(f"worker:{user_id}", kind="worker_earnings", user_id=user_id)


def credit_requester(user: User, amount: int, *, key: str) -> None:
    """Add tokens to a requester's balance from the treasury (the demo's and admins' faucet)."""
    post_transfer(f"deposit:{key}", {treasury(): -amount, requester_account(user.id): amount},
                  kind="deposit", memo={"user_id": user.id})


@slots_opened.connect
def fund_job(job: Job, slots: int, **_: Any) -> None:
    """Move `reward × slots` from the requester to the job's budget."""
    if job.reward == 0 or slots <= 0:
        return
    funded_slots = job.overlap * job.n_items
    post_transfer(
        f"job:{job.id}:fund-to:{funded_slots}",
        {requester_account(job.owner_id): -job.reward * slots, job_account(job): job.reward * slots},
        kind="job_funding", memo={"job_id": job.id, "slots": slots},
    )


@answers_decided.connect
def pay_answers(job: Job, answers: list[Answer], **_: Any) -> None:
    """Accepted answers earn their job's reward, from the job's budget, in one batch.

    Every account is fetched (or created) before any balance moves, and the batch moves each
    balance once, in account-id order: creating an account mid-way, or locking transfer by
    transfer, could deadlock two requests on PostgreSQL.
    """
    accepted = sorted((a for a in answers if a.status is AnswerStatus.ACCEPTED), key=lambda a: a.id)
    if job.reward == 0 or not accepted:
        return
    escrow = job_account(job)
    workers = {w: worker_account(w) for w in sorted({a.worker_id for a in accepted})}
    post_transfers([
        TransferSpec(f"answer:{answer.id}:reward",
                     {escrow: -job.reward, workers[answer.worker_id]: job.reward},
                     kind="reward", memo={"answer_id": answer.id, "job_id": job.id})
        for answer in accepted
    ])


@job_closed.connect
def refund_job(job: Job, **_: Any) -> None:
    """Return what a closed job did not spend to its requester."""
    account = job_account(job)
    if account.balance > 0:
        post_transfer(
            f"job:{job.id}:refund",
            {account: -account.balance, requester_account(job.owner_id): account.balance},
            kind="refund", memo={"job_id": job.id},
        )


@dataclass(frozen=True)
class Earnings:
    accepted: int  # credited to the worker
    pending: int  # what submitted, undecided answers would earn if accepted
    n_accepted: int
    n_rejected: int
    n_pending: int


def earnings_of(worker: User) -> Earnings:
    rows = db.session.execute(
        db.select(Answer.status, db.func.count(), db.func.coalesce(db.func.sum(Job.reward), 0))
        .join(Job, Job.id == Answer.job_id)
        .where(Answer.worker_id == worker.id).group_by(Answer.status)
    ).all()
    counts = {status: (int(n), int(total)) for status, n, total in rows}
    balance = balance_of(f"worker:{worker.id}")
    return Earnings(
        accepted=balance,
        pending=counts.get(AnswerStatus.PENDING, (0, 0))[1],
        n_accepted=counts.get(AnswerStatus.ACCEPTED, (0, 0))[0],
        n_rejected=counts.get(AnswerStatus.REJECTED, (0, 0))[0],
        n_pending=counts.get(AnswerStatus.PENDING, (0, 0))[0],
    )


def answer_history(worker: User, *, limit: int = 100) -> list[tuple[Answer, Job]]:
    # Rows unpack like tuples; Result.tuples() is deprecated since SQLAlchemy 2.1.
    rows = db.session.execute(
        db.select(Answer, Job).join(Job, Job.id == Answer.job_id)
        .where(Answer.worker_id == worker.id).order_by(Answer.id.desc()).limit(limit)
    )
    return [(answer, job) for answer, job in rows]
