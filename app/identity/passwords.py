"""What a new password must be: long enough, not a common one, not the username.

The list of common passwords is Django's (`django/contrib/auth/common-passwords.txt.gz`, BSD-3,
originally compiled by Royce Williams from breach corpora): 20,000 passwords people actually
choose, shipped with the code so the check needs no network. NIST SP 800-63B asks exactly this
of a verifier: a minimum length and a blocklist, and no composition rules.
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

from app.identity.errors import WeakPassword

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256  # argon2 hashes any length; a cap keeps a request's cost bounded
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


def check_password(password: object, *, username: str = "") -> str:
    """`password` if it may be used, else WeakPassword saying what to change."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Passwords may have at most {MAX_PASSWORD_LENGTH} characters.", field="password")
    folded = password.strip().lower()
    if folded in common_passwords():
        raise WeakPassword("That password is one of the most common ones; choose another.",
                           field="password")
    name = (username or "").strip().lower()
    if name and (name in folded or folded in name):
        raise WeakPassword("The password must not contain the username.", field="password")
    if len(set(password)) < 3:
        raise WeakPassword("The password repeats too few characters; choose another.", field="password")
    return password
