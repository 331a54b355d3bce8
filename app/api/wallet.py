"""Sign-In with Ethereum: the message to sign, wallet login, and linking a wallet to an account.

    POST /api/siwe/message {address, purpose: "login"|"link"} → {message, nonce, expires_at, submit_url}
    POST /api/siwe/login   {message, signature}              → logs in; {user, redirect}
    POST /api/wallet/link  {message, signature}   (logged in) → {user}

The server builds the whole EIP-4361 text (domain, URI, chain id, nonce, issued-at, expiration), so
the browser only asks the wallet to sign it. The domain is SIWE_DOMAIN, else the request's host;
the scheme is the request's. CSRF: like every JSON POST here, send the page's token as X-CSRFToken.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user, login_required, login_user

from annotation.errors import InvalidInput
from annotation.models import User
from annotation.siwe import build_message
from annotation.wallets import checksum_address, issue_nonce, link_wallet, sign_in_with_wallet
from app.api import api
from app.extensions import db, limiter, utcnow
from app.web.auth import home_for

LOGIN_STATEMENT = "Sign in to Fairlabel."


def siwe_chain_id() -> int:
    """The chain id sign-in messages are bound to: the configured chain's.

    One function so that tests which only need an id can replace it (monkeypatch) instead of
    starting the embedded EVM.
    """
    from rewards.onchain import current_chain

    return current_chain().chain_id


def _origin() -> tuple[str, str]:
    """(scheme, domain) that messages must name: SIWE_DOMAIN or the request's host."""
    return request.scheme, current_app.config.get("SIWE_DOMAIN") or request.host


def _uri_for(purpose: str) -> str:
    scheme, domain = _origin()
    path = url_for("web.login") if purpose == "login" else url_for("web.wallet")
    return f"{scheme}://{domain}{path}"


def _body(*fields: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object with " + ", ".join(fields) + ".")
    for name in fields:
        if not isinstance(body.get(name), str) or not body[name]:
            raise InvalidInput(f"`{name}` is missing.", field=name)
    return body


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role.value,
            "wallet_address": user.wallet_address,
            "wallet_verified_at": user.wallet_verified_at.isoformat() if user.wallet_verified_at else None}


@api.post("/siwe/message")
@limiter.limit(lambda: current_app.config["SIWE_RATE_LIMIT"])
def siwe_message():
    body = _body("address", "purpose")
    address = checksum_address(body["address"])
    purpose = body["purpose"]
    if purpose == "link" and not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    user = current_user._get_current_object() if purpose == "link" else None
    now = utcnow()
    nonce = issue_nonce(purpose, user, now=now, seconds=int(current_app.config["SIWE_NONCE_SECONDS"]))
    scheme, domain = _origin()
    statement = (LOGIN_STATEMENT if purpose == "login"
                 else f"Link this wallet to the Fairlabel account {user.username} to receive payouts.")
    text = build_message(domain=domain, address=address, uri=_uri_for(purpose), chain_id=siwe_chain_id(),
                         nonce=nonce.nonce, issued_at=now, expiration_time=nonce.expires_at,
                         statement=statement, scheme=scheme)
    body = {"message": text, "nonce": nonce.nonce, "expires_at": nonce.expires_at.isoformat(),
            "submit_url": url_for("api.siwe_login") if purpose == "login" else url_for("api.link")}
    db.session.commit()
    return body


def _verify_args(purpose: str) -> dict[str, Any]:
    scheme, domain = _origin()
    return {"domain": domain, "scheme": scheme, "uri": _uri_for(purpose), "chain_id": siwe_chain_id(),
            "now": utcnow()}


@api.post("/siwe/login")
@limiter.limit(lambda: current_app.config["SIWE_RATE_LIMIT"])
def siwe_login():
    body = _body("message", "signature")
    user = sign_in_with_wallet(body["message"], body["signature"], **_verify_args("login"))
    reply = {"user": user_json(user), "redirect": home_for(user)}
    db.session.commit()
    login_user(user)
    return reply


@api.post("/wallet/link")
@login_required
def link():
    body = _body("message", "signature")
    user = link_wallet(current_user._get_current_object(), body["message"], body["signature"],
                       **_verify_args("link"))
    reply = {"user": user_json(user)}
    db.session.commit()
    return reply
