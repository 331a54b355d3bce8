"""The money pages and the rewards JSON API (SQLite and PostgreSQL): the numbers they show, bonuses
that pay once, disputes and their resolution, levels on the feed and the pay floor on the job form."""
import json
import re

import pytest

from annotation.models import Answer, AnswerStatus, Job
from rewards.funding import credit_requester
from rewards.ledger import balance_of
from rewards.models import Hold, HoldStatus, LedgerTransfer

from conftest import TEXT_CONFIG, answer_item


def pending(user):
    return balance_of(f"FLT:worker:{user.id}:pending")


def text_of(html: str) -> str:
    """Visible text, whitespace collapsed (and none left before punctuation)."""
    body = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
    return re.sub(r"\s+([.,:;)])", r"\1", re.sub(r"\s+", " ", body)).strip()


def text(response) -> str:
    return text_of(response.get_data(as_text=True))


def spend_cell(response, key: str) -> int:
    match = re.search(rf'data-k="{key}">(\d+)<', response.get_data(as_text=True))
    assert match, key
    return int(match.group(1))


@pytest.fixture
def worked(db, app, make_user, make_job):
    """A published job (2 items × overlap 3, reward 10, fee 1) with one item decided 2:1."""
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner = make_user("requester")
    job = make_job(owner, n_items=2, overlap=3, reward=10)  # reserves 66
    workers = [make_user() for _ in range(3)]
    answers = answer_item(db, job, workers, ["positive", "positive", "negative"])
    return {"owner": owner, "job": job, "workers": workers, "answers": answers}


# --- Job page -------------------------------------------------------------------------------------

def test_a_draft_shows_what_publishing_reserves_and_what_to_add(db, app, make_user, make_job, login):
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner = make_user("requester")
    job = make_job(owner, n_items=4, publish=False, reward=10, overlap=3)
    credit_requester(owner, 100, key="some")
    db.session.commit()
    page = text(login(owner).get(f"/jobs/{job.id}"))
    assert ("Publishing reserves 132 FLT: reward 10 × overlap 3 × 4 items = 120 + fee 1 × 12 answers = 12."
            in page)
    assert "Your balance: 100 FLT." in page and "Add 32 FLT before publishing" in page


def test_the_job_page_shows_escrow_spend_fee_and_the_floor(db, worked, login):
    job, owner = worked["job"], worked["owner"]
    response = login(owner).get(f"/jobs/{job.id}")
    assert response.status_code == 200
    assert (spend_cell(response, "reserved"), spend_cell(response, "rewards"), spend_cell(response, "fees"),
            spend_cell(response, "escrow_left")) == (66, 20, 2, 44)
    page = text(response)
    assert "44 FLT left in the job's budget" in page and "22 FLT spent" in page
    assert "Fee per accepted answer: 1 FLT" in page
    assert "against the floor of 1200 FLT/h (12 USD/h): meets the floor" in page
    assert "open to Newcomer annotators and above" in page
    # every answer is listed; the accepted ones within their hold can be disputed
    assert page.count("Dispute answer #") == 2
    rejected = worked["answers"][2]
    assert f"Dispute answer #{rejected.id}" not in page


def test_a_measured_floor_miss_is_shown_prominently(db, make_user, make_job, login):
    owner = make_user("requester")
    job = make_job(owner, n_items=4, overlap=3, reward=10)
    credit_requester(owner, 1000, key="spare")
    db.session.commit()
    workers = [make_user() for _ in range(3)]
    for _ in range(4):
        answer_item(db, job, workers, ["positive"] * 3, seconds=60)
    response = login(owner).get(f"/jobs/{job.id}")
    html = response.get_data(as_text=True)
    assert 'id="floor-notice"' in html
    page = text(response)
    assert "Pay floor: Answers take a median 60 s" in page and "topped up by 10 FLT" in page
    assert "pay-floor top-up per accepted answer: 10 FLT" in page
    assert (spend_cell(response, "topups"), spend_cell(response, "floor_reserved")) == (120, 120)
    assert "≈ 600 FLT/h (6.00 USD/h, measured)" in page and "under the floor" in page


# --- Bonuses and disputes on the job page ----------------------------------------------------------

