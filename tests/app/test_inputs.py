"""Issue #9 §3, "Input and resources": bad input anywhere is a clear 4xx, never a 500 or a dead worker.

Test names follow the issue's bullets:
- the anonymous deep-JSON body that killed a worker (SIGSEGV) — checked in a real server process;
- 500s on ordinary bad input: route ids ≥ 2^31, ?page=2**63, "answer_id": "²", NUL in a bonus key,
  CRLF in login next=; integers as ASCII digits within range;
- arbitrary extra JSON in an answer's result;
- item data leaking the answer to annotators (the uploaded file name).
Upload rows (NaN, surrogates, unterminated quotes, limits) are in tests/annotation/test_imports.py.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from annotation.errors import InvalidInput
from annotation.imports import UploadedFile
from annotation.models import Answer
from annotation.validation import MAX_ID, whole_number
from app.demo import IMAGE_CONFIG, shape_png
from rewards.errors import InvalidAmount
from rewards.funding import credit_requester

from conftest import answer_item, choices_result

REPO = Path(__file__).resolve().parents[2]
DEEP_BODY = b"[" * 100_000 + b"]" * 100_000


# --- An anonymous request kills a worker (SIGSEGV) ----------------------------------------------

SERVER = textwrap.dedent("""
    import sys
    from flask_migrate import upgrade
    from werkzeug.serving import make_server
    from app import create_app

    app = create_app({"ENV": "testing", "TESTING": False, "SECRET_KEY": "test-secret",
                      "SQLALCHEMY_DATABASE_URI": sys.argv[1], "MEDIA_ROOT": sys.argv[2],
                      "RATELIMIT_ENABLED": False})
    # create_app imported py_ecc, which raises the recursion limit to 100,000: Python's own guard
    # no longer stops the C parser before the C stack overflows. Make sure that holds here.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", 0, app)
    print(server.server_port, "py_ecc" in sys.modules, sys.getrecursionlimit(), flush=True)
    server.serve_forever()
