"""An annotator's contributions on chain: listed, downloadable as proofs, private to them."""
from eth_account import Account

from annotation.tasks import next_task_for
from app.operations.tasks import submit_answer
from app.worker import run_cycle
from rewards.payouts import verify_contribution_proof

from conftest import choices_result


def test_contributions_page_and_proof_download(db, app, make_user, make_job, login):
    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    worker, other = make_user(), make_user()
    worker.wallet_address = Account.create().address
    job = make_job(n_items=1, overlap=1, reward=10)
    answer = submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
    db.session.commit()
    client = login(worker)
    assert "No contributions on chain yet" in client.get("/me/contributions").get_data(as_text=True)
    db.session.commit()  # end this session's read: on SQLite it would hold the worker's write lock
    run_cycle(app)
    run_cycle(app)
    page = client.get("/me/contributions").get_data(as_text=True)
    assert f"/me/contributions/{answer.id}/proof.json" in page
    download = client.get(f"/me/contributions/{answer.id}/proof.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    proof = download.get_json()
    assert verify_contribution_proof(proof) and proof["label"] == {"sentiment": ["positive"]}
    assert login(other).get(f"/me/contributions/{answer.id}/proof.json").status_code == 404
    assert client.get("/verify").status_code == 200


def test_earnings_page_counts_what_was_paid_out(db, app, make_user, make_job, login):
    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    worker = make_user()
    worker.wallet_address = Account.create().address
    job = make_job(n_items=2, overlap=1, reward=10)
    for _ in range(2):
        submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
        db.session.commit()
    run_cycle(app)
    run_cycle(app)
    page = login(worker).get("/me").get_data(as_text=True)
    assert '<span class="big" id="paid-out">20</span>' in page
    assert '<span class="big" id="earned">20</span>' in page
    assert '<span class="big" id="available">0</span>' in page