def test_the_bonus_form_pays_once_on_a_double_submit(db, worked, login):
    job, owner, (a, _, _) = worked["job"], worked["owner"], worked["workers"]
    credit_requester(owner, 50, key="bonus-money")
    db.session.commit()
    client = login(owner)
    answer = worked["answers"][0]
    form_page = client.get(f"/jobs/{job.id}?bonus_answer={answer.id}").get_data(as_text=True)
    key = re.search(r'id="key" name="key" type="hidden" value="([0-9a-f]{32})"', form_page).group(1)
    assert f"for answer #{answer.id}" in text_of(form_page)
    data = {"key": key, "answer_id": str(answer.id), "worker_id": "", "amount": "7", "source": "balance",
            "reason": "careful work"}
    first = client.post(f"/jobs/{job.id}/bonuses", data=data)
    second = client.post(f"/jobs/{job.id}/bonuses", data=data)
    assert first.status_code == second.status_code == 302
    assert pending(a) == 10 + 7
    assert balance_of(f"FLT:requester:{owner.id}") == 50 - 7
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerTransfer)
                             .where(LedgerTransfer.kind == "bonus")) == 1
    # a freshly rendered form carries a new key
    again = client.get(f"/jobs/{job.id}?bonus_answer={answer.id}").get_data(as_text=True)
    assert key not in again
    page = text(client.get(f"/jobs/{job.id}"))
    assert "Bonuses from your balance 7" in page


def test_a_bonus_the_budget_cannot_spare_is_refused_on_the_form(db, worked, login):
    job, owner = worked["job"], worked["owner"]
    (a, _, _) = worked["workers"]
    response = login(owner).post(f"/jobs/{job.id}/bonuses", data={
        "key": "k1", "worker_id": str(a.id), "amount": "12", "source": "escrow", "reason": ""})
    # 44 in escrow, 3 undecided slots keep 3 × 11: it can spare 11
    assert response.status_code == 402
    assert "can spare 11 FLT" in text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert pending(a) == 10


def test_dispute_then_admin_upholds_or_dismisses(db, worked, login, make_user):
    job, owner = worked["job"], worked["owner"]
    first, second, _ = worked["answers"]
    a, b, _ = worked["workers"]
    admin = make_user("admin")
    client = login(owner)
    missing_reason = client.post(f"/jobs/{job.id}/answers/{first.id}/dispute", data={"reason": ""})
    assert missing_reason.status_code == 400 and "Dispute not recorded" in text(missing_reason)
    for answer in (first, second):
        response = client.post(f"/jobs/{job.id}/answers/{answer.id}/dispute", data={"reason": "copied text"})
        assert response.status_code == 302
    twice = client.post(f"/jobs/{job.id}/answers/{first.id}/dispute", data={"reason": "again"})
    assert twice.status_code == 409 and "within its hold period" in text(twice)
    assert {h.status for h in db.session.scalars(db.select(Hold))} == {HoldStatus.DISPUTED}
    assert client.get("/admin/disputes").status_code == 403

    admin_client = login(admin)
    listing = text(admin_client.get("/admin/disputes"))
    assert f"#{first.id}" in listing and f"#{second.id}" in listing and "copied text" in listing
    assert admin_client.post(f"/admin/disputes/{first.id}/uphold").status_code == 302
    assert admin_client.post(f"/admin/disputes/{second.id}/dismiss").status_code == 302
    db.session.expire_all()
    assert db.session.get(Answer, first.id).status is AnswerStatus.REJECTED
    assert (pending(a), balance_of(f"FLT:worker:{b.id}:available")) == (0, 10)
    assert "No open disputes." in text(admin_client.get("/admin/disputes"))
    assert admin_client.post(f"/admin/disputes/{first.id}/uphold").status_code == 409


def test_another_requesters_job_and_answers_are_not_found(db, worked, login, make_user):
    stranger = login(make_user("requester"))
    job, answer = worked["job"], worked["answers"][0]
    assert stranger.get(f"/jobs/{job.id}").status_code == 404
    assert stranger.post(f"/jobs/{job.id}/bonuses", data={"key": "k", "answer_id": str(answer.id),
                                                          "amount": "1", "source": "balance"}).status_code == 404
    assert stranger.post(f"/jobs/{job.id}/answers/{answer.id}/dispute", data={"reason": "x"}).status_code == 404


# --- Spending, earnings, feed ---------------------------------------------------------------------

