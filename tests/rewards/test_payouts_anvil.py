"""The payout engine against a real node: anvil over JSON-RPC, with faults injected (issue #5).

Every scenario ends the same way: each worker's wallet holds exactly what the test made them earn
(paid once, never twice), the ledger agrees (`reconcile_ledger`), and the distributor agrees with
the ledger wallet by wallet (`reconcile_chain`).

One anvil per module; the contracts are deployed once and every test runs between
`evm_snapshot` and `evm_revert`. The app talks to anvil through `RpcProxy`, an in-process HTTP
relay the tests can switch off (the node going down) or cut right after it forwarded a
transaction (the node took it, the answer was lost). The token is owned by a separate treasury key
so the platform signer's nonces belong to the payout engine alone, as they must in production.

Not skipped when anvil is missing: it comes from `npm ci`, and a missing binary is a broken setup
that must fail loudly (start_anvil raises ChainError with a hint).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_account import Account
from web3.exceptions import TimeExhausted

from annotation.models import Answer, AnswerStatus
from annotation.tasks import next_task_for
from app.extensions import utcnow
from app.operations.tasks import submit_answer
from rewards.chain import client
from rewards.chain.anvil import Anvil, start_anvil
from rewards.chain.errors import ChainUnavailable
from rewards.disputes import dispute_answer, resolve_dispute
from rewards.funding import credit_deposit
from rewards.holds import release_holds
from rewards.models import ChainAlert, ChainTx, Hold, HoldStatus, PayoutEpoch, PayoutItem
from rewards.onchain import current_chain
from rewards.payouts import build_epoch, confirm_sent, reconcile_chain, send_queued
from rewards.reconcile import reconcile_ledger

REPO = Path(__file__).resolve().parents[2]
CHAIN_ID = 31337
# anvil's well-known dev keys (public test keys, funded with 10,000 ETH on every anvil).
SIGNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # payouts
TREASURY_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # owns the token
FLOAT = 10**15  # token units minted to the platform signer: the on-chain float behind payouts
CONFIRMATIONS = 2
STUCK_SECONDS = 30
MAX_FEE = 50 * 10**9  # CHAIN_MAX_FEE_PER_GAS in these tests: 50 gwei
GWEI = 10**9
OPEN = ("queued", "signed", "broadcast", "mined")


# --- a relay in front of anvil that the tests can switch off --------------------------------------

class RpcProxy:
    """Forwards JSON-RPC POSTs to anvil. `down` closes every connection without an answer (what a
    crashed node or a dead network looks like to the client); `cut_after_sends=n` forwards the
    n-th eth_sendRawTransaction, then loses its answer and goes down."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.down = False
        self.cut_after_sends: int | None = None
        self.sends = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                forward, answer = proxy._admit(body)
                if not forward:
                    return self._hang_up()
                request = urllib.request.Request(proxy.upstream, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    data = response.read()
                if not answer:
                    return self._hang_up()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _hang_up(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _admit(self, body: bytes) -> tuple[bool, bool]:
        """(forward the request?, send the answer back?)"""
        with self._lock:
            if self.down:
                return False, False
            try:
                method = json.loads(body).get("method")
            except (ValueError, AttributeError):
                method = None
            if method == "eth_sendRawTransaction":
                self.sends += 1
                if self.cut_after_sends is not None and self.sends >= self.cut_after_sends:
                    self.down, self.cut_after_sends = True, None
                    return True, False
            return True, True

    def up(self) -> None:
        with self._lock:
            self.down, self.cut_after_sends, self.sends = False, None, 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@dataclass
class Node:
    anvil: Anvil
    proxy: RpcProxy
    token: str
    distributor: str

    def rpc(self, method: str, *params):
        response = self.anvil.w3.provider.make_request(method, list(params))
        assert "error" not in response, response
        return response.get("result")

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def set_base_fee(self, wei: int) -> None:
        """The next block's base fee; mines it so "latest" carries it."""
        self.rpc("anvil_setNextBlockBaseFeePerGas", hex(wei))
        self.mine(1)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    anvil = start_anvil("--chain-id", str(CHAIN_ID))
    proxy = None
    try:
        w3 = anvil.w3
        signer, treasury = Account.from_key(SIGNER_KEY), Account.from_key(TREASURY_KEY)
        token = client.deploy_token(w3, treasury)
        distributor = client.deploy_distributor(w3, token.address, signer)
        client.mint(token, treasury, signer.address, FLOAT)
        proxy = RpcProxy(anvil.url)
        yield Node(anvil, proxy, token.address, distributor.address)
    finally:
        if proxy is not None:
            proxy.close()
        anvil.stop()


@pytest.fixture
def connect(app, node, monkeypatch):
    """`connect(**config)`: the app's chain handle for anvil (through the proxy), built from the
    app config like production's; anvil's state is reverted after the test."""
    snapshot = node.rpc("evm_snapshot")
    monkeypatch.setenv(app.config["CHAIN_SIGNER_KEY_ENV"], SIGNER_KEY)

    def make(**overrides):
        app.config.update(CHAIN_RPC_URL=node.proxy.url, CHAIN_ID=CHAIN_ID, CHAIN_TOKEN_ADDRESS=node.token,
                          CHAIN_DISTRIBUTOR_ADDRESS=node.distributor, CHAIN_CONFIRMATIONS=CONFIRMATIONS,
                          CHAIN_STUCK_SECONDS=STUCK_SECONDS, CHAIN_MAX_FEE_PER_GAS=MAX_FEE, MIN_PAYOUT=1,
                          PAYOUT_BATCH_SIZE=2)
        app.config.update(overrides)
        chain = current_chain()
        assert not chain.embedded and chain.chain_id == CHAIN_ID
        return chain

    yield make
    node.proxy.up()
    node.rpc("evm_setAutomine", True)
    assert node.rpc("evm_revert", snapshot) is True


@pytest.fixture
def chain(connect):
    return connect()


# --- earning, settling, checking -------------------------------------------------------------------

def choices(value: str) -> list[dict]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [value]}}]


