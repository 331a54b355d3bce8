"""Issue #9 §4 "Headers and pages": a strict CSP and the other security headers on every response,
no-store on everything dynamic (exports, proofs, money pages, the API) while static files keep
caching, HSTS only over TLS, no inline script or style anywhere — proven in Chromium on every
page kind — and an anonymous API call answered 401, not "reload the page" (CSRF enabled).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_support import CHROMIUM_ARGS

from annotation.imports import UploadedFile
from annotation.models import Item
from annotation.tasks import next_task_for
from app.demo import IMAGE_CONFIG, shape_png
from app.extensions import db as _db
from app.operations.jobs import add_items, publish_job
from app.operations.tasks import submit_answer
from rewards.escrow import publish_cost
from rewards.funding import credit_requester

from conftest import PASSWORD, choices_result
from live_server import serve

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "web" / "templates"


def directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {name: values for name, *values in parts}


def assert_security_headers(response, *, path: str) -> None:
    headers = response.headers
    policy = directives(headers.get("Content-Security-Policy", ""))
    assert policy.get("script-src") == ["'self'"], path
    assert policy.get("style-src") == ["'self'"], path
    assert policy.get("default-src") == ["'self'"], path
    assert policy.get("object-src") == ["'none'"], path
    assert policy.get("frame-ancestors") == ["'none'"], path
    assert policy.get("base-uri") == ["'self'"], path
    assert policy.get("form-action") == ["'self'"], path
    assert not any("unsafe" in v for values in policy.values() for v in values), path
    assert headers.get("X-Frame-Options") == "DENY", path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path


def image_job(db, app, owner):
    """A published image job with two uploaded PNGs (its media served from /media/<job>/...)."""
    from app.operations.jobs import create_job

    job = create_job(owner, title="Shapes", label_config=IMAGE_CONFIG, reward=10, overlap=3)
    add_items(owner, job, [UploadedFile("a.png", shape_png("circle", 1)),
                           UploadedFile("b.png", shape_png("square", 2))],
              media_root=app.config["MEDIA_ROOT"])
    credit_requester(owner, publish_cost(job), key=f"fund-image-{job}")
    publish_job(owner, job)
    db.session.commit()
    return job


def first_media(job_id: int) -> str:
    item = _db.session.scalars(_db.select(Item).where(Item.job_id == job_id).order_by(Item.id)).first()
    return item.data["image"]


@pytest.fixture
def site(db, app, make_user, make_job):
    """A requester with a text job (one item answered) and an image job, two annotators, an admin."""
    owner, worker, admin = make_user("requester"), make_user(), make_user("admin")
    job = make_job(owner, n_items=3)
    answer = submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
    db.session.commit()
    image = image_job(db, app, owner)
    site = {"owner": owner.username, "worker": worker.username, "admin": admin.username,
            "job": job.id, "answer": answer.id, "image_job": image.id, "media": first_media(image.id),
            "users": {"owner": owner, "worker": worker, "admin": admin}}
    # End the read: on SQLite, BEGIN IMMEDIATE would make it hold the lock a live server needs.
    db.session.commit()
    return site


# --- Headers on every response -------------------------------------------------------------------

def test_every_response_carries_the_csp_and_security_headers(site, client, login):
    job, media = site["job"], site["media"]
    worker, owner = login(site["users"]["worker"]), login(site["users"]["owner"])
    cases = [
        (client, "/login"), (client, "/signup"), (client, "/verify"), (client, "/healthz"),
        (client, "/jobs/1"),  # redirect to the login page
        (client, "/no/such/page"), (client, "/static/css/app.css"),
        (worker, "/work"), (worker, f"/work/jobs/{job}"), (worker, "/me"), (worker, "/wallet"),
        (worker, "/me/contributions"), (owner, f"/jobs/{job}"), (owner, f"/jobs/{job}/export.csv"),
        (owner, "/spending"), (owner, "/api/balance"), (owner, f"/api/jobs/{job}/spend"),
        (owner, "/jobs/2147483647"), (owner, media),
    ]
    for who, path in cases:
        with who.get(path) as response:  # closed: static and media responses hold a file open
            assert response.status_code < 500, path
            assert_security_headers(response, path=path)


AUTHENTICATED = ["/work", "/me", "/me/contributions", "/wallet", "/settings/password",
                 "/jobs", "/jobs/new", "/spending", "/api/balance"]


def test_pages_exports_proofs_and_the_api_are_never_stored(site, login):
    job = site["job"]
    worker, owner = login(site["users"]["worker"]), login(site["users"]["owner"])
    paths = [(worker, p) for p in ("/work", f"/work/jobs/{job}", "/me", "/me/contributions", "/wallet",
                                   "/settings/password", "/api/balance")]
    paths += [(owner, p) for p in ("/jobs", "/jobs/new", f"/jobs/{job}", f"/jobs/{job}/export.csv",
                                   f"/jobs/{job}/export.json", "/spending", "/wallet",
                                   f"/api/jobs/{job}/spend")]
    paths += [(login(site["users"]["admin"]), "/admin/disputes")]
    for who, path in paths:
        with who.get(path) as response:  # closed: an export streams, and its generator must end here
            assert response.status_code == 200, path
            assert response.headers.get("Cache-Control") == "no-store", path
    # JSON API posts too (the task served to an annotator, with its data)
    response = worker.post(f"/api/jobs/{job}/next")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    # and the errors of those routes
    response = worker.get(f"/jobs/{job}/export.csv")
    assert response.status_code == 403 and response.headers["Cache-Control"] == "no-store"


def test_a_proof_download_is_never_stored(paid_contribution):
    _client, answer, download = paid_contribution()
    assert download.status_code == 200 and download.get_json()["answer_id"] == answer.id
    assert download.headers["Cache-Control"] == "no-store"
    assert_security_headers(download, path="proof.json")


def test_static_files_keep_caching_and_media_stays_private(site, client, login):
    with client.get("/static/css/app.css") as css:
        assert css.status_code == 200
        assert "no-store" not in css.headers.get("Cache-Control", "")
        assert css.headers.get("ETag") and css.headers.get("Last-Modified")
    with client.get("/static/css/app.css", headers={"If-None-Match": css.headers["ETag"]}) as again:
        assert again.status_code == 304

    with login(site["users"]["owner"]).get(site["media"]) as media:
        assert media.status_code == 200 and media.mimetype == "image/png"
        cache = media.headers["Cache-Control"]
        assert "private" in cache and "public" not in cache and "no-store" not in cache


def test_hsts_only_over_tls_or_with_secure_cookies(app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(re.search(r"max-age=(\d+)", secure.headers["Strict-Transport-Security"]).group(1)) >= 15552000
    app.config["SESSION_COOKIE_SECURE"] = True  # production: TLS ends at a proxy in front
    assert "Strict-Transport-Security" in client.get("/login").headers


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_script_style_or_handlers():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(TEMPLATES)}:{line}: {what}")
    assert found == []


# --- Anonymous API calls are 401, before CSRF is judged --------------------------------------------

def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_anonymous_api_calls_get_401_not_csrf_failed(live_app, site):
    """The bullet: anonymous `POST /api/jobs/<id>/next` answered 400 csrf_failed; it is 401."""
    job, answer = site["job"], site["answer"]
    bare, with_session = live_app.test_client(), live_app.test_client()
    csrf_token(with_session)  # an anonymous session exists, but no token is sent
    posts = [f"/api/jobs/{job}/next", "/api/tasks/1/answer", "/api/tasks/1/skip",
             f"/api/jobs/{job}/bonuses", f"/api/answers/{answer}/dispute", "/api/wallet/link"]
    for client in (bare, with_session):
        for path in posts:
            response = client.post(path, json={"result": []})
            assert response.status_code == 401, (path, response.get_json())
            assert response.get_json()["error"]["code"] == "unauthorized", path
    # a page's form post without a session goes to the login page, not "the form expired"
    response = bare.post(f"/jobs/{job}/publish")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_csrf_still_guards_sessions_and_the_public_sign_in_routes(live_app, site):
    job = site["job"]
    anonymous = live_app.test_client()
    token = csrf_token(anonymous)
    # wallet sign-in is for people without a session: there a missing token stays csrf_failed
    for path in ("/api/siwe/message", "/api/siwe/login"):
        response = anonymous.post(path, json={})
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"
    assert anonymous.post("/api/siwe/message", json={"address": "nope", "purpose": "login"},
                          headers={"X-CSRFToken": token}).status_code == 400  # judged on its body
    # a logged-in user without the token is refused as a forgery
    worker = live_app.test_client()
    token = csrf_token(worker)
    response = worker.post("/login", data={"username": site["worker"], "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    response = worker.post(f"/api/jobs/{job}/next")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf_failed"
    response = worker.post(f"/api/jobs/{job}/next", headers={"X-CSRFToken": csrf_token(worker, "/work")})
    assert response.status_code == 200 and response.get_json()["task"]["id"]


# --- In the browser: every page kind, no CSP violation -----------------------------------------------

# Runs before any page script, and (injected by the browser's debugging protocol) is not itself
# subject to the page's CSP.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
"""


