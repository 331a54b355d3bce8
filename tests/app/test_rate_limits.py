"""Rate limits on the unauthenticated endpoints, counted in memory or in Redis."""
import os
import random

import pytest

from app import create_app
from app.extensions import db as _db

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def limited_app(app):
    """`limited_app(**config)`: an app on the test database with rate limits on; its connection
    pool is closed afterwards (a pool left to the garbage collector warns in a later test)."""
    made = []

    def make(**config):
        made.append(create_app({
            **{k: app.config[k] for k in ("ENV", "TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                          "MEDIA_ROOT", "PASSWORD_HASH_PARAMS", "WTF_CSRF_ENABLED")},
            "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute", **config}))
        return made[-1]

    yield make
    for limited in made:
        with limited.app_context():
            _db.engine.dispose()


def _address() -> str:
    """A client address of our own: counters are per address, and live as long as the storage."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _login_attempts(client, n, address):
    return [client.post("/login", data={"username": "nobody", "password": "wrong password"},
                        environ_base={"REMOTE_ADDR": address}).status_code for _ in range(n)]


def test_password_logins_are_limited_per_address_with_a_clear_error(limited_app):
    limited = limited_app()
    client, address = limited.test_client(), _address()
    assert _login_attempts(client, 4, address) == [400, 400, 400, 429]
    too_many = client.post("/login", data={"username": "x", "password": "y"},
                           headers={"Accept": "application/json"}, environ_base={"REMOTE_ADDR": address})
    assert too_many.status_code == 429
    assert too_many.get_json()["error"]["code"] == "too_many_requests"
    assert "Retry-After" in too_many.headers
    assert client.get("/login", environ_base={"REMOTE_ADDR": address}).status_code == 200  # only POSTs count
    assert _login_attempts(client, 1, _address()) == [400]  # another address has its own allowance


def test_wallet_sign_in_messages_are_limited(limited_app, monkeypatch):
    monkeypatch.setattr("app.api.wallet.siwe_chain_id", lambda: 31337)
    limited = limited_app(SIWE_RATE_LIMIT="2 per minute")
    client, address = limited.test_client(), _address()
    body = {"address": "0x" + "11" * 20, "purpose": "login"}
    codes = [client.post("/api/siwe/message", json=body, environ_base={"REMOTE_ADDR": address}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]


def test_redis_storage_keeps_the_count_outside_the_process(limited_app):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} (CI starts it; see .ci/run).")
    limited = limited_app(RATELIMIT_STORAGE_URI=REDIS_URL)
    address = _address()
    assert _login_attempts(limited.test_client(), 4, address) == [400, 400, 400, 429]
    # The counter lives in Redis, where every worker process pointing at it reads the same one.
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys(f"*{address}*")
    assert len(keys) == 1 and int(client.get(keys[0])) >= 3
