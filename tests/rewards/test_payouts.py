"""The payout engine on the in-process EVM: outbox, nonces, confirmation, revert, reconcile."""
import datetime as dt

import pytest
from eth_account import Account

from annotation.tasks import next_task_for, submit_answer
from app.extensions import utcnow
from rewards.chain import client, merkle
from rewards.ledger import balance_of
from rewards.models import ChainAlert, ChainTx, PayoutEpoch, PayoutItem
from rewards.onchain import current_chain
from rewards.payouts import (
    build_epoch,
    confirm_sent,
    contribution_proof,
    reconcile_chain,
    send_queued,
    verify_contribution_proof,
)
from rewards.reconcile import reconcile_ledger
from rewards.settlement import release_holds

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
    assert verify_contribution_proof(proof)
    on_chain = chain.distributor.functions.contributionsRoot(second.id).call()
    assert "0x" + on_chain.hex() == proof["root"]
    tampered = {**proof, "label_json": '{"sentiment":["positive"]}'}
    assert not verify_contribution_proof(tampered)
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
    import rewards.payouts as payouts

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed between commit and broadcast")

    monkeypatch.setattr(payouts, "_broadcast", crash)
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
    from rewards.settlement import credit_requester

    earn(db, make_user, make_job, n_workers=1, n_items=1)
    run_epoch(db, chain)
    healthy = reconcile_chain(chain)
    assert healthy.ok and healthy.custody >= healthy.liabilities > 0
    credit_requester(make_user("requester"), 10**15, key="unbacked")  # a faucet credit: no tokens
    db.session.commit()
    short = reconcile_chain(chain)
    assert not short.ok and short.surplus < 0
    assert any("the ledger owes" in m for m in short.mismatches)
    assert db.session.scalar(db.select(ChainAlert).where(ChainAlert.kind == "reconcile_mismatch")) is not None
