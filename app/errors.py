"""The one place where domain exceptions become HTTP responses, in one JSON/HTML error shape.

JSON body: {"error": {"code": "invalid_upload", "message": "...", "details": {...}}}.
HTML: the error page with the same message. Never a stack trace.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from annotation.errors import AnnotationError, Conflict, InvalidInput, NotFound, PermissionDenied
from app import security
from app.extensions import db, login_manager
from app.token_auth import is_token_request
from app.identity.errors import IdentityConflict, IdentityError, InsufficientScope, InvalidToken, TokenNotFound
from consensus import ConsensusError
from rewards.chain.errors import ChainError, ChainUnavailable
from rewards.errors import (
    BelowPayFloor,
    InsufficientFunds,
    RewardsConflict,
    RewardsError,
    RewardsNotFound,
    TransferConflict,
)

log = logging.getLogger(__name__)

STATUS = [
    (InvalidToken, 401),
    (InsufficientScope, 403),
    (TokenNotFound, 404),
    (IdentityConflict, 409),
    (IdentityError, 400),
    (NotFound, 404),
    (PermissionDenied, 403),
    (InvalidInput, 400),
    (Conflict, 409),
    (InsufficientFunds, 402),
    (TransferConflict, 409),
    (RewardsConflict, 409),
    (RewardsNotFound, 404),
    (BelowPayFloor, 422),
    (RewardsError, 400),
    (ConsensusError, 422),
    (AnnotationError, 400),
]


def status_for(exc: Exception) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


# The codes of plain HTTP errors, by status, assigned here rather than derived from Werkzeug's
# reason phrases (which change between releases: 413 is "Content Too Large" in RFC 9110). These
# are the codes clients have seen; keep them.
HTTP_ERROR_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 409: "conflict", 410: "gone", 411: "length_required",
    412: "precondition_failed", 413: "request_entity_too_large", 414: "request_uri_too_long",
    415: "unsupported_media_type", 416: "requested_range_not_satisfiable", 417: "expectation_failed",
    421: "misdirected_request", 422: "unprocessable_entity", 423: "locked", 424: "failed_dependency",
    428: "precondition_required", 429: "too_many_requests", 431: "request_header_fields_too_large",
    451: "unavailable_for_legal_reasons", 500: "internal_server_error", 501: "not_implemented",
    502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout", 505: "http_version_not_supported",
}


def error_code(exc: Exception) -> str:
    """The stable code clients see: each domain exception class names its own."""
    return getattr(exc, "code", None) or "error"


def wants_json() -> bool:
    if request.path.startswith("/api/") or is_token_request():
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str, details: dict | None = None) -> Response:
    # The request's work is void: roll back before rendering, which may touch the session.
    db.session.rollback()
    if wants_json():
        response = jsonify(error={"code": code, "message": message, "details": details or {}})
    else:
        response = Response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return error_response(401, "unauthorized", "Log in first.")
        return redirect(url_for(login_manager.login_view, next=request.full_path.rstrip("?")))

    @app.errorhandler(AnnotationError)
    @app.errorhandler(RewardsError)
    @app.errorhandler(IdentityError)
    def domain_error(exc: AnnotationError | RewardsError | IdentityError):
        response = error_response(status_for(exc), error_code(exc), exc.message, exc.details)
        if isinstance(exc, InvalidToken):
            response.headers["WWW-Authenticate"] = 'Bearer realm="fairlabel", error="invalid_token"'
        return response

    @app.errorhandler(ChainError)
    def chain_error(exc: ChainError):
        if isinstance(exc, ChainUnavailable):
            log.warning("chain unavailable on %s %s: %s", request.method, request.path, exc)
            return error_response(503, "chain_unavailable",
                                  "The blockchain node cannot be reached right now; nothing was saved. "
                                  "Please try again in a minute.")
        # A misconfigured or misbehaving chain: the operator's problem, told in the log only.
        log.error("chain error on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "chain_error", "The platform's blockchain connection is not working "
                              "right now; nothing was saved. The operators have been told.")

    @app.errorhandler(ConsensusError)
    def consensus_error(exc: ConsensusError):
        return error_response(422, "consensus_error", str(exc))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        # The CSRF check runs before any view. Without a session there is nothing to forge on a
        # route that needs one: say "log in" (401 / the login page), not "reload the page".
        view = app.view_functions.get(request.endpoint or "")
        if not current_user.is_authenticated and security.requires_login(view):
            return login_manager.unauthorized()
        return error_response(400, "csrf_failed",
                              "The form expired or did not come from this site; reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"] // 2**20
            message = f"The upload is larger than {limit} MiB; split it into smaller files."
        status = exc.code or 500
        return error_response(status, HTTP_ERROR_CODES.get(status, f"http_{status}"), message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error",
                              "Something went wrong on our side; nothing was saved. Please try again.")
