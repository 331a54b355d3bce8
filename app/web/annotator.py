"""Annotator pages: the job feed, the labeling page and earnings."""
from __future__ import annotations

import functools

from flask import abort, render_template
from flask_login import current_user, login_required

from annotation.jobs import get_job_for, hourly_rate, job_spec, list_open_jobs, render_instructions
from annotation.models import JobStatus
from app.web import web
from rewards.settlement import answer_history, earnings_of


def annotator_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_annotator:
            abort(403, "This page is for annotators.")
        return view(*args, **kwargs)
    return wrapped


@web.get("/work")
@annotator_required
def work():
    feed = [(job, *hourly_rate(job)) for job in list_open_jobs()]
    return render_template("annotator/feed.html", feed=feed, earnings=earnings_of(current_user))


@web.get("/work/jobs/<int:job_id>")
@annotator_required
def label(job_id: int):
    job = get_job_for(current_user, job_id)
    if job.status is not JobStatus.PUBLISHED:
        abort(409, f"This job is {job.status.value}; it serves no tasks now.")
    return render_template("annotator/label.html", job=job, spec=job_spec(job),
                           instructions=render_instructions(job.instructions))


@web.get("/me")
@annotator_required
def earnings():
    return render_template("annotator/earnings.html", earnings=earnings_of(current_user),
                           history=answer_history(current_user))
