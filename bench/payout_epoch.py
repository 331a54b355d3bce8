"""One payout epoch for 10,000 workers through the payout engine, on anvil and PostgreSQL.

    # from the repository's root
    psql -h 127.0.0.1 -U postgres -c 'create database fl_payout_bench'   # once
    .venv/bin/python bench/payout_epoch.py [--workers 10000] [--batch 200] [--database-url URL]

Unlike bench/chain_gas.py (the contract alone), this drives the whole engine of
rewards/payouts/ against a fresh anvil over JSON-RPC: `build_epoch` (trees, ledger reservations,
outbox) → commit → `send_queued` (nonce under lock, sign, store raw bytes, commit, broadcast) →
mine the confirmation depth → `confirm_sent` (receipts, `claimed` reads, ledger settlement) until
nothing is open; then `reconcile_chain` (one `claimed` read per wallet). It runs twice for the same
workers: epoch 1 is every wallet's first payment, epoch 2 a returning one. Then, outside the
engine, a dedicated claim run: an epoch with a 10,000-leaf earnings tree is posted and two wallets
claim with their depth-14 proofs (one returning, one never paid before), and one plain ERC-20
transfer to a fresh wallet is sent for comparison.

Shortcuts (it is a bench): the database schema is dropped and rebuilt from the migrations; the
10,000 workers are inserted in bulk with a dummy password hash and a wallet each, and their
available balances are credited straight from the treasury with `post_transfers` (the real path is
deposit → escrow → pending → released after the hold; none of that is what is measured here).
"gas / worker" is the pushes' whole gasUsed (21k base, calldata, loop) over the workers; "all
transactions" adds the epoch's postEpoch and funding transfer.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from eth_account import Account

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rewards.chain import client  # noqa: E402
from rewards.chain.anvil import start_anvil  # noqa: E402
from rewards.chain.merkle import earnings_tree  # noqa: E402

# anvil's first well-known dev key (public, funded on every anvil): deploys and pays out
SIGNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CONFIRMATIONS = 2
AMOUNT = 1_000  # token units each worker earns per epoch
FLOAT = 10**15


def fresh_schema(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    engine.dispose()
    app = create_app(base_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def base_config(url: str) -> dict:
    return {"ENV": "testing", "TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url}


def add_workers(n: int) -> list[tuple[int, str]]:
    """`n` annotators with a verified wallet each (bulk insert): [(user id, wallet)]."""
    from app.extensions import db, utcnow
    from app.identity.models import Role, User

    now = utcnow()
    wallets = [Account.create().address for _ in range(n)]
    db.session.execute(sa.insert(User), [
        {"username": f"bench-worker-{i}", "password_hash": "!bench", "role": Role.ANNOTATOR,
         "wallet_address": w, "wallet_verified_at": now} for i, w in enumerate(wallets)])
    db.session.commit()
    return [(uid, w) for uid, w in db.session.execute(
        sa.select(User.id, User.wallet_address).where(User.username.like("bench-worker-%")).order_by(User.id))]


def credit_available(workers: list[tuple[int, str]], amount: int, tag: str) -> None:
    """Treasury → each worker's available balance, 1,000 transfers per batch (bench shortcut)."""
    from app.extensions import db
    from rewards.accounts import available_account, treasury_account
    from rewards.ledger import TransferSpec, post_transfers
    from rewards.models import LedgerAccount

    treasury = treasury_account("FLT")
    codes = {f"FLT:worker:{uid}:available": uid for uid, _ in workers}
    have = {a.code for a in db.session.scalars(sa.select(LedgerAccount).where(LedgerAccount.code.in_(list(codes))))}
    missing = [code for code in codes if code not in have]
    if missing:
        db.session.execute(sa.insert(LedgerAccount), [
            {"code": code, "token": "FLT", "kind": "worker_available", "user_id": codes[code],
             "allow_negative": False, "balance": 0} for code in missing])
        db.session.flush()
    accounts = {a.user_id: a for a in db.session.scalars(
        sa.select(LedgerAccount).where(LedgerAccount.code.in_(list(codes))))}
    assert available_account("FLT", workers[0][0]) is accounts[workers[0][0]]
    for i in range(0, len(workers), 1_000):
        post_transfers([TransferSpec(f"bench:{tag}:{uid}", {treasury: -amount, accounts[uid]: amount}, "credit",
                                     {"user_id": uid}) for uid, _ in workers[i:i + 1_000]])
    db.session.commit()


