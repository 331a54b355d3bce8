"""Sign-In with Ethereum through the JSON API and the wallet services (issue #5, identity).

Keys are fresh eth_account keys; the wallet's personal_sign is `Account.sign_message`. The chain
is a stand-in with a fixed id, so these tests do not start the embedded EVM
(tests/rewards/test_deposits.py links wallets through the real embedded chain).
"""
from __future__ import annotations

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from flask import g

from annotation.errors import InvalidCredentials
from annotation.models import Role, SiweNonce, User
from annotation.siwe import SiweExpired, SiweNonceInvalid, build_message
from annotation.wallets import (
    consume_nonce_for,
    issue_nonce,
    purge_expired_nonces,
    sign_in_with_wallet,
)
from app.extensions import utcnow

CHAIN_ID = 31337
HOST = "localhost"  # the test client's request.host


PLATFORM = "0x00000000000000000000000000000000000F1a7e"


@pytest.fixture(autouse=True)
def fixed_chain(monkeypatch):
    """A stand-in for the configured chain: its id (for messages) and the platform's address
    (shown to requesters on /wallet) are all these tests need."""
    monkeypatch.setattr("rewards.onchain.current_chain",
                        lambda: SimpleNamespace(chain_id=CHAIN_ID, address=PLATFORM))


@pytest.fixture(autouse=True)
def user_per_request(app):
    """Requests made from the test's thread share its app context, so Flask-Login's cached
    `g._login_user` would leak from one test client to the next: load it from each cookie."""
    @app.before_request
    def forget_cached_user() -> None:
        g.pop("_login_user", None)


def sign(account, text: str) -> str:
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def get_message(client, address: str, purpose: str = "login") -> str:
    response = client.post("/api/siwe/message", json={"address": address, "purpose": purpose})
    assert response.status_code == 200, response.json
    return response.json["message"]


def signed(client, account, purpose: str = "login", *, address: str | None = None) -> dict[str, str]:
    text = get_message(client, address or account.address, purpose)
    return {"message": text, "signature": sign(account, text)}


def wallet_login(client, account):
    return client.post("/api/siwe/login", json=signed(client, account))


def error_code(response) -> str:
    return response.json["error"]["code"]


def test_message_is_built_server_side_with_origin_chain_nonce_and_expiry(app, client, db):
    account = Account.create()
    before = utcnow()
    response = client.post("/api/siwe/message", json={"address": account.address.lower(), "purpose": "login"})
    assert response.status_code == 200
    text = response.json["message"]
    assert text.startswith(f"http://{HOST} wants you to sign in with your Ethereum account:\n{account.address}\n")
    assert f"URI: http://{HOST}/login\n" in text
    assert f"Chain ID: {CHAIN_ID}\n" in text
    assert f"Nonce: {response.json['nonce']}\n" in text
    assert "Expiration Time: " in text and response.json["submit_url"] == "/api/siwe/login"
    stored = db.session.get(SiweNonce, response.json["nonce"])
    assert stored.purpose == "login" and stored.user_id is None and stored.used_at is None
    seconds = (stored.expires_at - stored.issued_at).total_seconds()
    assert seconds == app.config["SIWE_NONCE_SECONDS"] and stored.issued_at >= before


def test_wallet_login_creates_a_pseudonymous_annotator_then_logs_in_the_same_one(client, db):
    account = Account.create()
    first = wallet_login(client, account)
    assert first.status_code == 200, first.json
    user = db.session.get(User, first.json["user"]["id"])
    assert user.role is Role.ANNOTATOR
    assert user.wallet_address == account.address and user.wallet_verified_at is not None
    assert user.username == f"wallet-{account.address[:6]}-{account.address[-4:]}".lower()
    assert first.json["redirect"] == "/work"
    assert client.get("/wallet").status_code == 200  # the session is logged in

    # Its password is unusable: no password can log in to a wallet-only account.
    from annotation.accounts import authenticate

    with pytest.raises(InvalidCredentials):
        authenticate(user.username, user.password_hash)

    other_browser = client.application.test_client()
    second = wallet_login(other_browser, account)
    assert second.status_code == 200 and second.json["user"]["id"] == user.id
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_a_nonce_works_once(client):
    account = Account.create()
    body = signed(client, account)
    assert client.post("/api/siwe/login", json=body).status_code == 200
    replay = client.application.test_client().post("/api/siwe/login", json=body)
    assert replay.status_code == 400 and error_code(replay) == "siwe_nonce_invalid"


