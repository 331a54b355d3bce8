"""Label Studio JSON and JSON-min.

- JSON: a list of tasks `{id, data, annotations, predictions}`; each answer is an annotation
  (`completed_by`, `result`, `lead_time` in seconds, `status`) and the consensus is a prediction
  whose `score` is its confidence, so the file imports straight into Label Studio. Uploaded media
  in `data` are absolute links signed to expire (annotation/exports/media.py).
- JSON-min (Label Studio's JSON_MIN): one flat object per item — `item_id`, the data fields,
  per control the consensus in a readable form (a single choice as its text, spans with their
  text), `confidence` and `n_answers`.

Both are written one task per line inside the array, as the rows are read.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from annotation.exports.common import ExportContext, data_column, dumps, readable, reserved_columns
from annotation.label_config import result_from_values


def _array(objects: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "["
    first = True
    for obj in objects:
        yield ("\n" if first else ",\n") + dumps(obj)
        first = False
    yield "\n]\n" if not first else "]\n"


def label_studio_tasks(ctx: ExportContext) -> Iterator[dict[str, Any]]:
    model_version = f"fairlabel-consensus:{ctx.aggregation}"
    for item, answers in ctx.items(answers=True):
        task: dict[str, Any] = {
            "id": item.id,
            "data": ctx.public_data(item.data),
            "annotations": [
                {"id": a.id, "completed_by": a.worker_id, "result": a.result, "lead_time": a.active_ms / 1000,
                 "created_at": a.submitted_at.isoformat(), "status": a.status}
                for a in answers
            ],
            "predictions": [],
        }
        if item.consensus is not None:
            task["predictions"].append({"model_version": model_version, "score": item.confidence,
                                        "result": result_from_values(ctx.spec, item.consensus)})
        yield task


def write_json(ctx: ExportContext) -> Iterator[str]:
    return _array(label_studio_tasks(ctx))


def min_rows(ctx: ExportContext) -> Iterator[dict[str, Any]]:
    controls = ctx.spec.controls
    taken = reserved_columns(ctx.spec)
    for item, _ in ctx.items():
        row: dict[str, Any] = {"item_id": item.id}
        for key, value in ctx.public_data(item.data).items():
            row[data_column(key, taken)] = value
        consensus = item.consensus or {}
        for control in controls:
            row[control.name] = readable(control, consensus.get(control.name), ctx, item.data)
        row["confidence"] = item.confidence
        row["n_answers"] = item.n_answers
        yield row


def write_json_min(ctx: ExportContext) -> Iterator[str]:
    return _array(min_rows(ctx))

