"""The payout engine: exactly-once ERC-20 payouts through an outbox.

1. `build_epoch` (one DB transaction): every worker with a verified wallet and at least
   MIN_PAYOUT available has it moved available → payout in flight; the epoch's trees (wallet →
   cumulative paid, and the accepted contributions behind them) are built, and the transactions to
   post the roots, fund the distributor and push the payments are queued. Committed before
   anything is sent.
2. `send_queued`: each queued transaction gets the next nonce of the signer, allocated from the
   database under a row lock; it is signed (EIP-1559, fees under the configured cap) and the raw
   bytes are stored and committed; only then is it broadcast.
3. `confirm_sent`: the chain decides. A transaction buried under the confirmation rule settles
   (push → payout in flight → paid out); a reverted one returns the money to available and raises
   an alert; a dropped or reorged one is re-broadcast from its stored bytes; a stuck one is
   re-signed with the same nonce and fees raised 12.5% (nodes need ≥ 10%).
4. `reconcile_chain`: per wallet, what the ledger paid must equal the distributor's `claimed`;
   the distributor must hold what is in flight. Differences are reported, never fixed.

The chain is never called with a DB transaction open: every step reads the chain first, then
writes and commits. Replays are harmless by construction: the distributor pays
`cumulative − claimed` and skips anyone already paid.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from flask import current_app
from hexbytes import HexBytes
from sqlalchemy import func
from web3.exceptions import TransactionNotFound
from web3.providers import JSONBaseProvider

from annotation.models import Answer, AnswerStatus
from app.extensions import db, utcnow
from app.identity.models import User
from rewards.chain import merkle
from rewards.errors import RewardsNotFound
from rewards.models import (
    ChainAlert,
    ChainTx,
    ContributionLeaf,
    Hold,
    HoldStatus,
    LedgerAccount,
    PayoutEpoch,
    PayoutItem,
    SignerNonce,
)
from rewards.onchain import ChainHandle
from rewards.policy import current_policy
from rewards.settlement import PayoutRef, complete_payouts, fail_payout, reserve_payouts

log = logging.getLogger(__name__)

GAS_POST_EPOCH = 150_000
GAS_FUND = 120_000
GAS_PUSH_BASE = 80_000
GAS_PUSH_PER_WALLET = 60_000  # a first payment costs ~50k; unused gas is not charged
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8  # +12.5% per replacement
ZERO_ROOT = "0x" + "00" * 32
OPEN_STATUSES = ("queued", "signed", "broadcast", "mined")


def alert(kind: str, message: str, **details: Any) -> ChainAlert:
    log.warning("chain alert %s: %s", kind, message)
    row = ChainAlert(kind=kind, message=message, details=details or None)
    db.session.add(row)
    return row


# --- 1. Build an epoch ---------------------------------------------------------------------------

def open_epoch() -> PayoutEpoch | None:
    """The epoch still being paid, if any (one at a time keeps nonces and roots in order)."""
    return db.session.scalar(db.select(PayoutEpoch).where(PayoutEpoch.status != "paid")
                             .order_by(PayoutEpoch.id.desc()).limit(1))


def paid_cumulatives() -> dict[str, int]:
    """Per wallet, everything ever recorded for it that did not fail: the cumulative the next
    root carries."""
    rows = db.session.execute(
        db.select(PayoutItem.wallet, func.sum(PayoutItem.amount))
        .where(PayoutItem.status != "failed").group_by(PayoutItem.wallet)).all()
    return {wallet: int(total) for wallet, total in rows}


def build_epoch(chain: ChainHandle, *, min_payout: int | None = None, batch_size: int | None = None,
                distributor_balance: int | None = None) -> PayoutEpoch | None:
    """Record the next epoch and its outbox; None when an epoch is still open or nobody is due.

    The caller commits. `distributor_balance` is read from the chain first (before any write)."""
    config = current_app.config
    min_payout = int(config["MIN_PAYOUT"] if min_payout is None else min_payout)
    batch_size = int(config["PAYOUT_BATCH_SIZE"] if batch_size is None else batch_size)
    if open_epoch() is not None:
        return None
    if distributor_balance is None:
        db.session.rollback()  # nothing written yet: no transaction stays open across the RPC call
        distributor_balance = chain.token.functions.balanceOf(chain.distributor.address).call()
    policy = current_policy()
    due = db.session.execute(
        db.select(User.id, User.wallet_address, func.coalesce(_available_balance(policy.token), 0))
        .where(User.wallet_address.is_not(None))
    ).all()
    due = [(uid, wallet, int(amount)) for uid, wallet, amount in due if int(amount or 0) >= min_payout]
    leaves = _contribution_rows()
    if not due and not leaves:
        return None
    epoch_no = (db.session.scalar(db.select(func.max(PayoutEpoch.id))) or 0) + 1
    cumulative = paid_cumulatives()
    items = []
    for user_id, wallet, amount in sorted(due):
        wallet = to_checksum_address(wallet)
        cumulative[wallet] = cumulative.get(wallet, 0) + amount
        items.append(PayoutItem(epoch_id=epoch_no, user_id=user_id, wallet=wallet, amount=amount,
                                cumulative=cumulative[wallet], ledger_key=f"epoch:{epoch_no}:user:{user_id}"))
    earnings = merkle.earnings_tree({w: c for w, c in cumulative.items() if c > 0}) if cumulative else None
    contribution_values = [(a_id, item_id, wallet, commitment, reward, epoch_no)
                           for a_id, item_id, _worker, wallet, _salt, commitment, reward in leaves]
    contributions = merkle.contributions_tree(contribution_values) if leaves else None
    total = sum(item.amount for item in items)
    epoch = PayoutEpoch(
        id=epoch_no, token=policy.token, chain_id=chain.chain_id, distributor=chain.distributor.address,
        earnings_root=earnings.root_hex if earnings else ZERO_ROOT,
        contributions_root=contributions.root_hex if contributions else ZERO_ROOT,
        earnings_tree=earnings.dump() if earnings else {},
        contributions_tree=contributions.dump() if contributions else {},
        n_wallets=len(items), n_contributions=len(leaves), total_amount=total, status="built")
    db.session.add(epoch)
    db.session.flush()
    reserve_payouts([PayoutRef(i.user_id, i.amount, i.ledger_key) for i in items], policy)
    index_of = {v[0]: i for i, v in enumerate(contributions.values)} if contributions else {}
    db.session.add_all(ContributionLeaf(
        answer_id=a_id, epoch_id=epoch_no, item_id=item_id, worker_id=worker, wallet=wallet, salt=salt,
        label_commitment=commitment, reward=reward, leaf_index=index_of[a_id])
        for a_id, item_id, worker, wallet, salt, commitment, reward in leaves)
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    for batch_no, batch in enumerate(batches, start=1):
        for item in batch:
            item.batch_no = batch_no
    db.session.add_all(items)
    _queue(chain, epoch, "post_epoch", 0, chain.distributor.encode_abi(
        "postEpoch", [epoch_no, HexBytes(epoch.earnings_root), HexBytes(epoch.contributions_root)]),
        GAS_POST_EPOCH, chain.distributor.address)
    shortfall = total - distributor_balance
    if shortfall > 0:
        _queue(chain, epoch, "fund", 0, chain.token.encode_abi(
            "transfer", [chain.distributor.address, shortfall]), GAS_FUND, chain.token.address)
    for batch_no, batch in enumerate(batches, start=1):
        _queue(chain, epoch, "push", batch_no, chain.distributor.encode_abi(
            "push", [[i.wallet for i in batch], [i.cumulative for i in batch]]),
            GAS_PUSH_BASE + GAS_PUSH_PER_WALLET * len(batch), chain.distributor.address)
    db.session.flush()
    return epoch


def _available_balance(token: str):
    """The worker's available balance, correlated to User.id (the account is found by owner and
    kind, not by rebuilding its code in SQL)."""
    return (db.select(LedgerAccount.balance)
            .where(LedgerAccount.user_id == User.id, LedgerAccount.kind == "worker_available",
                   LedgerAccount.token == token)
            .scalar_subquery())


def _contribution_rows(limit: int = 200_000) -> list[tuple]:
    """Accepted answers whose reward was released, by workers with a wallet, not yet recorded:
    (answer id, item id, worker id, wallet, salt, label commitment, reward)."""
    released = (db.select(Hold.answer_id, func.sum(Hold.amount).label("paid"))
                .where(Hold.status == HoldStatus.RELEASED, Hold.answer_id.is_not(None))
                .group_by(Hold.answer_id).subquery())
    rows = db.session.execute(
        db.select(Answer.id, Answer.item_id, Answer.worker_id, User.wallet_address, Answer.choices, released.c.paid)
        .join(released, released.c.answer_id == Answer.id)
        .join(User, User.id == Answer.worker_id)
        .where(Answer.status == AnswerStatus.ACCEPTED, User.wallet_address.is_not(None),
               ~db.select(ContributionLeaf.answer_id).where(ContributionLeaf.answer_id == Answer.id).exists())
        .order_by(Answer.id).limit(limit)).all()
    out = []
    for answer_id, item_id, worker_id, wallet, choices, paid in rows:
        salt = secrets.token_bytes(32)
        commitment = "0x" + merkle.label_commitment(salt, label_json(choices)).hex()
        out.append((answer_id, item_id, worker_id, to_checksum_address(wallet), salt, commitment, int(paid)))
    return out


def label_json(choices: dict[str, Any]) -> str:
    """The canonical text a label commitment covers (sorted keys, no spaces)."""
    return json.dumps(choices, sort_keys=True, separators=(",", ":"))


def _queue(chain: ChainHandle, epoch: PayoutEpoch, purpose: str, batch_no: int, data: str, gas: int,
           to: str) -> None:
    db.session.add(ChainTx(chain_id=chain.chain_id, purpose=purpose, epoch_id=epoch.id, batch_no=batch_no,
                           attempt=0, sender=chain.address, to=to, data=HexBytes(data), gas=gas,
                           status="queued"))


# --- 2. Sign and send ----------------------------------------------------------------------------

@dataclass
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def current_fees(chain: ChainHandle) -> Fees:
    """EIP-1559 fees: twice the latest base fee plus a tip, never above the cap."""
    block = chain.w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    try:
        tip = int(chain.w3.eth.max_priority_fee)
    except Exception:  # noqa: BLE001 - nodes without eth_maxPriorityFeePerGas
        tip = 10**9
    tip = min(tip, chain.max_fee_per_gas)
    return Fees(min(2 * base + tip, chain.max_fee_per_gas), tip)


def send_queued(chain: ChainHandle, *, fees: Fees | None = None) -> int:
    """Sign and broadcast queued transactions in order; how many were broadcast."""
    rebroadcast_signed(chain)
    sent = 0
    while True:
        tx_id = db.session.scalar(db.select(ChainTx.id).where(ChainTx.status == "queued", ChainTx.chain_id == chain.chain_id)
                                  .order_by(ChainTx.id).limit(1))
        db.session.rollback()
        if tx_id is None:
            return sent
        fees = fees or current_fees(chain)
        if fees.max_fee_per_gas < _base_fee(chain):
            alert("fee_above_cap", "The base fee is above CHAIN_MAX_FEE_PER_GAS; payouts wait.",
                  cap=chain.max_fee_per_gas)
            db.session.commit()
            return sent
        chain_nonce = chain.w3.eth.get_transaction_count(chain.address, "pending")
        row = _sign_with_next_nonce(chain, tx_id, fees, chain_nonce)
        db.session.commit()  # the raw bytes are durable before the first byte leaves
        if row is None:
            continue
        _broadcast(chain, row.id)
        sent += 1


def _base_fee(chain: ChainHandle) -> int:
    return int(chain.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)


def _sign_with_next_nonce(chain: ChainHandle, tx_id: int, fees: Fees, chain_nonce: int) -> ChainTx | None:
    nonce_row = db.session.scalar(db.select(SignerNonce).where(
        SignerNonce.chain_id == chain.chain_id, SignerNonce.address == chain.address).with_for_update())
    if nonce_row is None:
        nonce_row = SignerNonce(chain_id=chain.chain_id, address=chain.address, next_nonce=chain_nonce)
        db.session.add(nonce_row)
        db.session.flush()
    row = db.session.scalar(db.select(ChainTx).where(ChainTx.id == tx_id, ChainTx.status == "queued")
                            .with_for_update())
    if row is None:  # another sender took it
        return None
    # Our own record wins; the node's pending count only moves us forward (a key used elsewhere).
    nonce = max(nonce_row.next_nonce, chain_nonce)
    nonce_row.next_nonce = nonce + 1
    _sign(chain, row, nonce, fees)
    return row


def _sign(chain: ChainHandle, row: ChainTx, nonce: int, fees: Fees) -> None:
    tx = {"chainId": chain.chain_id, "nonce": nonce, "to": row.to, "data": bytes(row.data), "value": 0,
          "gas": row.gas, "maxFeePerGas": fees.max_fee_per_gas,
          "maxPriorityFeePerGas": fees.max_priority_fee_per_gas, "type": 2}
    signed = chain.signer.sign_transaction(tx)
    row.nonce, row.raw_tx = nonce, bytes(signed.raw_transaction)
    row.tx_hash = "0x" + bytes(signed.hash).hex()
    row.max_fee_per_gas, row.max_priority_fee_per_gas = fees.max_fee_per_gas, fees.max_priority_fee_per_gas
    row.status = "signed"


def _broadcast(chain: ChainHandle, tx_id: int) -> bool:
    """Send the stored bytes; True if the node has the transaction now."""
    row = db.session.get(ChainTx, tx_id)
    raw, tx_hash = bytes(row.raw_tx), row.tx_hash
    db.session.rollback()
    error = None
    try:
        chain.w3.eth.send_raw_transaction(raw)
    except Exception as exc:  # noqa: BLE001 - every node words these differently
        error = str(exc)
    known = error is None or any(s in error.lower() for s in ("already known", "known transaction",
                                                                "already imported", "nonce too low"))
    row = db.session.get(ChainTx, tx_id)
    if known:
        if row.status == "signed":
            row.status, row.broadcast_at = "broadcast", utcnow()
        row.error = None if error is None else error[:500]
    else:
        row.error = error[:500]
        log.warning("broadcast of %s failed: %s", tx_hash, error)
    db.session.commit()
    return known


def rebroadcast_signed(chain: ChainHandle) -> int:
    """Signed but never broadcast (a crash between commit and send): send the same bytes."""
    ids = db.session.scalars(db.select(ChainTx.id).where(ChainTx.status == "signed", ChainTx.chain_id == chain.chain_id)
                             .order_by(ChainTx.nonce, ChainTx.id)).all()
    db.session.rollback()
    return sum(_broadcast(chain, tx_id) for tx_id in ids)


# --- 3. Confirm ----------------------------------------------------------------------------------

@dataclass
class ConfirmReport:
    confirmed: int = 0
    reverted: int = 0
    rebroadcast: int = 0
    replaced: int = 0
    waiting: int = 0
    notes: list[str] = field(default_factory=list)


def confirm_sent(chain: ChainHandle, *, now: dt.datetime | None = None) -> ConfirmReport:
    """Let the chain decide every open transaction (see the module docstring)."""
    report = ConfirmReport()
    rebroadcast_signed(chain)
    open_rows = db.session.scalars(db.select(ChainTx).where(
        ChainTx.status.in_(("broadcast", "mined")), ChainTx.chain_id == chain.chain_id)
        .order_by(ChainTx.nonce, ChainTx.attempt)).all()
    by_nonce: dict[int, list[ChainTx]] = defaultdict(list)
    for row in open_rows:
        by_nonce[row.nonce].append(row)
    snapshot = {nonce: [(r.id, r.tx_hash, r.broadcast_at, r.status) for r in rows] for nonce, rows in by_nonce.items()}
    db.session.rollback()
    final_block = chain.confirmed_block()
    for nonce, attempts in sorted(snapshot.items()):
        _decide_nonce(chain, nonce, attempts, final_block, report, now or utcnow())
    _settle_epochs()
    db.session.commit()
    return report


def _decide_nonce(chain: ChainHandle, nonce: int, attempts: list[tuple], final_block: int,
                  report: ConfirmReport, now: dt.datetime) -> None:
    receipt, mined_id = None, None
    for tx_id, tx_hash, _at, _status in attempts:
        try:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            continue
        if receipt is not None:
            mined_id = tx_id
            break
    if receipt is None:
        _not_mined(chain, attempts, report, now)
        return
    block_number, block_hash = int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()
    canonical = "0x" + bytes(chain.w3.eth.get_block(block_number)["hash"]).hex()
    if canonical != block_hash:  # a reorg is under way: wait for the node to settle
        report.waiting += 1
        return
    if block_number > final_block:
        row = db.session.get(ChainTx, mined_id)
        row.status, row.block_number, row.block_hash = "mined", block_number, block_hash
        report.waiting += 1
        db.session.commit()
        return
    status = int(receipt["status"])
    reads = _chain_reads_for(chain, mined_id)  # claims decide a push whether it reverted or not
    for tx_id, *_ in attempts:
        other = db.session.get(ChainTx, tx_id)
        if tx_id != mined_id:
            other.status = "replaced"
    row = db.session.get(ChainTx, mined_id)
    row.block_number, row.block_hash = block_number, block_hash
    if status == 1:
        row.status = "confirmed"
        report.confirmed += 1
        _apply_confirmed(row, reads)
    else:
        row.status = "reverted"
        report.reverted += 1
        _apply_reverted(row, reads)
    db.session.commit()


def _not_mined(chain: ChainHandle, attempts: list[tuple], report: ConfirmReport, now: dt.datetime) -> None:
    """No attempt has a receipt: was it dropped (re-broadcast the same bytes), or is it stuck
    (replace it with higher fees, same nonce)?"""
    latest_id, latest_hash, broadcast_at, _ = attempts[-1]
    try:
        known = chain.w3.eth.get_transaction(latest_hash) is not None
    except TransactionNotFound:
        known = False
    mined_for_nonce = chain.w3.eth.get_transaction_count(chain.address, "latest")
    if not known:
        row = db.session.get(ChainTx, latest_id)
        if mined_for_nonce > row.nonce:  # no attempt of ours mined, yet the nonce is spent
            _requeue_nonce_taken(attempts, row, report)
            return
        db.session.rollback()
        for tx_id, *_ in attempts:
            _broadcast(chain, tx_id)
        report.rebroadcast += 1
        return
    row = db.session.get(ChainTx, latest_id)
    if mined_for_nonce > row.nonce:  # something with this nonce mined: receipts will show next round
        report.waiting += 1
        db.session.rollback()
        return
    if broadcast_at is None or (now - broadcast_at).total_seconds() < chain.stuck_seconds:
        report.waiting += 1
        db.session.rollback()
        return
    db.session.rollback()  # the node is asked for the base fee with no transaction open
    base = _base_fee(chain)
    row = db.session.get(ChainTx, latest_id)
    bumped = Fees(_bump(row.max_fee_per_gas), _bump(row.max_priority_fee_per_gas))
    bumped.max_fee_per_gas = max(bumped.max_fee_per_gas, 2 * base + bumped.max_priority_fee_per_gas)
    if bumped.max_fee_per_gas > chain.max_fee_per_gas:
        alert("fee_above_cap", f"Transaction {row.tx_hash} is stuck and replacing it would pass the fee cap.",
              nonce=row.nonce, needed=bumped.max_fee_per_gas, cap=chain.max_fee_per_gas)
        report.waiting += 1
        db.session.commit()
        return
    replacement = ChainTx(chain_id=row.chain_id, purpose=row.purpose, epoch_id=row.epoch_id, batch_no=row.batch_no,
                          attempt=row.attempt + 1, sender=row.sender, to=row.to, data=row.data, gas=row.gas)
    db.session.add(replacement)
    _sign(chain, replacement, row.nonce, bumped)
    db.session.commit()
    _broadcast(chain, replacement.id)
    report.replaced += 1


def _requeue_nonce_taken(attempts: list[tuple], latest: ChainTx, report: ConfirmReport) -> None:
    """Another transaction of the signer's key used this nonce, and none of ours mined (no
    receipt, unknown to the node): re-broadcasting our bytes can only ever get "nonce too low".
    Queue the same work again for a fresh nonce; a push is idempotent, so this cannot pay twice."""
    for tx_id, *_ in attempts:
        db.session.get(ChainTx, tx_id).status = "failed"
    latest.error = f"nonce {latest.nonce} was used by another transaction of {latest.sender}"
    db.session.add(ChainTx(chain_id=latest.chain_id, purpose=latest.purpose, epoch_id=latest.epoch_id,
                           batch_no=latest.batch_no, attempt=latest.attempt + 1, sender=latest.sender,
                           to=latest.to, data=latest.data, gas=latest.gas, status="queued"))
    alert("nonce_taken", f"Nonce {latest.nonce} of {latest.sender} was used outside the payout engine; "
          f"the {latest.purpose} is queued again.", epoch=latest.epoch_id, batch=latest.batch_no,
          nonce=latest.nonce)
    report.notes.append(latest.error)
    db.session.commit()


def _bump(value: int) -> int:
    return math.ceil(value * FEE_BUMP_NUMERATOR / FEE_BUMP_DENOMINATOR) + 1


def _chain_reads_for(chain: ChainHandle, tx_id: int) -> dict[str, int]:
    """What settling a push needs from the chain: each wallet's `claimed` (read before writing)."""
    row = db.session.get(ChainTx, tx_id)
    if row.purpose != "push":
        db.session.rollback()
        return {}
    wallets = db.session.scalars(db.select(PayoutItem.wallet).where(
        PayoutItem.epoch_id == row.epoch_id, PayoutItem.batch_no == row.batch_no)).all()
    db.session.rollback()
    return claimed_of(chain, wallets)


