"""The payout engine on the in-process EVM: outbox, nonces, confirmation, revert, reconcile."""
import datetime as dt

import pytest
from eth_account import Account

from annotation.tasks import next_task_for
from app.extensions import utcnow
from app.operations.tasks import submit_answer
from rewards.chain import client, merkle
from rewards.holds import release_holds
from rewards.ledger import balance_of
from rewards.models import ChainAlert, ChainTx, PayoutEpoch, PayoutItem
from rewards.onchain import current_chain
from rewards.payouts import (
    build_epoch,
    check_contribution_proof,
    confirm_sent,
    contribution_proof,
    proof_structure_error,
    reconcile_chain,
    root_on_chain,
    send_queued,
)
from rewards.reconcile import reconcile_ledger

from conftest import choices_result


@pytest.fixture
def chain(app):
    app.config["MIN_PAYOUT"] = 1
    return current_chain()


def earn(db, make_user, make_job, n_workers=3, n_items=2, reward=10):
    """Workers with wallets earn `reward × n_items` each, released from hold."""
    workers = []
    for _ in range(n_workers):
        worker = make_user()
        worker.wallet_address = Account.create().address
        workers.append(worker)
    db.session.commit()
    job = make_job(n_items=n_items, overlap=n_workers, reward=reward)
    for _ in range(n_items):
        for worker in workers:
            assignment = next_task_for(worker, job)
            submit_answer(worker, assignment.id, choices_result("positive"))
            db.session.commit()
    release_holds(now=utcnow() + dt.timedelta(days=4))
    db.session.commit()
    return workers


def run_epoch(db, chain):
    epoch = build_epoch(chain)
    db.session.commit()
    send_queued(chain)
    report = confirm_sent(chain)
    return epoch, report


def test_an_epoch_pays_every_wallet_exactly_once(db, make_user, make_job, chain):
    workers = earn(db, make_user, make_job)
    epoch, report = run_epoch(db, chain)
    assert epoch.n_wallets == 3 and epoch.n_contributions == 6 and report.confirmed == 3  # post, fund, push
    assert db.session.get(PayoutEpoch, epoch.id).status == "paid"
    for worker in workers:
        assert client.balance_of(chain.token, worker.wallet_address) == 20
        assert client.claimed_of(chain.distributor, worker.wallet_address) == 20
        assert balance_of(f"FLT:worker:{worker.id}:available") == 0
        assert balance_of(f"FLT:worker:{worker.id}:payout") == 0
    assert build_epoch(chain) is None  # nothing more is due
    assert reconcile_chain(chain).ok and reconcile_ledger().ok
    nonces = db.session.scalars(db.select(ChainTx.nonce).order_by(ChainTx.id)).all()
    assert len(set(nonces)) == len(nonces) == 3


def test_replaying_a_push_pays_nothing_twice(db, make_user, make_job, chain):
    workers = earn(db, make_user, make_job, n_workers=2)
    run_epoch(db, chain)
    push = db.session.scalar(db.select(ChainTx).where(ChainTx.purpose == "push"))
    owner_nonce = chain.w3.eth.get_transaction_count(chain.address)
    replay = client.build_push_tx(chain.distributor, chain.address, [w.wallet_address for w in workers],
                                  [20, 20], nonce=owner_nonce)
    client.send(chain.w3, chain.signer, replay, abi=chain.distributor.abi)
    assert [client.balance_of(chain.token, w.wallet_address) for w in workers] == [20, 20]
    assert push.status == "confirmed"


def test_a_second_epoch_carries_cumulative_totals_and_contributions_prove(db, make_user, make_job, chain):
    workers = earn(db, make_user, make_job, n_workers=2, n_items=1)
    run_epoch(db, chain)
    more = make_job(n_items=1, overlap=2, reward=30)
    for worker in workers:
        submit_answer(worker, next_task_for(worker, more).id, choices_result("negative"))
        db.session.commit()
    release_holds(now=utcnow() + dt.timedelta(days=4))
    db.session.commit()
    second, _ = run_epoch(db, chain)
    items = db.session.scalars(db.select(PayoutItem).where(PayoutItem.epoch_id == second.id)).all()
    assert sorted((i.amount, i.cumulative) for i in items) == [(30, 40), (30, 40)]
    assert [client.balance_of(chain.token, w.wallet_address) for w in workers] == [40, 40]
    # a contribution of the second epoch proves against the root posted on chain
    answer_id = db.session.scalar(db.select(PayoutItem.id))  # any id works for the negative case
    proof = contribution_proof(workers[0], _leaf_answer(db, workers[0], second.id))
    assert check_contribution_proof(proof, root_on_chain(chain, second.id)).ok
    on_chain = chain.distributor.functions.contributionsRoot(second.id).call()
    assert "0x" + on_chain.hex() == proof["root"]
    tampered = {**proof, "label_json": '{"sentiment":["positive"]}'}
    assert proof_structure_error(tampered) == "the salted label does not open the label commitment"
    with pytest.raises(Exception, match="No on-chain record"):
        contribution_proof(workers[1], _leaf_answer(db, workers[0], second.id))
    assert answer_id is not None and merkle.verify(proof["root"], proof["leaf"], proof["proof"])


