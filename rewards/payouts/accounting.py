"""The ledger side of payouts: an epoch's payouts reserved, settled or failed, exactly once.

Each payout is three transfers under one key: `payout:<key>` (available → payout in flight,
before anything is sent), then either `payout:<key>:sent` (in flight → out through the treasury,
once the chain confirms it) or `payout:<key>:failed` (the reservation reversed, the money back in
available). The reservations are locked while settling, so completing and failing one payout
serialize, and a payout settled one way can never be settled the other. Flushes; never commits.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import selectinload

from app.extensions import db
from app.identity.models import User
from rewards.accounts import treasury_account, worker_accounts, worker_balances
from rewards.errors import InsufficientFunds, RewardsConflict, RewardsNotFound
from rewards.ledger import TransferSpec, post_transfers, reverse_transfer
from rewards.models import LedgerTransfer
from rewards.policy import PayPolicy, current_policy
from rewards.settlement import _require_amount


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
