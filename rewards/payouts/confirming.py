"""Letting the chain decide every open transaction, one nonce at a time.

For each nonce with open attempts, `observe` asks the chain (and only the chain) what happened
and returns a Verdict; `record` writes it (flush, never commit) and says which stored bytes to
send next. rewards.payouts.cycle runs them in that order and commits between them:

- mined and buried under the confirmation rule: it settles. A confirmed push marks each wallet
  whose `claimed` reached its cumulative paid (payout in flight → paid out); a reverted one returns
  the money to available and raises an alert (a wallet that claimed for itself meanwhile is paid).
- mined but not final, or in a block the node is reorganising: wait.
- unknown to the node: re-broadcast the same bytes; unless the nonce was spent by another
  transaction of the key, when the same work is queued again for a fresh nonce (a push is
  idempotent, so this cannot pay twice).
- known but stuck past CHAIN_STUCK_SECONDS: re-signed with the same nonce and fees raised 12.5%
  (nodes need ≥ 10%), never above CHAIN_MAX_FEE_PER_GAS (an alert instead).
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func
from web3.exceptions import TransactionNotFound

from app.extensions import db, utcnow
from app.identity.models import User
from rewards.chain import client
from rewards.models import ChainTx, PayoutEpoch, PayoutItem
from rewards.onchain import ChainHandle
from rewards.payouts.accounting import PayoutRef, complete_payouts, fail_payout
from rewards.payouts.alerts import alert
from rewards.payouts.sending import Fees, base_fee, sign

FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8  # +12.5% per replacement
OPEN_STATUSES = ("queued", "signed", "broadcast", "mined")


@dataclass
class ConfirmReport:
    confirmed: int = 0
    reverted: int = 0
    rebroadcast: int = 0
    replaced: int = 0
    waiting: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    """One broadcast attempt at a nonce, as plain data read before the chain is asked."""

    id: int
    tx_hash: str
    nonce: int
    purpose: str
    epoch_id: int
    batch_no: int
    broadcast_at: dt.datetime | None
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class OpenNonces:
    attempts: dict[int, list[Attempt]]  # nonce → attempts, oldest first
    wallets: dict[tuple[int, int], list[str]]  # (epoch, batch) → the wallets an open push pays


@dataclass
class Verdict:
    """What the chain says about one nonce. `kind` is one of: waiting, mined (not final yet),
    final (settle: `status` 1 or 0, with the `claimed` the push's wallets reached), dropped
    (re-broadcast), nonce_taken, over_cap (stuck, but a replacement would pass the fee cap),
    replace (stuck: sign `fees` with the same nonce)."""

    kind: str
    attempt_id: int | None = None
    block_number: int | None = None
    block_hash: str | None = None
    status: int | None = None
    claimed: dict[str, int] = field(default_factory=dict)
    fees: Fees | None = None


# --- database: what is open ----------------------------------------------------------------------

def open_nonces(chain_id: int) -> OpenNonces:
    """The broadcast or mined attempts of this chain by nonce, and the wallets of open pushes."""
    rows = db.session.scalars(db.select(ChainTx).where(
        ChainTx.status.in_(("broadcast", "mined")), ChainTx.chain_id == chain_id)
        .order_by(ChainTx.nonce, ChainTx.attempt)).all()
    by_nonce: dict[int, list[Attempt]] = defaultdict(list)
    for r in rows:
        by_nonce[r.nonce].append(Attempt(r.id, r.tx_hash, r.nonce, r.purpose, r.epoch_id, r.batch_no,
                                         r.broadcast_at, r.max_fee_per_gas, r.max_priority_fee_per_gas))
    pushes = {(r.epoch_id, r.batch_no) for r in rows if r.purpose == "push"}
    wallets: dict[tuple[int, int], list[str]] = defaultdict(list)
    for epoch_id in {e for e, _ in pushes}:
        for wallet, batch_no in db.session.execute(db.select(PayoutItem.wallet, PayoutItem.batch_no).where(
                PayoutItem.epoch_id == epoch_id).order_by(PayoutItem.id)):
            if (epoch_id, batch_no) in pushes:
                wallets[epoch_id, batch_no].append(wallet)
    return OpenNonces(dict(by_nonce), dict(wallets))


# --- chain: what happened to one nonce -----------------------------------------------------------

def observe(chain: ChainHandle, attempts: list[Attempt], wallets: list[str], final_block: int,
            now: dt.datetime) -> Verdict:
    """Ask the chain about one nonce's attempts (reads only; nothing of the database)."""
    for attempt in attempts:
        try:
            receipt = chain.w3.eth.get_transaction_receipt(attempt.tx_hash)
        except TransactionNotFound:
            continue
        if receipt is not None:
            return _observe_mined(chain, attempt, receipt, wallets, final_block)
    return _observe_not_mined(chain, attempts, now)


def _observe_mined(chain: ChainHandle, attempt: Attempt, receipt, wallets: list[str], final_block: int) -> Verdict:
    block_number, block_hash = int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()
    canonical = "0x" + bytes(chain.w3.eth.get_block(block_number)["hash"]).hex()
    if canonical != block_hash:  # a reorg is under way: wait for the node to settle
        return Verdict("waiting")
    if block_number > final_block:
        return Verdict("mined", attempt.id, block_number, block_hash)
    # claims decide a push whether it reverted or not
    claimed = client.claimed_of_many(chain.w3, chain.distributor, wallets) if attempt.purpose == "push" else {}
    return Verdict("final", attempt.id, block_number, block_hash, int(receipt["status"]), claimed)


def _observe_not_mined(chain: ChainHandle, attempts: list[Attempt], now: dt.datetime) -> Verdict:
    """No attempt has a receipt: was it dropped (re-broadcast the same bytes), or is it stuck
    (replace it with higher fees, same nonce)?"""
    latest = attempts[-1]
    try:
        known = chain.w3.eth.get_transaction(latest.tx_hash) is not None
    except TransactionNotFound:
        known = False
    mined_for_nonce = chain.w3.eth.get_transaction_count(chain.address, "latest")
    if not known:
        # no attempt of ours mined, yet the nonce is spent: someone else used it
        return Verdict("nonce_taken" if mined_for_nonce > latest.nonce else "dropped", latest.id)
    if mined_for_nonce > latest.nonce:  # something with this nonce mined: receipts will show next round
        return Verdict("waiting")
    if latest.broadcast_at is None or (now - latest.broadcast_at).total_seconds() < chain.stuck_seconds:
        return Verdict("waiting")
    base = base_fee(chain)
    bumped = Fees(_bump(latest.max_fee_per_gas), _bump(latest.max_priority_fee_per_gas))
    bumped.max_fee_per_gas = max(bumped.max_fee_per_gas, 2 * base + bumped.max_priority_fee_per_gas)
    return Verdict("over_cap" if bumped.max_fee_per_gas > chain.max_fee_per_gas else "replace", latest.id, fees=bumped)


def _bump(value: int) -> int:
    return math.ceil(value * FEE_BUMP_NUMERATOR / FEE_BUMP_DENOMINATOR) + 1


# --- database: write the verdict -----------------------------------------------------------------

def record(chain: ChainHandle, verdict: Verdict, attempts: list[Attempt], report: ConfirmReport) -> list[int]:
    """Write what the chain decided for one nonce (flush, never commit); the ids of transactions
    whose stored bytes must be sent once this is committed."""
    kind = verdict.kind
    if kind == "waiting":
        report.waiting += 1
        return []
    if kind == "mined":
        row = db.session.get(ChainTx, verdict.attempt_id)
        row.status, row.block_number, row.block_hash = "mined", verdict.block_number, verdict.block_hash
        report.waiting += 1
        db.session.flush()
        return []
    if kind == "final":
        _record_final(verdict, attempts, report)
        return []
    if kind == "dropped":
        report.rebroadcast += 1
        return [a.id for a in attempts]
    if kind == "nonce_taken":
        _requeue_nonce_taken(attempts, db.session.get(ChainTx, verdict.attempt_id), report)
        return []
    row = db.session.get(ChainTx, verdict.attempt_id)
    if kind == "over_cap":
        alert("fee_above_cap", f"Transaction {row.tx_hash} is stuck and replacing it would pass the fee cap.",
              nonce=row.nonce, needed=verdict.fees.max_fee_per_gas, cap=chain.max_fee_per_gas)
        report.waiting += 1
        db.session.flush()
        return []
    if kind != "replace":
        raise ValueError(f"unknown verdict {kind!r}")
    replacement = ChainTx(chain_id=row.chain_id, purpose=row.purpose, epoch_id=row.epoch_id, batch_no=row.batch_no,
                          attempt=row.attempt + 1, sender=row.sender, to=row.to, data=row.data, gas=row.gas)
    db.session.add(replacement)
    sign(chain, replacement, row.nonce, verdict.fees)
    db.session.flush()
    report.replaced += 1
    return [replacement.id]


def _record_final(verdict: Verdict, attempts: list[Attempt], report: ConfirmReport) -> None:
    for attempt in attempts:
        if attempt.id != verdict.attempt_id:
            db.session.get(ChainTx, attempt.id).status = "replaced"
    row = db.session.get(ChainTx, verdict.attempt_id)
    row.block_number, row.block_hash = verdict.block_number, verdict.block_hash
    if verdict.status == 1:
        row.status = "confirmed"
        report.confirmed += 1
        _apply_confirmed(row, verdict.claimed)
    else:
        row.status = "reverted"
        report.reverted += 1
        _apply_reverted(row, verdict.claimed)
    db.session.flush()


def _requeue_nonce_taken(attempts: list[Attempt], latest: ChainTx, report: ConfirmReport) -> None:
    """Another transaction of the signer's key used this nonce, and none of ours mined (no
    receipt, unknown to the node): re-broadcasting our bytes can only ever get "nonce too low".
    Queue the same work again for a fresh nonce; a push is idempotent, so this cannot pay twice."""
    for attempt in attempts:
        db.session.get(ChainTx, attempt.id).status = "failed"
    latest.error = f"nonce {latest.nonce} was used by another transaction of {latest.sender}"
    db.session.add(ChainTx(chain_id=latest.chain_id, purpose=latest.purpose, epoch_id=latest.epoch_id,
                           batch_no=latest.batch_no, attempt=latest.attempt + 1, sender=latest.sender,
                           to=latest.to, data=latest.data, gas=latest.gas, status="queued"))
    alert("nonce_taken", f"Nonce {latest.nonce} of {latest.sender} was used outside the payout engine; "
          f"the {latest.purpose} is queued again.", epoch=latest.epoch_id, batch=latest.batch_no,
          nonce=latest.nonce)
    report.notes.append(latest.error)
    db.session.flush()


def _apply_confirmed(row: ChainTx, claimed: dict[str, int]) -> None:
    epoch = db.session.get(PayoutEpoch, row.epoch_id)
    if row.purpose == "post_epoch":
        epoch.status, epoch.posted_at = "posted", utcnow()
    elif row.purpose == "push":
        items = _batch_items(row)
        _mark_paid([i for i in items if claimed.get(i.wallet, 0) >= i.cumulative])
        for item in items:
            if claimed.get(item.wallet, 0) < item.cumulative:
                _mark_failed(item, f"push {row.tx_hash} confirmed but {item.wallet} has claimed "
                                   f"{claimed.get(item.wallet, 0)} < {item.cumulative}")


def _apply_reverted(row: ChainTx, claimed: dict[str, int]) -> None:
    alert("tx_reverted", f"{row.purpose} transaction {row.tx_hash} reverted.", epoch=row.epoch_id,
          batch=row.batch_no, nonce=row.nonce)
    if row.purpose == "push":
        items = _batch_items(row)
        # A wallet that claimed for itself meanwhile is paid all the same.
        _mark_paid([i for i in items if claimed.get(i.wallet, 0) >= i.cumulative])
        for item in items:
            if claimed.get(item.wallet, 0) < item.cumulative:
                _mark_failed(item, f"push {row.tx_hash} reverted")


def _batch_items(row: ChainTx) -> list[PayoutItem]:
    return db.session.scalars(db.select(PayoutItem).where(
        PayoutItem.epoch_id == row.epoch_id, PayoutItem.batch_no == row.batch_no,
        PayoutItem.status == "in_flight").order_by(PayoutItem.id)).all()


def _mark_paid(items: list[PayoutItem]) -> None:
    if items:
        complete_payouts([PayoutRef(i.user_id, i.amount, i.ledger_key) for i in items])
    for item in items:
        item.status = "paid"


def _mark_failed(item: PayoutItem, why: str) -> None:
    fail_payout(db.session.get(User, item.user_id), item.amount, key=item.ledger_key)
    item.status = "failed"
    alert("payout_failed", f"Payout to {item.wallet} returned to the worker's available balance: {why}.",
          epoch=item.epoch_id, user_id=item.user_id, amount=item.amount)


def settle_epochs() -> None:
    """An epoch whose transactions are all final, and none of whose payouts are in flight, is paid."""
    for epoch in db.session.scalars(db.select(PayoutEpoch).where(PayoutEpoch.status != "paid")):
        open_txs = db.session.scalar(db.select(func.count()).select_from(ChainTx).where(
            ChainTx.epoch_id == epoch.id, ChainTx.status.in_(OPEN_STATUSES)))
        in_flight = db.session.scalar(db.select(func.count()).select_from(PayoutItem).where(
            PayoutItem.epoch_id == epoch.id, PayoutItem.status == "in_flight"))
        if not open_txs and not in_flight:
            epoch.status = "paid"
    db.session.flush()
