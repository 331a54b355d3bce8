"""Accounts: sign-up, password checks and changes, with argon2id hashes (argon2-cffi)."""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.extensions import db
from app.identity.errors import IdentityConflict, InvalidCredentials
from app.identity.models import Role, User
from app.identity.passwords import check_password

_hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
# A password hash argon2 can never verify (it is not an argon2 hash): wallet-only accounts cannot
# log in with a password until they set one. The "!" prefix is Django's convention for this.
UNUSABLE_PASSWORD_PREFIX = "!"


def configure_password_hashing(**parameters: int) -> None:
    """Set argon2 cost parameters (time_cost, memory_cost, parallelism); {} keeps the RFC 9106
    defaults of argon2-cffi. Tests use the cheapest profile to stay fast."""
    global _hasher
    _hasher = PasswordHasher(**parameters)


def create_user(username: str, password: str, role: Role | str) -> User:
    """Register a user; raises InvalidCredentials (or WeakPassword) saying what to change."""
    username = username.strip() if isinstance(username, str) else ""
    if not USERNAME_RE.match(username):
        raise InvalidCredentials(
            "Usernames are 3–64 letters, digits, dots, dashes or underscores.", field="username"
        )
    check_password(password, username=username)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidCredentials(f"Unknown role {role!r}.", field="role") from None
    taken = db.session.scalar(db.select(User.id).where(db.func.lower(User.username) == username.lower()))
    if taken is not None:
        raise IdentityConflict("That username is taken.", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), role=role)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(username: str, password: str) -> User:
    """Return the user whose credentials these are, or raise InvalidCredentials."""
    username = username.strip().lower() if isinstance(username, str) else ""
    password = password if isinstance(password, str) else ""
    user = db.session.scalar(db.select(User).where(db.func.lower(User.username) == username))
    if user is None or not user.is_active:
        # Hash anyway so a missing user takes as long as a wrong password.
        _hasher.hash(password)
        raise InvalidCredentials("Wrong username or password.")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("Wrong username or password.") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def change_password(user: User, current: str, new: str) -> User:
    """Set a new password after checking the current one. Wallet-only accounts (no usable
    password yet) may set one without. The caller ends the user's other sessions."""
    if not user.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX):
        try:
            _hasher.verify(user.password_hash, current if isinstance(current, str) else "")
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials("The current password is wrong.", field="current_password") from None
    user.password_hash = _hasher.hash(check_password(new, username=user.username))
    db.session.flush()
    return user
