"""Exceptions of the identity package; app/errors.py maps them to HTTP in one place.

Every class names its stable `code` explicitly: clients branch on codes, so renaming a class must
never change what they see.
"""
from __future__ import annotations

from typing import Any


class IdentityError(Exception):
    """Root of every error the identity services raise on purpose."""

    code = "identity_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidCredentials(IdentityError, ValueError):
    """Wrong username or password, or an unusable new account."""

    code = "invalid_credentials"


class WeakPassword(InvalidCredentials):
    """A new password that is too short, too common or too close to the username."""

    code = "weak_password"


class IdentityConflict(IdentityError):
    """The request is valid but another account holds the thing (a username, a wallet)."""

    code = "identity_conflict"


class SiweError(InvalidCredentials):
    """A Sign-In with Ethereum attempt that cannot log anyone in."""

    code = "siwe_failed"


class SiweMessageUnknown(SiweError):
    """The message is not one we issued, or it was used already, or it expired."""

    code = "siwe_message_unknown"


class SiweBadSignature(SiweError):
    """The signature is malformed or was not made by the message's address."""

    code = "siwe_bad_signature"


class InvalidToken(IdentityError):
    """An Authorization header that names no usable token: malformed, unknown, revoked or expired."""

    code = "invalid_token"


class InsufficientScope(IdentityError):
    """A valid token used where its scopes do not reach (or on a route not open to tokens)."""

    code = "insufficient_scope"


class TokenNotFound(IdentityError):
    """No token of this user has that id."""

    code = "token_not_found"