def earn(db, make_user, make_job, n_workers=3, n_items=1, reward=10, workers=None):
    """Workers with wallets (new unless given) earn `reward × n_items` each, released from hold."""
    workers = workers or []
    for _ in range(n_workers - len(workers)):
        worker = make_user()
        worker.wallet_address = Account.create().address
        workers.append(worker)
    db.session.commit()
    job = make_job(n_items=n_items, overlap=len(workers), reward=reward)
    for _ in range(n_items):
        for worker in workers:
            submit_answer(worker, next_task_for(worker, job).id, choices("positive"))
            db.session.commit()
    release_holds(now=utcnow() + dt.timedelta(days=4))
    db.session.commit()
    return workers


def open_txs(db) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(ChainTx).where(ChainTx.status.in_(OPEN)))


def settle(db, chain, node, rounds=12):
    """Turn the engine (send, mine the confirmation depth, confirm) until nothing is open."""
    for _ in range(rounds):
        send_queued(chain)
        node.mine(CONFIRMATIONS)
        confirm_sent(chain)
        if not open_txs(db):
            return
    raise AssertionError(f"{open_txs(db)} transactions still open after {rounds} rounds")


def ledger_paid(db) -> dict[str, int]:
    return {w: int(a) for w, a in db.session.execute(
        db.select(PayoutItem.wallet, db.func.sum(PayoutItem.amount))
        .where(PayoutItem.status == "paid").group_by(PayoutItem.wallet))}


def assert_paid_once(db, chain, expected: dict[str, int], *, first_nonce: int, foreign: int = 0):
    """Each wallet holds exactly `expected` (its earnings: paid once), the ledger and distributor
    agree, every piece of work has one confirmed transaction, and no nonce was spent twice or
    outside the outbox (but for `foreign` transactions the test itself sent with the signer's key)."""
    paid = ledger_paid(db)
    for wallet, amount in expected.items():
        assert client.balance_of(chain.token, wallet) == amount, wallet
        assert client.claimed_of(chain.distributor, wallet) == amount, wallet
        assert paid.get(wallet, 0) == amount, wallet
    assert not db.session.scalar(db.select(db.func.count()).select_from(PayoutItem)
                                 .where(PayoutItem.status == "in_flight"))
    rows = db.session.scalars(db.select(ChainTx)).all()
    assert not [r for r in rows if r.status in OPEN]
    confirmed = [r for r in rows if r.status == "confirmed"]
    work = Counter((r.purpose, r.epoch_id, r.batch_no) for r in confirmed)
    assert set(work.values()) == {1}, work
    assert work.keys() == {(r.purpose, r.epoch_id, r.batch_no) for r in rows}
    nonces = sorted(r.nonce for r in confirmed)
    spent = chain.w3.eth.get_transaction_count(chain.address)
    assert len(set(nonces)) == len(nonces) and set(nonces) <= set(range(first_nonce, spent))
    assert spent == first_nonce + len(confirmed) + foreign  # no nonce burned on nothing
    for row in confirmed:  # the hash on chain is the one whose bytes we stored
        assert chain.w3.eth.get_transaction_receipt(row.tx_hash)["status"] == 1
    recon = reconcile_chain(chain)
    assert recon.ok, recon.mismatches
    ledger = reconcile_ledger()
    assert ledger.ok, ledger.discrepancies
    assert db.session.scalar(db.select(db.func.count()).select_from(PayoutEpoch)
                             .where(PayoutEpoch.status != "paid")) == 0


