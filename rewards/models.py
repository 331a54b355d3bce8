"""The ledger: accounts, transfers and their entries. Append-only; amounts are integers.

Every transfer's entries sum to zero, so the sum over all accounts is always zero. An account's
`balance` is a running total kept in the same transaction as its entries (and re-derivable from
them); a CHECK constraint makes the database itself refuse a forbidden negative balance.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db, utcnow


class LedgerAccount(db.Model):
    __table_args__ = (
        CheckConstraint("allow_negative OR balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "worker:12", "job:3", "requester:5", "treasury"; one per (kind, owner).
    code: Mapped[str] = mapped_column(String(80), unique=True)
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
