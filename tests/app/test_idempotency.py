"""Idempotency-Key on POST (app/idempotency.py): the first response is stored and replayed for the
same key and request, a different request under the key is a 422, one still running is a 409,
keys are per user and lapse after a day."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from app.extensions import utcnow
from app.identity.models import IdempotencyRecord
from app.identity.tokens import create_api_token
from rewards.funding import credit_requester
from rewards.ledger import balance_of

from conftest import answer_item


@pytest.fixture
def agent(db, make_user, make_job):
    job = make_job()
    workers = [make_user() for _ in range(3)]
    answer_item(db, job, workers, ["positive", "positive", "negative"])
    worker = workers[0]
    credit_requester(job.owner, 100, key="agent-funds")
    _, secret = create_api_token(job.owner, name="agent", scopes=["jobs:write", "funds:spend"], now=utcnow())
    db.session.commit()
    return {"job": job, "worker": worker, "auth": {"Authorization": f"Bearer {secret}",
                                                   "Content-Type": "application/json"}}


def post(client, agent, body: dict, key: str | None):
    headers = dict(agent["auth"], **({"Idempotency-Key": key} if key else {}))
    return client.post(f"/api/jobs/{agent['job'].id}/bonuses", data=json.dumps(body), headers=headers)


def bonus(agent, amount=3, key="b1"):
    return {"amount": amount, "key": key, "worker_id": agent["worker"].id, "source": "balance"}


def test_the_same_key_and_request_replays_the_first_response(client, agent, db):
    owner = agent["job"].owner
    first = post(client, agent, bonus(agent), "retry-1")
    again = post(client, agent, bonus(agent), "retry-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.get_json() == first.get_json()
    assert balance_of(f"FLT:requester:{owner.id}") == 100 - 3


def test_the_same_key_with_another_request_is_a_422_and_runs_nothing(client, agent):
    owner = agent["job"].owner
    assert post(client, agent, bonus(agent), "k").status_code == 201
    other = post(client, agent, bonus(agent, amount=4, key="b2"), "k")
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert balance_of(f"FLT:requester:{owner.id}") == 100 - 3


def test_a_key_still_running_is_a_409(client, agent, db):
    body = json.dumps(bonus(agent)).encode()
    path = f"/api/jobs/{agent['job'].id}/bonuses"
    fingerprint = hashlib.sha256(f"POST {path}?\n".encode() + body).hexdigest()
    db.session.add(IdempotencyRecord(user_id=agent["job"].owner_id, key="busy", request_hash=fingerprint,
                                     created_at=utcnow()))
    db.session.commit()
    response = client.post(path, data=body, headers=dict(agent["auth"], **{"Idempotency-Key": "busy"}))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "idempotency_key_in_use"


def test_a_lapsed_key_runs_again_and_keys_are_per_user(client, agent, db, make_user):
    first = post(client, agent, bonus(agent), "old")
    record = db.session.scalar(db.select(IdempotencyRecord).where(IdempotencyRecord.key == "old"))
    record.created_at = utcnow() - dt.timedelta(days=1, minutes=1)
    db.session.commit()
    rerun = post(client, agent, bonus(agent), "old")
    assert first.status_code == 201 and rerun.status_code == 200  # the bonus's own key replays it
    assert "Idempotent-Replayed" not in rerun.headers
    stranger = make_user("requester")
    _, secret = create_api_token(stranger, name="x", scopes=["jobs:write", "funds:spend"], now=utcnow())
    db.session.commit()
    theirs = client.post(f"/api/jobs/{agent['job'].id}/bonuses", data=json.dumps(bonus(agent)),
                         headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json",
                                  "Idempotency-Key": "old"})
    assert theirs.status_code in (403, 404), theirs.get_json()
    assert "Idempotent-Replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\tkey"])
def test_a_malformed_key_is_a_400(client, agent, key):
    response = client.post(f"/api/jobs/{agent['job'].id}/bonuses", data=json.dumps(bonus(agent)),
                           headers=dict(agent["auth"], **{"Idempotency-Key": key}))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_idempotency_key"


def test_gets_and_anonymous_posts_ignore_the_key(client, db):
    assert client.get("/healthz", headers={"Idempotency-Key": "k"}).status_code == 200
    assert client.post("/api/siwe/message", json={}, headers={"Idempotency-Key": "k"}).status_code == 400
    assert db.session.scalar(db.select(db.func.count()).select_from(IdempotencyRecord)) == 0


def test_an_upload_with_a_key_is_fingerprinted_from_its_files_and_replayed(db, make_job, login):
    import io

    job = make_job(publish=False)
    client = login(job.owner)
    upload = b"text\nfirst row\nsecond row\n"

    def send(content: bytes):
        return client.post(f"/jobs/{job.id}/items", headers={"Idempotency-Key": "upload-1"},
                           data={"files": (io.BytesIO(content), "rows.csv")}, content_type="multipart/form-data")

    first = send(upload)
    again = send(upload)
    assert first.status_code == again.status_code and again.headers["Idempotent-Replayed"] == "true"
    db.session.refresh(job)
    assert job.n_items == 3 + 2  # the file was read by the import after hashing, and imported once
    assert send(upload + b"third row\n").status_code == 422
