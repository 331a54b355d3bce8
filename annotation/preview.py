"""The job form's preview: a labeling config and one row, served and answered by the very code
that serves and checks real tasks, with nothing stored.

A requester previewing a config must meet exactly what an annotator would: the config checked
as `create_job` checks it, the row as an upload checks each row (`imports.check_row`), the task
data cut to what an annotator is sent (`LabelSpec.task_data`), and an answer checked by
`normalize_answer`, the function `tasks.submit_answer` calls — so the preview's verdict and its
error messages are the real ones, word for word.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annotation.errors import InvalidConfig, NotFound
from annotation.imports import check_row
from annotation.jobs import get_job_for, job_spec
from annotation.label_config import LabelSpec, check_new_config, normalize_answer, parse_label_config
from annotation.models import Item
from app.extensions import db
from app.identity.models import User


@dataclass(frozen=True)
class PreviewTask:
    """A config and the data its answer is checked against (what `Item.data` would hold)."""

    spec: LabelSpec
    data: dict[str, Any]
    item_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec the labeling page embeds, and the task as the next-task API sends it."""
        return {"spec": self.spec.to_json(),
                "task": {"item_id": self.item_id, "data": self.spec.task_data(self.data)}}


def preview_spec(label_config: Any) -> LabelSpec:
    """The config checked as a new job's is (InvalidConfig naming the tag at fault)."""
    if not isinstance(label_config, str):
        raise InvalidConfig("`label_config` must be the labeling config's XML, as text.", field="label_config")
    return check_new_config(parse_label_config(label_config))


def preview_row(label_config: Any, row: Any) -> PreviewTask:
    """A typed or pasted row under `label_config`; InvalidUpload when an upload would refuse it."""
    spec = preview_spec(label_config)
    data, _gold = check_row(spec, row)
    return PreviewTask(spec, data)


def preview_item(user: User, item_id: int, label_config: Any = None) -> PreviewTask:
    """One of `user`'s own items under its job's config (or `label_config`, when given). The
    item's stored data is what the answer is checked against, as for a real task (uploaded media
    keep their recorded size and duration)."""
    item = db.session.get(Item, item_id)
    if item is None:
        raise NotFound(f"Item {item_id} not found.")
    job = get_job_for(user, item.job_id, manage=True)  # another requester's item is a 404
    if label_config is None:
        spec = job_spec(job)
    else:
        spec = preview_spec(label_config)
        check_row(spec, item.data, where=f"Item {item.id}")  # the fields this config reads are there
    return PreviewTask(spec, dict(item.data), item.id)


def check_preview_answer(task: PreviewTask, result: Any) -> dict[str, Any]:
    """`result` checked as an annotator's answer to `task` would be: {"choices": {control:
    normalized value}, "result": the validated Label Studio result}; InvalidAnswer otherwise."""
    checked = list(result) if isinstance(result, list) else result
    choices = normalize_answer(task.spec, checked, task.data)
    return {"choices": choices, "result": checked}


_EXAMPLE_VALUES: dict[str, Any] = {
    "text": "Type one of your rows here.",
    "hypertext": "<p>Type one of your rows here.</p>",
    "paragraphs": [{"author": "A", "text": "Type one of your rows here."}],
    "image": "",  # a file picked in the page fills it
    "audio": "",
}


def example_row(spec: LabelSpec) -> dict[str, Any]:
    """A row with every field `spec` reads, for the preview to start from."""
    row: dict[str, Any] = {}
    for obj in spec.objects:
        value = _EXAMPLE_VALUES.get(obj.kind, "")
        if obj.kind == "paragraphs":
            value = [{obj.options.get("name_key", "author"): "A", obj.options.get("text_key", "text"): value[0]["text"]}]
        row.setdefault(obj.variable, value)
    return row
