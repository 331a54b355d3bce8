"""Typed models of people: accounts, their sessions, and wallet sign-in messages.

Every domain package refers to people through `User`; identity refers to nothing of theirs.
"""
from __future__ import annotations

import datetime as dt
import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db, utcnow, value_enum


class Role(enum.StrEnum):
    REQUESTER = "requester"
    ANNOTATOR = "annotator"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    """One account. Roles do not overlap: an annotator answers, a requester pays, an admin
    operates (and may post jobs of their own) — nobody both answers and judges or pays."""

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(value_enum(Role))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_active_account: Mapped[bool] = mapped_column(default=True)
    # The EIP-55 wallet this person proved they control (Sign-In with Ethereum); payouts go here.
    wallet_address: Mapped[str | None] = mapped_column(String(42), unique=True)
    wallet_verified_at: Mapped[dt.datetime | None]

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.is_active_account

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_requester(self) -> bool:
        return self.role in (Role.REQUESTER, Role.ADMIN)

    @property
    def is_annotator(self) -> bool:
        return self.role is Role.ANNOTATOR

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username} {self.role.value}>"


class UserSession(db.Model):
    """A signed-in browser. The session cookie carries the token; only its SHA-256 is stored.

    Deleting the row ends that session wherever the cookie was copied to: logout deletes one,
    a password change deletes all of the user's others.
    """

    __table_args__ = (Index("ix_user_session_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class SiweNonce(db.Model):
    """A Sign-In with Ethereum message we issued: single use, with an expiry.

    `message` is the exact text the wallet is asked to sign (looked up by `message_hash`); a
    sign-in must return it unchanged. `purpose` says what a signature over it may do: log in,
    or link / change the wallet of `user_id` (which needs a fresh signature by the new wallet).
    """

    __table_args__ = (Index("ix_siwe_nonce_expires", "expires_at"),)

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(42))
    message: Mapped[str] = mapped_column(Text)
    message_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class ApiToken(db.Model):
    """A personal API token: `Authorization: Bearer <secret>` acts as its user, within its scopes.

    Only the secret's SHA-256 is stored (the secret is shown once, at creation); `prefix` is the
    public start of it, so a list of tokens can say which is which. A token is usable while not
    revoked and not past `expires_at` (None: it does not expire).
    """

    __table_args__ = (Index("ix_api_token_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, as OAuth writes them
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class IdempotencyRecord(db.Model):
    """The first response to a POST sent with an `Idempotency-Key`, replayed for the same key
    (Stripe's semantics, app/idempotency.py). `status` is None while the first request runs."""

    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # method, path and body
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
