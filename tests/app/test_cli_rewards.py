"""`flask rewards balance|statement|reconcile|release` as an operator would run them."""
import datetime as dt

from annotation.tasks import next_task_for, submit_answer
from rewards.models import LedgerAccount

from conftest import choices_result


def _work(db, make_user, make_job):
    owner = make_user("requester", username="acme")
    job = make_job(owner, n_items=1, overlap=1, reward=10)
    worker = make_user(username="wanda")
    assignment = next_task_for(worker, job)
    submit_answer(worker, assignment.id, choices_result("positive"))
    db.session.commit()
    return owner, job, worker


def test_balance_and_statement(db, runner, make_user, make_job):
    owner, job, worker = _work(db, make_user, make_job)
    everything = runner.invoke(args=["rewards", "balance"])
    assert everything.exit_code == 0 and f"FLT:worker:{worker.id}:pending" in everything.output
    mine = runner.invoke(args=["rewards", "balance", "@wanda"])
    assert mine.exit_code == 0 and mine.output.split() == [f"FLT:worker:{worker.id}:pending", "worker_pending", "10"]
    statement = runner.invoke(args=["rewards", "statement", f"escrow:job:{job.id}"])
    lines = statement.output.splitlines()
    assert statement.exit_code == 0 and len(lines) == 3
    assert lines[1].split()[-3:] == ["job_funding", "11", "11"]
    assert lines[2].split()[-3:] == ["reward", "-11", "0"]
    missing = runner.invoke(args=["rewards", "statement", "nope"])
    assert missing.exit_code == 1 and "No ledger account 'nope'" in missing.output


def test_reconcile_passes_then_reports_a_tampered_balance(db, runner, make_user, make_job):
    _work(db, make_user, make_job)
    clean = runner.invoke(args=["rewards", "reconcile"])
    assert clean.exit_code == 0 and "sum of balances 0" in clean.output
    account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.kind == "platform_fees"))
    account.balance += 5  # what a bad UPDATE would do
    db.session.commit()
    tampered = runner.invoke(args=["rewards", "reconcile"])
    assert tampered.exit_code == 1
    assert f"MISMATCH {account.code}: stored balance 6 but its entries sum to 1" in tampered.output


def test_release_moves_due_earnings(db, runner, make_user, make_job):
    _owner, _job, worker = _work(db, make_user, make_job)
    assert "Released 0" in runner.invoke(args=["rewards", "release"]).output
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S")
    result = runner.invoke(args=["rewards", "release", "--now", later])
    assert result.exit_code == 0 and "Released 1" in result.output
    assert "worker_available" in runner.invoke(args=["rewards", "balance", "@wanda"]).output
    assert runner.invoke(args=["rewards", "reconcile"]).exit_code == 0
