"""Fixtures: the app on SQLite and (when TEST_DATABASE_URL is set) PostgreSQL, plus factories.

Every database test runs once per backend. The schema comes from the migrations (never
`create_all`), once per backend per session; each test starts from empty tables.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db as _db

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEXT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
  </Choices>
</View>"""


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url and IN_CI:
        pytest.fail("CI must test PostgreSQL: set TEST_DATABASE_URL.")
    return url


def _migrate(url: str, tmp: Path) -> None:
    from flask_migrate import upgrade

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # a clean slate: the schema must come from migrations alone
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    engine.dispose()
    app = create_app(_config(url, tmp))
    with app.app_context():
        upgrade()
        _db.engine.dispose()


def _config(url: str, tmp: Path) -> dict[str, Any]:
    return {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "MEDIA_ROOT": str(tmp / "media"),
        "WTF_CSRF_ENABLED": False,
        # Many test users log in from 127.0.0.1; tests/app/test_rate_limits.py turns limits on.
        "RATELIMIT_ENABLED": False,
        "PASSWORD_HASH_PARAMS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 40, "max_overflow": 10} if url.startswith("postgres") else {},
    }


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    """A migrated, empty database per backend."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'test.sqlite'}"
    else:
        url = _postgres_url()
        if not url:
            pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (CI sets it).")
    _migrate(url, tmp)
    return url


@pytest.fixture
def app(database_url, tmp_path) -> Iterator[Flask]:
    app = create_app(_config(database_url, tmp_path))

    @app.before_request
    def fresh_request_globals() -> None:
        """Requests made from the test's thread share its app context, and with it `g`: forget
        what Flask-Login and Flask-WTF cache there, so each request reads its own cookie."""
        from flask import g

        g.pop("_login_user", None)
        g.pop("csrf_token", None)

    with app.app_context():
        yield app
        _db.session.remove()
        _truncate_all()
        _db.engine.dispose()


def _truncate_all() -> None:
    tables = [t.name for t in _db.metadata.sorted_tables]
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        else:
            for table in reversed(tables):
                conn.exec_driver_sql(f'DELETE FROM "{table}"')


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# Browser fixtures (chromium_path, live_app) for every browser test module.
pytest_plugins = ["browser_support"]

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    from app.identity.accounts import create_user

    def make(role: str = "annotator", username: str | None = None, password: str = PASSWORD):
        user = create_user(username or f"{role}{next(_counter)}", password, role)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_job(db, make_user, app) -> Callable[..., Any]:
    """A job with `n_items` text items; published unless `publish=False`, its requester credited
    with exactly what publishing reserves unless `fund=False`."""
    import json

    from annotation.imports import UploadedFile
    from app.operations.jobs import add_items as import_upload
    from app.operations.jobs import create_job, publish_job

    def make(owner=None, *, n_items: int = 3, publish: bool = True, rows: list[dict] | None = None,
             fund: bool = True, **overrides):
        owner = owner or make_user("requester")
        fields = {"title": "Sentiment", "label_config": TEXT_CONFIG, "reward": 10, "overlap": 3,
                  **overrides}
        job = create_job(owner, **fields)
        rows = rows if rows is not None else [{"text": f"sentence {i}"} for i in range(n_items)]
        if rows:
            body = "\n".join(json.dumps(r) for r in rows).encode()
            import_upload(owner, job, [UploadedFile("rows.jsonl", body)], media_root=app.config["MEDIA_ROOT"])
        if publish:
            if fund:  # exactly what publishing reserves
                from rewards.escrow import publish_cost
                from rewards.funding import credit_requester

                cost = publish_cost(job)
                if cost:
                    credit_requester(owner, cost, key=f"test-fund-job-{job.id}")
            publish_job(owner, job)
        db.session.commit()
        return job

    return make


@pytest.fixture
def login(app) -> Callable[..., FlaskClient]:
    """A fresh test client logged in as `user`."""

    def log_in(user, password: str = PASSWORD) -> FlaskClient:
        client = app.test_client()
        response = client.post("/login", data={"username": user.username, "password": password})
        assert response.status_code == 302, response.data
        return client

    return log_in


def choices_result(value: str | list[str], control: str = "sentiment", to_name: str = "text") -> list[dict]:
    values = [value] if isinstance(value, str) else value
    return [{"from_name": control, "to_name": to_name, "type": "choices", "value": {"choices": values}}]


def answer_item(db, job, workers, labels, *, seconds: int = 30, start=None) -> list:
    """Each worker answers the next item of `job` with their label, `seconds` of server-measured
    time each (served at `start`), committing after each answer as a request would."""
    import datetime as dt

    from annotation.tasks import next_task_for
    from app.extensions import utcnow
    from app.operations.tasks import submit_answer

    start = start or utcnow()
    answers = []
    for worker, label in zip(workers, labels, strict=True):
        assignment = next_task_for(worker, job, now=start)
        answers.append(submit_answer(worker, assignment.id, choices_result(label),
                                     now=start + dt.timedelta(seconds=seconds)))
        db.session.commit()
    return answers


@pytest.fixture
def paid_contribution(db, app, make_user, make_job, login) -> Callable[[], tuple[FlaskClient, Any, dict]]:
    """A worker with a wallet whose one accepted answer was paid on the in-process chain by two
    worker turns: (their logged-in client, the answer, the proof they download)."""
    from eth_account import Account

    from annotation.tasks import next_task_for
    from app.operations.tasks import submit_answer
    from app.worker import run_cycle

    def pay() -> tuple[FlaskClient, Any, dict]:
        app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
        worker = make_user()
        worker.wallet_address = Account.create().address
        job = make_job(n_items=1, overlap=1, reward=10)
        answer = submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
        db.session.commit()
        client = login(worker)
        db.session.commit()  # end this session's read: on SQLite it would hold the worker's write lock
        run_cycle(app)
        run_cycle(app)
        download = client.get(f"/me/contributions/{answer.id}/proof.json")
        return client, answer, download

    return pay
