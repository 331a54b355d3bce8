"""Sign-In with Ethereum (EIP-4361 / ERC-4361): build, parse and verify sign-in messages.

Pure: imports the standard library, eth_account, eth_utils and our own error classes only, so the
same code runs in a view, the CLI and a test. The caller owns the nonce store (a server-side,
single-use nonce with an expiry) and passes `consume_nonce`; nothing here touches a database.

    text = build_message(domain="fairlabel.org", address=addr, uri="https://fairlabel.org/login",
                         chain_id=1, nonce=new_nonce(), issued_at=now, scheme="https")
    # ... the wallet signs `text` with personal_sign (EIP-191) ...
    message = verify_message(text, signature, expected_domain="fairlabel.org", expected_chain_id=1,
                             now=now, consume_nonce=nonces.consume)
    message.address   # EIP-55 checksummed; bind the session to it

Why eth-account and not the `siwe` package: `siwe` pins web3<8 and breaks with abnf 2.9, and all
the cryptography it adds is one call, `Account.recover_message(encode_defunct(text=...))`. The
grammar is small enough to parse strictly here, tested against the EIP's own examples and the
reference implementation's test vectors (tests/annotation/siwe_vectors/).

Signatures are checked for externally owned accounts only (EIP-191 personal_sign, ecrecover).
Contract wallets (EIP-1271 `isValidSignature`, which needs an RPC call to `chain_id`) are out of
scope: such a signature fails here with SiweBadSignature.

Where this parser is stricter than the ABNF, on purpose:
- the `domain` host must be a DNS name, an IPv4 address or an IPv6 literal (RFC 3986 would also
  allow `under_score` or `%41` reg-names, which no browser origin has);
- `chain-id` has no leading zeros ("01"), so that parsing and building round-trip byte for byte;
- the whole message is at most MAX_MESSAGE_CHARS characters (the EIP asks implementers to cap).
"""
from __future__ import annotations

import ipaddress
import re
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

from annotation.errors import InvalidCredentials

__all__ = [
    "MAX_MESSAGE_CHARS",
    "InvalidSiweMessage",
    "SiweBadSignature",
    "SiweChainMismatch",
    "SiweDomainMismatch",
    "SiweError",
    "SiweExpired",
    "SiweMessage",
    "SiweNonceInvalid",
    "SiweNotYetValid",
    "SiweUriMismatch",
    "build_message",
    "format_timestamp",
    "new_nonce",
    "parse_message",
    "parse_timestamp",
    "verify_message",
]

MAX_MESSAGE_CHARS = 16_384
"""Longest message we parse; a wallet-facing sign-in message is a few hundred characters."""

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a wallet's clock may run (issued-at, not-before)."""

PREAMBLE = " wants you to sign in with your Ethereum account:"
NONCE_ALPHABET = string.ascii_letters + string.digits
NONCE_LENGTH = 24  # 62**24 ≈ 2**143: far beyond the 96 bits a guess-proof nonce needs

# --------------------------------------------------------------------------- errors


class SiweError(InvalidCredentials):
    """Root of every Sign-In with Ethereum failure; app/errors.py maps it to a 4xx."""


class InvalidSiweMessage(SiweError):
    """The text (or a field given to build it) does not conform to the EIP-4361 ABNF.

    `details["field"]` names the offending field (`domain`, `address`, `nonce`, ...).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
        self.field = field


class SiweDomainMismatch(SiweError):
    """The message's scheme or domain is not the origin that asked for the signature."""


class SiweUriMismatch(SiweError):
    """The message's URI is not on our origin (or not the exact URI expected)."""


class SiweChainMismatch(SiweError):
    """The message is bound to another chain id."""


class SiweExpired(SiweError):
    """Expiration time reached, or the message is older than the caller's max_age."""


class SiweNotYetValid(SiweError):
    """Not-before is still ahead, or issued-at is further in the future than the clock skew."""


class SiweBadSignature(SiweError):
    """The signature is malformed or was not made by the message's address."""


class SiweNonceInvalid(SiweError):
    """The nonce is unknown, expired or already used (consume_nonce returned False)."""


# --------------------------------------------------------------------------- grammar
# RFC 3986 character classes, written for use inside [...].
_ALNUM = "A-Za-z0-9"
_UNRESERVED = _ALNUM + r"\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_GEN_DELIMS = r":/?#\[\]@"
_PCT = "%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"