def test_two_threads_racing_with_one_nonce_one_wins(app, client, db):
    account = Account.create()
    body = signed(client, account)
    db.session.rollback()  # this thread holds no transaction (SQLite: no write lock) during the race
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def attempt():
        browser = app.test_client()
        barrier.wait()
        statuses.append(browser.post("/api/siwe/login", json=body).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 400]
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_the_second_consumer_waits_for_the_first_and_then_fails(app, db):
    """Deterministic interleaving: the first UPDATE holds the row (PostgreSQL) or the write lock
    (SQLite) until it commits; the second, waiting, then finds the nonce used."""
    now = utcnow()
    nonce = issue_nonce("login", now=now).nonce
    db.session.commit()
    assert consume_nonce_for("login", None, now=now)(nonce) is True  # not committed yet
    outcome: list[bool] = []

    def second():
        with app.app_context():
            outcome.append(consume_nonce_for("login", None, now=now)(nonce))
            db.session.commit()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive(), "the second UPDATE should wait for the first transaction"
    db.session.commit()
    thread.join(timeout=30)
    assert outcome == [False]


def test_expired_nonce_and_expired_message(app, db):
    account = Account.create()
    t0 = utcnow()
    nonce = issue_nonce("login", now=t0, seconds=60).nonce
    db.session.commit()
    # A message without its own expiration time: the nonce store's expiry still stops it.
    text = build_message(domain=HOST, address=account.address, uri=f"http://{HOST}/login", chain_id=CHAIN_ID,
                         nonce=nonce, issued_at=t0, scheme="http")
    args = {"domain": HOST, "scheme": "http", "chain_id": CHAIN_ID}
    with pytest.raises(SiweNonceInvalid):
        sign_in_with_wallet(text, sign(account, text), now=t0 + dt.timedelta(seconds=61), **args)
    # The message's own expiration (the server writes the nonce's) is checked too.
    nonce = issue_nonce("login", now=t0, seconds=60).nonce
    text = build_message(domain=HOST, address=account.address, uri=f"http://{HOST}/login", chain_id=CHAIN_ID,
                         nonce=nonce, issued_at=t0, expiration_time=t0 + dt.timedelta(seconds=60), scheme="http")
    with pytest.raises(SiweExpired):
        sign_in_with_wallet(text, sign(account, text), now=t0 + dt.timedelta(seconds=61), **args)
    user = sign_in_with_wallet(text, sign(account, text), now=t0 + dt.timedelta(seconds=59), **args)
    assert user.wallet_address == account.address


@pytest.mark.parametrize(("field", "value", "code"), [
    ("domain", "evil.example", "siwe_domain_mismatch"),
    ("scheme", "https", "siwe_domain_mismatch"),
    ("chain_id", 1, "siwe_chain_mismatch"),
    ("uri", f"http://{HOST}/elsewhere", "siwe_uri_mismatch"),
])
def test_wrong_origin_or_chain_is_a_4xx_and_leaves_the_nonce_unused(client, db, field, value, code):
    account = Account.create()
    now = utcnow()
    nonce = issue_nonce("login", now=now).nonce
    db.session.commit()
    fields = {"domain": HOST, "address": account.address, "uri": f"http://{HOST}/login", "chain_id": CHAIN_ID,
              "nonce": nonce, "issued_at": now, "scheme": "http", field: value}
    text = build_message(**fields)
    response = client.post("/api/siwe/login", json={"message": text, "signature": sign(account, text)})
    assert response.status_code == 400 and error_code(response) == code
    assert response.is_json and response.json["error"]["message"]
    assert db.session.get(SiweNonce, nonce).used_at is None
    good = build_message(**{**fields, field: {"domain": HOST, "scheme": "http", "chain_id": CHAIN_ID,
                                              "uri": f"http://{HOST}/login"}[field]})
    assert client.post("/api/siwe/login", json={"message": good, "signature": sign(account, good)}).status_code == 200


def test_bad_requests_are_4xx_json(client):
    account = Account.create()
    cases = [
        ("/api/siwe/message", {"address": "0x1234", "purpose": "login"}, 400, "invalid_input"),
        ("/api/siwe/message", {"address": account.address, "purpose": "pay"}, 400, "invalid_input"),
        ("/api/siwe/message", {"address": account.address, "purpose": "link"}, 401, "unauthorized"),
        ("/api/wallet/link", {"message": "x", "signature": "0x00"}, 401, "unauthorized"),
        ("/api/siwe/login", {"message": "not a message", "signature": "0x00"}, 400, "invalid_siwe_message"),
        ("/api/siwe/login", {}, 400, "invalid_input"),
    ]
    for url, body, status, code in cases:
        response = client.post(url, json=body)
        assert (response.status_code, error_code(response)) == (status, code), (url, body, response.json)
    # EIP-55's own example with one letter's case flipped: a typo the checksum catches.
    typo = "0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    response = client.post("/api/siwe/message", json={"address": typo, "purpose": "login"})
    assert response.status_code == 400 and "checksum" in response.json["error"]["message"]
    body = signed(client, account)
    forged = client.post("/api/siwe/login", json={**body, "signature": sign(Account.create(), body["message"])})
    assert forged.status_code == 400 and error_code(forged) == "siwe_bad_signature"


