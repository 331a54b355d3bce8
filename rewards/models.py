"""The ledger: accounts, transfers and their entries. Append-only; amounts are integers.

Every transfer's entries sum to zero, so the sum over all accounts is always zero. An account's
`balance` is a running total kept in the same transaction as its entries (and re-derivable from
them); a CHECK constraint makes the database itself refuse a forbidden negative balance.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import enum

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db, utcnow


class LedgerAccount(db.Model):
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<token>:<owner>", e.g. "FLT:worker:12:pending", "FLT:escrow:job:3", "FLT:treasury"
    # (rewards/accounts.py builds them); one account per (token, kind, owner).
    code: Mapped[str] = mapped_column(String(80), unique=True)
    token: Mapped[str] = mapped_column(String(16), default="FLT", server_default="FLT")
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), index=True)
    allow_negative: Mapped[bool] = mapped_column(default=False)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerTransfer(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # Chosen by the caller from what the transfer is for (e.g. "answer:41:reward"):
    # replaying it is a no-op, reusing it for something else is an error.
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transfer", order_by="LedgerEntry.id")


class LedgerEntry(db.Model):
    __table_args__ = (Index("ix_ledger_entry_account_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)

    transfer: Mapped[LedgerTransfer] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()


class HoldStatus(enum.StrEnum):
    HELD = "held"  # in the worker's pending balance until release_at
    DISPUTED = "disputed"  # the requester disputed it within the hold; an admin decides
    RELEASED = "released"  # moved to the worker's available balance
    REVERSED = "reversed"  # a dispute was upheld: returned to the job's escrow


class Hold(db.Model):
    """One credit to a worker's pending balance (a reward, a pay-floor top-up or a bonus),
    released to their available balance after the hold period unless the requester disputes it.

    The ledger holds the money; this row holds the schedule. `key` is the ledger transfer that
    credited it, so the two are joined by a unique key, not by trust.
    """

    __table_args__ = (
        Index("ix_hold_status_release", "status", "release_at"),
        Index("ix_hold_answer", "answer_id"),
        Index("ix_hold_worker", "worker_id", "id"),
        Index("ix_hold_job_kind", "job_id", "kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    token: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # reward | topup | bonus
    worker_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id"))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answer.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[HoldStatus] = mapped_column(
        Enum(HoldStatus, values_callable=lambda e: [m.value for m in e], native_enum=False,
             create_constraint=True, length=16, name="holdstatus"),
        default=HoldStatus.HELD,
    )
    release_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]
    dispute_reason: Mapped[str | None] = mapped_column(Text)


class JobBudget(db.Model):
    """A job's money terms, fixed when it is first funded so later config changes cannot alter
    what was reserved: the platform fee per accepted answer and the pay-floor top-up target."""

    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(16))
    fee_per_answer: Mapped[int] = mapped_column(BigInteger, default=0)
    # Added to every accepted answer's reward once the measured median time shows the reward
    # misses the hourly floor; it only ever rises, so nobody's top-up is taken back.
    topup_per_answer: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the requester was last told about the pay floor (shown on the job page).
    floor_notice: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
