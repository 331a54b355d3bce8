"""Wallets: Sign-In with Ethereum (EIP-4361) by exact match with what we issued.

The flow, for both purposes:

1. `issue_message(purpose, address, user, origin=..., chain_id=..., now=...)` builds the whole
   message — domain and URIs from configuration (`SiweOrigin`), never from the request — and
   stores it verbatim with its nonce, address, purpose and expiry.
2. The wallet signs the text (EIP-191 personal_sign).
3. `sign_in_with_wallet(message, signature, now=...)` or `link_wallet(user, ...)` finds the
   stored message by its hash: unknown text (built elsewhere, or altered) fails; the signature
   must recover the address it was issued for; the nonce is then consumed by one conditional
   UPDATE, so a message works once even when two requests race with it.

Purposes: "login" messages are issued to nobody and log in (or sign up) whoever signs; "link"
messages are issued to one account and let a new wallet be proven for that account only.
Changing a payout wallet is a link, so it always needs a fresh signature by the new wallet.

Services flush and never commit: the request or command is the transaction boundary.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.identity.accounts import UNUSABLE_PASSWORD_PREFIX
from app.identity.errors import (
    IdentityConflict,
    InvalidCredentials,
    SiweBadSignature,
    SiweMessageUnknown,
)
from app.identity.models import Role, SiweNonce, User
from app.identity.siwe import MAX_MESSAGE_CHARS, build_message, new_nonce, recover_signer

PURPOSES = ("login", "link")
DEFAULT_NONCE_SECONDS = 600
LOGIN_STATEMENT = "Sign in to Fairlabel."


@dataclass(frozen=True)
class SiweOrigin:
    """Where sign-in messages say they come from: the configured site, not the request's Host."""

    scheme: str  # "https" (or "http" in development)
    domain: str  # host[:port], as the browser's address bar shows it
    login_uri: str  # e.g. https://fairlabel.example/login
    link_uri: str  # e.g. https://fairlabel.example/wallet

    def uri_for(self, purpose: str) -> str:
        return self.login_uri if purpose == "login" else self.link_uri


def _check_purpose(purpose: object) -> str:
    if purpose not in PURPOSES:
        raise InvalidCredentials(f"Unknown sign-in purpose {purpose!r}; use one of {', '.join(PURPOSES)}.",
                                 field="purpose")
    return str(purpose)


def checksum_address(address: object) -> str:
    """`address` in EIP-55 form; accepts any case. Raises InvalidCredentials for anything else."""
    if not isinstance(address, str) or not address.startswith("0x") or not is_address(address):
        raise InvalidCredentials("That is not an Ethereum address (0x followed by 40 hex digits).",
                                 field="address")
    if address != address.lower() and address[2:] != address[2:].upper():
        # Mixed case claims a checksum: a typo in it must not silently pass.
        if to_checksum_address(address) != address:
            raise InvalidCredentials("The address's EIP-55 checksum is wrong (check for a typo).",
                                     field="address")
    return to_checksum_address(address)


def _digest(message: str) -> str:
    return hashlib.sha256(message.encode("utf-8")).hexdigest()


def issue_message(purpose: str, address: object, user: User | None = None, *, origin: SiweOrigin,
                  chain_id: int, now: dt.datetime, seconds: int = DEFAULT_NONCE_SECONDS) -> SiweNonce:
    """Build and store the message `address` is asked to sign for `purpose`.

    "login" messages belong to nobody (`user` must be None); "link" messages belong to `user`,
    and only a signature verified for that same account can use them.
    """
    purpose = _check_purpose(purpose)
    address = checksum_address(address)
    if purpose == "link" and user is None:
        raise InvalidCredentials("Log in before linking a wallet.", field="purpose")
    if purpose == "login" and user is not None:
        raise InvalidCredentials("A login message is not issued to an account.", field="purpose")
    if seconds <= 0:
        raise InvalidCredentials("A sign-in message must live a positive number of seconds.", field="seconds")
    nonce = new_nonce()
    expires_at = now + dt.timedelta(seconds=seconds)
    statement = (LOGIN_STATEMENT if purpose == "login"
                 else f"Link this wallet to the Fairlabel account {user.username} to receive payouts.")
    text = build_message(domain=origin.domain, address=address, uri=origin.uri_for(purpose),
                         chain_id=chain_id, nonce=nonce, issued_at=now, expiration_time=expires_at,
                         statement=statement, scheme=origin.scheme)
    row = SiweNonce(nonce=nonce, purpose=purpose, user_id=user.id if user else None, address=address,
                    message=text, message_hash=_digest(text), issued_at=now, expires_at=expires_at)
    db.session.add(row)
    db.session.flush()
    return row


