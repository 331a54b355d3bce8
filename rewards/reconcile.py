"""Reconciliation: recompute every balance from the transfers and report any difference.

Nothing here fixes anything: a difference is a bug or tampering, and a person must look at it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func

from app.extensions import db
from rewards.accounts import worker_ref
from rewards.ledger import NEGATIVE_ALLOWED, recomputed_balances
from rewards.models import Hold, HoldStatus, LedgerAccount, LedgerEntry, LedgerTransfer


@dataclass(frozen=True)
class Discrepancy:
    what: str  # an account code, a transfer key or a check's name
    problem: str


@dataclass(frozen=True)
class Reconciliation:
    n_accounts: int
    n_transfers: int
    total: int  # the sum of every balance: zero in a sound ledger
    discrepancies: list[Discrepancy]

    @property
    def ok(self) -> bool:
        return not self.discrepancies


def reconcile_ledger() -> Reconciliation:
    """Check every invariant the ledger promises, from the entries up."""
    found: list[Discrepancy] = []
    balances = recomputed_balances()
    for code, (stored, summed) in balances.items():
        if stored != summed:
            found.append(Discrepancy(code, f"stored balance {stored} but its entries sum to {summed}"))
    total = sum(summed for _, summed in balances.values())
    if total != 0:
        found.append(Discrepancy("ledger", f"all balances sum to {total}, not 0"))
    for key, amount in db.session.execute(
            db.select(LedgerTransfer.key, func.sum(LedgerEntry.amount))
            .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id)
            .group_by(LedgerTransfer.key).having(func.sum(LedgerEntry.amount) != 0)):
        found.append(Discrepancy(key, f"entries sum to {amount}, not 0"))
    for account in db.session.scalars(db.select(LedgerAccount).order_by(LedgerAccount.id)):
        if account.kind not in NEGATIVE_ALLOWED and account.balance < 0:
            found.append(Discrepancy(account.code, f"{account.kind} is negative: {account.balance}"))
    found.extend(_pending_matches_holds())
    n_transfers = db.session.scalar(db.select(func.count()).select_from(LedgerTransfer)) or 0
    return Reconciliation(len(balances), int(n_transfers), total, found)


def _pending_matches_holds() -> list[Discrepancy]:
    """A worker's pending balance is exactly their unreleased, unreversed holds."""
    held = {(token, worker): int(total) for token, worker, total in db.session.execute(
        db.select(Hold.token, Hold.worker_id, func.sum(Hold.amount))
        .where(Hold.status.in_([HoldStatus.HELD, HoldStatus.DISPUTED]))
        .group_by(Hold.token, Hold.worker_id))}
    pending = {(a.token, a.user_id): a for a in db.session.scalars(
        db.select(LedgerAccount).where(LedgerAccount.kind == "worker_pending"))}
    found = []
    for token, worker in sorted(set(held) | set(pending)):
        account = pending.get((token, worker))
        balance = account.balance if account else 0
        if held.get((token, worker), 0) != balance:
            code = account.code if account else worker_ref(token, worker, "pending").code
            found.append(Discrepancy(code, f"pending balance {balance} but open holds total "
                                           f"{held.get((token, worker), 0)}"))
    return found
