"""Security headers on every response, set in one after_request hook.

- A strict Content-Security-Policy: scripts, styles, frames and form targets from this origin
  only, nothing inline (pages pass data in `<script type="application/json">` blocks and
  `data-` attributes, which are not executed); media and images may also be `data:`/`blob:`
  URLs, which the labeling page and charts create, and which the job form's preview uses to
  show a file picked on the requester's own computer without uploading it. `connect-src` also
  takes `blob:` for that preview alone: the audio waveform (wavesurfer.js) fetches the file's
  object URL to decode it. An object URL can only be made by a script of this origin, so
  `blob:` lets in nothing from elsewhere.
- No framing (`frame-ancestors 'none'` and `X-Frame-Options: DENY` for older browsers), no MIME
  sniffing, the referrer only within the site, and HSTS once the site is served over TLS.
- `Cache-Control: no-store` on everything dynamic: pages show balances, exports and proofs of
  one account, and a shared proxy or the browser's back button must never replay them to the
  next person at the keyboard. Static files keep their caching; uploaded media, served only to
  those who may see the job, may stay in the user's own browser cache but never a shared one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_login import login_required

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self' blob:",  # the preview's waveform of a local audio file (see above)
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])
# One year; not includeSubDomains, which would bind sites this deployment does not own.
HSTS = "max-age=31536000"
STATIC_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
# Endpoints whose responses may be cached, and how. Everything else is no-store.
CACHEABLE = {"static": None, "web.media": "private"}


def register(app: Flask) -> None:
    """Add the security headers to every response of `app`."""
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    for name, value in STATIC_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure or current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    _set_cache_control(response)
    return response


def _set_cache_control(response: Response) -> None:
    endpoint = request.endpoint
    if endpoint in CACHEABLE and response.status_code < 400:
        if CACHEABLE[endpoint] == "private":
            response.cache_control.public = False
            response.cache_control.private = True
        return
    response.headers["Cache-Control"] = "no-store"
    response.headers.pop("Expires", None)
    response.headers.pop("ETag", None)
    response.headers.pop("Last-Modified", None)


def _code_of(decorator: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Any:
    return decorator(lambda: None).__code__


_LOGIN_REQUIRED_CODE = _code_of(login_required)


def requires_login(view: Callable[..., Any] | None) -> bool:
    """Whether `view` (or anything it wraps) is guarded by Flask-Login's `login_required`.

    The CSRF check runs before any view; this lets its error handler tell a request that has
    no session at all (answer 401: log in) from a forged one on a page anyone may use.
    Decorators built with functools.wraps copy the inner view's name onto Flask-Login's wrapper,
    so the wrapper is recognised by its code object rather than its name.
    """
    seen = 0
    while view is not None and seen < 20:
        if getattr(view, "__code__", None) is _LOGIN_REQUIRED_CODE:
            return True
        view = getattr(view, "__wrapped__", None)
        seen += 1
    return False