def _verified_issue(purpose: str, user: User | None, message: object, signature: object, *,
                    now: dt.datetime) -> SiweNonce:
    """The stored message `message` is, checked and consumed; raises a SiweError otherwise.

    Order: the exact text must be one we issued for this purpose (and account), unused and
    unexpired; the signature must recover its address; only then is the nonce consumed, by one
    UPDATE ... WHERE used_at IS NULL, so of two racing requests exactly one wins (on PostgreSQL
    the second waits for the first's commit and re-checks; on SQLite writers are serialized).
    """
    if not isinstance(message, str) or not message or len(message) > MAX_MESSAGE_CHARS:
        raise InvalidCredentials("Send the signed sign-in message.", field="message")
    if not isinstance(signature, str) or not signature or len(signature) > 200:
        raise InvalidCredentials("Send the wallet's signature of the message.", field="signature")
    row = db.session.scalar(db.select(SiweNonce).where(SiweNonce.message_hash == _digest(message)))
    owner_ok = row is not None and (row.user_id is None if user is None else row.user_id == user.id)
    if (row is None or row.message != message or row.purpose != purpose or not owner_ok
            or row.used_at is not None or row.expires_at <= now):
        raise SiweMessageUnknown("This sign-in message was not issued here, was already used or "
                                 "expired; ask for a new one.")
    if recover_signer(message, signature) != row.address:
        raise SiweBadSignature("The signature was not made by the wallet the message names.")
    consumed = db.session.execute(
        update(SiweNonce).where(SiweNonce.nonce == row.nonce, SiweNonce.used_at.is_(None),
                                SiweNonce.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if consumed != 1:
        raise SiweMessageUnknown("This sign-in message was already used; ask for a new one.")
    return row


def user_with_wallet(address: str) -> User | None:
    return db.session.scalar(db.select(User).where(User.wallet_address == checksum_address(address)))


def _pseudonym(address: str) -> str:
    """"wallet-0x1234-abcd": recognisable, short, and within the username rules."""
    base = f"wallet-{address[:6]}-{address[-4:]}".lower()
    name = base
    while db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == name)) is not None:
        name = f"{base}-{secrets.token_hex(3)}"  # someone already holds it (or a lookalike wallet)
    return name


def sign_in_with_wallet(message: object, signature: object, *, now: dt.datetime) -> User:
    """The account of the wallet that signed a "login" message we issued.

    An unknown wallet becomes a new pseudonymous annotator ("wallet-0x1234-abcd") with an unusable
    password; a known one logs in to its account, whatever its role. Raises a SiweError for any
    failed check and InvalidCredentials for a disabled account.
    """
    address = _verified_issue("login", None, message, signature, now=now).address
    user = user_with_wallet(address)
    if user is None:
        user = User(username=_pseudonym(address), role=Role.ANNOTATOR,
                    password_hash=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(24),
                    wallet_address=address, wallet_verified_at=now, is_active_account=True)
        try:
            with db.session.begin_nested():
                db.session.add(user)
                db.session.flush()
        except IntegrityError:
            # The same new wallet signed in twice at once (two messages): the other request
            # created the account, and on PostgreSQL our insert waited for its commit. Use it.
            user = user_with_wallet(address)
            if user is None:
                raise
    if not user.is_active:
        raise InvalidCredentials("This account is disabled.")
    return user


def link_wallet(user: User, message: object, signature: object, *, now: dt.datetime) -> User:
    """Make the wallet that signed a "link" message issued to `user` the user's wallet, replacing
    any previous one: setting or changing it always takes a fresh signature.

    Raises IdentityConflict when another account already has that wallet, a SiweError for a
    failed check.
    """
    address = _verified_issue("link", user, message, signature, now=now).address
    holder = user_with_wallet(address)
    if holder is not None and holder.id != user.id:
        raise IdentityConflict("That wallet is already linked to another account.", address=address)
    try:
        with db.session.begin_nested():
            user.wallet_address = address
            user.wallet_verified_at = now
            db.session.flush()
    except IntegrityError:  # linked elsewhere by a concurrent request
        raise IdentityConflict("That wallet is already linked to another account.", address=address) from None
    return user


def purge_expired_nonces(now: dt.datetime) -> int:
    """Delete messages that expired by `now` (used or not); returns how many. Unused ones are
    harmless but every unauthenticated `/api/siwe/message` adds one, so run this regularly."""
    return db.session.execute(
        delete(SiweNonce).where(SiweNonce.expires_at <= now).execution_options(synchronize_session=False)
    ).rowcount
