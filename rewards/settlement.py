"""Money following work, with the guarantees of a payments system.

- Publishing (or adding items to) a job reserves `(reward + fee) × new slots` from the requester's
  balance into the job's escrow; a requester who cannot cover it is refused and nothing is kept.
- An accepted answer moves its reward escrow → worker pending and its fee escrow → platform fees;
  after the hold period (the requester's dispute window) pending → available.
- The pay floor: once enough answers are measured, a job whose reward misses the hourly floor
  gets a per-answer top-up target; every accepted answer is topped up to it from escrow, and the
  escrow is refilled from the requester's balance. A requester who cannot cover the top-ups has
  the job paused; what is owed is derived from the ledger and paid as soon as money arrives.
- Closing a job pays what is owed, then refunds what is left in escrow.

Handlers are connected to annotation's signals, so every path — a view, the CLI, a background
job, a test — moves the money in the same transaction as the work.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from annotation.jobs import seconds_per_answer
from annotation.models import Answer, AnswerStatus, Job, JobStatus
from annotation.signals import (
    answers_decided,
    job_closed,
    job_resuming,
    job_terms_set,
    slots_opened,
)
from app.extensions import db, utcnow
from app.identity.models import User
from rewards.accounts import (
    clearing_account,
    escrow_account,
    escrow_balance,
    pending_account,
    requester_account,
    settlement_accounts,
    treasury_account,
    worker_accounts,
    worker_balances,
    worker_ref,
)
from rewards.errors import (
    BelowPayFloor,
    InsufficientFunds,
    InvalidAmount,
    RewardsConflict,
    RewardsNotFound,
)
from rewards.ledger import (
    TransferSpec,
    post_transfer,
    post_transfers,
    reverse_transfer,
)
from rewards.models import Hold, HoldStatus, JobBudget, LedgerAccount, LedgerEntry, LedgerTransfer
from rewards.policy import PayPolicy, current_policy

MAX_AMOUNT = 10**15


def _require_amount(amount: Any, name: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        try:
            amount = int(str(amount).strip())
        except (TypeError, ValueError):
            raise InvalidAmount(f"{name} must be a whole number of token units.", field=name) from None
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be between 1 and {MAX_AMOUNT}.", field=name)
    return amount


# --- Funding -------------------------------------------------------------------------------------

def credit_requester(user: User, amount: int, *, key: str, policy: PayPolicy | None = None) -> LedgerTransfer:
    """Credit a requester from the treasury (an admin's or the demo's faucet), once per `key`."""
    policy = policy or current_policy()
    amount = _require_amount(amount)
    transfer = post_transfer(
        f"credit:{key}", {treasury_account(policy.token): -amount,
                          requester_account(policy.token, user.id): amount},
        kind="credit", memo={"user_id": user.id})
    _settle_shortfalls_of(user, policy)
    return transfer


def credit_deposit(user: User, amount: int, *, source: str, policy: PayPolicy | None = None) -> LedgerTransfer:
    """Credit a confirmed deposit, keyed by its source (on chain: "chain:tx:log index"), so the
    same deposit is credited exactly once however often it is reported."""
    policy = policy or current_policy()
    amount = _require_amount(amount)
    transfer = post_transfer(
        f"deposit:{source}", {clearing_account(policy.token): -amount,
                              requester_account(policy.token, user.id): amount},
        kind="deposit", memo={"user_id": user.id, "source": source})
    _settle_shortfalls_of(user, policy)
    return transfer


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


@slots_opened.connect
def fund_job(job: Job, slots: int, **_: Any) -> None:
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


@job_terms_set.connect
def check_pay_floor(job: Job, **_: Any) -> None:
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


# --- Paying for work -----------------------------------------------------------------------------

@answers_decided.connect
def pay_answers(job: Job, answers: list[Answer], **_: Any) -> None:
    """Accepted answers earn reward (+ top-up) into the worker's pending balance, and the fee
    goes to the platform, from the job's escrow, in one batch of transfers.

    Every account is fetched (or created) before any balance moves, and the batch moves each
    balance once, in account-id order: creating an account mid-way, or locking transfer by
    transfer, could deadlock two requests on PostgreSQL.
    """
    accepted = sorted((a for a in answers if a.status is AnswerStatus.ACCEPTED), key=lambda a: a.id)
    if not accepted:
        return
    policy = current_policy()
    budget = budget_for(job, policy)
    if job.reward + budget.fee_per_answer > 0:
        escrow, fees, pending = settlement_accounts(budget.token, job.id, sorted({a.worker_id for a in accepted}))
        specs, holds = [], []
        for answer in accepted:
            legs = {escrow: -(job.reward + budget.fee_per_answer), pending[answer.worker_id]: job.reward,
                    fees: budget.fee_per_answer}
            key = f"answer:{answer.id}:reward"
            specs.append(TransferSpec(key, legs, "reward", {"answer_id": answer.id, "job_id": job.id}))
            if job.reward:
                holds.append(_hold(key, "reward", answer.worker_id, job.id, answer.id, job.reward, policy))
        post_transfers(specs)
        _record_holds(holds)
    # Only now, with this batch's rewards out of escrow, does escrow_needs see the job as it is.
    _raise_topup_if_floor_missed(job, budget, policy)
    if budget.topup_per_answer:
        _pay_owed_topups(job, budget_for(job, policy, lock=True), policy)


def _raise_topup_if_floor_missed(job: Job, budget: JobBudget, policy: PayPolicy) -> None:
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
    _refill_escrow(job, budget)


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
        topped = _topped_total(job)
        owed = budget.topup_per_answer * accepted - topped
    per_slot = job.reward + budget.fee_per_answer + budget.topup_per_answer
    return EscrowNeeds(undecided, owed, per_slot * undecided + owed,
                       escrow_balance(budget.token, job.id))


def _topped_total(job: Job) -> int:
    return int(db.session.scalar(
        db.select(func.coalesce(func.sum(Hold.amount), 0)).where(
            Hold.job_id == job.id, Hold.kind == "topup", Hold.status != HoldStatus.REVERSED)) or 0)


def _refill_escrow(job: Job, budget: JobBudget) -> int:
    """Move what the escrow lacks from the requester's balance (as much as there is); return
    what is still missing. A job that is still short is paused so it stops taking work."""
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


def _pay_owed_topups(job: Job, budget: JobBudget, policy: PayPolicy) -> None:
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
        holds.append(_hold(key, "topup", worker_id, job.id, answer_id, amount, policy))
    if specs:
        post_transfers(specs)
        _record_holds(holds)


def settle_job_shortfall(job: Job) -> int:
    """Refill the escrow from the requester and pay owed top-ups; what is still missing."""
    budget = budget_for(job, lock=True)
    if not budget.topup_per_answer:
        return 0
    missing = _refill_escrow(job, budget)
    _pay_owed_topups(job, budget, current_policy())
    return missing


@job_resuming.connect
def check_funded_to_resume(job: Job, **_: Any) -> None:
    """A paused job resumes only if its escrow covers what it may still pay (top-ups included)."""
    missing = settle_job_shortfall(job)
    if missing:
        budget = budget_for(job)
        raise InsufficientFunds(
            f"Resuming needs {missing} {budget.token} more in this job's budget for pay-floor "
            f"top-ups; add funds first.", needed=missing)


def _settle_shortfalls_of(user: User, policy: PayPolicy) -> None:
    """New money for a requester first pays top-ups their jobs owe."""
    jobs = db.session.scalars(
        db.select(Job).join(JobBudget, JobBudget.job_id == Job.id)
        .where(Job.owner_id == user.id, JobBudget.topup_per_answer > 0).order_by(Job.id)).all()
    for job in jobs:
        settle_job_shortfall(job)


@job_closed.connect
def refund_job(job: Job, **_: Any) -> None:
    """Pay what a closed job owes its workers, then return the rest to its requester."""
    budget = budget_for(job, lock=True)
    _raise_topup_if_floor_missed(job, budget, current_policy())
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


# --- Bonuses -------------------------------------------------------------------------------------

def pay_bonus(requester: User, job: Job, *, amount: Any, key: str, worker_id: int | None = None,
              answer_id: int | None = None, source: str = "escrow", now: dt.datetime | None = None,
              reason: str = "") -> LedgerTransfer:
    """A bonus from the job's requester to a worker (for one answer, or for their work on the job),
    paid from what the job's escrow can spare or from the requester's balance. Held like any
    other earning. `key` is the requester's id for this bonus: sending it again pays nothing."""
    if not (requester.is_admin or job.owner_id == requester.id):
        raise RewardsNotFound(f"Job {job.id} not found.")
    amount = _require_amount(amount)
    key = (key or "").strip()
    if not key or len(key) > 100:
        raise InvalidAmount("A bonus needs a key of 1–100 characters (your id for it).", field="key")
    if source not in ("escrow", "balance"):
        raise InvalidAmount("source must be 'escrow' or 'balance'.", field="source")
    if answer_id is not None:
        answer = db.session.get(Answer, int(answer_id))
        if answer is None or answer.job_id != job.id:
            raise RewardsNotFound(f"Answer {answer_id} is not part of job {job.id}.")
        worker_id = answer.worker_id
    elif worker_id is None or db.session.scalar(
            db.select(Answer.id).where(Answer.job_id == job.id, Answer.worker_id == int(worker_id)).limit(1)) is None:
        raise RewardsNotFound("A bonus goes to an annotator who answered in this job; name the answer or worker.")
    worker_id = int(worker_id)
    policy = current_policy()
    budget = budget_for(job, policy)
    transfer_key = bonus_transfer_key(requester, key)
    pending = pending_account(budget.token, worker_id)
    if source == "escrow":
        payer = escrow_account(budget.token, job.id)
        budget = budget_for(job, policy, lock=True)  # one spender of the job's surplus at a time
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
    _record_holds([_hold(transfer_key, "bonus", worker_id, job.id, answer_id, amount, policy, now=now)])
    return transfer


