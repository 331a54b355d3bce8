"""Personal API tokens: what an agent or a script sends as `Authorization: Bearer <secret>`.

A secret is `fl_` and 32 random bytes (URL-safe base64); only its SHA-256 is stored — with that
much entropy a fast hash is what GitHub and Stripe use too, and a slow one would cost every API
call. A token carries scopes; a requester may grant any of them, an annotator only the ones that
read their own account. Services flush; the caller commits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from app.extensions import db
from app.identity.errors import InvalidCredentials, InvalidToken, TokenNotFound
from app.identity.models import ApiToken, Role, User

SECRET_PREFIX = "fl_"
SCOPES: dict[str, str] = {
    "jobs:read": "read your jobs: progress, results, spend",
    "jobs:write": "create and change jobs, add items, dispute answers",
    "funds:read": "read your balance",
    "funds:spend": "spend your balance (bonuses; publishing reserves a job's budget)",
    "work:read": "read your own earnings and answers",
}
SCOPES_BY_ROLE: dict[Role, frozenset[str]] = {
    Role.REQUESTER: frozenset({"jobs:read", "jobs:write", "funds:read", "funds:spend"}),
    Role.ANNOTATOR: frozenset({"work:read", "funds:read"}),
    Role.ADMIN: frozenset(SCOPES),
}
MAX_EXPIRES_DAYS = 3650
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # a busy token writes its last use once a minute


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(user: User, *, name: str, scopes: list[str] | tuple[str, ...], now: dt.datetime,
                     expires_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and its secret (shown once, never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidCredentials("A token needs a name of 1 to 100 characters.", field="name")
    wanted = list(dict.fromkeys(scopes))
    if not wanted:
        raise InvalidCredentials(f"Give the token at least one scope: {', '.join(SCOPES)}.", field="scope")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InvalidCredentials(f"Unknown scope {unknown[0]!r}; the scopes are {', '.join(SCOPES)}.",
                                 field="scope")
    allowed = SCOPES_BY_ROLE.get(user.role, frozenset())
    refused = [s for s in wanted if s not in allowed]
    if refused:
        raise InvalidCredentials(f"A {user.role.value} cannot hold the scope {refused[0]!r}; "
                                 f"yours are {', '.join(sorted(allowed))}.", field="scope")
    if expires_days is not None and not (isinstance(expires_days, int) and 1 <= expires_days <= MAX_EXPIRES_DAYS):
        raise InvalidCredentials(f"expires_days must be a whole number from 1 to {MAX_EXPIRES_DAYS}.",
                                 field="expires_days")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:10], token_hash=_digest(secret),
                     scopes=" ".join(wanted), created_at=now,
                     expires_at=now + dt.timedelta(days=expires_days) if expires_days else None)
    db.session.add(token)
    db.session.flush()
    return token, secret


def list_api_tokens(user: User) -> list[ApiToken]:
    return list(db.session.scalars(db.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_api_token(user: User, token_id: int, *, now: dt.datetime) -> ApiToken:
    """Revoke `user`'s token `token_id` (again is a no-op); another user's is not found."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise TokenNotFound(f"You have no token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = now
        db.session.flush()
    return token


def authenticate_api_token(secret: object, *, now: dt.datetime) -> ApiToken:
    """The live token with this secret (its last use noted), or InvalidToken saying why not."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
        raise InvalidToken("That is not a Fairlabel API token (they start with fl_).")
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if token is None:
        raise InvalidToken("Unknown API token.")
    if token.revoked_at is not None:
        raise InvalidToken("This API token was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise InvalidToken("This API token has expired.")
    user = db.session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise InvalidToken("The account of this API token is disabled.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.flush()
    return token
