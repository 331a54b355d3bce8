"""Signed, expiring links to a job's media files, so an export is usable outside Fairlabel.

Pure: the secret and the base URL are arguments, so the same code signs in a view, the CLI and
a test. A link is `<base_url>/<token>`; the token is an itsdangerous `URLSafeTimedSerializer`
signature over `[job_id, file name, expires_at]` (unix seconds) under its own salt, so a token
made for anything else (a session, a CSRF token) never verifies here. Rotating the secret
revokes every link.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

DEFAULT_EXPIRY_SECONDS = 7 * 24 * 3600
MAX_TOKEN_CHARS = 1_000  # far more than any token we make; longer is refused before verifying
_SALT = "fairlabel.export-media.v1"


class MediaLinkError(Exception):
    """A media link that does not open a file."""


class MediaLinkInvalid(MediaLinkError):
    """Not a link we signed (forged, truncated, or signed with another secret)."""


class MediaLinkExpired(MediaLinkError):
    """A link we signed whose time is up."""


def _serializer(secret: str | bytes) -> URLSafeTimedSerializer:
    if not secret:
        raise ValueError("Signing media links needs a secret key.")
    return URLSafeTimedSerializer(secret, salt=_SALT)


def sign_media_token(secret: str | bytes, job_id: int, name: str, *,
                     expires_in: int = DEFAULT_EXPIRY_SECONDS, now: float | None = None) -> str:
    """A token that opens media file `name` of job `job_id` for `expires_in` seconds."""
    expires_at = int((time.time() if now is None else now) + expires_in)
    return _serializer(secret).dumps([int(job_id), str(name), expires_at])


def read_media_token(secret: str | bytes, token: str, *, now: float | None = None) -> tuple[int, str]:
    """(job_id, file name) of a valid, unexpired token; MediaLinkInvalid or MediaLinkExpired."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise MediaLinkInvalid("Not a media link.")
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature:
        raise MediaLinkInvalid("Not a media link.") from None
    if (not isinstance(payload, list) or len(payload) != 3 or not isinstance(payload[0], int)
            or not isinstance(payload[1], str) or not isinstance(payload[2], int)):
        raise MediaLinkInvalid("Not a media link.")
    job_id, name, expires_at = payload
    if (time.time() if now is None else now) >= expires_at:
        raise MediaLinkExpired("This media link has expired; export the job again for a fresh one.")
    return job_id, name


@dataclass(frozen=True)
class MediaSigner:
    """Makes absolute, signed links under `base_url` (e.g. "https://labels.example/media/signed")."""

    secret: str | bytes
    base_url: str
    expires_in: int = DEFAULT_EXPIRY_SECONDS
    now: float | None = None  # fixed signing time (tests); None: the clock

    def url(self, job_id: int, name: str) -> str:
        token = sign_media_token(self.secret, job_id, name, expires_in=self.expires_in, now=self.now)
        return f"{self.base_url.rstrip('/')}/{token}"
