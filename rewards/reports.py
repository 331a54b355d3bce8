"""Read-only reports over the ledger: what a job cost, what a requester spent, what a worker
earned and at what hourly rate, and an account's statement.

Every number comes from ledger entries (or holds, which mirror them), never from counts times
prices, so a report cannot disagree with the books. Functions return plain dataclasses and
dicts of integers (token units) for the web pages, the JSON API and the CLI alike.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from sqlalchemy import String, cast, func, literal, union

from annotation.models import Answer, AnswerStatus, Job
from app.extensions import db, utcnow
from app.identity.models import User
from rewards.accounts import requester_balance, worker_ref
from rewards.bonuses import bonus_transfer_key
from rewards.models import Hold, HoldStatus, LedgerAccount, LedgerEntry, LedgerTransfer
from rewards.policy import PayPolicy, current_policy

# --- What a job cost ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpend:
    """A job's money, bucket by bucket, in token units (all non-negative).

    reserved + bonuses_balance − refunds − reversals_to_balance == spent + escrow_left
    """

    job_id: int
    reserved: int = 0  # moved from the requester's balance into escrow (publish, items, floor)
    floor_reserved: int = 0  # the part of `reserved` refilled for pay-floor top-ups
    rewards: int = 0  # rewards credited to workers
    fees: int = 0  # platform fees
    topups: int = 0  # pay-floor top-ups credited to workers
    bonuses_escrow: int = 0  # bonuses paid from the job's escrow
    bonuses_balance: int = 0  # bonuses paid from the requester's balance
    refunds: int = 0  # escrow returned to the requester
    reversals: int = 0  # earnings taken back by upheld disputes (to escrow or balance)
    reversals_to_balance: int = 0  # the part of `reversals` that went straight to the balance
    escrow_left: int = 0

    @property
    def bonuses(self) -> int:
        return self.bonuses_escrow + self.bonuses_balance

    @property
    def spent(self) -> int:
        """What reached workers and the platform, net of reversals."""
        return self.rewards + self.fees + self.topups + self.bonuses - self.reversals

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "bonuses": self.bonuses, "spent": self.spent}


# (transfer kind, account kind) → (bucket, sign): the bucket adds sign × the leg's amount.
_BUCKETS: dict[tuple[str, str], tuple[str, int]] = {
    ("job_funding", "job_escrow"): ("reserved", 1),
    ("floor_reserve", "job_escrow"): ("floor_reserved", 1),
    ("reward", "worker_pending"): ("rewards", 1),
    ("reward", "platform_fees"): ("fees", 1),
    ("floor_topup", "worker_pending"): ("topups", 1),
    ("bonus", "job_escrow"): ("bonuses_escrow", -1),
    ("bonus", "requester"): ("bonuses_balance", -1),
    ("refund", "requester"): ("refunds", 1),
    ("dispute_upheld", "job_escrow"): ("reversals", 1),
    ("dispute_upheld", "requester"): ("reversals_to_balance", 1),
}


def _job_transfers(job_ids: Iterable[int]):
    """(transfer_id, job_id) of every transfer that moved a job's money: those touching its
    escrow, and those of its holds (a bonus from the balance) and their dispute reversals."""
    ids = list(job_ids)
    via_escrow = (
        db.select(LedgerEntry.transfer_id.label("transfer_id"), LedgerAccount.job_id.label("job_id"))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.kind == "job_escrow", LedgerAccount.job_id.in_(ids)))
    via_hold = (
        db.select(LedgerTransfer.id, Hold.job_id)
        .join(Hold, Hold.key == LedgerTransfer.key)
        .where(Hold.job_id.in_(ids), Hold.kind == "bonus"))
    # settlement.resolve_dispute keys a reversal "hold:<hold id>:reverse"
    reversal_key = literal("hold:") + cast(Hold.id, String) + literal(":reverse")
    via_reversal = (
        db.select(LedgerTransfer.id, Hold.job_id)
        .join(Hold, LedgerTransfer.key == reversal_key)
        .where(Hold.job_id.in_(ids), Hold.kind == "bonus", Hold.status == HoldStatus.REVERSED))
    return union(via_escrow, via_hold, via_reversal).subquery()


def _spend_by_job(jobs: list[Job]) -> dict[int, JobSpend]:
    if not jobs:
        return {}
    tj = _job_transfers(job.id for job in jobs)
    rows = db.session.execute(
        db.select(tj.c.job_id, LedgerTransfer.kind, LedgerAccount.kind, func.sum(LedgerEntry.amount))
        .select_from(tj)
        .join(LedgerTransfer, LedgerTransfer.id == tj.c.transfer_id)
        .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .group_by(tj.c.job_id, LedgerTransfer.kind, LedgerAccount.kind)
    ).all()
    buckets: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for job_id, transfer_kind, account_kind, amount in rows:
        bucket = _BUCKETS.get((transfer_kind, account_kind))
        if bucket is not None:
            buckets[job_id][bucket[0]] += bucket[1] * int(amount)
    escrows = dict(db.session.execute(
        db.select(LedgerAccount.job_id, func.sum(LedgerAccount.balance))
        .where(LedgerAccount.kind == "job_escrow", LedgerAccount.job_id.in_([j.id for j in jobs]))
        .group_by(LedgerAccount.job_id)).all())
    spend = {}
    for job in jobs:
        b = buckets[job.id]
        spend[job.id] = JobSpend(
            job_id=job.id,
            reserved=b["reserved"] + b["floor_reserved"],
            floor_reserved=b["floor_reserved"],
            rewards=b["rewards"], fees=b["fees"], topups=b["topups"],
            bonuses_escrow=b["bonuses_escrow"], bonuses_balance=b["bonuses_balance"],
            refunds=b["refunds"],
            reversals=b["reversals"] + b["reversals_to_balance"],
            reversals_to_balance=b["reversals_to_balance"],
            escrow_left=int(escrows.get(job.id) or 0),
        )
    return spend


def job_spend(job: Job) -> JobSpend:
    """What the job reserved, paid (rewards, fees, top-ups, bonuses), refunded and still holds."""
    return _spend_by_job([job])[job.id]


@dataclass(frozen=True)
class RequesterSpend:
    rows: list[tuple[Job, JobSpend]]
    totals: JobSpend = field(default_factory=lambda: JobSpend(job_id=0))
    balance: int = 0


_SUMMED = ("reserved", "floor_reserved", "rewards", "fees", "topups", "bonuses_escrow",
           "bonuses_balance", "refunds", "reversals", "reversals_to_balance", "escrow_left")


def requester_spend(user: User, policy: PayPolicy | None = None) -> RequesterSpend:
    """One row per job the requester owns (newest first) and the totals."""
    policy = policy or current_policy()
    jobs = list(db.session.scalars(db.select(Job).where(Job.owner_id == user.id).order_by(Job.id.desc())))
    spend = _spend_by_job(jobs)
    rows = [(job, spend[job.id]) for job in jobs]
    totals = JobSpend(job_id=0, **{name: sum(getattr(s, name) for _, s in rows) for name in _SUMMED})
    return RequesterSpend(rows, totals, requester_balance(policy.token, user.id))


# --- What a worker earned -------------------------------------------------------------------------

EARNING_KINDS = ("reward", "floor_topup", "bonus")


@dataclass(frozen=True)
class EarningsDay:
    date: dt.date
    earned: int  # credited to pending: rewards, top-ups and bonuses
    released: int  # moved from pending to available
    reversed: int  # taken back by upheld disputes


def worker_earnings_series(worker: User, days: int = 30, *, now: dt.datetime | None = None,
                           policy: PayPolicy | None = None) -> list[EarningsDay]:
    """One bucket per UTC day for the last `days` days (oldest first, today last, empty days 0)."""
    policy = policy or current_policy()
    days = max(1, min(int(days), 366))
    today = (now or utcnow()).astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    codes = [worker_ref(policy.token, worker.id, which).code for which in ("pending", "available")]
    rows = db.session.execute(
        db.select(LedgerTransfer.created_at, LedgerTransfer.kind, LedgerAccount.kind, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code.in_(codes),
               LedgerTransfer.created_at >= start)
    ).all()
    earned: dict[dt.date, int] = defaultdict(int)
    released: dict[dt.date, int] = defaultdict(int)
    reversed_: dict[dt.date, int] = defaultdict(int)
    for at, transfer_kind, account_kind, amount in rows:
        day = at.astimezone(dt.UTC).date()
        if account_kind == "worker_pending" and transfer_kind in EARNING_KINDS:
            earned[day] += amount
        elif account_kind == "worker_available" and transfer_kind == "release":
            released[day] += amount
        elif account_kind == "worker_pending" and transfer_kind == "dispute_upheld":
            reversed_[day] -= amount
    return [EarningsDay(d, earned[d], released[d], reversed_[d])
            for d in (first + dt.timedelta(days=i) for i in range(days))]


@dataclass(frozen=True)
class EffectiveHourly:
    earned: int  # rewards, top-ups and bonuses not reversed
    active_ms: int  # active time over the worker's decided answers (accepted and rejected)
    n_decided: int
    per_hour: int | None  # token units per hour (rounded down); None before any decided answer
    currency_per_hour: Decimal | None
    floor_per_hour: int  # the platform's floor in token units per hour
    floor_currency_per_hour: Decimal
    currency: str
    token: str

    @property
    def meets_floor(self) -> bool | None:
        return None if self.per_hour is None else self.per_hour >= self.floor_per_hour


def worker_effective_hourly(worker: User, policy: PayPolicy | None = None) -> EffectiveHourly:
    """What the worker really earned per hour of work: everything credited to them and not taken
    back, over the active time of every answer decided so far (rejected ones took time too)."""
    policy = policy or current_policy()
    earned = int(db.session.scalar(db.select(func.coalesce(func.sum(Hold.amount), 0)).where(
        Hold.worker_id == worker.id, Hold.token == policy.token,
        Hold.status != HoldStatus.REVERSED)) or 0)
    n_decided, active_ms = db.session.execute(
        db.select(func.count(), func.coalesce(func.sum(Answer.active_ms), 0)).where(
            Answer.worker_id == worker.id,
            Answer.status.in_([AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]))).one()
    active_ms = int(active_ms or 0)
    per_hour = earned * 3_600_000 // active_ms if active_ms > 0 else None
    return EffectiveHourly(
        earned=earned, active_ms=active_ms, n_decided=int(n_decided), per_hour=per_hour,
        currency_per_hour=None if per_hour is None else policy.to_currency(per_hour),
        floor_per_hour=policy.floor_units_per_hour, floor_currency_per_hour=policy.to_currency(
            policy.floor_units_per_hour),
        currency=policy.floor_currency, token=policy.token)


# --- Answers on the requester's job page ----------------------------------------------------------

@dataclass(frozen=True)
class AnswerMoney:
    answer: Answer
    paid: int  # credited for this answer and not reversed (reward, top-ups, bonuses)
    hold_status: str | None  # "held", "disputed", "released", "reversed" (the strongest of its holds)
    release_at: dt.datetime | None
    dispute_reason: str | None

    def disputable(self, now: dt.datetime) -> bool:
        return (self.answer.status is AnswerStatus.ACCEPTED and self.hold_status == "held"
                and self.release_at is not None and self.release_at > now)


_HOLD_ORDER = {"disputed": 0, "held": 1, "reversed": 2, "released": 3}


def job_answers(job: Job, *, page: int = 1, per_page: int = 50) -> list[AnswerMoney]:
    """The job's decided and pending answers (newest first) with what each earned and its hold."""
    answers = db.session.scalars(
        db.select(Answer).where(Answer.job_id == job.id).order_by(Answer.id.desc())
        .offset((max(page, 1) - 1) * per_page).limit(per_page)).all()
    holds: dict[int, list[Hold]] = defaultdict(list)
    if answers:
        for hold in db.session.scalars(db.select(Hold).where(Hold.answer_id.in_([a.id for a in answers]))):
            holds[hold.answer_id].append(hold)
    rows = []
    for answer in answers:
        mine = holds.get(answer.id, [])
        paid = sum(h.amount for h in mine if h.status is not HoldStatus.REVERSED)
        first = min(mine, key=lambda h: (_HOLD_ORDER[h.status.value], h.id), default=None)
        rows.append(AnswerMoney(answer, paid, first.status.value if first else None,
                                first.release_at if first else None,
                                first.dispute_reason if first else None))
    return rows


