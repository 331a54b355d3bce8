"""Server-side sessions: a cookie that is only as good as its row in the database.

Flask's session cookie is signed, not revocable: a copy keeps working until it expires. So a
login also stores a random token's SHA-256 here and puts the token in the cookie; every request
loads the user only if that row still exists. Logout deletes the row (the copied cookie is dead
at once), and a password change deletes every other session of the user.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete

from app.extensions import db
from app.identity.models import User, UserSession

DEFAULT_SESSION_SECONDS = 30 * 24 * 3600


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, *, now: dt.datetime, seconds: int = DEFAULT_SESSION_SECONDS) -> str:
    """A new session for `user`; returns the token for the cookie (never stored as such)."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_digest(token), created_at=now,
                               expires_at=now + dt.timedelta(seconds=seconds)))
    db.session.flush()
    return token


def user_for_session(token: object, user_id: int, *, now: dt.datetime) -> User | None:
    """The user of a live session with this token, or None (unknown, ended, expired, or a
    cookie whose user id does not match the session's)."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    row = db.session.scalar(db.select(UserSession).where(UserSession.token_hash == _digest(token)))
    if row is None or row.user_id != user_id or row.expires_at <= now:
        return None
    return db.session.get(User, row.user_id)


def end_session(token: object) -> None:
    """End the session with this token (logout); unknown tokens are ignored."""
    if isinstance(token, str) and token:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == _digest(token))
                           .execution_options(synchronize_session=False))


def end_other_sessions(user: User, *, keep: str | None = None) -> int:
    """End every session of `user` but the one with token `keep`; returns how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        query = query.where(UserSession.token_hash != _digest(keep))
    return db.session.execute(query.execution_options(synchronize_session=False)).rowcount


def purge_expired_sessions(now: dt.datetime) -> int:
    return db.session.execute(delete(UserSession).where(UserSession.expires_at <= now)
                              .execution_options(synchronize_session=False)).rowcount