CLAIMED_BATCH = 500  # `claimed` reads per JSON-RPC batch


def claimed_of(chain: ChainHandle, wallets: list[str]) -> dict[str, int]:
    """Each wallet's `claimed` on the distributor. Over HTTP the reads go in JSON-RPC batches
    (one round trip per 500 wallets instead of one each: a 10,000-wallet reconcile took minutes);
    a provider that cannot batch (the in-process EVM) is asked one wallet at a time."""
    batches = isinstance(chain.w3.provider, JSONBaseProvider)  # what web3 can batch over
    out: dict[str, int] = {}
    for i in range(0, len(wallets), CLAIMED_BATCH):
        chunk = wallets[i:i + CLAIMED_BATCH]
        if batches:
            with chain.w3.batch_requests() as batch:
                for wallet in chunk:
                    batch.add(chain.distributor.functions.claimed(wallet))
                values = batch.execute()
        else:
            values = [chain.distributor.functions.claimed(wallet).call() for wallet in chunk]
        out.update(zip(chunk, (int(v) for v in values), strict=True))
    return out


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


def _settle_epochs() -> None:
    """An epoch whose transactions are all final, and none of whose payouts are in flight, is paid."""
    for epoch in db.session.scalars(db.select(PayoutEpoch).where(PayoutEpoch.status != "paid")):
        open_txs = db.session.scalar(db.select(func.count()).select_from(ChainTx).where(
            ChainTx.epoch_id == epoch.id, ChainTx.status.in_(OPEN_STATUSES)))
        in_flight = db.session.scalar(db.select(func.count()).select_from(PayoutItem).where(
            PayoutItem.epoch_id == epoch.id, PayoutItem.status == "in_flight"))
        if not open_txs and not in_flight:
            epoch.status = "paid"