def test_the_spending_page_has_a_row_per_job_and_chart_data(db, worked, login, make_job):
    owner = worked["owner"]
    draft = make_job(owner, publish=False, title="Later")
    response = login(owner).get("/spending")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    row = text_of(re.search(rf'<tr id="job-{worked["job"].id}">.*?</tr>', html, re.S).group(0))
    assert row.split() == ["Sentiment", "published", "66", "20", "2", "0", "0", "0", "0", "44", "22"]
    assert f'id="job-{draft.id}"' in html
    data = re.search(r'<script type="application/json" id="spending-data">(.*?)</script>', html, re.S).group(1)
    chart = json.loads(data)
    assert chart["labels"] == [f"#{draft.id} Later", f"#{worked['job'].id} Sentiment"]
    assert {s["key"]: s["data"] for s in chart["series"]}["rewards"] == [0, 20]
    assert "js/spending.js" in html and "vendor/chart.umd.js" in html
    assert 'href="/spending"' in login(owner).get("/jobs").get_data(as_text=True)


def test_me_shows_level_rate_and_chart_and_a_get_writes_nothing(db, app, make_user, make_job, login):
    """Issue #9 §2: `GET /me` released holds (a write on a GET); the worker releases them."""
    app.config["PAYOUT_HOLD_SECONDS"] = 0  # earnings are due at once
    owner, worker = make_user("requester"), make_user()
    job = make_job(owner, n_items=2, overlap=1, reward=10)
    answer_item(db, job, [worker], ["positive"], seconds=20)
    answer_item(db, job, [worker], ["positive"], seconds=40)
    assert pending(worker) == 20
    client = login(worker)
    client.get("/me")
    db.session.rollback()
    assert pending(worker) == 20 and balance_of(f"FLT:worker:{worker.id}:available") == 0
    from rewards.holds import release_holds

    assert release_holds() == 2  # what the payout worker does each cycle
    db.session.commit()
    response = client.get("/me")
    page = text(response)
    assert balance_of(f"FLT:worker:{worker.id}:available") == 20
    assert "20 FLT available to pay out" in page and "0 FLT pending" in page and "20 FLT earned in all" in page
    assert "Newcomer your level" in page and "Contributor: 48 more accepted answers" in page
    # 20 FLT over 60 s of active time = 1200 FLT/h = 12.00 USD/h, at the floor
    assert "1200 FLT/h (≈ 12.00 USD/h) effective" in page and "at or above the floor" in page
    html = response.get_data(as_text=True)
    assert "js/earnings.js" in html and 'id="earnings-chart"' in html
    chart = json.loads(re.search(r'id="earnings-data">(.*?)</script>', html, re.S).group(1))
    assert len(chart["labels"]) == 30 and chart["earned"][-1] == 20 and chart["released"][-1] == 20


def test_the_feed_locks_jobs_above_the_workers_level(db, make_user, make_job, login):
    owner, worker = make_user("requester"), make_user()
    open_job = make_job(owner, title="Anyone")
    expert_job = make_job(owner, title="Experts only", min_level="expert")
    html = login(worker).get("/work").get_data(as_text=True)
    open_card = re.search(rf'<li class="card" id="job-{open_job.id}">.*?</li>', html, re.S).group(0)
    locked_card = re.search(rf'<li class="card locked" id="job-{expert_job.id}">.*?</li>', html, re.S).group(0)
    assert "Start" in open_card and "Newcomer" in open_card
    assert "Start" not in locked_card
    assert "Locked Open to Expert annotators and above. You need 500 more accepted answers" in text_of(locked_card)


# --- The job form ----------------------------------------------------------------------------------

def test_the_job_form_has_a_minimum_level(db, make_user, login):
    owner = make_user("requester")
    client = login(owner)
    form = client.get("/jobs/new").get_data(as_text=True)
    assert all(f'<option value="{name}"' in form or f'value="{name}"' in form
               for name in ("newcomer", "contributor", "expert", "master"))
    response = client.post("/jobs/new", data={
        "title": "Hard", "instructions": "", "label_config": TEXT_CONFIG, "reward": "20", "overlap": "3",
        "seconds_per_task": "30", "aggregation": "auto", "min_level": "expert"})
    assert response.status_code == 302
    assert db.session.scalar(db.select(Job.min_level).where(Job.title == "Hard")) == "expert"
    bad = client.post("/jobs/new", data={
        "title": "Bad", "label_config": TEXT_CONFIG, "reward": "20", "overlap": "3",
        "seconds_per_task": "30", "aggregation": "auto", "min_level": "wizard"})
    assert bad.status_code == 400 and db.session.scalar(db.select(Job.id).where(Job.title == "Bad")) is None


