"""Accounts: sign-up and password checks, with argon2id hashes (argon2-cffi's defaults)."""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from annotation.errors import InvalidCredentials
from annotation.models import Role, User
from app.extensions import db

_hasher = PasswordHasher()


def configure_password_hashing(**parameters: int) -> None:
    """Set argon2 cost parameters (time_cost, memory_cost, parallelism); {} keeps the RFC 9106
    defaults of argon2-cffi. Tests use the cheapest profile to stay fast."""
    global _hasher
    _hasher = PasswordHasher(**parameters)
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
MIN_PASSWORD_LENGTH = 8


def create_user(username: str, password: str, role: Role | str) -> User:
    """Register a user; raises InvalidCredentials saying what to change."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise InvalidCredentials(
            "Usernames are 3–64 letters, digits, dots, dashes or underscores.", field="username"
        )
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidCredentials(
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    try:
        role = Role(role)
    except ValueError:
        raise InvalidCredentials(f"Unknown role {role!r}.", field="role") from None
    taken = db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == username.lower()))
    if taken is not None:
        raise InvalidCredentials("That username is taken.", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User:
    """Return the user whose credentials these are, or raise InvalidCredentials."""
    user = db.session.scalar(
        db.select(User).where(db.func.lower(User.username) == (username or "").strip().lower())
    )
    if user is None or not user.is_active:
        # Hash anyway so a missing user takes as long as a wrong password.
        _hasher.hash(password or "")
        raise InvalidCredentials("Wrong username or password.")
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("Wrong username or password.") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