def statuses(db) -> dict[tuple[str, int], list[str]]:
    out = defaultdict(list)
    for row in db.session.scalars(db.select(ChainTx).order_by(ChainTx.id)):
        out[row.purpose, row.batch_no].append(row.status)
    return dict(out)


# --- a. the happy path -------------------------------------------------------------------------------

def test_happy_path_over_json_rpc_in_several_push_batches(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=5, n_items=2, reward=10)
    epoch = build_epoch(chain)
    db.session.commit()
    assert epoch.n_wallets == 5 and epoch.n_contributions == 10
    assert send_queued(chain) == 5  # post, fund, 3 pushes of ≤ 2 wallets
    report = confirm_sent(chain)  # automine: one block each, the last ones not yet buried
    assert report.waiting and not report.rebroadcast and not report.replaced
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 20 for w in workers}, first_nonce=first_nonce)
    # a second epoch pays the same wallets their new earnings on top of the cumulative totals
    earn(db, make_user, make_job, n_workers=5, workers=workers, reward=12)
    build_epoch(chain)
    db.session.commit()
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 32 for w in workers}, first_nonce=first_nonce)


# --- b. the node goes down in the middle of a batch ---------------------------------------------------

def test_node_down_mid_batch_leaves_the_db_consistent_and_pays_once_after(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=5)
    build_epoch(chain)
    db.session.commit()
    node.proxy.cut_after_sends = 3  # post and fund answered; push 1 reaches anvil, its answer is lost
    with pytest.raises(ChainUnavailable, match="cannot be reached"):
        send_queued(chain)
    db.session.rollback()
    assert node.proxy.down
    assert statuses(db) == {("post_epoch", 0): ["broadcast"], ("fund", 0): ["broadcast"],
                            ("push", 1): ["signed"], ("push", 2): ["queued"], ("push", 3): ["queued"]}
    push1 = db.session.scalar(db.select(ChainTx).where(ChainTx.purpose == "push", ChainTx.batch_no == 1))
    assert push1.raw_tx and push1.nonce == first_nonce + 2 and push1.error  # bytes kept, failure noted
    with pytest.raises(ChainUnavailable):  # confirming fails too, and changes nothing
        confirm_sent(chain)
    db.session.rollback()
    assert statuses(db)[("push", 1)] == ["signed"]
    assert not ledger_paid(db) and reconcile_ledger().ok

    node.proxy.up()
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    assert len(db.session.scalars(db.select(ChainTx)).all()) == 5  # nothing re-signed


# --- c. the node drops a broadcast push ---------------------------------------------------------------

def test_a_dropped_push_is_rebroadcast_from_its_stored_bytes(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=4)
    build_epoch(chain)
    db.session.commit()
    node.automine(False)
    assert send_queued(chain) == 4
    push1 = db.session.scalar(db.select(ChainTx).where(ChainTx.purpose == "push", ChainTx.batch_no == 1))
    stored_hash = push1.tx_hash
    db.session.rollback()
    node.rpc("anvil_dropTransaction", stored_hash)  # anvil drops the later nonce (push 2) with it
    assert node.rpc("eth_getTransactionByHash", stored_hash) is None
    node.mine(1)
    report = confirm_sent(chain)
    assert report.rebroadcast == 2 and not report.replaced
    assert node.rpc("eth_getTransactionByHash", stored_hash) is not None  # the very same bytes
    node.automine(True)
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    assert {r.attempt for r in db.session.scalars(db.select(ChainTx))} == {0}


# --- d. stuck in the mempool: replaced with the same nonce and higher fees ----------------------------