def _leaf_answer(db, worker, epoch_id):
    from rewards.models import ContributionLeaf

    return db.session.scalar(db.select(ContributionLeaf.answer_id).where(
        ContributionLeaf.worker_id == worker.id, ContributionLeaf.epoch_id == epoch_id))


def test_a_reverted_push_returns_the_money_and_alerts(db, make_user, make_job, chain):
    workers = earn(db, make_user, make_job, n_workers=2, n_items=1)
    epoch = build_epoch(chain)
    db.session.commit()
    client.transact(chain.distributor.functions.pause(), chain.signer)  # every push now reverts
    send_queued(chain)
    confirm_sent(chain)
    for worker in workers:
        assert balance_of(f"FLT:worker:{worker.id}:available") == 10
        assert client.balance_of(chain.token, worker.wallet_address) == 0
    kinds = set(db.session.scalars(db.select(ChainAlert.kind)))
    assert {"tx_reverted", "payout_failed"} <= kinds
    assert db.session.get(PayoutEpoch, epoch.id).status == "paid"  # nothing left in flight
    client.transact(chain.distributor.functions.unpause(), chain.signer)
    run_epoch(db, chain)  # the next epoch pays them
    assert [client.balance_of(chain.token, w.wallet_address) for w in workers] == [10, 10]
    assert reconcile_chain(chain).ok and reconcile_ledger().ok


def test_a_crash_after_signing_rebroadcasts_the_stored_bytes(db, make_user, make_job, chain, monkeypatch):
    workers = earn(db, make_user, make_job, n_workers=1, n_items=1)
    build_epoch(chain)
    db.session.commit()

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed between commit and broadcast")

    monkeypatch.setattr(chain.w3.eth, "send_raw_transaction", crash)
    with pytest.raises(KeyboardInterrupt):
        send_queued(chain)
    monkeypatch.undo()
    db.session.rollback()
    signed = db.session.scalars(db.select(ChainTx).where(ChainTx.status == "signed")).all()
    assert len(signed) == 1 and signed[0].raw_tx
    send_queued(chain)
    confirm_sent(chain)
    assert client.balance_of(chain.token, workers[0].wallet_address) == 10
    assert reconcile_chain(chain).ok


def test_reconcile_reports_tokens_on_chain_that_do_not_cover_the_ledger(db, make_user, make_job, chain):
    from rewards.funding import credit_requester

    earn(db, make_user, make_job, n_workers=1, n_items=1, reward=20)  # the platform keeps a fee of 1
    run_epoch(db, chain)
    healthy = reconcile_chain(chain)
    assert healthy.ok and healthy.custody >= healthy.liabilities > 0
    credit_requester(make_user("requester"), 10**15, key="unbacked")  # a faucet credit: no tokens
    db.session.commit()
    short = reconcile_chain(chain)
    assert not short.ok and short.surplus < 0
    assert any("the ledger owes" in m for m in short.mismatches)
    assert db.session.scalar(db.select(ChainAlert).where(ChainAlert.kind == "reconcile_mismatch")) is not None


# --- issue #9: "The request is not the transaction boundary in payouts" ----------------------------

def test_payout_services_flush_and_only_the_cycle_commits():
    """Services flush; rewards/payouts/cycle.py is the boundary that commits (and
    transactions.py ends a transaction that only read, before a chain call)."""
    import re
    from pathlib import Path

    import rewards.payouts

    package = Path(rewards.payouts.__file__).parent
    found = {path.name: re.findall(r"\.(commit|rollback)\(", path.read_text()) for path in package.glob("*.py")}
    assert found.pop("cycle.py") and found.pop("transactions.py") == ["rollback"]
    assert not any(found.values()), found
    assert not Path(package.parent / "payouts.py").exists()


@pytest.mark.parametrize("step", ["build_epoch", "send_queued", "confirm_sent", "reconcile_chain",
                                  "run_payout_cycle"])