def bonus_transfer_key(requester: User, key: str) -> str:
    """The ledger key of a requester's bonus: their own key, scoped to them."""
    return f"bonus:{requester.id}:{(key or '').strip()}"


def _already_posted(key: str) -> bool:
    return db.session.scalar(db.select(LedgerTransfer.id).where(LedgerTransfer.key == key)) is not None


# --- Holds: pending → available, disputes ---------------------------------------------------------

def _hold(key: str, kind: str, worker_id: int, job_id: int, answer_id: int | None, amount: int,
          policy: PayPolicy, now: dt.datetime | None = None) -> Hold:
    now = now or utcnow()
    return Hold(key=key, token=policy.token, kind=kind, worker_id=worker_id, job_id=job_id,
                answer_id=answer_id, amount=amount, status=HoldStatus.HELD,
                release_at=now + dt.timedelta(seconds=policy.hold_seconds), created_at=now)


def _record_holds(holds: list[Hold]) -> None:
    """Add holds whose key is new (a replayed transfer has its hold already), in one statement."""
    if not holds:
        return
    db.session.flush()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    columns = ("key", "token", "kind", "worker_id", "job_id", "answer_id", "amount", "status",
               "release_at", "created_at")
    # executemany form: the statement compiles once and is cached, whatever the batch size.
    db.session.execute(insert(Hold).on_conflict_do_nothing(index_elements=["key"]),
                       [{c: getattr(h, c) for c in columns} for h in holds])