def run_epoch(chain, node) -> dict:
    """build → send → (mine, confirm)* until nothing is open; timings, transactions and gas."""
    from app.extensions import db
    from rewards.models import ChainTx
    from rewards.payouts import OPEN_STATUSES, build_epoch, confirm_sent, send_queued

    out = {}
    start = time.perf_counter()
    epoch = build_epoch(chain)
    db.session.commit()
    out["build"] = time.perf_counter() - start
    epoch_id, out["wallets"] = epoch.id, epoch.n_wallets
    start = time.perf_counter()
    out["sent"] = send_queued(chain)
    out["send"] = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(20):
        node.w3.provider.make_request("anvil_mine", [hex(CONFIRMATIONS)])
        confirm_sent(chain)
        if not db.session.scalar(sa.select(sa.func.count()).select_from(ChainTx).where(
                ChainTx.epoch_id == epoch_id, ChainTx.status.in_(OPEN_STATUSES))):
            break
    out["confirm"] = time.perf_counter() - start
    rows = db.session.execute(sa.select(ChainTx.purpose, ChainTx.tx_hash, ChainTx.status)
                              .where(ChainTx.epoch_id == epoch_id)).all()
    db.session.rollback()
    assert {status for *_, status in rows} == {"confirmed"}, rows
    gas = {"post_epoch": 0, "fund": 0, "push": 0}
    peak = 0
    for purpose, tx_hash, _ in rows:
        used = int(chain.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])
        gas[purpose] += used
        if purpose == "push":
            peak = max(peak, used)
    out.update(gas=gas, peak=peak, txs=len(rows), pushes=sum(p == "push" for p, *_ in rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200, help="PAYOUT_BATCH_SIZE: wallets per push")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/fl_payout_bench"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("the bench runs on PostgreSQL (its schema is dropped and rebuilt)")
    n = args.workers

    node = start_anvil("--chain-id", "31337")
    try:
        w3 = node.w3
        info = w3.provider.make_request("anvil_nodeInfo", [])["result"]
        version = w3.client_version.split("/")[1]
        signer = Account.from_key(SIGNER_KEY)
        from rewards.onchain import deploy_contracts

        token, distributor = deploy_contracts(w3, signer)
        client.mint(token, signer, signer.address, FLOAT)
        fresh_schema(args.database_url)
        os.environ["FAIRLABEL_SIGNER_KEY"] = SIGNER_KEY

        from app import create_app
        from app.extensions import db
        from rewards.onchain import current_chain
        from rewards.payouts import reconcile_chain
        from rewards.reconcile import reconcile_ledger

        app = create_app({**base_config(args.database_url), "CHAIN_RPC_URL": node.url, "CHAIN_ID": 31337,
                          "CHAIN_TOKEN_ADDRESS": token.address, "CHAIN_DISTRIBUTOR_ADDRESS": distributor.address,
                          "CHAIN_CONFIRMATIONS": CONFIRMATIONS, "PAYOUT_BATCH_SIZE": args.batch,
                          "MIN_PAYOUT": 1, "CHAIN_SIGNER_KEY_ENV": "FAIRLABEL_SIGNER_KEY"})
        results, setup = [], {}
        with app.app_context():
            chain = current_chain()
            start = time.perf_counter()
            workers = add_workers(n)
            setup["users"] = time.perf_counter() - start
            for round_no in (1, 2):
                start = time.perf_counter()
                credit_available(workers, AMOUNT, f"credit-{round_no}")
                setup[f"credit{round_no}"] = time.perf_counter() - start
                results.append(run_epoch(chain, node))
            start = time.perf_counter()
            recon = reconcile_chain(chain)
            setup["reconcile_chain"] = time.perf_counter() - start
            assert recon.ok and recon.wallets_checked == n and recon.ledger_paid == 2 * AMOUNT * n, recon
            start = time.perf_counter()
            assert reconcile_ledger().ok
            setup["reconcile_ledger"] = time.perf_counter() - start
            wallets = [w for _, w in workers]
            assert client.balance_of(token, wallets[-1]) == 2 * AMOUNT
            db.session.remove()
            db.engine.dispose()

        # The claim run: a 10,000-leaf tree (9,999 paid wallets at a higher cumulative and one never
        # paid), posted as epoch 3 and funded; the deepest proofs of each kind are used.
        fresh = Account.create().address
        cumulatives = {w: 3 * AMOUNT for w in wallets[:9_999]} | {fresh: AMOUNT}
        start = time.perf_counter()
        tree = earnings_tree(cumulatives)
        tree_secs = time.perf_counter() - start
        client.post_epoch(distributor, signer, 3, tree.root, bytes(32))
        client.transact(token.functions.transfer(distributor.address, 10 * AMOUNT), signer)
        index = {a: i for i, (a, _) in enumerate(tree.values)}
        claimer = node.funded_account()
        claims = []
        for label, account in (("claim, first payment", fresh),
                               ("claim, returning wallet", max(wallets[:9_999], key=lambda a: len(tree.proof(index[a]))))):
            proof = tree.proof(index[account])
            receipt = client.claim(distributor, claimer, account, cumulatives[account], proof)
            claims.append((f"{label} (proof depth {len(proof)})", receipt["gasUsed"]))
        receipt = client.transact(token.functions.transfer(Account.create().address, AMOUNT), signer)
        claims.append(("plain ERC-20 transfer to a fresh wallet", receipt["gasUsed"]))
    finally:
        node.stop()

    first, again = results
    print(f"\n{n:,} workers, PAYOUT_BATCH_SIZE {args.batch}, {CONFIRMATIONS} confirmations; "
          f"anvil {version} (hardfork {info.get('hardFork')}), PostgreSQL; "
          f"setup: {n:,} users {setup['users']:.1f} s, credits {setup['credit1']:.1f} s + {setup['credit2']:.1f} s\n")
    print("| | epoch 1: first payment | epoch 2: returning |")
    print("|---|---:|---:|")

    def row(label, fn):
        print(f"| {label} | {fn(first)} | {fn(again)} |")

    row("wallets paid", lambda r: f"{r['wallets']:,}")
    row("transactions (post + fund + pushes)", lambda r: f"{r['txs']} (1 + 1 + {r['pushes']})")
    row("push gas, total", lambda r: f"{r['gas']['push']:,}")
    row("**gas / worker (pushes)**", lambda r: f"**{r['gas']['push'] / r['wallets']:,.0f}**")
    row("gas / worker (all transactions)", lambda r: f"{sum(r['gas'].values()) / r['wallets']:,.0f}")
    row("postEpoch gas / funding transfer gas", lambda r: f"{r['gas']['post_epoch']:,} / {r['gas']['fund']:,}")
    row("largest push (gas)", lambda r: f"{r['peak']:,}")
    row("build_epoch + commit", lambda r: f"{r['build']:.2f} s")
    row("send_queued (sign, store, broadcast)", lambda r: f"{r['send']:.2f} s")
    row("mine + confirm_sent until settled", lambda r: f"{r['confirm']:.2f} s")
    row("**wall time, epoch**", lambda r: f"**{r['build'] + r['send'] + r['confirm']:.2f} s**")
    print(f"\nreconcile_chain over {n:,} wallets: {setup['reconcile_chain']:.2f} s; "
          f"reconcile_ledger: {setup['reconcile_ledger']:.2f} s; "
          f"{len(tree):,}-leaf earnings tree built in {tree_secs:.2f} s\n")
    print("| claim run (10,000-leaf tree) | gas |")
    print("|---|---:|")
    for label, gas in claims:
        print(f"| {label} | {gas:,} |")


if __name__ == "__main__":
    main()
