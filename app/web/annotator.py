"""Annotator pages: the job feed, the labeling page and earnings."""
from __future__ import annotations

import functools

from flask import abort, render_template
from flask_login import current_user, login_required

from annotation.jobs import get_job_for, hourly_rate, job_spec, list_open_jobs, render_instructions
from annotation.levels import LEVELS, level_of, level_rank
from annotation.models import JobStatus
from app.web import web
from rewards.earnings import answer_history, earnings_of
from rewards.policy import current_policy
from rewards.reports import worker_earnings_series, worker_effective_hourly


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
    mine = level_of(current_user)
    rank = level_rank(mine.level.name)
    feed = []
    for job in list_open_jobs():
        required = LEVELS[level_rank(job.min_level)]
        locked = not current_user.is_admin and level_rank(required.name) > rank
        feed.append((job, *hourly_rate(job), required, locked))
    return render_template("annotator/feed.html", feed=feed, earnings=earnings_of(current_user),
                           level=mine)


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
    series = worker_earnings_series(current_user, days=30)
    chart = {"labels": [day.date.isoformat() for day in series],
             "earned": [day.earned for day in series],
             "released": [day.released for day in series],
             "token": current_policy().token}
    return render_template("annotator/earnings.html", earnings=earnings_of(current_user),
                           history=answer_history(current_user), level=level_of(current_user),
                           hourly=worker_effective_hourly(current_user), chart=chart,
                           policy=current_policy())
