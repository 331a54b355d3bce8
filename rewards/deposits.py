"""Requester deposits on chain: ERC-20 transfers to the platform wallet, credited once, at confirmation.

Two steps, each safe to repeat, run by `flask chain deposits scan|credit` (or a worker):

- `scan_deposits(chain, from_block=, to_block=)` reads the token's Transfer logs to the platform
  address and records one ChainDeposit per (chain id, tx hash, log index): "seen" when the sender
  is a requester's linked wallet, "unmatched" otherwise (shown to admins on /wallet; an admin
  may `assign_deposit` it to the requester it came from). A transfer scanned again is not
  recorded again; one that moved to another block (a reorg re-included it) has its block
  updated and is "seen" again.
- `credit_confirmed_deposits(chain)` credits each "seen" deposit whose block is at or below
  `chain.confirmed_block()` and still canonical (same block hash), via
  `rewards.settlement.credit_deposit(source="<chain id>:<tx hash>:<log index>")`, which is
  idempotent by that source: a deposit is credited once however often this runs. A deposit whose
  block was replaced is marked "reorged" and not credited.

A permit + deposit (the platform calling `transferFrom` after an EIP-2612 permit) emits the same
Transfer to the platform, so it is found the same way.

Transactions (design.md §2): no database transaction is open while the chain is read. Both
services refuse to start inside one (commit first); they read the chain, then write through the
session and flush; the caller commits. What little they must read from the database before asking
the chain (the scan cursor, the deposits awaiting confirmation) goes through a short connection of
its own that is closed before the first chain call.

The scan cursor: no table of its own. The next scan starts `reorg_margin(chain)` blocks below the
highest block holding a recorded deposit of this chain (or at `start_block` when there is none):
every block below that was already scanned and is final, and rescanning the margin is free since
recording is insert-if-new. The price is that with no deposits for a long time each scan reads
from the last deposit to the head again (in chunks, filtered by the node on the indexed `to`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eth_utils import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db, utcnow
from app.identity.models import User
from rewards.errors import RewardsConflict, RewardsNotFound
from rewards.funding import credit_deposit
from rewards.models import ChainDeposit
from rewards.onchain import ChainHandle

__all__ = [
    "DEFAULT_CHUNK_BLOCKS",
    "assign_deposit",
    "CreditResult",
    "ScanResult",
    "SeenTransfer",
    "credit_confirmed_deposits",
    "deposit_source",
    "fetch_transfers",
    "next_scan_block",
    "record_transfers",
    "scan_deposits",
    "unmatched_deposits",
]

DEFAULT_CHUNK_BLOCKS = 2_000  # blocks per eth_getLogs call: public nodes cap ranges (often 10k or less)
FINALIZED_MARGIN = 128  # blocks rescanned when confirmations is "finalized" (≈ 2 epochs on mainnet)
ZERO_ADDRESS = "0x" + "00" * 20

SEEN, CREDITED, UNMATCHED, REORGED = "seen", "credited", "unmatched", "reorged"


@dataclass(frozen=True)
class SeenTransfer:
    """One Transfer log to the platform, as read from the chain."""

    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    amount: int


@dataclass
class ScanResult:
    from_block: int
    to_block: int
    new: int = 0  # deposits recorded for the first time
    moved: int = 0  # known deposits found in another block than recorded (a reorg re-included them)
    unmatched: int = 0  # of the new, those from a wallet no requester has linked


@dataclass
class CreditResult:
    confirmed_block: int
    credited: list[ChainDeposit] = field(default_factory=list)
    reorged: list[ChainDeposit] = field(default_factory=list)
    waiting: int = 0  # seen but not yet confirmed


@dataclass(frozen=True)
class _Pending:
    id: int
    block_number: int
    block_hash: str


def deposit_source(chain_id: int, tx_hash: str, log_index: int) -> str:
    """The idempotency key of a deposit's credit: where on which chain it happened."""
    return f"{chain_id}:{tx_hash}:{log_index}"


def _require_no_transaction(what: str) -> None:
    if db.session().in_transaction():
        raise RuntimeError(f"{what} reads the chain and must not run inside an open database "
                           "transaction: commit (or roll back) first.")


def reorg_margin(chain: ChainHandle) -> int:
    return FINALIZED_MARGIN if chain.confirmations == "finalized" else int(chain.confirmations)


# --- scanning ---------------------------------------------------------------------------------