# --- Disputes waiting for an admin ---------------------------------------------------------------

@dataclass(frozen=True)
class OpenDispute:
    answer: Answer
    job: Job
    amount: int  # what is held in dispute for this answer
    reason: str


def open_disputes(*, limit: int = 200) -> list[OpenDispute]:
    """Answers with disputed holds, oldest first, one row per answer."""
    rows = db.session.execute(
        db.select(Hold.answer_id, func.sum(Hold.amount), func.min(Hold.id))
        .where(Hold.status == HoldStatus.DISPUTED, Hold.answer_id.is_not(None))
        .group_by(Hold.answer_id).order_by(func.min(Hold.id)).limit(limit)).all()
    disputes = []
    for answer_id, amount, first_hold in rows:
        answer = db.session.get(Answer, answer_id)
        hold = db.session.get(Hold, first_hold)
        disputes.append(OpenDispute(answer, db.session.get(Job, answer.job_id), int(amount),
                                    hold.dispute_reason or ""))
    return disputes


# --- Idempotent bonuses --------------------------------------------------------------------------

def bonus_transfer(requester: User, key: str) -> LedgerTransfer | None:
    """The bonus the requester already paid under `key`, if any, so an API can answer a replay
    with 200, not 201."""
    return db.session.scalar(db.select(LedgerTransfer).where(
        LedgerTransfer.key == bonus_transfer_key(requester, key), LedgerTransfer.kind == "bonus"))