def test_link_a_wallet_to_a_password_account_then_log_in_with_it(make_user, login, app, db):
    requester = make_user("requester")
    client = login(requester)
    account = Account.create()
    body = signed(client, account, "link")
    assert f"URI: http://{HOST}/wallet\n" in body["message"]
    assert f"Fairlabel account {requester.username} " in body["message"]
    response = client.post("/api/wallet/link", json=body)
    assert response.status_code == 200, response.json
    assert response.json["user"]["wallet_address"] == account.address
    db.session.expire_all()
    assert db.session.get(User, requester.id).wallet_address == account.address
    page = client.get("/wallet").get_data(as_text=True)
    assert account.address in page and "Change wallet" in page
    assert PLATFORM in page  # where a requester's deposits go

    browser = app.test_client()
    login_response = wallet_login(browser, account)
    assert login_response.status_code == 200
    assert login_response.json["user"] == {**login_response.json["user"], "id": requester.id, "role": "requester"}
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_a_wallet_linked_elsewhere_is_a_409(make_user, login, db):
    owner, other = make_user("requester"), make_user("annotator")
    account = Account.create()
    assert login(owner).post("/api/wallet/link", json=signed(login(owner), account, "link")).status_code == 200
    client = login(other)
    response = client.post("/api/wallet/link", json=signed(client, account, "link"))
    assert response.status_code == 409 and error_code(response) == "conflict"
    db.session.expire_all()
    assert db.session.get(User, other.id).wallet_address is None
    # A wallet-only account holds its wallet too.
    pseudonymous = Account.create()
    assert wallet_login(client.application.test_client(), pseudonymous).status_code == 200
    response = client.post("/api/wallet/link", json=signed(client, pseudonymous, "link"))
    assert response.status_code == 409


def test_changing_the_wallet_needs_a_fresh_signature_by_the_new_wallet(make_user, login, db):
    user, stranger = make_user("annotator"), make_user("annotator")
    client = login(user)
    old, new = Account.create(), Account.create()
    first = signed(client, old, "link")
    assert client.post("/api/wallet/link", json=first).status_code == 200

    # Replaying the old signed message does nothing.
    assert error_code(client.post("/api/wallet/link", json=first)) == "siwe_nonce_invalid"
    # The old wallet cannot sign the new address in.
    text = get_message(client, new.address, "link")
    assert error_code(client.post("/api/wallet/link", json={"message": text, "signature": sign(old, text)})) \
        == "siwe_bad_signature"
    # A login nonce is not a link nonce (the URI differs too; the nonce's purpose is checked first).
    login_body = signed(client, new, "login")
    assert client.post("/api/wallet/link", json=login_body).status_code == 400
    # A link nonce issued to another account does not work for this one.
    strangers = signed(login(stranger), new, "link")
    response = client.post("/api/wallet/link", json=strangers)
    assert response.status_code == 400 and error_code(response) == "siwe_nonce_invalid"
    db.session.expire_all()
    assert db.session.get(User, user.id).wallet_address == old.address

    response = client.post("/api/wallet/link", json={"message": text, "signature": sign(new, text)})
    assert response.status_code == 200 and response.json["user"]["wallet_address"] == new.address
    db.session.expire_all()
    assert db.session.get(User, user.id).wallet_address == new.address


def test_login_page_offers_wallet_sign_in(client):
    page = client.get("/login").get_data(as_text=True)
    assert "Sign in with wallet" in page and "js/wallet.js" in page and 'data-purpose="login"' in page


def test_purge_expired_nonces(db):
    now = utcnow()
    issue_nonce("login", now=now - dt.timedelta(hours=1), seconds=60)
    kept = issue_nonce("login", now=now, seconds=60).nonce
    db.session.commit()
    assert purge_expired_nonces(now) == 1
    db.session.commit()
    assert db.session.scalars(db.select(SiweNonce.nonce)).all() == [kept]


def test_one_new_wallet_signing_in_twice_at_once_gets_one_account(app, client, db):
    account = Account.create()
    bodies = [signed(client, account), signed(client, account)]  # two nonces, one wallet
    db.session.rollback()
    barrier = threading.Barrier(2)
    replies: list[tuple[int, int | None]] = []

    def attempt(body):
        browser = app.test_client()
        barrier.wait()
        response = browser.post("/api/siwe/login", json=body)
        replies.append((response.status_code, (response.json.get("user") or {}).get("id")))

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [status for status, _ in replies] == [200, 200]
    assert replies[0][1] == replies[1][1]
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_cli_purges_expired_nonces(db, runner):
    from app.cli_chain import chain_group

    issue_nonce("login", now=utcnow() - dt.timedelta(hours=1), seconds=60)
    db.session.commit()
    result = runner.invoke(chain_group, ["nonces", "purge"])
    assert result.exit_code == 0 and "Deleted 1 expired nonce(s)." in result.output
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count(SiweNonce.nonce))) == 0
