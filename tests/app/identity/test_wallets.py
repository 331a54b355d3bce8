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

from app.extensions import utcnow
from app.identity.errors import InvalidCredentials, SiweMessageUnknown
from app.identity.models import Role, SiweNonce, User
from app.identity.wallets import (
    SiweOrigin,
    issue_message,
    purge_expired_nonces,
    sign_in_with_wallet,
)

CHAIN_ID = 31337
HOST = "localhost"  # PUBLIC_URL in testing is http://localhost


PLATFORM = "0x00000000000000000000000000000000000F1a7e"
TOKEN = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(autouse=True)
def fixed_chain(monkeypatch):
    """A stand-in for the configured chain: its id (for messages), and the platform's address,
    token and confirmations (shown to requesters on /wallet) are all these tests need."""
    monkeypatch.setattr("rewards.onchain.current_chain",
                        lambda: SimpleNamespace(chain_id=CHAIN_ID, address=PLATFORM, confirmations=2, embedded=False,
                                                token=SimpleNamespace(address=TOKEN)))


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


def origin() -> SiweOrigin:
    return SiweOrigin(scheme="http", domain=HOST, login_uri=f"http://{HOST}/login",
                      link_uri=f"http://{HOST}/wallet")


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
    assert stored.message == text and stored.address == account.address
    seconds = (stored.expires_at - stored.issued_at).total_seconds()
    assert seconds == app.config["SIWE_NONCE_SECONDS"] and stored.issued_at >= before


def test_siwe_domain_comes_from_configuration_not_the_host_header(app, client, db):
    """Issue #9 §1: with Host: evil.example the message named evil.example, and a victim's
    signature on it logged in on the real host. The origin is PUBLIC_URL's, whatever the Host."""
    account = Account.create()
    response = client.post("/api/siwe/message", json={"address": account.address, "purpose": "login"},
                           headers={"Host": "evil.example"})
    assert response.status_code == 200
    text = response.json["message"]
    assert "evil.example" not in text
    assert text.startswith(f"http://{HOST} wants you") and f"URI: http://{HOST}/login\n" in text
    # A message built for the attacker's host was never issued here, so its signature is useless.
    forged = text.replace(f"http://{HOST}", "http://evil.example")
    reply = client.post("/api/siwe/login", json={"message": forged, "signature": sign(account, forged)})
    assert reply.status_code == 400 and error_code(reply) == "siwe_message_unknown"
    assert client.get("/me").status_code in (302, 401)


