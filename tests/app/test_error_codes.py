"""Plain HTTP errors carry codes assigned by status in app/errors.py, not derived from Werkzeug's
reason phrases: a phrase that changes between releases must not change what clients see."""
from __future__ import annotations

from werkzeug.exceptions import HTTPException

from app.errors import HTTP_ERROR_CODES

JSON = {"Accept": "application/json"}


def test_codes_by_status_are_the_ones_clients_have_seen():
    assert HTTP_ERROR_CODES[404] == "not_found" and HTTP_ERROR_CODES[405] == "method_not_allowed"
    assert HTTP_ERROR_CODES[413] == "request_entity_too_large" and HTTP_ERROR_CODES[429] == "too_many_requests"
    assert len(set(HTTP_ERROR_CODES.values())) == len(HTTP_ERROR_CODES)


def test_unknown_route_and_wrong_method_answer_their_codes(client):
    missing = client.get("/api/no-such-thing", headers=JSON)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.get("/api/jobs/1/next", headers=JSON)  # a POST-only route
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_a_renamed_reason_phrase_keeps_the_code(app, client):
    class Renamed(HTTPException):
        code = 413
        description = "Too big."

        @property
        def name(self) -> str:  # what a newer Werkzeug may call it
            return "Content Too Large"

    class Odd(HTTPException):
        code = 499
        description = "Client closed the request."

    @app.get("/raise/<kind>")
    def raise_it(kind: str):
        raise Renamed() if kind == "renamed" else Odd()

    renamed = client.get("/raise/renamed", headers=JSON)
    assert renamed.status_code == 413 and renamed.get_json()["error"]["code"] == "request_entity_too_large"
    odd = client.get("/raise/odd", headers=JSON)
    assert odd.status_code == 499 and odd.get_json()["error"]["code"] == "http_499"
