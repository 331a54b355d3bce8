"""CSV: one row per item — `item_id`, the data fields (uploaded media as signed links), one
readable consensus cell per control (choices joined by "|", regions as JSON, text and numbers as
they are), `confidence`, `n_answers`, and the raw answers as JSON.

Text that a spreadsheet would run as a formula (a cell starting with =, +, -, @, a tab or a carriage
return, OWASP's list) gets a leading apostrophe: an annotator's transcript or comment must not
become a formula on the requester's machine. Numbers stay numbers ("-3" is not text to escape).

The header needs every data field before the first row, so the data are read twice: once for
their keys alone, once to write the rows (both in chunks).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from annotation.exports.common import ExportContext, csv_cell, data_column, dumps, reserved_columns


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text`, with an apostrophe before it if a spreadsheet would read it as a formula."""
    if not text.startswith(FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return spreadsheet_safe(value if isinstance(value, str) else dumps(value))


def write_csv(ctx: ExportContext) -> Iterator[str]:
    fields = ctx.data_fields()
    controls = ctx.spec.controls
    reserved = reserved_columns(ctx.spec)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["item_id", *[data_column(f, reserved) for f in fields], *[c.name for c in controls],
                     "confidence", "n_answers", "answers"])
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    for item, answers in ctx.items(answers=True):
        data = ctx.public_data(item.data)
        consensus = item.consensus or {}
        raw = [{"worker": a.worker_id, "choices": a.values, "status": a.status, "active_ms": a.active_ms}
               for a in answers]
        writer.writerow([
            item.id,
            *[_cell(data.get(f)) for f in fields],
            *[spreadsheet_safe(csv_cell(c, consensus.get(c.name))) for c in controls],
            "" if item.confidence is None else f"{item.confidence:.4f}",
            item.n_answers,
            dumps(raw),
        ])
        yield buffer.getvalue()  # joined up to FLUSH_BYTES by the caller
        buffer.seek(0)
        buffer.truncate()