_SCHEME_RE = re.compile(_SCHEME)
_STATEMENT_RE = re.compile(rf"[{_UNRESERVED}{_GEN_DELIMS}{_SUB_DELIMS} ]*")
_ADDRESS_RE = re.compile("0x[0-9a-fA-F]{40}")
_NONCE_RE = re.compile(f"[{_ALNUM}]{{8,}}")
_CHAIN_ID_RE = re.compile("0|[1-9][0-9]{0,77}")  # EIP-155 chain ids fit in a uint256 (78 digits)
_REQUEST_ID_RE = re.compile(f"{_PCHAR}*")
_URI_RE = re.compile(
    rf"(?P<scheme>{_SCHEME}):"
    rf"(?:(?://(?P<authority>[^/?#]*)(?:/{_PCHAR}*)*)"  # "//" authority path-abempty
    rf"|(?:/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"  # path-absolute
    rf"|(?:{_PCHAR}+(?:/{_PCHAR}*)*)"  # path-rootless
    r"|)"  # path-empty
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?"
)
# authority = [ userinfo "@" ] host [ ":" port ]; group "host" is checked further by the caller.
_AUTHORITY_RE = re.compile(
    rf"(?:(?P<userinfo>{_USERINFO})@)?"
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"
    r"(?::(?P<port>[0-9]*))?"
)
_DNS_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
# RFC 3339 date-time; "T" and "Z" may be lower case (RFC 3339 section 5.6, note).
_DATE_TIME_RE = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<frac>[0-9]+))?"
    r"(?P<offset>[Zz]|[+\-][0-9]{2}:[0-9]{2})"
)


def _fail(field_name: str, problem: str) -> InvalidSiweMessage:
    return InvalidSiweMessage(f"Sign-in message: {field_name} {problem}", field=field_name)


def _check_scheme(value: str) -> None:
    if not _SCHEME_RE.fullmatch(value):
        raise _fail("scheme", f"{value!r} is not an RFC 3986 URI scheme")


def _split_authority(value: str) -> tuple[str | None, str, str | None] | None:
    """(userinfo, host, port) of an RFC 3986 authority, or None when it is not one."""
    match = _AUTHORITY_RE.fullmatch(value)
    if match is None:
        return None
    host = match["host"]
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    port = match["port"]
    if port is not None and (len(port) > 5 or (port and int(port) > 65535)):
        return None
    return match["userinfo"], host, port


def _check_domain(value: str) -> None:
    parts = _split_authority(value)
    if parts is None:
        raise _fail("domain", f"{value!r} is not an RFC 3986 authority")
    _userinfo, host, port = parts
    if port == "":
        raise _fail("domain", f"{value!r} has an empty port")
    if host.startswith("["):
        return
    labels = host.split(".")
    if not all(_DNS_LABEL_RE.fullmatch(label) for label in labels):
        raise _fail("domain", f"{value!r} does not name a DNS host or IP address")
    if all(label.isdigit() for label in labels):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise _fail("domain", f"{value!r} is not a valid IPv4 address") from None


def _check_uri(field_name: str, value: str) -> None:
    match = _URI_RE.fullmatch(value)
    if match is None or (
        match["authority"] is not None and _split_authority(match["authority"]) is None
    ):
        raise _fail(field_name, f"{value!r} is not an RFC 3986 URI")


def _check_address(value: str) -> None:
    if not _ADDRESS_RE.fullmatch(value):
        raise _fail("address", f"{value!r} is not 0x followed by 40 hex digits")
    if not is_checksum_address(value):
        raise _fail("address", f"{value!r} is not EIP-55 checksummed (mixed case)")


def parse_timestamp(value: str, field_name: str = "timestamp") -> datetime:
    """An RFC 3339 date-time as an aware datetime; a leap second (:60) counts as the next second.

    Fractions beyond microseconds are truncated. Raises InvalidSiweMessage naming `field_name`.
    """
    match = _DATE_TIME_RE.fullmatch(value)
    if match is None:
        raise _fail(field_name, f"{value!r} is not an RFC 3339 date-time")
    offset = match["offset"]
    if offset in ("Z", "z"):
        tz = UTC
    else:
        off_hours, off_minutes = int(offset[1:3]), int(offset[4:6])
        if off_hours > 23 or off_minutes > 59:
            raise _fail(field_name, f"{value!r} has an invalid UTC offset")
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=off_hours, minutes=off_minutes))
    second = int(match["second"])
    leap = second == 60
    micro = int((match["frac"] or "0")[:6].ljust(6, "0"))
    try:
        parsed = datetime(
            int(match["year"]), int(match["month"]), int(match["day"]),
            int(match["hour"]), int(match["minute"]), 59 if leap else second, micro, tzinfo=tz,
        )
        return parsed + timedelta(seconds=1) if leap else parsed
    except (ValueError, OverflowError) as exc:
        raise _fail(field_name, f"{value!r} is not a valid date-time ({exc})") from None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and "Z", as JavaScript's toISOString() writes it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_timestamp needs an aware datetime (e.g. datetime.now(UTC))")
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- the message