def test_a_stuck_transaction_is_replaced_with_the_same_nonce_and_higher_fees(db, make_user, make_job, chain,
                                                                             node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=4)
    build_epoch(chain)
    db.session.commit()
    node.automine(False)
    assert send_queued(chain) == 4
    assert confirm_sent(chain).waiting == 4  # young: left alone
    later = utcnow() + dt.timedelta(seconds=STUCK_SECONDS + 1)
    report = confirm_sent(chain, now=later)
    assert report.replaced == 4
    rows = db.session.scalars(db.select(ChainTx).order_by(ChainTx.nonce, ChainTx.attempt)).all()
    by_nonce = defaultdict(list)
    for row in rows:
        by_nonce[row.nonce].append(row)
    for first, second in by_nonce.values():
        assert (first.attempt, second.attempt) == (0, 1) and first.nonce == second.nonce
        assert second.max_fee_per_gas * 10 >= first.max_fee_per_gas * 11
        assert second.max_priority_fee_per_gas * 10 >= first.max_priority_fee_per_gas * 11
        assert node.rpc("eth_getTransactionByHash", second.tx_hash) is not None  # anvil took it
        assert node.rpc("eth_getTransactionByHash", first.tx_hash) is None  # and evicted the old one
    db.session.rollback()

    # client.send (scripts, deposits) waits for a receipt: with nothing mined it gives up with
    # TimeExhausted, and the transaction still lands exactly once when a block comes.
    treasury = Account.from_key(TREASURY_KEY)
    buyer = Account.create().address
    mint = client.build_tx(chain.token.functions.mint(buyer, 5), treasury.address, gas=100_000)
    with pytest.raises(TimeExhausted):
        client.send(chain.w3, treasury, mint, timeout=0.5)

    node.automine(True)
    settle(db, chain, node)
    assert client.balance_of(chain.token, buyer) == 5
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    for first, second in by_nonce.values():
        db.session.refresh(first)
        db.session.refresh(second)
        assert (first.status, second.status) == ("replaced", "confirmed")


# --- e. base fee above the cap ------------------------------------------------------------------------

def test_nothing_is_signed_above_the_fee_cap(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=3)
    build_epoch(chain)
    db.session.commit()
    node.set_base_fee(2 * MAX_FEE)
    assert send_queued(chain) == 0
    assert all(not r.raw_tx and r.status == "queued" for r in db.session.scalars(db.select(ChainTx)))
    alerts = db.session.scalars(db.select(ChainAlert.kind)).all()
    assert alerts == ["fee_above_cap"]
    node.set_base_fee(GWEI)
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    assert all(r.max_fee_per_gas <= MAX_FEE for r in db.session.scalars(db.select(ChainTx)))


def test_fee_bumps_stop_at_the_cap_and_evicted_transactions_come_back(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=2)
    build_epoch(chain)
    db.session.commit()
    node.set_base_fee(20 * GWEI)  # signed at 2 × 20 gwei + tip: close under the 50 gwei cap
    node.automine(False)
    assert send_queued(chain) == 3
    stuck = lambda: utcnow() + dt.timedelta(seconds=STUCK_SECONDS + 1)  # noqa: E731
    assert confirm_sent(chain, now=stuck()).replaced == 3  # one bump of 12.5% still fits
    report = confirm_sent(chain, now=stuck())  # a second would not: wait and tell someone
    assert report.replaced == 0 and report.waiting == 3
    assert db.session.scalar(db.select(db.func.count()).select_from(ChainAlert)
                             .where(ChainAlert.kind == "fee_above_cap")) == 3
    assert db.session.scalar(db.select(db.func.max(ChainTx.attempt))) == 1
    assert all(r.max_fee_per_gas <= MAX_FEE for r in db.session.scalars(db.select(ChainTx)))
    db.session.rollback()

    node.set_base_fee(2 * MAX_FEE)  # anvil evicts pending transactions priced under the base fee
    report = confirm_sent(chain, now=stuck())
    assert report.rebroadcast == 3 and not report.replaced  # the node refuses the same bytes for now
    refused = db.session.scalars(db.select(ChainTx).where(ChainTx.error.is_not(None))).all()
    assert refused and all("base fee" in r.error for r in refused)
    assert db.session.scalar(db.select(db.func.max(ChainTx.attempt))) == 1  # nothing signed above the cap
    db.session.rollback()

    node.set_base_fee(GWEI)  # the spike passes: the stored bytes fit again
    node.automine(True)
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    assert all(r.max_fee_per_gas <= MAX_FEE for r in db.session.scalars(db.select(ChainTx)))
    outcome = Counter(r.status for r in db.session.scalars(db.select(ChainTx)))
    assert outcome == {"confirmed": 3, "replaced": 3}


