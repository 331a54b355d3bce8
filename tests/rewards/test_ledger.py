"""The integer double-entry ledger and the money that follows the work."""
import pytest

from annotation.tasks import next_task_for
from app.operations.jobs import close_job
from app.operations.tasks import submit_answer
from rewards.errors import InsufficientFunds, TransferConflict, UnbalancedTransfer
from rewards.ledger import balance_of, get_account, post_transfer, recomputed_balances
from rewards.models import LedgerAccount, LedgerEntry, LedgerTransfer

from conftest import choices_result


@pytest.fixture
def accounts(db):
    pair = get_account("treasury", kind="treasury"), get_account("worker:1x", kind="worker_earnings")
    db.session.commit()
    return pair


def test_transfers_balance_and_replay_idempotently(db, accounts):
    treasury, worker = accounts
    first = post_transfer("t1", {treasury: -5, worker: 5}, kind="test")
    db.session.commit()
    assert post_transfer("t1", {treasury: -5, worker: 5}, kind="test").id == first.id
    db.session.commit()
    assert (balance_of("treasury"), balance_of("worker:1x")) == (-5, 5)
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerTransfer)) == 1
    assert db.session.scalar(db.select(db.func.sum(LedgerEntry.amount))) == 0


def test_the_same_id_with_other_amounts_is_refused(db, accounts):
    treasury, worker = accounts
    post_transfer("t2", {treasury: -5, worker: 5}, kind="test")
    with pytest.raises(TransferConflict):
        post_transfer("t2", {treasury: -6, worker: 6}, kind="test")


@pytest.mark.parametrize("legs", [{"a": -5, "b": 4}, {"a": -1.5, "b": 1.5}, {"a": 0, "b": 0}])
def test_unbalanced_or_fractional_transfers_are_refused(db, accounts, legs):
    treasury, worker = accounts
    amounts = dict(zip((treasury, worker), legs.values()))
    with pytest.raises(UnbalancedTransfer):
        post_transfer("bad", amounts, kind="test")


def test_worker_balances_cannot_go_negative_and_nothing_is_half_written(db, accounts):
    treasury, worker = accounts
    with pytest.raises(InsufficientFunds):
        post_transfer("overdraw", {worker: -1, treasury: 1}, kind="test")
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry)) == 0
    assert (balance_of("treasury"), balance_of("worker:1x")) == (0, 0)


def test_publish_reserves_accepted_answers_pay_and_close_refunds(db, make_user, make_job):
    job = make_job(n_items=2, overlap=2, reward=20)  # fee 5% = 1 per answer
    owner = f"FLT:requester:{job.owner_id}"
    assert balance_of(f"FLT:escrow:job:{job.id}") == 84 and balance_of(owner) == 0
    workers = [make_user(), make_user()]
    for worker, label in zip(workers, ["positive", "negative"]):
        assignment = next_task_for(worker, job)
        submit_answer(worker, assignment.id, choices_result(label))
    db.session.commit()
    # a tie: both accepted, both paid once, into pending (the hold period)
    assert [balance_of(f"FLT:worker:{w.id}:pending") for w in workers] == [20, 20]
    assert balance_of("FLT:platform:fees") == 2
    close_job(job.owner, job)
    db.session.commit()
    assert balance_of(f"FLT:escrow:job:{job.id}") == 0 and balance_of(owner) == 42
    stored_vs_sum = recomputed_balances()
    assert all(stored == summed for stored, summed in stored_vs_sum.values())
    assert sum(stored for stored, _ in stored_vs_sum.values()) == 0
    kinds = db.session.scalars(db.select(LedgerTransfer.kind).order_by(LedgerTransfer.id)).all()
    assert kinds == ["credit", "job_funding", "reward", "reward", "refund"]


def test_rejected_answers_are_not_paid_and_pages_show_it(db, make_user, make_job, login):
    job = make_job(n_items=1, overlap=3, reward=10)
    workers = [make_user() for _ in range(3)]
    for worker, label in zip(workers, ["positive", "positive", "negative"]):
        assignment = next_task_for(worker, job)
        submit_answer(worker, assignment.id, choices_result(label))
        db.session.commit()
    assert [balance_of(f"FLT:worker:{w.id}:pending") for w in workers] == [10, 10, 0]
    page = login(workers[2]).get("/me").get_data(as_text=True)
    assert "rejected" in page and "the consensus is positive" in page
    assert '<span class="big" id="pending">0</span>' in page
    accepted_page = login(workers[0]).get("/me").get_data(as_text=True)
    assert '<span class="big" id="pending">10</span>' in accepted_page


def test_undecided_answers_show_as_awaiting_consensus(db, make_user, make_job, login):
    job = make_job(n_items=1, overlap=3, reward=11)
    worker = make_user()
    assignment = next_task_for(worker, job)
    submit_answer(worker, assignment.id, choices_result("positive"))
    db.session.commit()
    page = login(worker).get("/me").get_data(as_text=True)
    assert '<span class="big" id="awaiting">11</span>' in page


def test_accounts_are_created_once(db):
    assert get_account("treasury", kind="treasury").id == get_account("treasury", kind="treasury").id
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerAccount)) == 1
