"""Signing and broadcasting the outbox, in steps that each touch either the database or the chain.

Database steps flush and never commit: `sign_queued` takes the signer's next nonce from the
database under a row lock and stores the signed bytes; `record_broadcast` notes what the node
said. Chain steps read no database: `current_fees`, `base_fee`, `broadcast`. The order that makes
the outbox safe (the bytes committed before the first byte leaves) is kept by
rewards.payouts.cycle, the boundary that commits between them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from app.extensions import db, utcnow
from rewards.chain.errors import ChainUnavailable
from rewards.models import ChainTx, SignerNonce
from rewards.onchain import ChainHandle

log = logging.getLogger("rewards.payouts")

# What nodes answer when they already have the transaction (or it already mined): sending the
# same bytes again succeeded in effect.
_KNOWN = ("already known", "known transaction", "already imported", "nonce too low")


@dataclass
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class SignedTx:
    """A transaction's stored signed bytes, as plain data (usable after the commit)."""

    id: int
    raw: bytes
    tx_hash: str


@dataclass(frozen=True)
class BroadcastOutcome:
    """What the node said to the bytes: it has them (`known`), or `error`; `unavailable` when the
    node could not be asked at all (the bytes may or may not have reached it)."""

    known: bool
    error: str | None = None
    unavailable: ChainUnavailable | None = None


# --- chain steps (no database) -------------------------------------------------------------------

def current_fees(chain: ChainHandle) -> Fees:
    """EIP-1559 fees: twice the latest base fee plus a tip, never above the cap."""
    block = chain.w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas", 0) or 0)
    try:
        tip = int(chain.w3.eth.max_priority_fee)
    except ChainUnavailable:
        raise
    except Exception:  # noqa: BLE001 - nodes without eth_maxPriorityFeePerGas
        tip = 10**9
    tip = min(tip, chain.max_fee_per_gas)
    return Fees(min(2 * base + tip, chain.max_fee_per_gas), tip)


def base_fee(chain: ChainHandle) -> int:
    return int(chain.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)


def broadcast(chain: ChainHandle, raw: bytes) -> BroadcastOutcome:
    """Send stored bytes to the node. A node that already has them counts as success."""
    try:
        chain.w3.eth.send_raw_transaction(raw)
    except ChainUnavailable as exc:
        return BroadcastOutcome(False, str(exc), exc)
    except Exception as exc:  # noqa: BLE001 - every node words its refusals differently
        error = str(exc)
        return BroadcastOutcome(any(s in error.lower() for s in _KNOWN), error)
    return BroadcastOutcome(True)


# --- database steps (flush, never commit) ---------------------------------------------------------

def next_queued(chain_id: int) -> int | None:
    """The oldest queued transaction of this chain."""
    return db.session.scalar(db.select(ChainTx.id).where(ChainTx.status == "queued", ChainTx.chain_id == chain_id)
                             .order_by(ChainTx.id).limit(1))


def signed_unsent(chain_id: int) -> list[SignedTx]:
    """Signed but never broadcast (a crash between the commit and the send), in nonce order."""
    rows = db.session.execute(db.select(ChainTx.id, ChainTx.raw_tx, ChainTx.tx_hash).where(
        ChainTx.status == "signed", ChainTx.chain_id == chain_id).order_by(ChainTx.nonce, ChainTx.id)).all()
    return [SignedTx(tx_id, bytes(raw), tx_hash) for tx_id, raw, tx_hash in rows]


def stored_tx(tx_id: int) -> SignedTx:
    row = db.session.get(ChainTx, tx_id)
    return SignedTx(row.id, bytes(row.raw_tx), row.tx_hash)


def sign_queued(chain: ChainHandle, tx_id: int, fees: Fees, chain_nonce: int) -> SignedTx | None:
    """Sign queued transaction `tx_id` with the signer's next nonce, allocated from the database
    under a row lock (held until the caller commits); None if another sender took it.

    Our own record wins; the node's pending count (`chain_nonce`, read before) only moves us
    forward, past transactions the same key sent elsewhere."""
    nonce_row = db.session.scalar(db.select(SignerNonce).where(
        SignerNonce.chain_id == chain.chain_id, SignerNonce.address == chain.address).with_for_update())
    if nonce_row is None:
        nonce_row = SignerNonce(chain_id=chain.chain_id, address=chain.address, next_nonce=chain_nonce)
        db.session.add(nonce_row)
        db.session.flush()
    row = db.session.scalar(db.select(ChainTx).where(ChainTx.id == tx_id, ChainTx.status == "queued")
                            .with_for_update())
    if row is None:
        return None
    nonce = max(nonce_row.next_nonce, chain_nonce)
    nonce_row.next_nonce = nonce + 1
    sign(chain, row, nonce, fees)
    db.session.flush()
    return SignedTx(row.id, bytes(row.raw_tx), row.tx_hash)


def sign(chain: ChainHandle, row: ChainTx, nonce: int, fees: Fees) -> None:
    """Sign `row` locally (the key never leaves the process) and store the bytes on it."""
    tx = {"chainId": chain.chain_id, "nonce": nonce, "to": row.to, "data": bytes(row.data), "value": 0,
          "gas": row.gas, "maxFeePerGas": fees.max_fee_per_gas,
          "maxPriorityFeePerGas": fees.max_priority_fee_per_gas, "type": 2}
    signed = chain.signer.sign_transaction(tx)
    row.nonce, row.raw_tx = nonce, bytes(signed.raw_transaction)
    row.tx_hash = "0x" + bytes(signed.hash).hex()
    row.max_fee_per_gas, row.max_priority_fee_per_gas = fees.max_fee_per_gas, fees.max_priority_fee_per_gas
    row.status = "signed"


def record_broadcast(tx_id: int, outcome: BroadcastOutcome) -> None:
    """Note what the node said: a signed transaction it has is now "broadcast"; an error is kept
    on the row (it stays signed, and is sent again from the same bytes next time)."""
    row = db.session.get(ChainTx, tx_id)
    error = None if outcome.error is None else outcome.error[:500]
    if outcome.known:
        if row.status == "signed":
            row.status, row.broadcast_at = "broadcast", utcnow()
    else:
        log.warning("broadcast of %s failed: %s", row.tx_hash, outcome.error)
    row.error = error
    db.session.flush()
