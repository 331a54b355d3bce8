"""Reading what clients send, within bounds: JSON, text and whole numbers.

One implementation for every entry point: the web app parses request bodies with `loads_bounded`
(app/inputs.py wraps it as Flask's JSON provider), uploads parse their JSON and JSONL rows with it,
and services check integers with `whole_number`.

Why JSON needs more than `json.loads`: Python's C parser recurses once per nesting level, and its
guard depends on the interpreter's recursion limit, which a dependency (py_ecc) raises to 100,000
at import; a body of 100,000 `[` then overflows the C stack and kills the process (SIGSEGV). So the
nesting depth is measured on the raw bytes *before* the parser runs. What the parser would accept
but the platform cannot use is refused too: NaN and infinities (not JSON, and PostgreSQL refuses
them), integers too long to mean anything (and slow to convert), and strings holding NUL or an
unpaired surrogate (no database text column can store them, and they break every page that
renders them afterwards).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from annotation.errors import InvalidInput

MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 30
# Integer columns are 32-bit signed: ids and counts above this would make the database raise.
MAX_ID = 2**31 - 1

_STARTS_WITH_LIST = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\[")
_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
_IS_STRUCTURE = np.zeros(256, dtype=bool)
_IS_STRUCTURE[list(b"[]{},")] = True
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_SCAN_CHUNK = 1 << 20
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_DIGITS = re.compile(r"-?[0-9]+")


class InvalidJSON(InvalidInput):
    """JSON that does not parse, or parses to something the platform refuses to store."""

    code = "invalid_json"


class TooManyValues(InvalidJSON):
    """A JSON list longer than the caller allows, refused before it is parsed."""

    code = "too_many_values"


def loads_bounded(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH,
                  max_items: int | None = None, check_text: bool = True) -> Any:
    """`json.loads` that refuses what would hurt us (see the module docstring).

    `max_items`: when the document is a list, refuse it with TooManyValues if it holds more than
    that many elements — counted on the raw bytes, so a huge list is never built.
    `check_text=False` leaves the NUL/surrogate check to a caller that can say where (by row).
    Raises InvalidJSON (a ValueError) saying what is wrong and, for syntax errors, where
    (`details` line and column).
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    _check_structure(raw, max_depth, max_items)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not UTF-8 text (byte {exc.start})", byte=exc.start) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int,
                           parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"line {exc.lineno}, column {exc.colno}: {exc.msg}",
                          line=exc.lineno, column=exc.colno) from None
    except RecursionError:  # only if the interpreter's limit is below max_depth
        raise InvalidJSON(f"nesting deeper than {max_depth} levels") from None
    if check_text and b"\\u" in raw:  # strict UTF-8 decoding let no NUL or surrogate through otherwise
        problem = bad_text(value)
        if problem:
            raise InvalidJSON(problem)
    return value


def _check_structure(raw: bytes, max_depth: int, max_items: int | None, *, chunk: int = _SCAN_CHUNK) -> None:
    """Refuse nesting deeper than `max_depth` (and a list longer than `max_items`) on the raw
    bytes, in bounded memory and without building anything per string: a chunk at a time, find
    the quotes that open or close strings (those not escaped by an odd run of backslashes), and
    count brackets and commas that are outside them.

    For malformed JSON the count may be off, but the parser refuses such input anyway; for any
    document the parser accepts, it is exact.
    """
    opened = raw.count(b"[") + raw.count(b"{")
    counting = max_items is not None and _STARTS_WITH_LIST.match(raw) is not None
    if opened <= max_depth and not counting:
        return  # cannot be nested deeper than it has brackets
    in_string, trailing_backslashes, depth, top_commas = 0, 0, 0, 0
    for start in range(0, len(raw), chunk):
        codes = np.frombuffer(raw, dtype=np.uint8, count=min(chunk, len(raw) - start), offset=start)
        quotes = np.flatnonzero(codes == _QUOTE)
        backslash = codes == _BACKSLASH
        if trailing_backslashes or backslash.any():
            positions = np.arange(codes.size)
            last_other = np.maximum.accumulate(np.where(backslash, -1, positions))
            before = quotes - 1
            last = np.where(before >= 0, last_other[np.maximum(before, 0)], -1)
            run = before - last + np.where(last == -1, trailing_backslashes, 0)
            quotes = quotes[run % 2 == 0]
            end = int(last_other[-1])
            trailing_backslashes = (trailing_backslashes + codes.size) if end == -1 else codes.size - 1 - end
        structural = np.flatnonzero(_IS_STRUCTURE[codes])
        outside = structural[(np.searchsorted(quotes, structural) + in_string) % 2 == 0]
        in_string = (in_string + quotes.size) % 2
        if not outside.size:
            continue
        found = codes[outside]
        levels = np.cumsum(_STEP[found], dtype=np.int32) + depth
        if int(levels.max()) > max_depth:
            raise InvalidJSON(f"nesting deeper than {max_depth} levels")
        if counting:
            top_commas += int(np.count_nonzero((found == _COMMA) & (levels == 1)))
            if top_commas >= max_items:
                raise TooManyValues(f"the list holds more than {max_items} values", limit=max_items)
        depth = int(levels[-1])


def _refuse_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a number this platform accepts")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise InvalidJSON(f"an integer of {digits} digits is too long (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON(f"{_shorten(text)} is too large a number")
    return value


def bad_text(value: Any) -> str | None:
    """What is wrong with the text in `value` (a string, or keys and strings nested in lists and
    dicts, walked without recursion), or None: NUL and unpaired surrogates are refused."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found = _BAD_TEXT.search(node)
            if found:
                if found.group() == "\x00":
                    return "a string holds a NUL character"
                return f"a string holds an unpaired surrogate (\\u{ord(found.group()):04x})"
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def whole_number(value: object, name: str, low: int, high: int, *,
                 error: type[Exception] = InvalidInput) -> int:
    """`value` as an int in [low, high], or `error(message, field=name)`.

    Takes an int (not a bool) or a string of ASCII digits with an optional leading minus — no
    spaces, `+`, `_` or other scripts' digits, which `int()` would take and `str.isdigit()` would
    pass (`"²"`). A float is refused even when whole: nothing here is measured in fractions.
    """
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        # Longer than the bounds allow: out of range, without converting a huge string.
        if len(value.lstrip("-").lstrip("0")) > max(len(str(abs(low))), len(str(abs(high)))):
            raise error(f"{name} must be between {low} and {high}.", field=name)
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be a whole number written with the digits 0-9, "
                    f"not {_describe(value)}.", field=name)
    if not low <= value <= high:
        raise error(f"{name} must be between {low} and {high}.", field=name)
    return value


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _describe(value: object) -> str:
    if isinstance(value, str):
        return repr(_shorten(value))
    if isinstance(value, (bool, float)) or value is None:
        return repr(value)
    return f"a {type(value).__name__}"