def log_in_browser(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")
    assert "/login" not in page.url, page.url


@pytest.mark.browser
def test_every_page_kind_loads_in_chromium_without_a_csp_violation(app, live_app, site, chromium_path):
    from playwright.sync_api import sync_playwright

    job, image = site["job"], site["image_job"]
    problems: list[str] = []
    visited: list[str] = []

    def page_for(browser, username: str | None, base: str):
        context = browser.new_context()
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.add_init_script(WATCH_CSP)
        page.on("console", lambda msg: (("Refused to" in msg.text or "Content Security Policy" in msg.text)
                                        and problems.append(f"console on {page.url}: {msg.text}")))
        page.on("pageerror", lambda exc: problems.append(f"JS error on {page.url}: {exc}"))
        if username:
            log_in_browser(page, base, username)
        return page

    def visit(page, base: str, path: str, *, ready: str | None = None, status: int = 200) -> None:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == status, (path, response and response.status)
        assert directives(response.headers["content-security-policy"])["script-src"] == ["'self'"], path
        page.wait_for_load_state("load")
        if ready:
            page.wait_for_function(ready)
        page.wait_for_timeout(50)  # violation events are dispatched asynchronously
        problems.extend(f"{path}: {v}" for v in page.evaluate("window.__csp"))
        visited.append(path)

    task_loaded = "() => document.getElementById('labeler').hasAttribute('data-task-id')"
    image_loaded = ("() => [...document.querySelectorAll('#task-object img')]"
                    ".some(img => img.complete && img.naturalWidth > 0)")
    chart_drawn = "() => [...document.querySelectorAll('canvas')].every(c => c.width > 0)"
    with serve(live_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            anonymous = page_for(browser, None, base)
            for path in ("/", "/login", "/signup", "/verify"):
                visit(anonymous, base, path)
            visit(anonymous, base, "/no/such/page", status=404)

            # The check itself works: an inline script added to a live page is refused and seen.
            anonymous.evaluate("""() => { const s = document.createElement('script');
                s.textContent = 'window.__ran = true'; document.head.append(s); }""")
            anonymous.wait_for_timeout(100)
            assert anonymous.evaluate("window.__ran === undefined")
            seen = anonymous.evaluate("window.__csp")
            assert any(v.startswith("script-src") for v in seen), seen
            anonymous.evaluate("window.__csp = []")
            problems.clear()  # the refused control script is the only thing reported so far

            worker = page_for(browser, site["worker"], base)
            visit(worker, base, "/work")
            visit(worker, base, f"/work/jobs/{job}", ready=task_loaded)
            visit(worker, base, f"/work/jobs/{image}", ready=f"() => ({task_loaded})() && ({image_loaded})()")
            visit(worker, base, "/me", ready=chart_drawn)
            visit(worker, base, "/me/contributions")
            visit(worker, base, "/wallet")
            visit(worker, base, "/settings/password")
            visit(worker, base, "/verify")
            worker.fill("#proof-text", json.dumps({"root": "0x00"}))
            worker.click("#verify-form button[type=submit]")
            worker.wait_for_function("() => document.getElementById('verify-result').textContent !== ''")

            owner = page_for(browser, site["owner"], base)
            visit(owner, base, "/jobs")
            visit(owner, base, "/jobs/new")
            visit(owner, base, f"/jobs/{job}")
            visit(owner, base, f"/jobs/{image}")
            visit(owner, base, "/spending", ready=chart_drawn)
            visit(owner, base, "/wallet")
            visit(owner, base, "/jobs/2147483647", status=404)

            admin = page_for(browser, site["admin"], base)
            visit(admin, base, "/admin/disputes")
        finally:
            browser.close()
    assert problems == []
    kinds = {"/login", "/work", f"/work/jobs/{job}", f"/jobs/{job}", "/me", "/wallet", "/verify", "/spending"}
    assert kinds <= set(visited) and len(visited) == 21