# --- f. a reorg takes the mined push away before it is final ------------------------------------------

def test_a_reorged_push_is_not_settled_and_is_paid_once_after(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=4)
    build_epoch(chain)
    db.session.commit()
    node.automine(False)
    node.mine(1)  # the block the reorg will also replace holds nothing final of ours
    assert send_queued(chain) == 4
    node.mine(1)  # all four in the latest block: mined, one confirmation short
    report = confirm_sent(chain)
    assert report.waiting == 4 and not report.confirmed
    before = {r.id: r.block_hash for r in db.session.scalars(db.select(ChainTx))}
    assert all(s == ["mined"] for s in statuses(db).values())
    db.session.rollback()

    node.rpc("anvil_reorg", CONFIRMATIONS, [])  # depth = the confirmation rule: both blocks replaced
    node.mine(1)  # the new chain is as long as the old one was, and longer: old block N would be final now
    report = confirm_sent(chain)
    assert not report.confirmed and report.rebroadcast == 4  # anvil forgot them: same bytes again
    assert not ledger_paid(db)
    assert db.session.scalar(db.select(db.func.count()).select_from(PayoutItem)
                             .where(PayoutItem.status == "in_flight")) == 4
    node.automine(True)
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce)
    after = {r.id: r.block_hash for r in db.session.scalars(db.select(ChainTx))}
    assert before.keys() == after.keys() and all(before[k] != after[k] for k in before)


# --- g. the process dies between broadcast and the DB commit -------------------------------------------

CRASH_SCRIPT = r"""
import json, os, sys, time
from app import create_app
from rewards.onchain import current_chain
from rewards.payouts import send_queued

app = create_app(json.loads(os.environ["CRASH_APP_CONFIG"]))
crash_at = int(os.environ["CRASH_AT_SEND"])
with app.app_context():
    chain = current_chain()
    real_send = chain.w3.eth.send_raw_transaction
    sends = 0

    def send_then_hang(raw):  # the node has the transaction; our DB does not know yet
        global sends
        tx_hash = real_send(raw)
        sends += 1
        if sends == crash_at:
            print("BROADCAST", tx_hash.to_0x_hex(), flush=True)
            time.sleep(120)  # the parent SIGKILLs us here
        return tx_hash

    chain.w3.eth.send_raw_transaction = send_then_hang
    send_queued(chain)
    print("FINISHED", flush=True)
"""


def test_a_crash_between_broadcast_and_commit_pays_once(db, app, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=4)
    build_epoch(chain)
    db.session.commit()
    keys = ("ENV", "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "MEDIA_ROOT", "PASSWORD_HASH_PARAMS",
            "CHAIN_RPC_URL", "CHAIN_ID", "CHAIN_TOKEN_ADDRESS", "CHAIN_DISTRIBUTOR_ADDRESS", "CHAIN_CONFIRMATIONS",
            "CHAIN_STUCK_SECONDS", "CHAIN_MAX_FEE_PER_GAS", "MIN_PAYOUT", "PAYOUT_BATCH_SIZE",
            "CHAIN_SIGNER_KEY_ENV")
    env = {**os.environ, "CRASH_APP_CONFIG": json.dumps({k: app.config[k] for k in keys}),
           "CRASH_AT_SEND": "3"}  # post, fund, then push 1 is broadcast and we die
    wallets = [w.wallet_address for w in workers]
    db.session.remove()  # no connection of ours holds a lock while the child writes
    child = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.startswith("BROADCAST"), line + child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    crashed_hash = line.split()[1]

    push1 = db.session.scalar(db.select(ChainTx).where(ChainTx.purpose == "push", ChainTx.batch_no == 1))
    assert push1.status == "signed" and push1.tx_hash == crashed_hash  # the DB never heard it was sent
    assert node.rpc("eth_getTransactionReceipt", crashed_hash)["status"] == "0x1"  # but the chain has it
    assert statuses(db)[("push", 2)] == ["queued"]
    db.session.rollback()

    report = confirm_sent(chain)  # the restart: stored bytes again ("nonce too low": known), then decide
    assert not report.replaced
    settle(db, chain, node)
    assert_paid_once(db, chain, dict.fromkeys(wallets, 10), first_nonce=first_nonce)
    assert len(db.session.scalars(db.select(ChainTx)).all()) == 4  # no second nonce for the same work