def test_production_refuses_to_start_without_a_public_url():
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app({"ENV": "production", "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with pytest.raises(ConfigError, match="https"):
        create_app({"ENV": "production", "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "PUBLIC_URL": "http://fairlabel.example"})
    derived = create_app({"ENV": "production", "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                          "SERVER_NAME": "fairlabel.example"})
    assert derived.config["PUBLIC_URL"] == "https://fairlabel.example"
    assert derived.config["SESSION_COOKIE_SECURE"] is True


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
    from app.identity.accounts import authenticate

    with pytest.raises(InvalidCredentials):
        authenticate(user.username, user.password_hash)

    other_browser = client.application.test_client()
    second = wallet_login(other_browser, account)
    assert second.status_code == 200 and second.json["user"]["id"] == user.id
    assert db.session.scalar(db.select(db.func.count(User.id))) == 1


def test_a_message_works_once(client):
    account = Account.create()
    body = signed(client, account)
    assert client.post("/api/siwe/login", json=body).status_code == 200
    replay = client.application.test_client().post("/api/siwe/login", json=body)
    assert replay.status_code == 400 and error_code(replay) == "siwe_message_unknown"


def test_two_threads_racing_with_one_message_one_wins(app, client, db):
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


def test_the_second_sign_in_waits_for_the_first_and_then_fails(app, db):
    """Deterministic interleaving: the first consuming UPDATE holds the row (PostgreSQL) or the
    write lock (SQLite) until it commits; the second, waiting, then finds the message used."""
    account = Account.create()
    now = utcnow()
    text = issue_message("login", account.address, origin=origin(), chain_id=CHAIN_ID, now=now).message
    db.session.commit()
    signature = sign(account, text)
    assert sign_in_with_wallet(text, signature, now=now).wallet_address == account.address  # not committed
    outcome: list[str] = []

    def second():
        with app.app_context():
            try:
                sign_in_with_wallet(text, signature, now=now)
                outcome.append("signed in")
            except SiweMessageUnknown:
                outcome.append("refused")
            db.session.rollback()

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=0.5)
    assert thread.is_alive(), "the second UPDATE should wait for the first transaction"
    db.session.commit()
    thread.join(timeout=30)
    assert outcome == ["refused"]


def test_an_expired_message_is_refused(app, db):
    account = Account.create()
    t0 = utcnow()
    text = issue_message("login", account.address, origin=origin(), chain_id=CHAIN_ID, now=t0,
                         seconds=60).message
    db.session.commit()
    with pytest.raises(SiweMessageUnknown):
        sign_in_with_wallet(text, sign(account, text), now=t0 + dt.timedelta(seconds=61))
    user = sign_in_with_wallet(text, sign(account, text), now=t0 + dt.timedelta(seconds=59))
    assert user.wallet_address == account.address


@pytest.mark.parametrize(("old", "new"), [
    (f"http://{HOST} wants", "http://evil.example wants"),
    ("http://", "https://"),
    (f"Chain ID: {CHAIN_ID}", "Chain ID: 1"),
    (f"URI: http://{HOST}/login", f"URI: http://{HOST}/elsewhere"),
    ("Sign in to Fairlabel.", "Sign in to Fairlabel!"),
])
def test_any_change_to_the_issued_text_is_refused_and_leaves_it_usable(client, db, old, new):
    account = Account.create()
    body = signed(client, account)
    text = body["message"].replace(old, new, 1)
    assert text != body["message"]
    response = client.post("/api/siwe/login", json={"message": text, "signature": sign(account, text)})
    assert response.status_code == 400 and error_code(response) == "siwe_message_unknown"
    assert response.is_json and response.json["error"]["message"]
    assert client.post("/api/siwe/login", json=body).status_code == 200


def test_bad_requests_are_4xx_json(client):
    account = Account.create()
    cases = [
        ("/api/siwe/message", {"address": "0x1234", "purpose": "login"}, 400, "invalid_credentials"),
        ("/api/siwe/message", {"address": account.address, "purpose": "pay"}, 400, "invalid_credentials"),
        ("/api/siwe/message", {"address": account.address, "purpose": "link"}, 401, "unauthorized"),
        ("/api/wallet/link", {"message": "x", "signature": "0x00"}, 401, "unauthorized"),
        ("/api/siwe/login", {"message": "not a message", "signature": "0x00"}, 400, "siwe_message_unknown"),
        ("/api/siwe/login", {"message": "x" * 5000, "signature": "0x00"}, 400, "invalid_credentials"),
        ("/api/siwe/login", {}, 400, "invalid_credentials"),
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
    malformed = client.post("/api/siwe/login", json={**body, "signature": "0x1234"})
    assert malformed.status_code == 400 and error_code(malformed) == "siwe_bad_signature"
    # The message survived the failed attempts and still works with the right signature.
    assert client.post("/api/siwe/login", json=body).status_code == 200


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
    assert response.status_code == 409 and error_code(response) == "identity_conflict"
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
    assert error_code(client.post("/api/wallet/link", json=first)) == "siwe_message_unknown"
    # The old wallet cannot sign the new address in.
    text = get_message(client, new.address, "link")
    assert error_code(client.post("/api/wallet/link", json={"message": text, "signature": sign(old, text)})) \
        == "siwe_bad_signature"
    # A login message is not a link message.
    login_body = signed(client, new, "login")
    assert client.post("/api/wallet/link", json=login_body).status_code == 400
    # A link message issued to another account does not work for this one.
    strangers = signed(login(stranger), new, "link")
    response = client.post("/api/wallet/link", json=strangers)
    assert response.status_code == 400 and error_code(response) == "siwe_message_unknown"
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
    address = Account.create().address
    issue_message("login", address, origin=origin(), chain_id=CHAIN_ID, now=now - dt.timedelta(hours=1), seconds=60)
    kept = issue_message("login", address, origin=origin(), chain_id=CHAIN_ID, now=now, seconds=60).nonce
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

    issue_message("login", Account.create().address, origin=origin(), chain_id=CHAIN_ID,
                  now=utcnow() - dt.timedelta(hours=1), seconds=60)
    db.session.commit()
    result = runner.invoke(chain_group, ["nonces", "purge"])
    assert result.exit_code == 0 and "Deleted 1 expired nonce(s)." in result.output
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count(SiweNonce.nonce))) == 0
