"""Wallets: Sign-In with Ethereum (EIP-4361) against server-issued, single-use nonces.

The flow, for both purposes:

1. `issue_nonce(purpose, user, now=...)` stores a fresh nonce with an expiry; the caller builds
   the EIP-4361 text around it (`annotation.siwe.build_message`) and hands it to the wallet.
2. The wallet signs the text (EIP-191 personal_sign).
3. `sign_in_with_wallet(...)` or `link_wallet(user, ...)` verifies everything
   (`annotation.siwe.verify_message`: domain, URI, chain id, times, signature) and only then
   consumes the nonce with one conditional UPDATE, so a nonce works once even when two requests
   race with it (`consume_nonce_for`).

Purposes: "login" nonces are issued to nobody and log in (or sign up) whoever signs; "link"
nonces are issued to one account and let a new wallet be proven for that account only. Changing
a payout wallet is a link, so it always needs a fresh signature by the new wallet.

Services flush and never commit: the request or command is the transaction boundary.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from annotation.errors import Conflict, InvalidCredentials, InvalidInput
from annotation.models import Role, SiweNonce, User
from annotation.siwe import SiweMessage, new_nonce, verify_message
from app.extensions import db

__all__ = [
    "DEFAULT_NONCE_SECONDS",
    "PURPOSES",
    "checksum_address",
    "consume_nonce_for",
    "issue_nonce",
    "link_wallet",
    "purge_expired_nonces",
    "sign_in_with_wallet",
    "user_with_wallet",
]

PURPOSES = ("login", "link")
DEFAULT_NONCE_SECONDS = 600
# A password hash argon2 can never verify (it is not an argon2 hash): wallet-only accounts cannot
# log in with a password until they set one. The "!" prefix is Django's convention for this.
UNUSABLE_PASSWORD_PREFIX = "!"


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise InvalidInput(f"Unknown sign-in purpose {purpose!r}; use one of {', '.join(PURPOSES)}.",
                           field="purpose")


def checksum_address(address: object) -> str:
    """`address` in EIP-55 form; accepts any case. Raises InvalidInput for anything else."""
    if not isinstance(address, str) or not address.startswith("0x") or not is_address(address):
        raise InvalidInput("That is not an Ethereum address (0x followed by 40 hex digits).",
                           field="address")
    if address != address.lower() and address[2:] != address[2:].upper():
        # Mixed case claims a checksum: a typo in it must not silently pass.
        if to_checksum_address(address) != address:
            raise InvalidInput("The address's EIP-55 checksum is wrong (check for a typo).",
                               field="address")
    return to_checksum_address(address)


def issue_nonce(purpose: str, user: User | None = None, *, now: dt.datetime,
                seconds: int = DEFAULT_NONCE_SECONDS) -> SiweNonce:
    """Store a fresh single-use nonce for `purpose`, valid for `seconds` from `now`.

    "login" nonces belong to nobody (`user` must be None); "link" nonces belong to `user`, and
    only a signature verified for that same account can use them.
    """
    _check_purpose(purpose)
    if purpose == "link" and user is None:
        raise InvalidInput("Log in before linking a wallet.", field="purpose")
    if purpose == "login" and user is not None:
        raise InvalidInput("A login nonce is not issued to an account.", field="purpose")
    if seconds <= 0:
        raise InvalidInput("A nonce must live a positive number of seconds.", field="seconds")
    nonce = SiweNonce(nonce=new_nonce(), purpose=purpose, user_id=user.id if user else None,
                      issued_at=now, expires_at=now + dt.timedelta(seconds=seconds))
    db.session.add(nonce)
    db.session.flush()
    return nonce


def consume_nonce_for(purpose: str, user: User | None, *, now: dt.datetime) -> Callable[[str], bool]:
    """A `consume_nonce` callable for `verify_message`: marks the nonce used if, and only if, it
    exists, is unused, unexpired at `now`, issued for `purpose` and to `user` (None for login).

    One UPDATE ... WHERE used_at IS NULL: the database decides, so of two requests racing with the
    same nonce exactly one sees rowcount 1. On PostgreSQL the second UPDATE waits for the first
    transaction and re-checks `used_at` once it commits; on SQLite writers are serialized.
    """
    _check_purpose(purpose)

    def consume(nonce: str) -> bool:
        owner = SiweNonce.user_id.is_(None) if user is None else SiweNonce.user_id == user.id
        result = db.session.execute(
            update(SiweNonce)
            .where(SiweNonce.nonce == nonce, SiweNonce.used_at.is_(None), SiweNonce.expires_at > now,
                   SiweNonce.purpose == purpose, owner)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    return consume


def _verify(purpose: str, user: User | None, message: str, signature: str, *, domain: str,
            chain_id: int, now: dt.datetime, scheme: str, uri: str | None) -> SiweMessage:
    if not isinstance(message, str) or not message:
        raise InvalidCredentials("Send the signed sign-in message.", field="message")
    if not isinstance(signature, str) or not signature:
        raise InvalidCredentials("Send the wallet's signature of the message.", field="signature")
    return verify_message(message, signature, expected_domain=domain, expected_chain_id=chain_id,
                          now=now, consume_nonce=consume_nonce_for(purpose, user, now=now),
                          expected_scheme=scheme, expected_uri=uri)


def user_with_wallet(address: str) -> User | None:
    return db.session.scalar(db.select(User).where(User.wallet_address == checksum_address(address)))


def _pseudonym(address: str) -> str:
    """"wallet-0x1234-abcd": recognisable, short, and within the username rules."""
    base = f"wallet-{address[:6]}-{address[-4:]}".lower()
    name = base
    while db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == name)) is not None:
        name = f"{base}-{secrets.token_hex(3)}"  # someone already holds it (or a lookalike wallet)
    return name


def sign_in_with_wallet(message: str, signature: str, *, domain: str, chain_id: int,
                        now: dt.datetime, scheme: str = "https", uri: str | None = None) -> User:
    """The account of the wallet that signed `message` with a "login" nonce.

    An unknown wallet becomes a new pseudonymous annotator ("wallet-0x1234-abcd") with an unusable
    password; a known one logs in to its account, whatever its role. Raises a SiweError
    (InvalidCredentials) for any failed check and InvalidCredentials for a disabled account.
    """
    verified = _verify("login", None, message, signature, domain=domain, chain_id=chain_id,
                       now=now, scheme=scheme, uri=uri)
    address = verified.address
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
            # The same new wallet signed in twice at once (two nonces): the other request created
            # the account, and on PostgreSQL our insert waited for its commit. Use that one.
            user = user_with_wallet(address)
            if user is None:
                raise
    if not user.is_active:
        raise InvalidCredentials("This account is disabled.")
    return user


def link_wallet(user: User, message: str, signature: str, *, domain: str, chain_id: int,
                now: dt.datetime, scheme: str = "https", uri: str | None = None) -> User:
    """Make the wallet that signed `message` (with a "link" nonce issued to `user`) the user's
    wallet, replacing any previous one: setting or changing it always takes a fresh signature.

    Raises Conflict when another account already has that wallet, a SiweError for a failed check.
    """
    verified = _verify("link", user, message, signature, domain=domain, chain_id=chain_id,
                       now=now, scheme=scheme, uri=uri)
    address = verified.address
    holder = user_with_wallet(address)
    if holder is not None and holder.id != user.id:
        raise Conflict("That wallet is already linked to another account.", address=address)
    try:
        with db.session.begin_nested():
            user.wallet_address = address
            user.wallet_verified_at = now
            db.session.flush()
    except IntegrityError:  # linked elsewhere by a concurrent request
        raise Conflict("That wallet is already linked to another account.", address=address) from None
    return user


def purge_expired_nonces(now: dt.datetime) -> int:
    """Delete nonces that expired by `now` (used or not); returns how many. Unused ones are
    harmless but every unauthenticated `/api/siwe/message` adds one, so run this regularly."""
    result = db.session.execute(
        delete(SiweNonce).where(SiweNonce.expires_at <= now).execution_options(synchronize_session=False)
    )
    return result.rowcount