# --- the signer's key used outside the engine takes a nonce the engine had signed -------------------

def test_a_nonce_taken_by_another_transaction_requeues_the_work(db, make_user, make_job, chain, node):
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    workers = earn(db, make_user, make_job, n_workers=2)
    build_epoch(chain)
    db.session.commit()
    node.automine(False)
    assert send_queued(chain) == 3
    post = db.session.scalar(db.select(ChainTx).where(ChainTx.purpose == "post_epoch"))
    assert post.nonce == first_nonce
    node.rpc("anvil_dropTransaction", post.tx_hash)  # and the two after it
    db.session.rollback()
    signer = Account.from_key(SIGNER_KEY)  # someone sends with the same key and the same nonce
    other = signer.sign_transaction({"chainId": CHAIN_ID, "nonce": first_nonce, "to": signer.address, "value": 1,
                                     "gas": 21_000, "maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI,
                                     "type": 2})
    chain.w3.eth.send_raw_transaction(other.raw_transaction)
    node.mine(1)
    report = confirm_sent(chain)
    assert report.rebroadcast == 2 and report.notes  # fund and push: their nonces are still free
    assert statuses(db)[("post_epoch", 0)] == ["failed", "queued"]
    assert db.session.scalars(db.select(ChainAlert.kind)).all() == ["nonce_taken"]
    node.automine(True)
    settle(db, chain, node)
    assert_paid_once(db, chain, {w.wallet_address: 10 for w in workers}, first_nonce=first_nonce, foreign=1)
    assert statuses(db)[("post_epoch", 0)] == ["failed", "confirmed"]


# --- issue #9: a proof is valid only against the root posted on chain --------------------------------

def test_verify_proof_cli_reads_the_posted_root_from_the_node(db, runner, make_user, make_job, chain, node,
                                                              tmp_path):
    from rewards.models import ContributionLeaf
    from rewards.payouts import contribution_proof

    (worker,) = earn(db, make_user, make_job, n_workers=1)
    build_epoch(chain)
    db.session.commit()
    settle(db, chain, node)
    answer_id = db.session.scalar(db.select(ContributionLeaf.answer_id))
    proof = contribution_proof(worker, answer_id)
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    where = f"read from distributor {chain.distributor.address} on chain {CHAIN_ID}"
    configured = runner.invoke(args=["rewards", "verify-proof", str(path)])  # CHAIN_RPC_URL's node
    assert configured.exit_code == 0 and configured.output.startswith(f"Valid: answer {answer_id}")
    assert f"{where} at block " in configured.output
    direct = runner.invoke(args=["rewards", "verify-proof", str(path), "--rpc", node.anvil.url])
    assert direct.exit_code == 0 and where in direct.output
    from rewards.chain import merkle

    leaf = merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (proof["answer_id"], proof["item_id"], proof["wallet"],
                                                        bytes.fromhex(proof["label_commitment"][2:]), 10**6, 1))
    # a one-leaf "tree" paying itself a million, with a made-up posting transaction
    forged = {**proof, "reward": 10**6, "proof": [], "root": "0x" + leaf.hex(), "post_tx": "0x" + "ab" * 32}
    path.write_text(json.dumps(forged))
    for extra in ([], ["--rpc", node.anvil.url]):
        refused = runner.invoke(args=["rewards", "verify-proof", str(path), *extra])
        assert refused.exit_code == 1 and refused.output.startswith("Invalid: root not posted."), refused.output
        assert where in refused.output


# --- h. a seeded random simulation ---------------------------------------------------------------------

SIM_SEED = 11  # a seed where every kind of fault bites; PAYOUT_SIM_SEED=n tries others


class Crash(BaseException):
    """The process dies: not an Exception, so nothing in the engine can swallow it."""


