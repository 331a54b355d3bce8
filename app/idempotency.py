"""`Idempotency-Key` on POST, with Stripe's semantics.

A client that may retry (an agent on a flaky network) sends a key of its choosing with a POST.
The first request with that key runs and its response is stored; a later request with the same
key and the same method, path and body gets that stored response again (`Idempotent-Replayed:
true`) without running; the same key with a different request is a 422; while the first is still
running, a second is a 409. Keys belong to the user sending them and lapse after a day. Server
errors (5xx) are not stored, so a retry runs again. Only signed-in (or token) requests take part:
an anonymous key would be anyone's.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from flask import Flask, Response, g, request
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.extensions import db, utcnow
from app.identity.models import IdempotencyRecord

HEADER = "Idempotency-Key"
LIFETIME = dt.timedelta(days=1)
MAX_KEY = 255
MAX_STORED_BYTES = 1 << 20  # a larger response is not stored (the key then cannot replay it)


class IdempotencyError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _fingerprint() -> str:
    """SHA-256 of the method, path, query and body. A multipart body (an upload of many files) is
    hashed from Werkzeug's parse — fields, then each file in pieces — rather than read whole into
    memory; any other body is small and hashed as sent."""
    digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string.decode('latin-1')}\n".encode())
    if request.mimetype != "multipart/form-data":
        digest.update(request.get_data(cache=True))
        return digest.hexdigest()
    for name, value in request.form.items(multi=True):
        digest.update(f"{name}={value}\n".encode())
    for name, upload in request.files.items(multi=True):
        digest.update(f"{name}:{upload.filename}\n".encode())
        while piece := upload.stream.read(1 << 20):
            digest.update(piece)
        upload.stream.seek(0)
    return digest.hexdigest()


def _claim() -> Response | None:
    g.idempotency_record = None
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST" or not current_user.is_authenticated:
        return None
    if not key.strip() or len(key) > MAX_KEY or not key.isprintable():
        raise IdempotencyError(400, "invalid_idempotency_key",
                               f"{HEADER} must be 1 to {MAX_KEY} printable characters.")
    user_id, fingerprint, now = current_user.id, _fingerprint(), utcnow()
    record = db.session.scalar(db.select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key))
    if record is not None and record.created_at <= now - LIFETIME:
        db.session.delete(record)  # lapsed: the key is free again
        db.session.flush()
        record = None
    if record is None:
        record = IdempotencyRecord(user_id=user_id, key=key, request_hash=fingerprint, created_at=now)
        db.session.add(record)
        try:
            db.session.commit()  # the claim is visible at once, so a concurrent retry waits for it
        except IntegrityError:
            db.session.rollback()
            raise IdempotencyError(409, "idempotency_key_in_use",
                                   "A request with this Idempotency-Key is still being processed; retry later.") from None
        g.idempotency_record = record.id
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyError(422, "idempotency_key_reused",
                               "This Idempotency-Key was used for a different request; use a new key.")
    if record.status is None:
        raise IdempotencyError(409, "idempotency_key_in_use",
                               "A request with this Idempotency-Key is still being processed; retry later.")
    replay = Response(record.body or b"", status=record.status, content_type=record.content_type)
    replay.headers["Idempotent-Replayed"] = "true"
    db.session.rollback()
    return replay


def _store(response: Response) -> Response:
    record_id = g.pop("idempotency_record", None)
    if record_id is None:
        return response
    db.session.rollback()  # whatever the view left; the record is written on its own
    record = db.session.get(IdempotencyRecord, record_id)
    if record is None:
        return response
    if response.status_code >= 500 or response.is_streamed or (response.content_length or 0) > MAX_STORED_BYTES:
        db.session.delete(record)  # not stored: a retry runs again
    else:
        record.status = response.status_code
        record.content_type = response.content_type
        record.body = response.get_data()
    db.session.commit()
    return response


def register(app: Flask) -> None:
    from app.errors import error_response

    app.before_request(_claim)
    app.after_request(_store)

    @app.errorhandler(IdempotencyError)
    def idempotency_error(exc: IdempotencyError):
        return error_response(exc.status, exc.code, exc.message)
