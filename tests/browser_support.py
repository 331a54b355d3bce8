"""Shared pieces of the browser tests: Debian's Chromium, a live app with CSRF on, and a watch
for JS errors and failed requests."""
from __future__ import annotations

import os

import pytest

from app import create_app
from app.extensions import db as _db

from conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-dev-shm-usage"]


PHONE = {"width": 390, "height": 844}


SHARED_CONFIG = ("ENV", "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                 "SQLALCHEMY_ENGINE_OPTIONS", "MEDIA_ROOT", "PASSWORD_HASH_PARAMS", "RATELIMIT_ENABLED")


def _cannot_run(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " CI must not skip browser tests.")
    pytest.skip(reason)


@pytest.fixture
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        _cannot_run(f"Browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install chromium).")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _cannot_run("Browser tests need Playwright for Python (pip install -e '.[test]').")
    return CHROMIUM


@pytest.fixture
def live_app(app):
    """A second app on the same (migrated, empty) database, with CSRF enabled as in production."""
    live = create_app({**{k: app.config[k] for k in SHARED_CONFIG}, "WTF_CSRF_ENABLED": True})
    yield live
    with live.app_context():
        _db.engine.dispose()


class Watch:
    """Collects what must never happen in the loop: JS errors and failed requests."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def page(self, context):
        page = context.new_page()
        page.on("pageerror", lambda exc: self.problems.append(f"JS error on {page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        page.on("response", self._response)
        return page

    def _console(self, page, msg) -> None:
        if msg.type == "error" and "favicon" not in msg.location.get("url", ""):
            self.problems.append(f"console error on {page.url}: {msg.text}")

    def _response(self, response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")


def go(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.ok, f"GET {url}: {response and response.status}"
