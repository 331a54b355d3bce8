"""`flask rewards balance|statement|reconcile|release|verify-proof` as an operator would run them."""
import datetime as dt

from annotation.tasks import next_task_for
from app.operations.tasks import submit_answer
from rewards.models import LedgerAccount

from conftest import choices_result


def _work(db, make_user, make_job):
    owner = make_user("requester", username="acme")
    job = make_job(owner, n_items=1, overlap=1, reward=20)  # the fee: 5% of 20 = 1
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
    assert mine.exit_code == 0 and mine.output.split() == [f"FLT:worker:{worker.id}:pending", "worker_pending", "20"]
    statement = runner.invoke(args=["rewards", "statement", f"escrow:job:{job.id}"])
    lines = statement.output.splitlines()
    assert statement.exit_code == 0 and len(lines) == 3
    assert lines[1].split()[-3:] == ["job_funding", "21", "21"]
    assert lines[2].split()[-3:] == ["reward", "-21", "0"]
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


def test_release_now_is_refused_outside_development_and_tests(db, app, runner, make_user, make_job):
    """Issue #9: `rewards release --now` ends every dispute window; development and tests only."""
    _work(db, make_user, make_job)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S")
    app.config["ENV"] = "production"
    refused = runner.invoke(args=["rewards", "release", "--now", later])
    assert refused.exit_code == 1 and "--now is for development and tests only" in refused.output
    assert "worker_available" not in runner.invoke(args=["rewards", "balance", "@wanda"]).output
    assert "Released 0" in runner.invoke(args=["rewards", "release"]).output  # the real clock still works
    app.config["ENV"] = "development"
    assert "Released 1" in runner.invoke(args=["rewards", "release", "--now", later]).output
    bad = runner.invoke(args=["rewards", "release", "--now", "tomorrow"])
    assert bad.exit_code == 1 and "must be an ISO 8601 time" in bad.output


def test_payout_steps_by_hand_need_a_real_node(runner):
    for step in ("epoch", "push", "confirm", "reconcile-chain", "worker"):
        result = runner.invoke(args=["rewards", step])
        assert result.exit_code == 1 and "need a real node: set CHAIN_RPC_URL" in result.output


def test_the_in_process_worker_pays_and_proofs_verify(db, app, runner, make_user, make_job, tmp_path):
    import json

    from eth_account import Account

    from app.worker import run_cycle
    from rewards.chain import client
    from rewards.models import ContributionLeaf
    from rewards.onchain import current_chain
    from rewards.payouts import contribution_proof

    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    _owner, _job, worker = _work(db, make_user, make_job)
    worker.wallet_address = Account.create().address
    db.session.commit()
    assert run_cycle(app)["released"] == 1  # hold over → available → epoch recorded and sent
    result = run_cycle(app)  # the next turn confirms
    assert result["confirmed"].confirmed == 3
    assert client.balance_of(current_chain().token, worker.wallet_address) == 20
    answer_id = db.session.scalar(db.select(ContributionLeaf.answer_id))
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(contribution_proof(db.session.get(type(worker), worker.id), answer_id)))
    ok = runner.invoke(args=["rewards", "verify-proof", str(path)])
    assert ok.exit_code == 0 and ok.output.startswith(f"Valid: answer {answer_id} (reward 20)")
    # the embedded chain lives in the server process: the CLI says it used the server's record
    assert "from this server's record of the posting transaction 0x" in ok.output
    bad = json.loads(path.read_text())
    bad["reward"] = 21
    path.write_text(json.dumps(bad))
    assert runner.invoke(args=["rewards", "verify-proof", str(path)]).exit_code == 1
    path.write_text("{}")
    assert "Not a Fairlabel contribution proof" in runner.invoke(args=["rewards", "verify-proof", str(path)]).output


def test_verify_proof_cli_says_invalid_root_not_posted_for_a_forged_proof(db, app, runner, make_user, make_job,
                                                                          tmp_path):
    """Issue #9: a proof consistent with itself (root = leaf, empty proof, made-up transaction)
    is valid only if its root was posted for its epoch; the command says where it looked."""
    import json

    from eth_account import Account
    from test_proof_pages import forge

    from app.worker import run_cycle
    from rewards.models import ContributionLeaf
    from rewards.payouts import contribution_proof

    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    _owner, _job, worker = _work(db, make_user, make_job)
    worker.wallet_address = Account.create().address
    db.session.commit()
    run_cycle(app)
    run_cycle(app)
    answer_id = db.session.scalar(db.select(ContributionLeaf.answer_id))
    proof = contribution_proof(db.session.get(type(worker), worker.id), answer_id)
    path = tmp_path / "forged.json"
    for forged in (forge(proof), forge(proof, proof["epoch"] + 1)):
        path.write_text(json.dumps(forged))
        result = runner.invoke(args=["rewards", "verify-proof", str(path)])
        assert result.exit_code == 1 and result.output.startswith("Invalid: root not posted."), result.output
        assert "this server's record" in result.output


def test_export_manifest_names_the_roots_covering_the_labels(db, app, runner, make_user, make_job, tmp_path):
    import json

    from eth_account import Account

    from app.worker import run_cycle
    from rewards.onchain import current_chain

    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    _owner, job, worker = _work(db, make_user, make_job)
    manifest = tmp_path / "manifest.json"
    runner.invoke(args=["annotation", "export", str(job.id), "--out", str(tmp_path / "x.json"),
                        "--manifest", str(manifest)])
    assert json.loads(manifest.read_text())["answers_on_chain"] == 0
    worker.wallet_address = Account.create().address
    db.session.commit()
    run_cycle(app)
    run_cycle(app)
    result = runner.invoke(args=["annotation", "export", str(job.id), "--out", str(tmp_path / "x.json"),
                                 "--manifest", str(manifest)])
    assert result.exit_code == 0
    data = json.loads(manifest.read_text())
    (epoch,) = data["epochs"]
    assert data["accepted_answers"] == data["answers_on_chain"] == 1 and epoch["posted_in_tx"]
    posted = current_chain().distributor.functions.contributionsRoot(epoch["epoch"]).call()
    assert "0x" + posted.hex() == epoch["contributions_root"]