# --- 4. Reconcile --------------------------------------------------------------------------------

@dataclass
class ChainReconciliation:
    wallets_checked: int
    ledger_paid: int
    chain_claimed: int
    in_flight: int
    distributor_balance: int
    mismatches: list[str]
    custody: int = 0  # tokens the platform holds on chain: its wallet plus the distributor
    liabilities: int = 0  # what the ledger says users and the platform hold inside it

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def surplus(self) -> int:
        """On-chain custody beyond the ledger's liabilities (the operator's own float, or faucet
        credits not yet backed when negative)."""
        return self.custody - self.liabilities


def reconcile_chain(chain: ChainHandle) -> ChainReconciliation:
    """Settle what the chain has decided, then compare the ledger with the chain, wallet by
    wallet. Mismatches are recorded as alerts and returned; nothing is changed to make them agree."""
    confirm_sent(chain)
    paid = dict(db.session.execute(db.select(PayoutItem.wallet, func.sum(PayoutItem.amount))
                                   .where(PayoutItem.status == "paid").group_by(PayoutItem.wallet)).all())
    in_flight = int(db.session.scalar(db.select(func.coalesce(func.sum(PayoutItem.amount), 0))
                                      .where(PayoutItem.status == "in_flight")) or 0)
    wallets = sorted(set(paid) | set(db.session.scalars(db.select(PayoutItem.wallet).distinct())))
    liabilities = int(db.session.scalar(db.select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
        ~LedgerAccount.kind.in_(["treasury", "deposits_clearing"]))) or 0)
    db.session.rollback()
    claimed = claimed_of(chain, wallets)
    balance = int(chain.token.functions.balanceOf(chain.distributor.address).call())
    custody = balance + int(chain.token.functions.balanceOf(chain.address).call())
    mismatches = [f"{w}: ledger paid {int(paid.get(w, 0))}, distributor claimed {claimed[w]}"
                  for w in wallets if int(paid.get(w, 0)) != claimed[w]]
    if balance < in_flight:
        mismatches.append(f"distributor holds {balance} but {in_flight} is in flight")
    if custody < liabilities:  # the tokens on chain do not cover what the ledger owes
        mismatches.append(f"the platform holds {custody} on chain but the ledger owes {liabilities}")
    for problem in mismatches:
        alert("reconcile_mismatch", problem)
    db.session.commit()
    return ChainReconciliation(len(wallets), sum(int(v) for v in paid.values()), sum(claimed.values()),
                               in_flight, balance, mismatches, custody, liabilities)