def test_a_reward_under_the_pay_floor_is_shown_on_the_reward_field(db, make_user, login):
    client = login(make_user("requester"))
    response = client.post("/jobs/new", data={
        "title": "Cheap", "instructions": "", "label_config": TEXT_CONFIG, "reward": "5", "overlap": "1",
        "seconds_per_task": "60", "aggregation": "auto", "min_level": "newcomer"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    reward_field = re.search(r'<label for="reward".*?</div>', html, re.S).group(0)
    assert 'aria-invalid="true"' in reward_field
    assert "Raise the reward to at least 20 FLT" in text_of(reward_field)
    assert "300 FLT/h (3.00 USD/h)" in text_of(reward_field)
    assert db.session.scalar(db.select(Job.id).where(Job.title == "Cheap")) is None


# --- JSON API --------------------------------------------------------------------------------------

def test_api_balance_for_requesters_and_workers(db, worked, login):
    owner, (a, _, _) = worked["owner"], worked["workers"]
    assert login(owner).get("/api/balance").get_json() == {"token": "FLT", "requester": {"balance": 0}}
    assert login(a).get("/api/balance").get_json() == {
        "token": "FLT", "worker": {"pending": 10, "available": 0, "in_flight": 0}}


def test_api_bonus_is_created_once_and_replayed(db, worked, login):
    job, owner = worked["job"], worked["owner"]
    a = worked["workers"][0]
    credit_requester(owner, 30, key="bonus-money")
    db.session.commit()
    client = login(owner)
    body = {"amount": 6, "key": "agent-1", "worker_id": a.id, "source": "balance", "reason": "fast"}
    created = client.post(f"/api/jobs/{job.id}/bonuses", json=body)
    assert created.status_code == 201
    bonus = created.get_json()["bonus"]
    assert (bonus["amount"], bonus["worker_id"], bonus["replayed"]) == (6, a.id, False)
    replay = client.post(f"/api/jobs/{job.id}/bonuses", json=body)
    assert replay.status_code == 200 and replay.get_json()["bonus"]["transfer_id"] == bonus["transfer_id"]
    assert pending(a) == 16 and balance_of(f"FLT:requester:{owner.id}") == 24
    conflict = client.post(f"/api/jobs/{job.id}/bonuses", json={**body, "amount": 7})
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "transfer_conflict"


@pytest.mark.parametrize("body, status, code", [
    ({"amount": "lots", "key": "k", "worker_id": 1}, 400, "invalid_amount"),
    ({"amount": 5, "worker_id": 1}, 400, "invalid_amount"),
    ({"amount": 5, "key": "k"}, 400, "invalid_amount"),
    ({"amount": 5, "key": "k", "worker_id": 1, "answer_id": 1}, 400, "invalid_amount"),
    ({"amount": 5, "key": "k", "worker_id": "one"}, 400, "invalid_amount"),
    ({"amount": 5, "key": "k", "worker_id": 1, "source": "bank"}, 400, "invalid_amount"),
    ({"amount": 12, "key": "k", "worker_id": 1, "source": "escrow"}, 402, "insufficient_funds"),
    ({"amount": 5, "key": "k", "answer_id": 999999}, 404, "rewards_not_found"),
    ([1, 2], 400, "invalid_amount"),
])
def test_api_bonus_bad_input_is_a_4xx_json_error(db, worked, login, body, status, code):
    job = worked["job"]
    body = body if not isinstance(body, dict) or body.get("worker_id") != 1 else {
        **body, "worker_id": worked["workers"][0].id}
    response = login(worked["owner"]).post(f"/api/jobs/{job.id}/bonuses", json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_api_dispute_and_spend(db, worked, login, make_user):
    job, owner = worked["job"], worked["owner"]
    first, _, rejected = worked["answers"]
    client = login(owner)
    assert client.post(f"/api/answers/{first.id}/dispute", json={}).status_code == 400
    response = client.post(f"/api/answers/{first.id}/dispute", json={"reason": "copied"})
    assert response.status_code == 200 and response.get_json()["dispute"]["amount"] == 10
    assert client.post(f"/api/answers/{rejected.id}/dispute", json={"reason": "x"}).status_code == 409
    assert client.post("/api/answers/999999/dispute", json={"reason": "x"}).status_code == 404
    spend = client.get(f"/api/jobs/{job.id}/spend").get_json()
    assert spend["token"] == "FLT"
    assert {k: spend["spend"][k] for k in ("reserved", "rewards", "fees", "escrow_left", "spent")} == {
        "reserved": 66, "rewards": 20, "fees": 2, "escrow_left": 44, "spent": 22}


def test_api_others_jobs_are_404_and_annotators_403(db, worked, login, make_user, client):
    # first, before any login: the test app context keeps Flask-Login's user in `g` between requests
    anonymous = client.get("/api/balance")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "unauthorized"
    job, answer = worked["job"], worked["answers"][1]
    stranger = login(make_user("requester"))
    assert stranger.get(f"/api/jobs/{job.id}/spend").status_code == 404
    assert stranger.post(f"/api/jobs/{job.id}/bonuses", json={
        "amount": 1, "key": "k", "answer_id": answer.id, "source": "balance"}).status_code == 404
    assert stranger.post(f"/api/answers/{answer.id}/dispute", json={"reason": "x"}).status_code == 404
    worker = login(worked["workers"][0])
    assert worker.get(f"/api/jobs/{job.id}/spend").status_code == 403
    assert worker.post(f"/api/answers/{answer.id}/dispute", json={"reason": "x"}).status_code == 403
    assert worker.get("/api/jobs/999999/spend").status_code == 403  # role first: nothing leaks


def test_publishing_without_funds_shows_the_job_page_with_the_shortfall_and_where_to_add_funds(
        db, make_job, login):
    from annotation.models import JobStatus

    job = make_job(publish=False, fund=False)
    client = login(job.owner)
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'id="shortfall"' in page and '/wallet#deposit' in page
    response = client.post(f"/jobs/{job.id}/publish")
    body = response.get_data(as_text=True)
    assert response.status_code == 402 and 'id="money-error"' in body
    assert "This needs" in body and "Add funds" in body and '/wallet#deposit' in body
    assert "<h1>" in body and job.title in body  # the job page itself, not a bare error page
    db.session.refresh(job)
    assert job.status is JobStatus.DRAFT


def test_the_wallet_page_tells_a_requester_how_to_add_funds(db, make_user, login, app):
    from rewards.onchain import current_chain

    requester = make_user("requester")
    page = login(requester).get("/wallet").get_data(as_text=True)
    chain = current_chain()
    assert 'id="deposit"' in page and chain.address in page and chain.token.address in page
    assert f'<strong id="deposit-chain">{chain.chain_id}</strong>' in page
    assert "Link a wallet first" in page  # deposits are matched by the sending wallet
    annotator_page = login(make_user("annotator")).get("/wallet").get_data(as_text=True)
    assert 'id="deposit"' not in annotator_page


def test_the_demo_faucet_funds_a_requester_once_per_form_and_only_outside_production(db, app, make_user, login):
    requester = make_user("requester")
    client = login(requester)
    page = client.get("/wallet").get_data(as_text=True)
    key = re.search(r'id="key" name="key" type="hidden" value="([0-9a-f]+)"', page).group(1)
    assert client.post("/wallet/faucet", data={"key": key}).status_code == 302
    assert client.post("/wallet/faucet", data={"key": key}).status_code == 302  # the same form again
    assert balance_of(f"FLT:requester:{requester.id}") == 1_000
    assert client.post("/wallet/faucet", data={}).status_code == 400
    credit_requester(requester, 9_000, key="rich")
    db.session.commit()
    refused = client.post("/wallet/faucet", data={"key": "another-form-key"}, follow_redirects=True)
    assert "tops up balances below 10000" in text(refused)
    assert balance_of(f"FLT:requester:{requester.id}") == 10_000
    assert login(make_user("annotator")).post("/wallet/faucet", data={"key": "k" * 16}).status_code == 403
    app.config["ENV"] = "production"
    try:
        assert client.post("/wallet/faucet", data={"key": "k" * 16}).status_code == 404
        assert 'id="faucet"' not in client.get("/wallet").get_data(as_text=True)
    finally:
        app.config["ENV"] = "testing"