def next_scan_block(chain: ChainHandle, *, start_block: int = 0) -> int:
    """Where the next scan starts: `reorg_margin` blocks below the newest recorded deposit of this
    chain, never before `start_block` (the block the platform wallet started receiving)."""
    with db.engine.connect() as conn:  # its own short transaction, closed before any chain call
        newest = conn.scalar(select(func.max(ChainDeposit.block_number))
                             .where(ChainDeposit.chain_id == chain.chain_id))
    if newest is None:
        return start_block
    return max(start_block, int(newest) - reorg_margin(chain))


def fetch_transfers(chain: ChainHandle, *, from_block: int, to_block: int,
                    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS) -> list[SeenTransfer]:
    """The token's Transfer logs to the platform address in [from_block, to_block], read in chunks.

    Reads the chain only. Mints (from the zero address) and transfers from the platform's own
    wallet or distributor are not deposits and are left out.
    """
    if chunk_blocks < 1:
        raise ValueError("chunk_blocks must be at least 1")
    platform = to_checksum_address(chain.address)
    ours = {ZERO_ADDRESS, platform.lower(), chain.distributor.address.lower()}
    event = chain.token.events.Transfer()
    transfers = []
    for start in range(from_block, to_block + 1, chunk_blocks):
        end = min(start + chunk_blocks - 1, to_block)
        for log in event.get_logs(argument_filters={"to": platform}, from_block=start, to_block=end):
            if log.get("removed"):
                continue
            args = log["args"]
            sender = to_checksum_address(args["from"])
            if sender.lower() in ours or to_checksum_address(args["to"]) != platform or args["value"] <= 0:
                continue
            transfers.append(SeenTransfer(
                chain_id=chain.chain_id, tx_hash=log["transactionHash"].to_0x_hex(),
                log_index=int(log["logIndex"]), block_number=int(log["blockNumber"]),
                block_hash=log["blockHash"].to_0x_hex(), from_address=sender, amount=int(args["value"]),
            ))
    return transfers


def _requester_with_wallet(address: str) -> User | None:
    user = db.session.scalar(select(User).where(User.wallet_address == address))
    return user if user is not None and user.is_requester and user.is_active else None


def record_transfers(transfers: Iterable[SeenTransfer], *, now: dt.datetime | None = None) -> ScanResult:
    """Record each transfer once (insert-if-new by chain id, tx hash, log index); flush.

    New ones are matched to the requester whose linked wallet sent them ("seen"), else
    "unmatched". A known one found in another block moves there; if it had been marked "reorged"
    (or was "seen"), it is "seen" again. Credited deposits are never changed.
    """
    now = now or utcnow()
    transfers = list(transfers)
    blocks = [t.block_number for t in transfers]
    result = ScanResult(min(blocks, default=0), max(blocks, default=0))
    for transfer in transfers:
        existing = db.session.scalar(select(ChainDeposit).where(
            ChainDeposit.chain_id == transfer.chain_id, ChainDeposit.tx_hash == transfer.tx_hash,
            ChainDeposit.log_index == transfer.log_index))
        if existing is not None:
            if existing.status != CREDITED and existing.block_hash != transfer.block_hash:
                existing.block_number, existing.block_hash = transfer.block_number, transfer.block_hash
                if existing.status == REORGED:
                    existing.status = SEEN if existing.user_id is not None else UNMATCHED
                result.moved += 1
            continue
        user = _requester_with_wallet(transfer.from_address)
        deposit = ChainDeposit(
            chain_id=transfer.chain_id, tx_hash=transfer.tx_hash, log_index=transfer.log_index,
            block_number=transfer.block_number, block_hash=transfer.block_hash,
            from_address=transfer.from_address, amount=transfer.amount,
            user_id=user.id if user else None, status=SEEN if user else UNMATCHED, seen_at=now)
        # A concurrent scanner may insert the same key: the unique constraint keeps one, and
        # the loser's savepoint rolls back only this row.
        try:
            with db.session.begin_nested():
                db.session.add(deposit)
                db.session.flush()
        except IntegrityError:  # the unique (chain id, tx hash, log index): recorded already
            continue
        result.new += 1
        result.unmatched += user is None
    db.session.flush()
    return result


