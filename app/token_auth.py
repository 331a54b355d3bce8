"""API tokens over HTTP: `Authorization: Bearer <token>` instead of a session cookie.

A request that carries an Authorization header is a token request, whatever else it carries:
it is authenticated by the token alone (a session cookie beside it is ignored), needs no CSRF
token (a browser cannot add that header to a cross-site request without a CORS preflight, which
this site never grants), always gets JSON, and never a redirect. A bad token is a 401 with
`WWW-Authenticate: Bearer`. Routes are closed to tokens unless they declare the scopes they
need with `@token_scopes(...)`; a token lacking one gets a 403 naming it.

Every other request keeps Flask-WTF's CSRF check, run here (WTF_CSRF_CHECK_DEFAULT is off so
that this hook decides which requests it applies to).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from app.extensions import csrf, db, login_manager, utcnow
from app.identity.errors import InsufficientScope, InvalidToken
from app.identity.models import User
from app.identity.tokens import SCOPES, authenticate_api_token

View = TypeVar("View", bound=Callable[..., Any])


def token_scopes(*scopes: str) -> Callable[[View], View]:
    """Open a view to API tokens holding all of `scopes` (put it right under the route)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown or missing scopes: {unknown or scopes}")

    def mark(view: View) -> View:
        view.token_scopes = tuple(scopes)  # type: ignore[attr-defined]
        return view

    return mark


def is_token_request() -> bool:
    return "Authorization" in request.headers


def _authenticate() -> None:
    # Who is asking is decided by this request alone: a `g` shared across requests (the tests'
    # app context) must not carry the last request's token or user into this one.
    g.api_token = None
    g.pop("_login_user", None)
    if not is_token_request():
        config = current_app.config
        if config["WTF_CSRF_ENABLED"] and request.method in config["WTF_CSRF_METHODS"] and request.endpoint:
            csrf.protect()  # what Flask-WTF's own hook does (no view of ours is exempt from it)
        return
    scheme, _, secret = request.headers["Authorization"].partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidToken("Send an API token as 'Authorization: Bearer <token>'.")
    token = authenticate_api_token(secret.strip(), now=utcnow())
    db.session.commit()  # its last use; the view's own transaction starts clean
    g.api_token = token
    if request.endpoint is None:
        return  # no such route (404) or method (405): say that
    view = current_app.view_functions.get(request.endpoint)
    needed = getattr(view, "token_scopes", None)
    if needed is None:
        raise InsufficientScope("This address is not open to API tokens.", path=request.path)
    missing = [s for s in needed if s not in token.scope_set]
    if missing:
        raise InsufficientScope(f"This API token lacks the scope {missing[0]!r}.", required=list(needed))


def _token_user(_request: Any) -> User | None:
    token = g.get("api_token")
    return db.session.get(User, token.user_id) if token is not None else None


def register(app: Flask) -> None:
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # _authenticate runs the check
    app.before_request(_authenticate)
    login_manager.request_loader(_token_user)
