"""Reading what clients send, within bounds, before anything else sees it.

- Every JSON body is parsed by `annotation.validation.loads_bounded` (registered as the app's
  JSON provider): depth and size are checked on the raw bytes before the parser runs, and
  NaN/Infinity, over-long integers, NUL and unpaired surrogates are refused. See that module for
  why (a deep body would otherwise kill the worker process).
- `<int:...>` in every route takes ASCII digits from 1 to 2**31 - 1, the range of the integer
  columns ids live in; anything else does not match, so it is a 404 and never reaches the
  database (which would raise "integer out of range").
- Query strings, form fields, upload file names and the path may not hold NUL or an unpaired
  surrogate: no text column can store them (400 before any view runs).
- `query_int` reads a whole number (a page, an id) from the query string, or answers 400.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from annotation.errors import InvalidInput
from annotation.validation import MAX_ID, bad_text, loads_bounded, whole_number

# Highest ?page= a listing takes: far beyond any real listing, small enough for any OFFSET.
MAX_PAGE = 100_000


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with every request body parsed by `loads_bounded`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_bounded(s)


class BoundedIntConverter(IntegerConverter):
    """Werkzeug's `int` converter limited to ASCII digits and the range of an id column.

    Werkzeug's own matches `\\d+`, which includes other scripts' digits (`/jobs/٥` is job 5) and
    numbers of any size (`/jobs/2147483648` reaches PostgreSQL, which raises).
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any, fixed_digits: int = 0, min: int = 1, max: int = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)


def register(app: Flask) -> None:
    """Install the bounded `int` converter and the text guard. Call before any blueprint is
    registered: routes pick their converter when they are added."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_unstorable_text)


def refuse_unstorable_text() -> None:
    """400 for a NUL or an unpaired surrogate in the path, the query string, form fields or an
    uploaded file's name (file contents are the importer's to check)."""
    places: list[tuple[str, Any]] = [("the address", request.path), ("the query string", request.args.to_dict(flat=False))]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        places.append(("the form", request.form.to_dict(flat=False)))
        places.append(("a file name", [f.filename or "" for f in request.files.values()]))
    for where, value in places:
        problem = bad_text(value)
        if problem:
            raise InvalidInput(f"Refused: {problem.replace('a string', where)}.", field=where)


def query_int(name: str, *, default: int | None = 1, low: int = 1, high: int = MAX_PAGE) -> int | None:
    """The query-string argument `name` as a whole number in [low, high]; `default` when it is
    absent or empty; InvalidInput (400) for anything else (`?page=2**63`, `?page=٥`)."""
    value = request.args.get(name, "")
    if value == "":
        return default
    return whole_number(value, name, low, high)


def json_object(*, error: type[Exception]) -> dict[str, Any]:
    """The request's JSON object body, or `error` saying what is wrong with it."""
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise error(f"The JSON body is larger than {limit} bytes.", field="body")
    if not request.is_json:
        raise error("Send a JSON object with Content-Type: application/json.", field="body")
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise error(f"The JSON body is larger than {limit} bytes.", field="body")
    try:
        body = request.get_json()
    except BadRequest as exc:
        raise error(f"The body is not valid JSON: {_reason(exc)}.", field="body") from None
    if not isinstance(body, dict):
        raise error("Send a JSON object ({...}).", field="body")
    return body


def _reason(exc: BadRequest) -> str:
    cause = exc.__context__ or exc.__cause__
    return str(cause) if cause is not None else (exc.description or "malformed")