def scan_deposits(chain: ChainHandle, *, from_block: int | None = None, to_block: int | None = None,
                  start_block: int = 0, chunk_blocks: int = DEFAULT_CHUNK_BLOCKS) -> ScanResult:
    """Read deposits to the platform in [from_block, to_block] and record them; the caller commits.

    `from_block` defaults to `next_scan_block(chain, start_block=start_block)`, `to_block` to the
    chain's head (unconfirmed blocks are recorded but only credited once confirmed). Refuses to
    run inside an open transaction: the chain is read first, then the session is written.
    """
    _require_no_transaction("scan_deposits")
    if from_block is None:
        from_block = next_scan_block(chain, start_block=start_block)
    if to_block is None:
        to_block = int(chain.w3.eth.block_number)
    transfers = fetch_transfers(chain, from_block=from_block, to_block=to_block, chunk_blocks=chunk_blocks)
    result = record_transfers(transfers)
    result.from_block, result.to_block = from_block, to_block
    return result


# --- crediting --------------------------------------------------------------------------------

def _pending(chain_id: int) -> list[_Pending]:
    with db.engine.connect() as conn:  # its own short transaction, closed before any chain call
        rows = conn.execute(select(ChainDeposit.id, ChainDeposit.block_number, ChainDeposit.block_hash)
                            .where(ChainDeposit.chain_id == chain_id, ChainDeposit.status == SEEN)
                            .order_by(ChainDeposit.block_number, ChainDeposit.id)).all()
    return [_Pending(row.id, int(row.block_number), row.block_hash) for row in rows]


def _canonical_hashes(chain: ChainHandle, blocks: Sequence[int]) -> dict[int, str]:
    return {number: chain.w3.eth.get_block(number)["hash"].to_0x_hex() for number in sorted(set(blocks))}


def credit_confirmed_deposits(chain: ChainHandle, *, now: dt.datetime | None = None) -> CreditResult:
    """Credit every "seen" deposit of this chain that is confirmed and still canonical; the caller
    commits. Deposits whose block was replaced become "reorged" (a later scan that finds the
    transfer again in its new block makes it "seen" again). Refuses to run inside an open
    transaction (see the module docstring)."""
    _require_no_transaction("credit_confirmed_deposits")
    now = now or utcnow()
    pending = _pending(chain.chain_id)
    confirmed = int(chain.confirmed_block())  # read before the hashes: they are checked at or below it
    ready = [p for p in pending if p.block_number <= confirmed]
    canonical = _canonical_hashes(chain, [p.block_number for p in ready])
    result = CreditResult(confirmed_block=confirmed, waiting=len(pending) - len(ready))
    for item in ready:
        query = select(ChainDeposit).where(ChainDeposit.id == item.id)
        deposit = db.session.scalar(query.with_for_update())
        if deposit is None or deposit.status != SEEN or deposit.block_hash != item.block_hash:
            continue  # changed since we read it (another worker, or a scan that saw it move)
        if canonical[item.block_number] != item.block_hash:
            deposit.status = REORGED
            result.reorged.append(deposit)
            continue
        user = db.session.get(User, deposit.user_id)
        credit_deposit(user, deposit.amount,
                       source=deposit_source(deposit.chain_id, deposit.tx_hash, deposit.log_index))
        deposit.status, deposit.credited_at = CREDITED, now
        result.credited.append(deposit)
    db.session.flush()
    return result


def assign_deposit(deposit_id: int, user: User) -> ChainDeposit:
    """An admin's resolution of an unmatched deposit: it was `user`'s (a requester). It becomes
    "seen" and is credited by the next `credit_confirmed_deposits`, once confirmed. Flushes."""
    deposit = db.session.scalar(select(ChainDeposit).where(ChainDeposit.id == deposit_id).with_for_update())
    if deposit is None:
        raise RewardsNotFound(f"No deposit {deposit_id}.", deposit_id=deposit_id)
    if deposit.status != UNMATCHED:
        raise RewardsConflict(f"Deposit {deposit_id} is {deposit.status}, not unmatched.",
                              deposit_id=deposit_id, status=deposit.status)
    if not user.is_requester:
        raise RewardsConflict(f"{user.username} is not a requester: deposits fund requesters.",
                              user_id=user.id)
    deposit.user_id, deposit.status = user.id, SEEN
    db.session.flush()
    return deposit


def unmatched_deposits(limit: int = 200) -> list[ChainDeposit]:
    """Deposits from wallets no requester had linked, newest first: for an admin to resolve."""
    return list(db.session.scalars(select(ChainDeposit).where(ChainDeposit.status == UNMATCHED)
                                   .order_by(ChainDeposit.id.desc()).limit(limit)))