def release_holds(*, now: dt.datetime | None = None, worker_id: int | None = None,
                  limit: int = 5000) -> int:
    """Move held earnings whose hold ended from pending to available; how many were released."""
    now = now or utcnow()
    query = (db.select(Hold).where(Hold.status == HoldStatus.HELD, Hold.release_at <= now)
             .order_by(Hold.id).limit(limit))
    if worker_id is not None:
        query = query.where(Hold.worker_id == worker_id)
    holds = db.session.scalars(query.with_for_update(skip_locked=True)).all()
    if not holds:
        return 0
    accounts = {token: worker_accounts(token, [h.worker_id for h in holds if h.token == token],
                                       ("pending", "available"))
                for token in {h.token for h in holds}}
    specs = []
    for hold in holds:
        mine = accounts[hold.token]
        specs.append(TransferSpec(f"hold:{hold.id}:release",
                                  {mine[hold.worker_id, "pending"]: -hold.amount,
                                   mine[hold.worker_id, "available"]: hold.amount},
                                  "release", {"hold_id": hold.id}))
        hold.status, hold.decided_at = HoldStatus.RELEASED, now
    post_transfers(specs)
    return len(holds)


def dispute_answer(requester: User, answer: Answer, *, reason: str, now: dt.datetime | None = None) -> list[Hold]:
    """The requester disputes an accepted answer within its hold: its earnings stop at pending
    until an admin decides."""
    now = now or utcnow()
    job = db.session.get(Job, answer.job_id)
    if not (requester.is_admin or job.owner_id == requester.id):
        raise RewardsNotFound(f"Answer {answer.id} not found.")
    reason = (reason or "").strip()
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
    released to the worker."""
    now = now or utcnow()
    if not admin.is_admin:
        raise RewardsNotFound(f"Answer {answer.id} not found.")
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
    answer.reject_reason = f"The requester disputed this answer and an admin upheld it: {holds[0].dispute_reason}"
    db.session.flush()
    job = db.session.get(Job, answer.job_id)
    if job.status is JobStatus.CLOSED:
        refund_job(job)


# --- Payouts (the chain side arrives with the on-chain issue) ------------------------------------

@dataclass(frozen=True)
class PayoutRef:
    """One worker's payout: `key` names it in the ledger (payout:<key>, :sent, :failed)."""

    user_id: int
    amount: int
    key: str


