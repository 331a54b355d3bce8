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


def test_signups_are_limited_per_address(limited_app):
    """On main 30 accounts were created in 4.8 s from one address."""
    limited = limited_app(SIGNUP_RATE_LIMIT="3 per minute")
    client, address = limited.test_client(), _address()
    codes = [client.post("/signup", data={"username": f"flood{random.randrange(10**9)}",
                                          "password": "long enough pw", "role": "annotator"},
                         environ_base={"REMOTE_ADDR": address}).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 429]


def test_behind_a_trusted_proxy_limits_key_on_the_client_not_the_proxy(limited_app):
    """With one proxy in front, every request comes from the proxy's address: without ProxyFix
    one attacker's failures locked every user out."""
    limited = limited_app(TRUSTED_PROXY_COUNT=1)
    client, proxy = limited.test_client(), _address()

    def attempt(client_address):
        return client.post("/login", data={"username": "nobody", "password": "wrong password"},
                           environ_base={"REMOTE_ADDR": proxy},
                           headers={"X-Forwarded-For": client_address}).status_code

    attacker, victim = _address(), _address()
    assert [attempt(attacker) for _ in range(4)] == [400, 400, 400, 429]
    assert attempt(victim) == 400  # the victim, behind the same proxy, still gets to try
    # Without the setting the forwarded header is not trusted: one bucket for everyone.
    direct = limited_app().test_client()
    statuses = [direct.post("/login", data={"username": "n", "password": "wrong password"},
                            environ_base={"REMOTE_ADDR": proxy},
                            headers={"X-Forwarded-For": _address()}).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
