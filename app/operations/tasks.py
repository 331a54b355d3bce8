"""An annotator's work: take a task, answer it (deciding and paying the item when complete), skip."""
from __future__ import annotations

import datetime as dt
from typing import Any

from annotation import tasks
from annotation.decisions import PER_ITEM_METHODS, has_open_items
from annotation.models import Answer, Assignment, Job
from annotation.results import recompute_job
from app.extensions import db
from app.identity.models import User
from rewards.earnings import pay_answers

SchedulerSettings = tasks.SchedulerSettings


def next_task(worker: User, job: Job, *, settings: SchedulerSettings = SchedulerSettings(),
              now: dt.datetime | None = None) -> Assignment | None:
    return tasks.next_task_for(worker, job, settings=settings, now=now)


def submit_answer(worker: User, assignment_id: int, result: Any, *,
                  settings: SchedulerSettings = SchedulerSettings(),
                  now: dt.datetime | None = None) -> Answer:
    """Store the answer; if it completes its item, the item is decided and every accepted
    answer of it is paid, in this same transaction."""
    submission = tasks.submit_answer(worker, assignment_id, result, settings=settings, now=now)
    if submission.decided:
        job = db.session.get(Job, submission.answer.job_id)
        pay_answers(job, submission.decided)
        refresh_labels_when_done(job)
    return submission.answer


def refresh_labels_when_done(job: Job) -> None:
    """When a job's last item is decided, refresh every label by a fit over the whole job (what
    exports show; the decisions that moved money stand)."""
    if job.aggregation not in PER_ITEM_METHODS and not has_open_items(job):
        recompute_job(job)


def skip_task(worker: User, assignment_id: int, *, now: dt.datetime | None = None) -> Assignment:
    return tasks.skip_task(worker, assignment_id, now=now)