@dataclass(frozen=True)
class SiweMessage:
    """The fields of one EIP-4361 message, validated on construction.

    Timestamps are kept as the exact RFC 3339 text of the message (so a parsed message builds back
    byte for byte); `issued_at_datetime` and friends give them as aware datetimes. `resources` is a
    tuple (so that the message stays hashable), or None when there is no "Resources:" line; the
    ABNF allows that line with no resource under it, which is the empty tuple. `scheme` is the
    optional `scheme://` prefix of the first line (HTTPS is implied without it).
    """

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None
    scheme: str | None = None

    def __post_init__(self) -> None:
        if self.resources is not None and not isinstance(self.resources, tuple):
            object.__setattr__(self, "resources", tuple(self.resources))
        if self.scheme is not None:
            _check_scheme(self.scheme)
        _check_domain(self.domain)
        _check_address(self.address)
        if self.statement is not None and not _STATEMENT_RE.fullmatch(self.statement):
            raise _fail(
                "statement",
                "may hold only printable ASCII URI characters and spaces (no line break, "
                'no %, ", <, >, \\, ^, `, {, |, })',
            )
        _check_uri("uri", self.uri)
        if self.version != "1":
            raise _fail("version", f"{self.version!r} is not supported (only version 1 exists)")
        if (
            isinstance(self.chain_id, bool)
            or not isinstance(self.chain_id, int)
            or not 0 <= self.chain_id < 2**256
        ):
            raise _fail("chain_id", f"{self.chain_id!r} is not an integer from 0 to 2**256 - 1")
        if not isinstance(self.nonce, str) or not _NONCE_RE.fullmatch(self.nonce):
            raise _fail("nonce", "must be at least 8 ASCII letters or digits")
        parse_timestamp(self.issued_at, "issued_at")
        if self.expiration_time is not None:
            parse_timestamp(self.expiration_time, "expiration_time")
        if self.not_before is not None:
            parse_timestamp(self.not_before, "not_before")
        if self.request_id is not None and not _REQUEST_ID_RE.fullmatch(self.request_id):
            raise _fail("request_id", f"{self.request_id!r} is not made of RFC 3986 pchars")
        for resource in self.resources or ():
            _check_uri("resources", resource)

    @property
    def issued_at_datetime(self) -> datetime:
        return parse_timestamp(self.issued_at, "issued_at")

    @property
    def expiration_datetime(self) -> datetime | None:
        if self.expiration_time is None:
            return None
        return parse_timestamp(self.expiration_time, "expiration_time")

    @property
    def not_before_datetime(self) -> datetime | None:
        if self.not_before is None:
            return None
        return parse_timestamp(self.not_before, "not_before")

    def to_text(self) -> str:
        """The exact text the wallet signs (no trailing line break)."""
        prefix = f"{self.scheme}://" if self.scheme is not None else ""
        lines = [f"{prefix}{self.domain}{PREAMBLE}", self.address, ""]
        # ABNF: address LF LF [ statement LF ] LF "URI: " ... so without a statement there are
        # two empty lines between the address and "URI:", with one there is one on each side.
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources is not None:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def _timestamp_text(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return format_timestamp(value)


def build_message(
    *,
    domain: str,
    address: str,
    uri: str,
    chain_id: int,
    nonce: str,
    issued_at: datetime | str,
    statement: str | None = None,
    expiration_time: datetime | str | None = None,
    not_before: datetime | str | None = None,
    request_id: str | None = None,
    resources: Sequence[str] | None = None,
    scheme: str | None = None,
    version: str = "1",
) -> str:
    """The EIP-4361 text for these fields; datetimes are written by `format_timestamp`.

    `resources=None` writes no "Resources:" line; an empty list writes the line alone. Raises
    InvalidSiweMessage (naming the field) for anything the grammar does not allow, so what this
    builds always parses back to the same fields.
    """
    return SiweMessage(
        domain=domain,
        address=address,
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at if isinstance(issued_at, str) else format_timestamp(issued_at),
        statement=statement,
        version=version,
        expiration_time=_timestamp_text(expiration_time),
        not_before=_timestamp_text(not_before),
        request_id=request_id,
        resources=None if resources is None else tuple(resources),
        scheme=scheme,
    ).to_text()


# --------------------------------------------------------------------------- parsing


class _Lines:
    """A cursor over the message's lines that names the field whose line is missing or wrong."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.index = 0

    def peek(self) -> str | None:
        return self.lines[self.index] if self.index < len(self.lines) else None

    def take(self, field_name: str, what: str) -> str:
        line = self.peek()
        if line is None:
            raise _fail(field_name, f"is missing: the message ends where {what} should be")
        self.index += 1
        return line

    def blank(self, field_name: str, where: str) -> None:
        line = self.take(field_name, f"the empty line {where}")
        if line != "":
            raise _fail(field_name, f"line {self.index} should be the empty line {where}")

    def tagged(self, field_name: str, tag: str) -> str:
        line = self.take(field_name, f"the {tag!r} line")
        if not line.startswith(tag):
            raise _fail(
                field_name,
                f"line {self.index} should start with {tag!r} (fields must come in EIP-4361 order)",
            )
        return line[len(tag):]

    def optional(self, tag: str) -> str | None:
        line = self.peek()
        if line is not None and line.startswith(tag):
            self.index += 1
            return line[len(tag):]
        return None


def parse_message(text: str) -> SiweMessage:
    """Parse an EIP-4361 message strictly; raise InvalidSiweMessage naming the bad field."""
    if not isinstance(text, str):
        raise _fail("message", "must be text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise _fail("message", f"is longer than {MAX_MESSAGE_CHARS} characters")
    cursor = _Lines(text)

    first = cursor.take("domain", "the first line")
    if not first.endswith(PREAMBLE):
        raise _fail("domain", f"line 1 must end with {PREAMBLE.strip()!r}")
    origin = first[: -len(PREAMBLE)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        _check_scheme(scheme)
    if not origin:
        raise _fail("domain", "is missing from line 1")

    address = cursor.take("address", "the address")
    cursor.blank("address", "after the address")
    # Then either [statement] "" "URI: ..." or "" "URI: ..." (no statement): see to_text.
    statement: str | None = None
    line = cursor.peek()
    if line is None:
        raise _fail("uri", "is missing: the message ends after the address")
    if line == "" and cursor.index + 1 < len(cursor.lines) and cursor.lines[cursor.index + 1] == "":
        statement = ""  # an empty statement: address LF LF LF LF URI
        cursor.index += 1
    elif line != "":
        statement = cursor.take("statement", "the statement")
    cursor.blank(
        "statement",
        "before 'URI: '" if statement is None else "after the statement (it is a single line)",
    )

    uri = cursor.tagged("uri", "URI: ")
    version = cursor.tagged("version", "Version: ")
    chain_id_text = cursor.tagged("chain_id", "Chain ID: ")
    if not _CHAIN_ID_RE.fullmatch(chain_id_text):
        raise _fail(
            "chain_id", f"{chain_id_text[:80]!r} is not a uint256 in decimal without leading zeros"
        )
    nonce = cursor.tagged("nonce", "Nonce: ")
    issued_at = cursor.tagged("issued_at", "Issued At: ")
    expiration_time = cursor.optional("Expiration Time: ")
    not_before = cursor.optional("Not Before: ")
    request_id = cursor.optional("Request ID: ")
    resources: list[str] | None = None
    if cursor.peek() == "Resources:":
        cursor.index += 1
        resources = []
        while (line := cursor.peek()) is not None and line.startswith("- "):
            resources.append(line[2:])
            cursor.index += 1
    if cursor.peek() is not None:
        raise _fail(
            "message",
            f"line {cursor.index + 1} ({cursor.peek()[:40]!r}) is unexpected: after 'Issued At' "
            "only Expiration Time, Not Before, Request ID and Resources may follow, in that order",
        )

    return SiweMessage(
        domain=origin,
        address=address,
        uri=uri,
        chain_id=int(chain_id_text),
        nonce=nonce,
        issued_at=issued_at,
        statement=statement,
        version=version,
        expiration_time=expiration_time,
        not_before=not_before,
        request_id=request_id,
        resources=None if resources is None else tuple(resources),
        scheme=scheme,
    )


# --------------------------------------------------------------------------- verification

_DEFAULT_PORTS = {"https": "443", "http": "80", "wss": "443", "ws": "80"}


def _origin(scheme: str, authority: str) -> tuple[str, str | None, str, str | None]:
    """(scheme, userinfo, host, port) normalized for comparison: case-folded, default port dropped."""
    parts = _split_authority(authority)
    if parts is None:
        raise ValueError(f"{authority!r} is not an RFC 3986 authority")
    userinfo, host, port = parts
    scheme = scheme.lower()
    if not port or port == _DEFAULT_PORTS.get(scheme):
        port = None
    return scheme, userinfo, host.lower(), port


def _recover(text: str, signature: str | bytes) -> str:
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth_keys BadSignature, eth_utils ValidationError, binascii.Error ...
        raise SiweBadSignature(f"Sign-in signature is malformed: {exc}") from None


def verify_message(
    text: str,
    signature: str | bytes,
    *,
    expected_domain: str,
    expected_chain_id: int,
    now: datetime,
    consume_nonce: Callable[[str], bool],
    expected_scheme: str = "https",
    expected_uri: str | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    max_age: timedelta | None = None,
) -> SiweMessage:
    """Check a signed sign-in message completely and return it; raise a SiweError subclass.

    In order: the text parses (InvalidSiweMessage); scheme and domain are our origin (a message
    without a scheme means HTTPS; port 443/80 is the scheme's default) (SiweDomainMismatch); the URI
    is `expected_uri` exactly, or else any URI on the same origin (SiweUriMismatch); the chain id
    (SiweChainMismatch); issued-at and not-before are not later than `now + clock_skew`
    (SiweNotYetValid); `now` is before expiration-time and, with `max_age`, within max_age of
    issued-at (SiweExpired); the EIP-191 signature recovers the message's address
    (SiweBadSignature); and last, only for an otherwise valid message, `consume_nonce(nonce)`
    must return True: it atomically marks a server-issued, unexpired nonce as used and returns
    False if it is unknown, expired or used (SiweNonceInvalid).

    Only externally owned accounts: EIP-1271 contract-wallet signatures are not supported.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("verify_message needs an aware `now` (e.g. datetime.now(UTC))")
    message = parse_message(text)

    expected = _origin(expected_scheme, expected_domain)
    claimed = _origin(message.scheme or "https", message.domain)
    if claimed != expected:
        shown = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
        raise SiweDomainMismatch(
            f"Sign-in message is for {shown!r}, not {expected_scheme}://{expected_domain}",
            domain=message.domain,
        )

    if expected_uri is not None:
        if message.uri != expected_uri:
            raise SiweUriMismatch(f"Sign-in message URI {message.uri!r} is not {expected_uri!r}")
    else:
        match = _URI_RE.fullmatch(message.uri)
        assert match is not None  # validated by SiweMessage
        authority = match["authority"]
        if authority is None or _origin(match["scheme"], authority) != expected:
            raise SiweUriMismatch(
                f"Sign-in message URI {message.uri!r} is not on {expected_scheme}://{expected_domain}"
            )

    if message.chain_id != expected_chain_id:
        raise SiweChainMismatch(
            f"Sign-in message is for chain {message.chain_id}, not {expected_chain_id}",
            chain_id=message.chain_id,
        )

    issued_at = message.issued_at_datetime
    if issued_at > now + clock_skew:
        raise SiweNotYetValid(f"Sign-in message is issued in the future ({message.issued_at})")
    not_before = message.not_before_datetime
    if not_before is not None and not_before > now + clock_skew:
        raise SiweNotYetValid(f"Sign-in message is not valid before {message.not_before}")
    expiration = message.expiration_datetime
    if expiration is not None and now >= expiration:
        raise SiweExpired(f"Sign-in message expired at {message.expiration_time}")
    if max_age is not None and now - issued_at > max_age:
        raise SiweExpired(f"Sign-in message was issued more than {max_age} ago")

    signer = _recover(text, signature)
    if signer.lower() != message.address.lower():
        raise SiweBadSignature("Sign-in signature was not made by the message's address")

    if not consume_nonce(message.nonce):
        raise SiweNonceInvalid("Sign-in nonce is unknown, expired or already used")
    return message


def new_nonce() -> str:
    """A fresh nonce: 24 ASCII letters and digits from `secrets` (about 143 bits)."""
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))
