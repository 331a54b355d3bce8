"""The ledger: accounts, transfers and their entries. Append-only; amounts are integers.

Every transfer's entries sum to zero, so the sum over all accounts is always zero. An account's
`balance` is a running total kept in the same transaction as its entries (and re-derivable from
them); a CHECK constraint makes the database itself refuse a forbidden negative balance.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db, utcnow, value_enum


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
    status: Mapped[HoldStatus] = mapped_column(value_enum(HoldStatus), default=HoldStatus.HELD)
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


# --- On chain: the payout outbox, deposits and contribution records -------------------------------

class SignerNonce(db.Model):
    """The next nonce of a signing address on a chain, allocated under a row lock so two payout
    workers can never sign two transactions with one nonce."""

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class PayoutEpoch(db.Model):
    """One payout round: the (wallet, cumulative earned) tree and the accepted-contributions tree
    whose roots are posted on chain, and the payouts it carries."""

    id: Mapped[int] = mapped_column(primary_key=True)  # the epoch number posted on chain
    token: Mapped[str] = mapped_column(String(16))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    distributor: Mapped[str] = mapped_column(String(42))
    earnings_root: Mapped[str] = mapped_column(String(66))
    contributions_root: Mapped[str] = mapped_column(String(66))
    # The trees as OpenZeppelin StandardMerkleTree dumps, so any proof can be served later.
    earnings_tree: Mapped[dict[str, Any]]
    contributions_tree: Mapped[dict[str, Any]]
    n_wallets: Mapped[int] = mapped_column(default=0)
    n_contributions: Mapped[int] = mapped_column(default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="built")  # built | posted | paid
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[dt.datetime | None]


class PayoutItem(db.Model):
    """What one wallet is paid in an epoch: available → in flight when recorded, then paid
    (in flight → out) once the chain confirms it, or back to available if it fails for good."""

    __table_args__ = (
        UniqueConstraint("epoch_id", "wallet"),
        Index("ix_payout_item_wallet", "wallet", "epoch_id"),
        Index("ix_payout_item_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("payout_epoch.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    wallet: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)
    cumulative: Mapped[int] = mapped_column(BigInteger)  # the wallet's total paid once this lands
    batch_no: Mapped[int] = mapped_column(default=0)
    ledger_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="in_flight")  # in_flight | paid | failed


class ChainTx(db.Model):
    """A transaction in the outbox. Recorded and committed before it is signed; its raw signed
    bytes are stored before broadcast, so a crash, a dropped transaction or a reorg is recovered
    by re-broadcasting exactly the same bytes. A stuck one is replaced (same nonce, higher fees)
    by a new row pointing at it."""

    __table_args__ = (
        Index("ix_chain_tx_status", "status"),
        Index("ix_chain_tx_hash", "tx_hash"),
        UniqueConstraint("purpose", "epoch_id", "batch_no", "attempt", name="uq_chain_tx_work"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(16))  # post_epoch | push
    epoch_id: Mapped[int] = mapped_column(ForeignKey("payout_epoch.id"))
    batch_no: Mapped[int] = mapped_column(default=0)
    attempt: Mapped[int] = mapped_column(default=0)  # 0, then 1, 2, ... for fee-bumped replacements
    sender: Mapped[str] = mapped_column(String(42))
    to: Mapped[str] = mapped_column(String(42))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    gas: Mapped[int | None] = mapped_column(BigInteger)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    # queued → signed → broadcast → mined → confirmed; or replaced / reverted / failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    broadcast_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContributionLeaf(db.Model):
    """An accepted answer's record in an epoch's contributions tree. The salt keeps the label
    commitment unguessable; only the worker (and the platform) can open it."""

    __table_args__ = (Index("ix_contribution_leaf_epoch", "epoch_id", "leaf_index"),)

    answer_id: Mapped[int] = mapped_column(ForeignKey("answer.id"), primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("payout_epoch.id"))
    item_id: Mapped[int]
    worker_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    wallet: Mapped[str] = mapped_column(String(42))
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    label_commitment: Mapped[str] = mapped_column(String(66))
    reward: Mapped[int] = mapped_column(BigInteger)
    leaf_index: Mapped[int]


class ChainDeposit(db.Model):
    """A token transfer to the platform seen on chain, credited once at confirmation, keyed by
    where it happened."""

    __table_args__ = (UniqueConstraint("chain_id", "tx_hash", "log_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int]
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    from_address: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(16), default="seen")  # seen | credited | unmatched | reorged
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    credited_at: Mapped[dt.datetime | None]


class ChainAlert(db.Model):
    """Something on chain needs a person: a reverted payout, a reconciliation mismatch."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None]