def run_payout_cycle(chain: ChainHandle) -> dict[str, Any]:
    """One turn of the background worker: confirm, build an epoch if none is open, send."""
    confirmed = confirm_sent(chain)
    epoch = build_epoch(chain)
    db.session.commit()
    sent = send_queued(chain)
    return {"confirmed": confirmed, "epoch": epoch.id if epoch else None, "sent": sent}


def contribution_proof(user: User, answer_id: int) -> dict[str, Any]:
    """Everything an annotator needs to prove one contribution against the posted root."""
    leaf = db.session.get(ContributionLeaf, answer_id)
    if leaf is None or leaf.worker_id != user.id:
        raise RewardsNotFound(f"No on-chain record of answer {answer_id} for you yet.")
    epoch = db.session.get(PayoutEpoch, leaf.epoch_id)
    tree = merkle.StandardMerkleTree.load(epoch.contributions_tree)
    answer = db.session.get(Answer, answer_id)
    post = db.session.scalar(db.select(ChainTx).where(ChainTx.epoch_id == epoch.id, ChainTx.purpose == "post_epoch",
                                                     ChainTx.status == "confirmed"))
    return {
        "answer_id": leaf.answer_id, "item_id": leaf.item_id, "wallet": leaf.wallet,
        "label": answer.choices, "label_json": label_json(answer.choices), "salt": "0x" + bytes(leaf.salt).hex(),
        "label_commitment": leaf.label_commitment, "reward": leaf.reward, "epoch": epoch.id,
        "leaf": "0x" + tree.leaf(leaf.leaf_index).hex(), "proof": tree.proof_hex(leaf.leaf_index),
        "root": epoch.contributions_root, "chain_id": epoch.chain_id, "distributor": epoch.distributor,
        "post_tx": post.tx_hash if post else None, "types": list(merkle.CONTRIBUTION_TYPES),
    }


def verify_contribution_proof(proof: dict[str, Any]) -> bool:
    """Check a downloaded proof offline: the salted label opens the commitment, and the leaf
    (rebuilt from its fields) climbs to the root."""
    salt = bytes(HexBytes(proof["salt"]))
    if "0x" + merkle.label_commitment(salt, proof["label_json"]).hex() != proof["label_commitment"].lower():
        return False
    leaf = merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (
        int(proof["answer_id"]), int(proof["item_id"]), proof["wallet"], HexBytes(proof["label_commitment"]),
        int(proof["reward"]), int(proof["epoch"])))
    return merkle.verify(proof["root"], leaf, proof["proof"])
