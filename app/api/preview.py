"""The job form's live preview: a config and one row in, the labeling page's spec and task out;
an answer checked as a real one would be. Requesters only; nothing is stored.

Bodies are bounded like every JSON body (MAX_JSON_BYTES, `app.inputs.json_object`) and the
config by MAX_CONFIG_CHARS (`parse_label_config`). Every refusal is a domain error, so it reaches
the client as a 4xx with the same code and message the real path would give.
"""
from __future__ import annotations

from typing import Any

from flask import current_app
from flask_login import current_user, login_required

from annotation.errors import InvalidAnswer, InvalidInput, PermissionDenied
from annotation.preview import PreviewTask, check_preview_answer, preview_item, preview_row
from annotation.validation import MAX_ID, whole_number
from app.api import api
from app.extensions import limiter
from app.inputs import json_object


def _requester():
    if not current_user.is_requester:
        raise PermissionDenied("Only requesters can preview a labeling config.")
    return current_user._get_current_object()


def _preview_task(body: dict[str, Any]) -> PreviewTask:
    """The task `body` asks for: {label_config, data} (a row of the requester's own) or
    {item_id[, label_config]} (one of their uploaded items)."""
    if body.get("item_id") is not None:
        item_id = whole_number(body["item_id"], "item_id", 1, MAX_ID)
        return preview_item(_requester(), item_id, body.get("label_config"))
    if "label_config" not in body:
        raise InvalidInput("Send `label_config`: the labeling config to preview.", field="label_config")
    if "data" not in body:
        raise InvalidInput('Send `data`: one row as a JSON object, like {"text": "..."}.', field="data")
    return preview_row(body["label_config"], body["data"])


def _rate_limit() -> str:
    return current_app.config["PREVIEW_RATE_LIMIT"]


@api.post("/preview")
@login_required
@limiter.limit(_rate_limit)
def preview():
    """{spec, task}: what the labeling page would render for this config and row."""
    _requester()
    return _preview_task(json_object(error=InvalidInput)).to_json()


@api.post("/preview/answer")
@login_required
@limiter.limit(_rate_limit)
def preview_answer():
    """{answer: {choices, result}}: the answer as it would be stored, or the annotator's error."""
    _requester()
    body = json_object(error=InvalidInput)
    task = _preview_task(body)
    if "result" not in body:
        raise InvalidAnswer("The answer has no `result`.")
    return {"answer": check_preview_answer(task, body["result"])}