def test_seeded_random_simulation_keeps_every_invariant(db, make_user, make_job, connect, node):
    """Deposits, work (accepted or disputed and rejected), releases, epochs, sends, confirms and
    faults in a seeded random order, with every invariant checked after every step.

    Three confirmations and reorgs of at most two blocks: a reorg deeper than the confirmation
    rule may undo a settled payout by definition, which no engine can prevent."""
    seed = int(os.environ.get("PAYOUT_SIM_SEED", SIM_SEED))
    rng = random.Random(seed)
    confirmations = 3
    chain = connect(CHAIN_CONFIRMATIONS=confirmations, PAYOUT_BATCH_SIZE=3)
    chain.w3.provider.exception_retry_configuration = None  # a down node fails at once, not after 4 s
    treasury = Account.from_key(TREASURY_KEY)
    requester, admin = make_user("requester"), make_user("admin")
    workers = []
    for _ in range(6):
        worker = make_user()
        worker.wallet_address = Account.create().address
        workers.append(worker)
    db.session.commit()
    held: list[tuple[int, str, int]] = []  # (answer id, wallet, reward) accepted, still in hold
    first_nonce = chain.w3.eth.get_transaction_count(chain.address)
    state = {"automine": False, "spike": False}  # blocks come when `confirm` mines them
    node.automine(False)
    seen: Counter[str] = Counter()  # what the faults actually caused, to show they bit
    log: list[str] = []

    def engine(call):
        """One engine call as a request/worker would make it: a lost node or a crash aborts the
        step and rolls back; nothing else may fail."""
        try:
            result = call()
        except (ChainUnavailable, Crash) as exc:
            log.append(f"  aborted: {type(exc).__name__}")
            db.session.rollback()
            return None
        if hasattr(result, "rebroadcast"):
            seen.update(rebroadcast=result.rebroadcast, replaced=result.replaced, confirmed=result.confirmed)
        return result

    def deposit():
        amount = rng.randint(100, 1_000)
        mint = client.build_tx(chain.token.functions.mint(chain.address, amount), treasury.address, gas=100_000)
        chain.w3.eth.send_raw_transaction(treasury.sign_transaction(mint).raw_transaction)  # mined whenever
        credit_deposit(requester, amount, source=f"sim:{seed}:{len(log)}")
        db.session.commit()

    def work():
        reward = rng.randint(10, 30)  # 10 units per 30 s meets the default pay floor
        crew = rng.sample(workers, rng.randint(1, 4))
        job = make_job(requester, n_items=1, overlap=len(crew), reward=reward)
        for worker in crew:
            submit_answer(worker, next_task_for(worker, job).id, choices(rng.choice(["positive", "negative"])))
            db.session.commit()
            answer_id = db.session.scalar(db.select(Answer.id).where(
                Answer.job_id == job.id, Answer.worker_id == worker.id))
            held.append((answer_id, worker.wallet_address, reward))

    def reject():
        if not held:
            return
        answer_id, _wallet, _reward = held.pop(rng.randrange(len(held)))
        answer = db.session.get(Answer, answer_id)
        if answer.status is not AnswerStatus.ACCEPTED:  # consensus already rejected it
            return
        dispute_answer(requester, answer, reason="wrong label")
        resolve_dispute(admin, answer, uphold=True)
        db.session.commit()

    def release():
        release_holds(now=utcnow() + dt.timedelta(days=4))
        db.session.commit()
        held.clear()

    def epoch():
        def call():
            built = build_epoch(chain)
            db.session.commit()
            return built
        if engine(call):
            send()

    def send():
        engine(lambda: send_queued(chain))

    def confirm():
        if rng.random() < 0.35:  # time passes without a block: what is pending is stuck
            later = utcnow() + dt.timedelta(seconds=STUCK_SECONDS + 1)
            engine(lambda: confirm_sent(chain, now=later))
        else:
            node.mine(rng.randint(1, confirmations))
            engine(lambda: confirm_sent(chain))

    def fault_drop():
        hashes = [h for h in db.session.scalars(db.select(ChainTx.tx_hash).where(ChainTx.status == "broadcast"))]
        db.session.rollback()
        pending = [h for h in hashes if node.rpc("eth_getTransactionReceipt", h) is None
                   and node.rpc("eth_getTransactionByHash", h) is not None]
        if pending:
            node.rpc("anvil_dropTransaction", rng.choice(pending))

    def fault_automine():
        state["automine"] = not state["automine"]
        node.automine(state["automine"])

    def fault_reorg():
        if int(node.rpc("eth_blockNumber"), 16) > 10:
            node.rpc("anvil_reorg", rng.randint(1, confirmations - 1), [])

    def fault_spike():
        state["spike"] = not state["spike"]
        node.set_base_fee(2 * MAX_FEE if state["spike"] else GWEI)

    def busy_step():
        """The engine step that has work to do: send if anything is queued, else confirm."""
        queued = db.session.scalar(db.select(db.func.count()).select_from(ChainTx).where(ChainTx.status == "queued"))
        db.session.rollback()
        (send if queued else confirm)()

    def fault_node_down():
        node.proxy.down = True
        busy_step()
        node.proxy.up()

    def fault_cut_mid_send():
        node.proxy.cut_after_sends = 1
        send()
        node.proxy.up()

    def fault_crash_after_broadcast():
        real = chain.w3.eth.send_raw_transaction

        def send_then_die(raw):
            real(raw)
            raise Crash("killed after the broadcast, before the commit")

        chain.w3.eth.send_raw_transaction = send_then_die
        try:
            busy_step()
        finally:
            del chain.w3.eth.send_raw_transaction

    def count(action):
        seen[action.__name__] += 1
        action()

    steps = [(deposit, 2), (work, 6), (reject, 1), (release, 3), (epoch, 4), (send, 3), (confirm, 6),
             (fault_drop, 2), (fault_automine, 1), (fault_reorg, 2), (fault_spike, 1), (fault_node_down, 1),
             (fault_cut_mid_send, 1), (fault_crash_after_broadcast, 1)]
    actions, weights = zip(*steps, strict=True)
    for step in range(60):
        action = rng.choices(actions, weights)[0]
        log.append(f"{step}: {action.__name__}")
        count(action)
        check_invariants(db, chain, log)
    seen["aborted"] = sum("aborted" in line for line in log)

    # drain: the faults end, the engine turns until nothing is open; then everyone is paid once
    node.proxy.up()
    node.automine(True)
    node.set_base_fee(GWEI)
    release()
    for _ in range(3):
        epoch()
        settle(db, chain, node, rounds=15)
    check_invariants(db, chain, log)
    # what each worker should hold: every released hold (consensus may have rejected a minority
    # answer at submit, and upheld disputes reversed others), from the holds, not from payouts
    released = dict(db.session.execute(db.select(Hold.worker_id, db.func.sum(Hold.amount))
                                       .where(Hold.status == HoldStatus.RELEASED).group_by(Hold.worker_id)).all())
    expected = {w.wallet_address: int(released.get(w.id, 0)) for w in workers}
    assert sum(expected.values()) > 0 and len([v for v in expected.values() if v]) > 1, log
    assert_paid_once(db, chain, expected, first_nonce=first_nonce)
    # the faults bit: any seed must keep every invariant; the default one also makes every kind
    # of fault matter (bytes re-broadcast, fees bumped, steps aborted by a lost node or a crash)
    print(dict(seen))
    if seed == SIM_SEED:
        assert seen["rebroadcast"] and seen["replaced"] and seen["aborted"] and seen["fault_reorg"], seen


