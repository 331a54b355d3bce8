"""Sign-up, login, roles, CSRF and who may see what."""
import re

import pytest

from app.identity.models import User

from conftest import PASSWORD, choices_result


def test_signup_logs_in_and_stores_an_argon2_hash(client, db):
    response = client.post("/signup", data={"username": "alice", "password": "long enough pw",
                                            "role": "requester"})
    assert response.status_code == 302 and response.location.endswith("/jobs")
    user = db.session.scalar(db.select(User).where(User.username == "alice"))
    assert user.password_hash.startswith("$argon2id$")
    assert "long enough pw" not in user.password_hash
    assert client.get("/jobs").status_code == 200


@pytest.mark.parametrize("data, message", [
    ({"username": "al", "password": "long enough pw", "role": "annotator"}, "Field must be between 3 and 64"),
    ({"username": "bob", "password": "short", "role": "annotator"}, "at least 8"),
    ({"username": "bob", "password": "long enough pw", "role": "wizard"}, "Not a valid choice"),
])
def test_bad_signup_says_why(client, data, message):
    response = client.post("/signup", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_usernames_are_unique_case_insensitively(client, make_user):
    make_user("annotator", username="Carol")
    response = client.post("/signup", data={"username": "carol", "password": "long enough pw",
                                            "role": "annotator"})
    assert response.status_code == 400 and "taken" in response.get_data(as_text=True)


def test_wrong_password_is_refused(client, make_user):
    make_user("annotator", username="dave")
    response = client.post("/login", data={"username": "dave", "password": "nope nope nope"})
    assert response.status_code == 400 and "Wrong username or password" in response.get_data(as_text=True)


def test_login_redirect_stays_on_this_site(client, make_user):
    make_user("annotator", username="erin")
    response = client.post("/login?next=//evil.example/x", data={"username": "erin", "password": PASSWORD})
    assert response.location == "/work"


def test_csrf_is_required_on_forms_and_api(app, make_user, make_job):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make_user("annotator", username="frank")
    client = app.test_client()
    assert client.post("/login", data={"username": "frank", "password": PASSWORD}).status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"username": "frank", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    job = make_job()
    refused = client.post(f"/api/jobs/{job.id}/next")
    assert refused.status_code == 400 and refused.json["error"]["code"] == "csrf_failed"
    meta = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/work").get_data(as_text=True)).group(1)
    served = client.post(f"/api/jobs/{job.id}/next", headers={"X-CSRFToken": meta})
    assert served.status_code == 200 and served.json["task"] is not None
    assert user.id


def test_requester_cannot_see_another_requesters_job(make_user, make_job, login):
    owner, other = make_user("requester"), make_user("requester")
    job = make_job(owner)
    client = login(other)
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{job.id}/export.csv").status_code == 404
    assert client.post(f"/jobs/{job.id}/close").status_code == 404
    assert f"/jobs/{job.id}" not in client.get("/jobs").get_data(as_text=True)


def test_admin_sees_every_job(make_user, make_job, login):
    job = make_job()
    admin = make_user("admin")
    assert login(admin).get(f"/jobs/{job.id}").status_code == 200


def test_annotator_sees_neither_gold_nor_results_nor_others_answers(make_user, make_job, login):
    rows = [{"text": "a check item", "_gold": {"sentiment": "positive"}}]
    job = make_job(rows=rows, overlap=2)
    first, second = login(make_user()), login(make_user())
    task = first.post(f"/api/jobs/{job.id}/next").json["task"]
    assert task["data"] == {"text": "a check item"}
    assert "gold" not in str(task).lower() and "positive" not in str(task)
    first.post(task["answer_url"], json={"result": choices_result("negative")})
    other_task = second.post(f"/api/jobs/{job.id}/next").json["task"]
    assert "negative" not in str(other_task)
    assert first.get(f"/jobs/{job.id}").status_code == 403
    assert first.get(f"/jobs/{job.id}/export.json").status_code == 403


def test_api_without_login_is_401_json(client, make_job):
    job = make_job()
    response = client.post(f"/api/jobs/{job.id}/next")
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    assert client.get("/work").status_code == 302


# --- Issue #9 §1: sessions the server can end, passwords worth having -------------------------

def test_logout_revokes_the_session_for_a_copied_cookie(make_user, login, app):
    """On main a cookie copied before logout still got 200 on /me."""
    user = make_user("annotator")
    browser = login(user)
    cookie = browser.get_cookie("session").value
    assert browser.get("/me").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/me").status_code == 200
    assert browser.post("/logout").status_code == 302
    assert browser.get("/me").status_code == 302  # back to the login page
    assert thief.get("/me").status_code == 302
    assert thief.post("/api/balance").status_code in (401, 405)
    assert thief.get("/api/balance").status_code == 401


def test_a_password_change_ends_every_other_session(make_user, login, app, db):
    user = make_user("requester")
    here, elsewhere = login(user), login(user)
    response = here.post("/settings/password", data={"current_password": PASSWORD,
                                                      "new_password": "a brand new secret",
                                                      "confirm": "a brand new secret"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert here.get("/jobs").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/jobs").status_code == 302  # every other one is signed out
    assert app.test_client().post("/login", data={"username": user.username, "password": PASSWORD}).status_code == 400
    assert login(user, "a brand new secret").get("/jobs").status_code == 200


@pytest.mark.parametrize("data, message", [
    ({"current_password": "wrong one!", "new_password": "a brand new secret", "confirm": "a brand new secret"},
     "current password is wrong"),
    ({"current_password": PASSWORD, "new_password": "password", "confirm": "password"}, "most common"),
    ({"current_password": PASSWORD, "new_password": "a brand new secret", "confirm": "another secret"}, "differ"),
])
def test_a_bad_password_change_says_why_and_changes_nothing(make_user, login, data, message):
    user = make_user("annotator")
    client = login(user)
    response = client.post("/settings/password", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert login(user).get("/me").status_code == 200  # the old password still works


@pytest.mark.parametrize("password", ["12345678", "password", "Password", "qwertyuiop", "aaaaaaaa",
                                      "zoe-the-user"])
def test_signup_refuses_common_and_guessable_passwords(client, db, password):
    response = client.post("/signup", data={"username": "zoe-the-user", "password": password, "role": "annotator"})
    assert response.status_code == 400
    assert db.session.scalar(db.select(User).where(User.username == "zoe-the-user")) is None


def test_an_admin_is_not_an_annotator(make_user, make_job, login):
    """Roles are separate: an admin cannot take tasks (and so never answers, then judges or pays
    itself for, a requester's work)."""
    admin = login(make_user("admin"))
    job = make_job()
    response = admin.post(f"/api/jobs/{job.id}/next")
    assert response.status_code == 403
    assert admin.get("/work").status_code == 403