""")


@pytest.fixture
def server_process(tmp_path):
    """A real server in its own process (what a gunicorn worker is), on a free port."""
    script = tmp_path / "serve.py"
    script.write_text(SERVER)
    process = subprocess.Popen(
        [sys.executable, str(script), f"sqlite:///{tmp_path / 'server.sqlite'}", str(tmp_path / "media")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True)
    try:
        port, has_py_ecc, limit = process.stdout.readline().split()
        assert has_py_ecc == "True" and int(limit) >= 100_000
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()


def test_deep_json_body_from_anonymous_client_does_not_kill_the_worker(server_process):
    process, base = server_process
    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page.text).group(1)
    response = session.post(f"{base}/api/siwe/message", data=DEEP_BODY, timeout=30,
                            headers={"Content-Type": "application/json", "X-CSRFToken": token})
    assert response.status_code == 400
    assert "nesting deeper than" in response.json()["error"]["message"]
    time.sleep(0.2)
    assert process.poll() is None, f"the server process died (exit {process.returncode})"
    assert session.get(f"{base}/healthz", timeout=10).json() == {"ok": True}


def test_deep_json_body_is_refused_by_every_json_route(db, make_job, make_user, login):
    job = make_job(n_items=1)
    annotator, owner = login(make_user("annotator")), login(job.owner)
    task = annotator.post(f"/api/jobs/{job.id}/next").get_json()["task"]
    (answer,) = answer_item(db, job, [make_user("annotator")], ["positive"])
    for client, url in [(annotator, "/api/siwe/message"), (annotator, task["answer_url"]),
                        (owner, f"/api/jobs/{job.id}/bonuses"), (owner, f"/api/answers/{answer.id}/dispute")]:
        response = client.post(url, data=DEEP_BODY, content_type="application/json")
        assert response.status_code == 400, url
        assert "nesting deeper than 64 levels" in response.get_json()["error"]["message"], url


def test_someone_elses_task_or_answer_is_404_whatever_the_body(db, make_job, make_user, login):
    """Ownership is looked up before the body is read: a stranger learns nothing from 400 vs 404
    (on main a bad body to another's task or answer answered 400, revealing that it exists)."""
    job = make_job(n_items=1)
    task = login(make_user("annotator")).post(f"/api/jobs/{job.id}/next").get_json()["task"]
    (answer,) = answer_item(db, job, [make_user("annotator")], ["positive"])
    stranger, other_requester = login(make_user("annotator")), login(make_user("requester"))
    for client, url in [(stranger, task["answer_url"]),
                        (other_requester, f"/api/answers/{answer.id}/dispute")]:
        for body in [DEEP_BODY, "[]", '{"nothing": 1}', '{"reason": 5}']:
            response = client.post(url, data=body, content_type="application/json")
            assert response.status_code == 404, (url, body[:20], response.status_code)


# --- 500s on ordinary bad input ------------------------------------------------------------------

@pytest.mark.parametrize("raw_id", ["2147483648", "99999999999999999999", "0", "%D9%A5", "%C2%B2"])
def test_route_ids_at_or_above_2_31_are_404_not_500(db, make_job, make_user, login, raw_id):
    job = make_job(n_items=1)
    requester, annotator = login(job.owner), login(make_user("annotator"))
    for client, method, url in [
        (requester, "get", "/jobs/{}"), (requester, "get", "/jobs/{}/export.csv"),
        (requester, "post", "/jobs/{}/items"), (requester, "get", "/api/jobs/{}/spend"),
        (requester, "post", "/api/jobs/{}/bonuses"), (requester, "post", "/api/answers/{}/dispute"),
        (annotator, "get", "/work/jobs/{}"), (annotator, "post", "/api/jobs/{}/next"),
        (annotator, "post", "/api/tasks/{}/answer"), (annotator, "post", "/api/tasks/{}/skip"),
        (annotator, "get", "/media/{}/x.png"), (annotator, "get", "/me/contributions/{}/proof.json"),
    ]:
        response = getattr(client, method)(url.format(raw_id), json={})
        assert response.status_code == 404, (url, response.status_code)


def test_the_int_converter_still_takes_ordinary_ids(db, make_job, login):
    job = make_job(n_items=1)
    assert login(job.owner).get(f"/jobs/{job.id}").status_code == 200
    assert login(job.owner).get(f"/jobs/{MAX_ID}").status_code == 404  # the top of the range: not found


@pytest.mark.parametrize("query", ["page=9223372036854775808", "page=2**63", "page=-1", "page=0",
                                   "page=%D9%A5", "page=+5", "page=1_0", "answers_page=99999999999",
                                   "bonus_answer=9223372036854775808", "bonus_worker=%C2%B2"])
def test_page_and_id_query_args_out_of_range_are_400(db, make_job, login, query):
    job = make_job(n_items=1)
    response = login(job.owner).get(f"/jobs/{job.id}?{query}")
    assert response.status_code == 400
    assert "must be" in response.get_data(as_text=True)


def test_page_query_arg_in_range_still_works(db, make_job, login):
    job = make_job(n_items=1)
    assert login(job.owner).get(f"/jobs/{job.id}?page=2&answers_page=1").status_code == 200


@pytest.fixture
def answered(db, make_job, make_user):
    owner = make_user("requester")
    job = make_job(owner, n_items=1, overlap=1)
    worker = make_user("annotator")
    (answer,) = answer_item(db, job, [worker], ["positive"])
    credit_requester(owner, 100, key="inputs-test")
    db.session.commit()
    return {"job": job, "owner": owner, "worker": worker, "answer": answer}


@pytest.mark.parametrize("field, value", [
    ("answer_id", "²"), ("answer_id", "٥"), ("answer_id", " 7 "), ("answer_id", "+5"),
    ("answer_id", "1_000"), ("answer_id", 2**31), ("answer_id", "2147483648"), ("answer_id", 1.0),
    ("worker_id", "²"), ("worker_id", 2**40), ("worker_id", True),
    ("amount", " 7 "), ("amount", "+5"), ("amount", "1_000"), ("amount", "٥٠"), ("amount", 10**16),
])
def test_answer_id_superscript_two_and_other_non_ascii_numbers_are_400(answered, login, field, value):
    body = {"amount": 5, "key": "bonus-1", "source": "balance", "answer_id": answered["answer"].id, field: value}
    if field == "worker_id":
        body.pop("answer_id")
    response = login(answered["owner"]).post(f"/api/jobs/{answered['job'].id}/bonuses", json=body)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid_amount" and error["details"]["field"] == field


def test_ascii_digit_strings_are_still_accepted_as_ids_and_amounts(answered, login):
    body = {"amount": "5", "key": "bonus-2", "source": "balance", "answer_id": str(answered["answer"].id)}
    response = login(answered["owner"]).post(f"/api/jobs/{answered['job'].id}/bonuses", json=body)
    assert response.status_code == 201 and response.get_json()["bonus"]["amount"] == 5


@pytest.mark.parametrize("value", [" 7 ", "+5", "1_000", "٥٠", "²", "7.0", 7.0, True, None, "", [7], "0x7"])
def test_integers_parse_as_ascii_digits_only(value):
    with pytest.raises(InvalidInput, match="whole number written with the digits 0-9"):
        whole_number(value, "reward", 0, 100)


def test_integers_out_of_the_columns_range_are_refused_without_converting_them():
    assert whole_number("007", "n", 1, 10) == 7 and whole_number(7, "n", 1, 10) == 7
    assert whole_number("-3", "n", -5, 5) == -3
    for value in ("11", "0", 2**31, "9" * 5000):
        with pytest.raises(InvalidAmount, match="must be between 1 and 10"):
            whole_number(value, "n", 1, 10, error=InvalidAmount)


def test_job_terms_take_ascii_digits_only(db, make_user):
    from app.operations.jobs import create_job

    from conftest import TEXT_CONFIG

    owner = make_user("requester")
    for reward in ("+5", " 12 ", "1_000", "١٢"):
        with pytest.raises(InvalidInput, match="reward must be a whole number"):
            create_job(owner, title="t", label_config=TEXT_CONFIG, reward=reward, overlap=1)
    assert create_job(owner, title="t", label_config=TEXT_CONFIG, reward="1000", overlap="1").reward == 1000


def test_nul_in_a_bonus_key_is_400(answered, login):
    body = {"amount": 5, "key": "bonus\u0000key", "source": "balance", "answer_id": answered["answer"].id}
    response = login(answered["owner"]).post(f"/api/jobs/{answered['job'].id}/bonuses", json=body)
    assert response.status_code == 400
    assert "NUL" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("body", ['{"key": "\\ud800"}', '{"amount": NaN}', '{"amount": Infinity}',
                                  '{"amount": 1e400}', '{"amount": ' + "9" * 5000 + "}"])
def test_unstorable_json_values_are_400(answered, login, body):
    response = login(answered["owner"]).post(f"/api/jobs/{answered['job'].id}/bonuses", data=body,
                                             content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_amount"


@pytest.mark.parametrize("next_url", ["/me%0d%0aSet-Cookie:%20evil=1", "/me%0aLocation:%20https://evil.example",
                                      "//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_crlf_in_login_next_is_not_a_header_and_not_an_open_redirect(db, make_user, client, next_url):
    from conftest import PASSWORD

    user = make_user("annotator")
    response = client.post(f"/login?next={next_url}", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/work"
    assert "Set-Cookie" not in response.headers or "evil" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize("method, url, form", [
    ("get", "/login?next=/me%00", None),
    ("get", "/jobs?x=a%00b", None),
    ("post", "/login", {"username": "name\x00", "password": "x"}),
    ("get", "/media/1/a%00b.png", None),
])
def test_nul_in_the_address_query_or_form_is_400(db, make_job, login, client, method, url, form):
    job = make_job(n_items=1)
    response = getattr(login(job.owner) if "media" in url else client, method)(url, data=form)
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


# --- Answers carry no extra JSON -------------------------------------------------------------------

def test_an_answer_cannot_store_arbitrary_extra_json(db, make_job, make_user, login):
    job = make_job(n_items=2, overlap=1)
    client = login(make_user("annotator"))
    task = client.post(f"/api/jobs/{job.id}/next").get_json()["task"]
    padded = [{**choices_result("positive")[0], "meta": {"junk": "x" * 1000}}]
    refused = client.post(task["answer_url"], json={"result": padded})
    assert refused.status_code == 400 and "not a key" in refused.get_json()["error"]["message"]
    big = [{**choices_result("positive")[0], "value": {"choices": ["positive"], "pad": "x" * 2_000_000}}]
    too_big = client.post(task["answer_url"], json={"result": big})
    assert too_big.status_code == 400 and "larger than" in too_big.get_json()["error"]["message"]
    region = {"id": "r1", "origin": "manual", "type": "choices", "from_name": "sentiment",
              "value": {"choices": ["negative"]}}
    ok = client.post(task["answer_url"], json={"result": [region]})
    assert ok.status_code == 200
    stored = db.session.get(Answer, ok.get_json()["answer"]["id"])
    assert stored.result == [{"id": "r1", "from_name": "sentiment", "to_name": "text", "type": "choices",
                              "value": {"choices": ["negative"]}, "origin": "manual"}]


# --- Item data leaks the answer ----------------------------------------------------------------------

def test_annotators_get_only_the_fields_the_config_reads(db, app, make_job, make_user, login):
    from app.operations.jobs import add_items, publish_job
    from rewards.escrow import publish_cost

    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG, overlap=1)
    add_items(job.owner, job, [UploadedFile("cat_01.png", shape_png("circle", 1))],
              media_root=app.config["MEDIA_ROOT"])
    text_job = make_job(rows=[{"text": "hello", "label_hint": "positive"}], overlap=1)
    credit_requester(job.owner, publish_cost(job), key="leak-test")
    publish_job(job.owner, job)
    db.session.commit()
    client = login(make_user("annotator"))
    task = client.post(f"/api/jobs/{job.id}/next").get_json()["task"]
    assert set(task["data"]) == {"image"} and "cat_01" not in json.dumps(task)
    text_task = client.post(f"/api/jobs/{text_job.id}/next").get_json()["task"]
    assert text_task["data"] == {"text": "hello"}
    export = login(job.owner).get(f"/jobs/{job.id}/export.json")
    assert "cat_01.png" in export.get_data(as_text=True)  # the requester still sees the name


def test_upload_page_streams_files_and_reports_in_words(db, make_job, login):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    response = login(job.owner).post(f"/jobs/{job.id}/items", data={
        "files": [(io.BytesIO(b"GIF89a but not really"), "fake.gif")]}, content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "fake.gif: not a readable image" in text
    assert "BytesIO" not in text and not re.search(r"0x[0-9a-f]{6,}", text)