def reserve_payout(worker: User, amount: Any, *, key: str, policy: PayPolicy | None = None) -> LedgerTransfer:
    """Move `amount` of a worker's available balance into payout-in-flight, before anything is sent."""
    policy = policy or current_policy()
    try:
        return reserve_payouts([PayoutRef(worker.id, _require_amount(amount), key)], policy)[0]
    except InsufficientFunds:
        raise InsufficientFunds(f"Only {worker_balances(policy.token, worker.id)['available']} "
                                f"{policy.token} is available to pay out.") from None


def reserve_payouts(refs: Sequence[PayoutRef], policy: PayPolicy | None = None) -> list[LedgerTransfer]:
    """`reserve_payout` for many workers in one batch of transfers (an epoch's payouts)."""
    policy = policy or current_policy()
    accounts = worker_accounts(policy.token, [r.user_id for r in refs], ("available", "payout"))
    return post_transfers([
        TransferSpec(f"payout:{r.key}", {accounts[r.user_id, "available"]: -_require_amount(r.amount),
                                         accounts[r.user_id, "payout"]: r.amount},
                     "payout_reserved", {"worker_id": r.user_id})
        for r in refs])


def complete_payout(worker: User, amount: int | None = None, *, key: str,
                    policy: PayPolicy | None = None) -> LedgerTransfer:
    """The payout left the platform (confirmed on chain): in flight → out, through the treasury.

    Moves exactly what payout `key` reserved (a different `amount` is refused), and never a payout
    that already failed."""
    return complete_payouts([PayoutRef(worker.id, amount, key)], policy)[0]


def complete_payouts(refs: Sequence[PayoutRef | Any], policy: PayPolicy | None = None) -> list[LedgerTransfer]:
    """`complete_payout` for many payouts in one batch (a confirmed push)."""
    policy = policy or current_policy()
    reserved = _payout_reservations(refs, settled_as="failed")
    accounts = worker_accounts(policy.token, [r.user_id for r in refs], ("payout",))
    treasury = treasury_account(policy.token)
    return post_transfers([
        TransferSpec(f"payout:{r.key}:sent", {accounts[r.user_id, "payout"]: -reserved[r.key],
                                              treasury: reserved[r.key]},
                     "payout_sent", {"worker_id": r.user_id})
        for r in refs])


def fail_payout(worker: User, amount: int | None = None, *, key: str,
                policy: PayPolicy | None = None) -> LedgerTransfer:
    """The payout failed for good (reverted): the money returns to the worker's available
    balance — never for a payout that already left."""
    reserved = _payout_reservations([PayoutRef(worker.id, amount, key)], settled_as="sent")[key]
    return reverse_transfer(f"payout:{key}:failed", f"payout:{key}", kind="payout_failed",
                            memo={"worker_id": worker.id, "amount": reserved})


def _payout_reservations(refs: Sequence[PayoutRef], *, settled_as: str) -> dict[str, int]:
    """{key: amount reserved} for each payout, with the reservations locked so completing and
    failing one payout serialize; refuses any payout already settled the other way."""
    keys = [f"payout:{r.key}" for r in refs]
    transfers = {t.key: t for t in db.session.scalars(
        db.select(LedgerTransfer).where(LedgerTransfer.key.in_(keys), LedgerTransfer.kind == "payout_reserved")
        .order_by(LedgerTransfer.id).with_for_update().options(selectinload(LedgerTransfer.entries)))}
    settled = set(db.session.scalars(db.select(LedgerTransfer.key).where(
        LedgerTransfer.key.in_([f"{k}:{settled_as}" for k in keys]))))
    reserved = {}
    for ref in refs:
        transfer = transfers.get(f"payout:{ref.key}")
        if transfer is None or (transfer.memo or {}).get("worker_id") != ref.user_id:
            raise RewardsNotFound(f"No payout {ref.key!r} reserved for this worker.")
        amount = next(e.amount for e in transfer.entries if e.amount > 0)
        if ref.amount is not None and ref.amount != amount:
            raise RewardsConflict(f"Payout {ref.key!r} reserved {amount}, not {ref.amount}.")
        if f"payout:{ref.key}:{settled_as}" in settled:
            raise RewardsConflict(f"Payout {ref.key!r} was already settled as {settled_as}.")
        reserved[ref.key] = amount
    return reserved


# --- What workers see ----------------------------------------------------------------------------

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
