"""The transaction boundary of payouts: the one module of rewards that commits.

A payout step cannot be one transaction: the outbox needs "sign and store the bytes, commit,
broadcast, record what the node said, commit", and no transaction may stay open while the chain
is asked anything. So each step here is a sequence of short units of work (`_unit`: the database
work of one step, then one commit; any exception rolls it back) with the chain calls between
them, outside any transaction. The services they call (rewards.payouts.epochs, .sending,
.confirming, .reconciling) flush and never commit; the worker (app/worker.py) and the CLI
(app/cli_rewards.py) call these functions, or `build_epoch` followed by their own commit.

Every function here refuses to start while the caller's session holds uncommitted writes (that
work is the caller's to commit or discard), and returns with no transaction open.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.extensions import db, utcnow
from rewards.onchain import ChainHandle
from rewards.payouts import confirming, reconciling, sending
from rewards.payouts.alerts import alert
from rewards.payouts.epochs import build_epoch
from rewards.payouts.transactions import before_chain_call


@contextmanager
def _unit() -> Iterator[None]:
    """One unit of database work: committed when the block ends, rolled back if it raises."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _broadcast(chain: ChainHandle, signed: sending.SignedTx) -> bool:
    """Send committed bytes and record the answer; True if the node has the transaction now. A
    node that cannot be asked is recorded on the row and then raised (ChainUnavailable)."""
    before_chain_call("broadcast")
    outcome = sending.broadcast(chain, signed.raw)
    with _unit():
        sending.record_broadcast(signed.id, outcome)
    if outcome.unavailable is not None:
        raise outcome.unavailable
    return outcome.known


def rebroadcast_signed(chain: ChainHandle) -> int:
    """Signed but never broadcast (a crash between commit and send): send the same bytes."""
    before_chain_call("rebroadcast_signed")
    with _unit():
        signed = sending.signed_unsent(chain.chain_id)
    return sum(_broadcast(chain, tx) for tx in signed)


def send_queued(chain: ChainHandle, *, fees: sending.Fees | None = None) -> int:
    """Sign and broadcast queued transactions in order; how many were broadcast."""
    rebroadcast_signed(chain)
    sent = 0
    while True:
        with _unit():
            tx_id = sending.next_queued(chain.chain_id)
        if tx_id is None:
            return sent
        fees = fees or sending.current_fees(chain)
        if fees.max_fee_per_gas < sending.base_fee(chain):
            with _unit():
                alert("fee_above_cap", "The base fee is above CHAIN_MAX_FEE_PER_GAS; payouts wait.",
                      cap=chain.max_fee_per_gas)
            return sent
        chain_nonce = chain.w3.eth.get_transaction_count(chain.address, "pending")
        with _unit():  # the raw bytes are durable before the first byte leaves
            signed = sending.sign_queued(chain, tx_id, fees, chain_nonce)
        if signed is None:  # another sender took it
            continue
        _broadcast(chain, signed)
        sent += 1


def confirm_sent(chain: ChainHandle, *, now: dt.datetime | None = None) -> confirming.ConfirmReport:
    """Let the chain decide every open transaction (see rewards.payouts.confirming)."""
    report = confirming.ConfirmReport()
    rebroadcast_signed(chain)
    with _unit():
        open_nonces = confirming.open_nonces(chain.chain_id)
    final_block = chain.confirmed_block()
    for nonce, attempts in sorted(open_nonces.attempts.items()):
        first = attempts[0]
        wallets = open_nonces.wallets.get((first.epoch_id, first.batch_no), []) if first.purpose == "push" else []
        verdict = confirming.observe(chain, attempts, wallets, final_block, now or utcnow())
        with _unit():
            to_send = confirming.record(chain, verdict, attempts, report)
        for tx_id in to_send:
            with _unit():
                signed = sending.stored_tx(tx_id)
            _broadcast(chain, signed)
    with _unit():
        confirming.settle_epochs()
    return report


def reconcile_chain(chain: ChainHandle) -> reconciling.ChainReconciliation:
    """Settle what the chain has decided, then compare the ledger with the chain, wallet by
    wallet. Mismatches are recorded as alerts and returned; nothing is changed to make them agree."""
    confirm_sent(chain)
    with _unit():
        ledger = reconciling.ledger_side()
    result = reconciling.compare(ledger, reconciling.chain_side(chain, ledger.wallets))
    with _unit():
        reconciling.record_mismatches(result)
    return result


def start_epoch(chain: ChainHandle) -> int | None:
    """Build the next epoch (if one is due) and commit it: its outbox is durable before anything
    is sent. The epoch's number, or None."""
    before_chain_call("start_epoch")
    with _unit():
        epoch = build_epoch(chain)
        epoch_id = epoch.id if epoch else None
    return epoch_id


def run_payout_cycle(chain: ChainHandle) -> dict[str, Any]:
    """One turn of the background worker: confirm, build an epoch if none is open, send."""
    confirmed = confirm_sent(chain)
    epoch_id = start_epoch(chain)
    sent = send_queued(chain)
    return {"confirmed": confirmed, "epoch": epoch_id, "sent": sent}
