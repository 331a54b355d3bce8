"""Sign-In with Ethereum: the message to sign, wallet login, and linking a wallet to an account.

    POST /api/siwe/message {address, purpose: "login"|"link"} → {message, nonce, expires_at, submit_url}
    POST /api/siwe/login   {message, signature}              → logs in; {user, redirect}
    POST /api/wallet/link  {message, signature}   (logged in) → {user}

The server builds the whole EIP-4361 text and stores it; the browser only asks the wallet to sign
it and sends it back unchanged. Its domain and URIs are PUBLIC_URL's — configuration, never the
request's Host header. CSRF: like every JSON POST here, send the page's token as X-CSRFToken.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_login import current_user, login_required

from app.api import api
from app.extensions import db, limiter, utcnow
from app.identity.errors import InvalidCredentials
from app.identity.models import User
from app.identity.wallets import SiweOrigin, issue_message, link_wallet, sign_in_with_wallet
from app.inputs import json_object
from app.web.auth import home_for, log_in


def siwe_chain_id() -> int:
    """The chain id sign-in messages are bound to: the configured chain's.

    One function so that tests which only need an id can replace it (monkeypatch) instead of
    starting the embedded EVM.
    """
    from rewards.onchain import current_chain

    return current_chain().chain_id


def siwe_origin() -> SiweOrigin:
    """Where messages say they come from: PUBLIC_URL (validated at start-up)."""
    base = current_app.config["PUBLIC_URL"]
    parts = urlsplit(base)
    return SiweOrigin(scheme=parts.scheme, domain=parts.netloc, login_uri=base + url_for("web.login"),
                      link_uri=base + url_for("web.wallet"))


def _fields(*names: str) -> dict[str, Any]:
    body = json_object(error=InvalidCredentials)
    for name in names:
        if not isinstance(body.get(name), str) or not body[name]:
            raise InvalidCredentials(f"`{name}` is missing.", field=name)
    return body


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role.value,
            "wallet_address": user.wallet_address,
            "wallet_verified_at": user.wallet_verified_at.isoformat() if user.wallet_verified_at else None}


@api.post("/siwe/message")
@limiter.limit(lambda: current_app.config["SIWE_RATE_LIMIT"])
def siwe_message():
    body = _fields("address", "purpose")
    purpose = body["purpose"]
    if purpose == "link" and not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    user = current_user._get_current_object() if purpose == "link" else None
    issued = issue_message(purpose, body["address"], user, origin=siwe_origin(), chain_id=siwe_chain_id(),
                           now=utcnow(), seconds=int(current_app.config["SIWE_NONCE_SECONDS"]))
    reply = {"message": issued.message, "nonce": issued.nonce, "expires_at": issued.expires_at.isoformat(),
             "submit_url": url_for("api.siwe_login") if purpose == "login" else url_for("api.link")}
    db.session.commit()
    return reply


@api.post("/siwe/login")
@limiter.limit(lambda: current_app.config["SIWE_RATE_LIMIT"])
def siwe_login():
    body = _fields("message", "signature")
    user = sign_in_with_wallet(body["message"], body["signature"], now=utcnow())
    log_in(user)
    reply = {"user": user_json(user), "redirect": home_for(user)}
    db.session.commit()
    return reply


@api.post("/wallet/link")
@login_required
def link():
    body = _fields("message", "signature")
    user = link_wallet(current_user._get_current_object(), body["message"], body["signature"], now=utcnow())
    reply = {"user": user_json(user)}
    db.session.commit()
    return reply
