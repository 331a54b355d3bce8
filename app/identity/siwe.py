"""Sign-In with Ethereum (EIP-4361): the text we issue, and who signed it.

We never parse a message a client sends. The server builds the whole message (domain and URI
from configuration, never from the request), stores it verbatim with its nonce, and a sign-in
is valid only when the client returns exactly that text with a signature that recovers the
address it names (`app.identity.wallets`). So a message built for another host — or altered by
one character — is simply unknown, and the EIP's grammar needs no parser here; the EIP's own
examples are kept as tests that what we build is byte for byte the standard text.

Signatures are checked for externally owned accounts (EIP-191 personal_sign, ecrecover).
Contract wallets (EIP-1271, which needs an RPC call) are not supported: their signatures fail
with SiweBadSignature.
"""
from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct

from app.identity.errors import SiweBadSignature

__all__ = ["MAX_MESSAGE_CHARS", "build_message", "format_timestamp", "new_nonce", "recover_signer"]

MAX_MESSAGE_CHARS = 4_096
"""Longest message a client may send back; what we issue is a few hundred characters."""

PREAMBLE = " wants you to sign in with your Ethereum account:"
NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 24  # 62**24 ≈ 2**143: far beyond the 96 bits a guess-proof nonce needs


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and "Z", as JavaScript's toISOString() writes it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_timestamp needs an aware datetime (e.g. datetime.now(UTC))")
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _stamp(value: datetime | str | None) -> str | None:
    return value if value is None or isinstance(value, str) else format_timestamp(value)


def build_message(*, domain: str, address: str, uri: str, chain_id: int, nonce: str,
                  issued_at: datetime | str, statement: str | None = None,
                  expiration_time: datetime | str | None = None,
                  not_before: datetime | str | None = None, request_id: str | None = None,
                  resources: Sequence[str] | None = None, scheme: str | None = None,
                  version: str = "1") -> str:
    """The EIP-4361 text for these fields, line by line as the EIP lays it out.

    `resources=None` writes no "Resources:" line. Fields come from our configuration and our own
    code, so the only check is that none of them can add a line of its own.
    """
    fields = {"domain": domain, "address": address, "uri": uri, "nonce": nonce,
              "statement": statement or "", "request_id": request_id or "",
              "scheme": scheme or "", **{f"resource {n}": r for n, r in enumerate(resources or ())}}
    for name, value in fields.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"Sign-in message field {name} must be one line")
    origin = f"{scheme}://{domain}" if scheme else domain
    lines = [origin + PREAMBLE, address, ""]
    if statement:
        lines += [statement, ""]
    else:
        lines += [""]
    lines += [f"URI: {uri}", f"Version: {version}", f"Chain ID: {chain_id}", f"Nonce: {nonce}",
              f"Issued At: {_stamp(issued_at)}"]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {_stamp(expiration_time)}")
    if not_before is not None:
        lines.append(f"Not Before: {_stamp(not_before)}")
    if request_id is not None:
        lines.append(f"Request ID: {request_id}")
    if resources is not None:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in resources]
    return "\n".join(lines)


def recover_signer(text: str, signature: str | bytes) -> str:
    """The EIP-55 address whose key made this EIP-191 signature of `text`."""
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth_keys BadSignature, eth_utils ValidationError, binascii.Error ...
        raise SiweBadSignature(f"The sign-in signature is malformed: {exc}") from None


def new_nonce() -> str:
    """A fresh nonce: 24 ASCII letters and digits from `secrets` (about 143 bits)."""
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