def test_payout_steps_never_discard_the_callers_uncommitted_work(db, make_user, make_job, chain, step):
    """The old engine rolled back whatever the caller had not committed before asking the chain.
    Now a step refuses to start (the caller decides), and the caller's work is intact."""
    import rewards.payouts as payouts
    from rewards.funding import credit_requester
    from rewards.ledger import balance_of

    earn(db, make_user, make_job, n_workers=1, n_items=1)
    requester = make_user("requester")
    db.session.commit()
    credit_requester(requester, 500, key="not-yet-committed")  # flushed, not committed
    with pytest.raises(RuntimeError, match="uncommitted writes: commit"):
        getattr(payouts, step)(chain)
    db.session.commit()
    assert balance_of(f"FLT:requester:{requester.id}") == 500
    assert db.session.scalar(db.select(db.func.count()).select_from(PayoutEpoch)) == 0
    run_epoch(db, chain)  # once committed, the same step runs
    assert db.session.scalar(db.select(db.func.count()).select_from(PayoutEpoch)) == 1


def test_payout_steps_call_the_chain_with_no_transaction_open(db, make_user, make_job, chain, monkeypatch):
    """Every JSON-RPC request of a whole epoch (build, send, confirm, a revert, reconcile) is made
    while the session has no transaction open, and each step returns with none open."""
    from rewards.payouts import run_payout_cycle

    seen: list[tuple[str, bool]] = []
    real = chain.w3.manager.request_blocking

    def watched(method, params, *args, **kwargs):
        seen.append((method, db.session().in_transaction()))
        return real(method, params, *args, **kwargs)

    workers = earn(db, make_user, make_job, n_workers=2, n_items=1)
    monkeypatch.setattr(chain.w3.manager, "request_blocking", watched)
    run_payout_cycle(chain)
    assert not db.session().in_transaction()
    run_payout_cycle(chain)
    assert reconcile_chain(chain).ok and not db.session().in_transaction()
    methods = {method for method, _ in seen}
    assert {"eth_sendRawTransaction", "eth_getTransactionReceipt", "eth_call"} <= methods
    assert [m for m, open_ in seen if open_] == []
    assert [client.balance_of(chain.token, w.wallet_address) for w in workers] == [10, 10]


def test_gas_one_formula_a_full_batch_of_first_payments_fits_its_limit_and_the_cap(chain):
    """Issue #9: the engine and the client used two formulas, and by the engine's a 279-wallet push
    passed EIP-7825's 2^24 cap. One formula now; the largest batch it allows, all first payments,
    uses less than its limit, which is under the cap."""
    import os

    from eth_utils import to_checksum_address

    from rewards.chain import gas

    assert client.push_gas_limit(279) == gas.push_gas_limit(279) <= gas.MAX_TX_GAS
    assert gas.push_gas_limit(gas.MAX_PUSH_BATCH) <= gas.MAX_TX_GAS < gas.push_gas_limit(gas.MAX_PUSH_BATCH + 1)
    n = gas.MAX_PUSH_BATCH
    wallets = [to_checksum_address(os.urandom(20)) for _ in range(n)]
    client.mint(chain.token, chain.signer, chain.distributor.address, 10**15 * n)
    receipt = client.push(chain.distributor, chain.signer, wallets, [10**15] * n, gas=gas.push_gas_limit(n))
    assert receipt["status"] == 1 and receipt["gasUsed"] <= gas.push_gas_limit(n)
    assert client.claimed_of(chain.distributor, wallets[-1]) == 10**15


def test_gas_the_engine_queues_pushes_with_the_one_formula(db, make_user, make_job, chain, app):
    from rewards.chain import gas

    app.config["PAYOUT_BATCH_SIZE"] = 2
    earn(db, make_user, make_job, n_workers=3, n_items=1)
    build_epoch(chain)
    db.session.commit()
    pushes = db.session.scalars(db.select(ChainTx).where(ChainTx.purpose == "push").order_by(ChainTx.batch_no)).all()
    assert [p.gas for p in pushes] == [gas.push_gas_limit(2), gas.push_gas_limit(1)]


@pytest.mark.parametrize("size", [0, -1, 322, 10_000, "200", True, 2.5])
def test_gas_a_payout_batch_size_over_the_cap_is_refused_at_start(tmp_path, size):
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="PAYOUT_BATCH_SIZE must be a whole number from 1 to 321"):
        create_app({"ENV": "testing", "TESTING": True, "SECRET_KEY": "x", "PAYOUT_BATCH_SIZE": size,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})


@pytest.mark.parametrize("size", [1, 200, 300, 321])
def test_gas_a_payout_batch_size_under_the_cap_starts(tmp_path, size):
    from app import create_app

    app = create_app({"ENV": "testing", "TESTING": True, "SECRET_KEY": "x", "PAYOUT_BATCH_SIZE": size,
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    assert app.config["PAYOUT_BATCH_SIZE"] == size
