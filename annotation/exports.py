"""Dataset export: consensus labels with confidence, plus every raw answer.

- Label Studio JSON: a list of tasks `{id, data, annotations, predictions}`; each answer is an
  annotation (`completed_by`, `result`, `lead_time` in seconds) and the consensus is a
  prediction whose `score` is its confidence, so the file imports straight into Label Studio.
- CSV: one row per item: id, data fields, one column per control (choices joined by "|"),
  confidence, answer count, and the raw answers as JSON.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from typing import Any

from annotation.errors import InvalidInput
from annotation.jobs import job_spec, require_manager
from annotation.label_config import result_from_choices
from annotation.models import Answer, Item, Job
from app.extensions import db
from app.identity.models import User

FORMATS = ("json", "csv")


def _rows(job: Job) -> tuple[list[Item], dict[int, list[Answer]]]:
    items = db.session.scalars(db.select(Item).where(Item.job_id == job.id).order_by(Item.id)).all()
    answers: dict[int, list[Answer]] = defaultdict(list)
    for answer in db.session.scalars(
        db.select(Answer).where(Answer.job_id == job.id).order_by(Answer.id)
    ):
        answers[answer.item_id].append(answer)
    return items, answers


def export_label_studio_json(user: User, job: Job) -> list[dict[str, Any]]:
    require_manager(user, job)
    spec = job_spec(job)
    items, answers = _rows(job)
    tasks = []
    for item in items:
        task: dict[str, Any] = {
            "id": item.id,
            "data": item.data,
            "annotations": [
                {
                    "id": a.id,
                    "completed_by": a.worker_id,
                    "result": a.result,
                    "lead_time": a.active_ms / 1000,
                    "created_at": a.submitted_at.isoformat(),
                    "status": a.status.value,
                }
                for a in answers.get(item.id, [])
            ],
            "predictions": [],
        }
        if item.consensus is not None:
            task["predictions"].append({
                "model_version": f"fairlabel-consensus:{job.aggregation}",
                "score": item.confidence,
                "result": result_from_choices(spec, item.consensus),
            })
        tasks.append(task)
    return tasks


def export_csv(user: User, job: Job) -> str:
    require_manager(user, job)
    spec = job_spec(job)
    items, answers = _rows(job)
    data_fields = list(dict.fromkeys(k for item in items for k in item.data))
    controls = [c.name for c in spec.controls]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", *data_fields, *controls, "confidence", "n_answers", "answers"])
    for item in items:
        consensus = item.consensus or {}
        raw = [{"worker": a.worker_id, "choices": a.choices, "status": a.status.value,
                "active_ms": a.active_ms} for a in answers.get(item.id, [])]
        writer.writerow([
            item.id,
            *[_cell(item.data.get(f)) for f in data_fields],
            *["|".join(consensus[c]) if c in consensus else "" for c in controls],
            "" if item.confidence is None else f"{item.confidence:.4f}",
            item.n_answers,
            json.dumps(raw, separators=(",", ":")),
        ])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def export_job(user: User, job: Job, fmt: str) -> tuple[str, str]:
    """(body, mimetype) of the export in `fmt` (json or csv)."""
    if fmt == "json":
        return json.dumps(export_label_studio_json(user, job), indent=2), "application/json"
    if fmt == "csv":
        return export_csv(user, job), "text/csv"
    raise InvalidInput(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
