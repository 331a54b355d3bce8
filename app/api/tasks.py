"""Next task, answer and skip, for the labeling page (and any client with a session)."""
from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask_login import current_user, login_required

from annotation.errors import InvalidAnswer, PermissionDenied
from annotation.jobs import get_job_for, job_spec
from annotation.models import Answer, Assignment
from annotation.tasks import get_assignment_for
from app.api import api
from app.extensions import db
from app.inputs import json_object
from app.operations import tasks as work
from app.operations.tasks import SchedulerSettings


def _settings() -> SchedulerSettings:
    return SchedulerSettings(lease_seconds=current_app.config["LEASE_SECONDS"],
                             max_active_ms=current_app.config["MAX_ACTIVE_MS_PER_ANSWER"])


def _annotator():
    if not current_user.is_annotator:
        raise PermissionDenied("Only annotators can take tasks.")
    return current_user._get_current_object()


def task_json(assignment: Assignment) -> dict[str, Any]:
    """What the annotator may see of a task: the data fields the config's objects read, and the
    lease — never gold, others' answers or any other field of the row (an uploaded file's name,
    or a requester's own columns, may give the answer away)."""
    item = assignment.item
    return {
        "id": assignment.id,
        "item_id": item.id,
        "data": job_spec(item.job).task_data(item.data),
        "lease_expires_at": assignment.lease_expires_at.isoformat(),
        "answer_url": url_for("api.answer", assignment_id=assignment.id),
        "skip_url": url_for("api.skip", assignment_id=assignment.id),
    }


@api.post("/jobs/<int:job_id>/next")
@login_required
def next_task(job_id: int):
    worker = _annotator()
    job = get_job_for(worker, job_id)
    assignment = work.next_task(worker, job, settings=_settings())
    db.session.commit()
    if assignment is None:
        return {"task": None, "message": "No more tasks for you in this job. Thank you!"}
    return {"task": task_json(assignment)}


@api.post("/tasks/<int:assignment_id>/answer")
@login_required
def answer(assignment_id: int):
    worker = _annotator()
    get_assignment_for(worker, assignment_id)  # someone else's task is a 404 whatever the body
    body = json_object(error=InvalidAnswer)
    if "result" not in body:
        raise InvalidAnswer("The answer has no `result`.")
    stored: Answer = work.submit_answer(worker, assignment_id, body["result"], settings=_settings())
    db.session.commit()
    return {"answer": {"id": stored.id, "status": stored.status.value, "active_ms": stored.active_ms}}


@api.post("/tasks/<int:assignment_id>/skip")
@login_required
def skip(assignment_id: int):
    skipped = work.skip_task(_annotator(), assignment_id)
    db.session.commit()
    return {"task": {"id": skipped.id, "status": skipped.status.value}}
