"""Personal API tokens: the service, Bearer requests (scopes, no CSRF, JSON, never a redirect,
401 for a bad token, the cookie ignored beside one) and the `flask tokens` commands."""
from __future__ import annotations

import datetime as dt

import pytest

from app.extensions import utcnow
from app.identity.errors import InvalidCredentials, InvalidToken
from app.identity.models import ApiToken
from app.identity.tokens import authenticate_api_token, create_api_token, revoke_api_token


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def token_for(db):
    def make(user, *scopes, **kwargs):
        _, secret = create_api_token(user, name="test", scopes=list(scopes), now=kwargs.pop("now", utcnow()),
                                     **kwargs)
        db.session.commit()
        return secret

    return make


# --- the service ----------------------------------------------------------------------------------

def test_a_token_is_stored_hashed_and_named_by_its_prefix(db, make_user):
    user = make_user("requester")
    token, secret = create_api_token(user, name="agent", scopes=["jobs:read", "jobs:read", "funds:read"],
                                     now=utcnow(), expires_days=30)
    assert secret.startswith("fl_") and len(secret) > 40
    assert token.token_hash != secret and secret not in token.token_hash and secret.startswith(token.prefix)
    assert token.scopes == "jobs:read funds:read"  # duplicates dropped, order kept
    assert authenticate_api_token(secret, now=utcnow()).id == token.id
    assert token.last_used_at is not None


@pytest.mark.parametrize(("role", "kwargs", "message"), [
    ("requester", {"scopes": []}, "at least one scope"),
    ("requester", {"scopes": ["jobs:delete"]}, "Unknown scope 'jobs:delete'"),
    ("annotator", {"scopes": ["jobs:write"]}, "cannot hold the scope 'jobs:write'"),
    ("requester", {"scopes": ["jobs:read"], "name": " "}, "needs a name"),
    ("requester", {"scopes": ["jobs:read"], "expires_days": 0}, "expires_days"),
    ("requester", {"scopes": ["jobs:read"], "expires_days": 10**6}, "expires_days"),
])
def test_bad_token_requests_say_what_is_wrong(db, make_user, role, kwargs, message):
    kwargs = {"name": "x", **kwargs}
    with pytest.raises(InvalidCredentials, match=message):
        create_api_token(make_user(role), now=utcnow(), **kwargs)
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0


def test_revoked_expired_and_unknown_tokens_do_not_authenticate(db, make_user, token_for):
    user, other = make_user("requester"), make_user("requester")
    live, old = token_for(user, "jobs:read"), token_for(user, "jobs:read", expires_days=1,
                                                       now=utcnow() - dt.timedelta(days=2))
    token = authenticate_api_token(live, now=utcnow())
    with pytest.raises(Exception, match="no token"):
        revoke_api_token(other, token.id, now=utcnow())  # not theirs
    revoke_api_token(user, token.id, now=utcnow())
    for secret, why in ((live, "revoked"), (old, "expired"), ("fl_" + "x" * 43, "Unknown"), ("abc", "start with fl_")):
        with pytest.raises(InvalidToken, match=why):
            authenticate_api_token(secret, now=utcnow())


# --- over HTTP ------------------------------------------------------------------------------------

def test_a_bearer_token_reads_within_its_scopes_and_gets_json_not_redirects(client, make_user, token_for):
    user = make_user("requester")
    reader, jobs_only = token_for(user, "funds:read"), token_for(user, "jobs:read")
    ok = client.get("/api/balance", headers=bearer(reader))
    assert ok.status_code == 200 and ok.get_json()["requester"] == {"balance": 0} and "Set-Cookie" not in ok.headers
    lacking = client.get("/api/balance", headers=bearer(jobs_only))
    assert lacking.status_code == 403
    assert lacking.get_json()["error"]["code"] == "insufficient_scope" and "funds:read" in lacking.get_json()["error"]["message"]
    page = client.get("/jobs", headers=bearer(reader))  # an HTML page: closed to tokens, in JSON
    assert page.status_code == 403 and page.get_json()["error"]["code"] == "insufficient_scope"
    missing = client.get("/api/nothing-here", headers=bearer(reader))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("header", ["Bearer fl_not-a-real-token-at-all", "Bearer ", "Basic cmVxOnB3",
                                    "bearer", "Token abc"])
def test_a_bad_authorization_header_is_401_with_www_authenticate(client, header):
    response = client.get("/jobs", headers={"Authorization": header})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] == "invalid_token" and "Location" not in response.headers


def test_a_cookie_beside_a_bad_token_does_not_log_the_request_in(login, make_user):
    user = make_user("requester")
    client = login(user)
    assert client.get("/api/balance").status_code == 200  # the session alone works
    response = client.get("/api/balance", headers=bearer("fl_" + "y" * 43))
    assert response.status_code == 401


