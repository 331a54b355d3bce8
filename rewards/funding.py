"""Money into and out of a requester's balance: credits, deposits, and the refund at close."""
from __future__ import annotations

from sqlalchemy import func

from annotation.models import Job
from app.extensions import db
from app.identity.models import User
from rewards.accounts import clearing_account, escrow_account, requester_account, treasury_account
from rewards.escrow import budget_for, escrow_needs
from rewards.ledger import post_transfer
from rewards.models import LedgerTransfer
from rewards.payfloor import (
    jobs_owing_topups,
    raise_topup_if_floor_missed,
    settle_job_shortfall,
    settle_shortfalls_of,
)
from rewards.policy import PayPolicy, current_policy
from rewards.settlement import _require_amount


def _credit(user: User, key: str, legs, *, kind: str, memo: dict) -> LedgerTransfer:
    # Lock the budgets this money may go on to settle before the credit locks any account:
    # the budget → accounts order every other money path keeps.
    for job in jobs_owing_topups(user):
        budget_for(job, lock=True)
    transfer = post_transfer(key, legs, kind=kind, memo=memo)
    settle_shortfalls_of(user)
    return transfer


def credit_requester(user: User, amount: int, *, key: str, policy: PayPolicy | None = None) -> LedgerTransfer:
    """Credit a requester from the treasury (an admin's or the demo's faucet), once per `key`."""
    policy = policy or current_policy()
    amount = _require_amount(amount)
    return _credit(user, f"credit:{key}", {treasury_account(policy.token): -amount,
                                           requester_account(policy.token, user.id): amount},
                   kind="credit", memo={"user_id": user.id})


def credit_deposit(user: User, amount: int, *, source: str, policy: PayPolicy | None = None) -> LedgerTransfer:
    """Credit a confirmed deposit, keyed by its source (on chain: "chain:tx:log index"), so the
    same deposit is credited exactly once however often it is reported."""
    policy = policy or current_policy()
    amount = _require_amount(amount)
    return _credit(user, f"deposit:{source}", {clearing_account(policy.token): -amount,
                                               requester_account(policy.token, user.id): amount},
                   kind="deposit", memo={"user_id": user.id, "source": source})


def refund_job(job: Job) -> None:
    """Pay what a closed job owes its workers, then return the rest to its requester."""
    budget = budget_for(job, lock=True)
    raise_topup_if_floor_missed(job, budget, current_policy())
    settle_job_shortfall(job)
    escrow = escrow_account(budget.token, job.id)
    db.session.refresh(escrow, ["balance"])
    surplus = escrow_needs(job, budget).surplus
    if surplus > 0:
        n = db.session.scalar(db.select(func.count()).select_from(LedgerTransfer).where(
            LedgerTransfer.key.like(f"job:{job.id}:refund%")))
        post_transfer(f"job:{job.id}:refund" + (f":{n + 1}" if n else ""),
                      {escrow: -surplus, requester_account(budget.token, job.owner_id): surplus},
                      kind="refund", memo={"job_id": job.id})