def check_invariants(db, chain, log):
    where = "\n".join(log[-12:])
    ledger = reconcile_ledger()
    assert ledger.ok and ledger.total == 0, (ledger.discrepancies, where)
    items = db.session.execute(db.select(PayoutItem.wallet, PayoutItem.status, PayoutItem.amount)).all()
    paid, in_flight = defaultdict(int), defaultdict(int)
    for wallet, status, amount in items:
        if status == "paid":
            paid[wallet] += amount
        elif status == "in_flight":
            in_flight[wallet] += amount
    confirmed = db.session.execute(db.select(ChainTx.sender, ChainTx.nonce, ChainTx.purpose, ChainTx.epoch_id,
                                             ChainTx.batch_no).where(ChainTx.status == "confirmed")).all()
    db.session.rollback()
    for wallet in set(paid) | set(in_flight):
        balance = client.balance_of(chain.token, wallet)
        assert balance == client.claimed_of(chain.distributor, wallet), where
        # settled money is on chain (reorgs stay under the rule); nothing beyond what is recorded
        assert paid[wallet] <= balance <= paid[wallet] + in_flight[wallet], (wallet, paid[wallet], balance,
                                                                              in_flight[wallet], where)
    nonces = Counter((sender, nonce) for sender, nonce, *_ in confirmed)
    assert all(n == 1 for n in nonces.values()), where
    work = Counter((purpose, epoch, batch) for _, _, purpose, epoch, batch in confirmed)
    assert all(n == 1 for n in work.values()), where