def test_token_posts_need_no_csrf_token_and_cookie_posts_still_do(app, login, make_user, make_job, token_for):
    app.config["WTF_CSRF_ENABLED"] = True
    job = make_job()
    owner = job.owner
    secret = token_for(owner, "jobs:write", "funds:spend")
    with app.test_client() as agent:
        response = agent.post(f"/api/jobs/{job.id}/bonuses", json={"amount": "ten"}, headers=bearer(secret))
    assert response.status_code == 400 and response.get_json()["error"]["code"] != "csrf_failed"
    app.config["WTF_CSRF_ENABLED"] = False
    browser = login(owner)
    app.config["WTF_CSRF_ENABLED"] = True
    response = browser.post(f"/api/jobs/{job.id}/bonuses", json={"amount": 5})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"


def test_a_token_reaches_only_its_owners_jobs(client, make_user, make_job, token_for):
    job = make_job()
    stranger = make_user("requester")
    mine = client.get(f"/api/jobs/{job.id}/spend", headers=bearer(token_for(job.owner, "jobs:read")))
    assert mine.status_code == 200
    theirs = client.get(f"/api/jobs/{job.id}/spend", headers=bearer(token_for(stranger, "jobs:read")))
    assert theirs.status_code in (403, 404) and theirs.get_json()["error"]["code"] in ("not_found", "permission_denied")


# --- the commands ---------------------------------------------------------------------------------

def test_cli_creates_a_token_alone_on_the_last_line_lists_and_revokes_it(runner, make_user, client):
    user = make_user("requester", username="agent_owner")
    made = runner.invoke(args=["tokens", "create", "agent_owner", "--scope", "funds:read", "--expires-days", "7"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("fl_") and " " not in secret
    assert client.get("/api/balance", headers=bearer(secret)).status_code == 200
    listed = runner.invoke(args=["tokens", "list", "agent_owner"])
    assert listed.exit_code == 0 and "funds:read" in listed.stdout and secret not in listed.stdout
    token_id = listed.stdout.split("\t", 1)[0]
    assert runner.invoke(args=["tokens", "revoke", "agent_owner", token_id]).exit_code == 0
    assert client.get("/api/balance", headers=bearer(secret)).status_code == 401
    assert user.username == "agent_owner"


@pytest.mark.parametrize(("args", "message"), [
    (["tokens", "create", "nobody"], "No user named 'nobody'"),
    (["tokens", "create", "agent_owner", "--scope", "root"], "Unknown scope 'root'"),
    (["tokens", "revoke", "agent_owner", "999"], "You have no token 999"),
])
def test_cli_refuses_clearly(runner, make_user, args, message):
    make_user("requester", username="agent_owner")
    result = runner.invoke(args=args)
    assert result.exit_code == 1 and message in result.output


# --- the settings page ----------------------------------------------------------------------------

def test_the_settings_page_creates_shows_once_and_revokes(login, make_user, client):
    import re

    user = make_user("requester")
    browser = login(user)
    page = browser.get("/settings/tokens").get_data(as_text=True)
    offered = set(re.findall(r'name="scopes"[^>]*value="([^"]+)"', page))
    assert offered == {"jobs:read", "jobs:write", "funds:read", "funds:spend"}
    made = browser.post("/settings/tokens", data={"name": "my agent", "scopes": ["funds:read"], "expires_days": "30"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"  # the secret is in it
    secret = re.search(r'<code id="token-secret" class="token-secret">([^<]+)</code>', made.get_data(as_text=True)).group(1)
    assert client.get("/api/balance", headers=bearer(secret)).status_code == 200
    again = browser.get("/settings/tokens").get_data(as_text=True)
    assert secret not in again and secret[:10] in again and "my agent" in again
    token_id = re.search(r'id="token-(\d+)"', again).group(1)
    stranger = login(make_user("requester"))
    assert stranger.post(f"/settings/tokens/{token_id}/revoke").status_code == 404
    assert client.get("/api/balance", headers=bearer(secret)).status_code == 200
    assert browser.post(f"/settings/tokens/{token_id}/revoke").status_code == 302
    assert client.get("/api/balance", headers=bearer(secret)).status_code == 401
    assert "revoked" in browser.get("/settings/tokens").get_data(as_text=True)


def test_an_annotator_is_offered_read_scopes_only_and_cannot_post_others(login, make_user, db):
    import re

    browser = login(make_user("annotator"))
    page = browser.get("/settings/tokens").get_data(as_text=True)
    assert set(re.findall(r'name="scopes"[^>]*value="([^"]+)"', page)) == {"work:read", "funds:read"}
    refused = browser.post("/settings/tokens", data={"name": "x", "scopes": ["jobs:write"]})
    assert refused.status_code == 400 and "token-secret" not in refused.get_data(as_text=True)
    empty = browser.post("/settings/tokens", data={"name": "x"})
    assert empty.status_code == 400 and "Pick at least one scope." in empty.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0
