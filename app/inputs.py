"""Reading what clients send, within bounds, before anything else sees it.

Every JSON body is parsed here (the app's JSON provider), with a size cap and a nesting cap
checked on the raw bytes *before* the parser runs: Python's C JSON parser recurses per level and
its guard depends on the recursion limit, which a dependency (py_ecc) raises at import, so a deep
enough body would overflow the C stack and kill the worker. Strings holding NUL or a lone
surrogate, non-finite numbers and oversized integers are refused too: the database cannot store
the first two, and the last two are never meaningful input.
"""
from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 30
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class UnsafeJSON(ValueError):
    """JSON that is well formed but outside what the platform accepts."""


def _depth(data: bytes) -> int:
    """Deepest nesting of [ and { outside strings, in one vectorised pass."""
    bare = _STRING.sub(b'""', data)
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = (np.isin(codes, (0x5B, 0x7B)).astype(np.int32)
             - np.isin(codes, (0x5D, 0x7D)).astype(np.int32))
    return int(np.cumsum(steps).max(initial=0))


def _refuse_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not a number this platform accepts")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UnsafeJSON(f"an integer of {len(text)} digits is too long")
    return int(text)


def _check_strings(value: Any) -> None:
    """Refuse NUL and lone surrogates anywhere in keys or string values (iteratively)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _BAD_TEXT.search(node):
                raise UnsafeJSON("a string holds a NUL character or an unpaired surrogate")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def loads_bounded(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that refuses what would hurt us (see the module docstring)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if _depth(raw) > max_depth:
        raise UnsafeJSON(f"nesting deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsafeJSON(f"not UTF-8 (byte {exc.start})") from None
    value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int)
    _check_strings(value)
    return value


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with every request body parsed by `loads_bounded`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_bounded(s)


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
        raise error(f"The body is not valid JSON: {_reason(exc)}", field="body") from None
    if not isinstance(body, dict):
        raise error("Send a JSON object ({...}).", field="body")
    return body


def _reason(exc: BadRequest) -> str:
    cause = exc.__context__ or exc.__cause__
    return str(cause) if cause is not None else (exc.description or "malformed")
