"""A job's life: create, add items, publish, pause, resume, close — with its money."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from annotation import imports, jobs
from annotation.decisions import finalize_job
from annotation.models import Job, JobStatus
from app.identity.models import User
from app.operations.tasks import refresh_labels_when_done
from rewards.earnings import pay_answers
from rewards.escrow import budget_for, fund_job
from rewards.funding import refund_job
from rewards.payfloor import check_pay_floor, require_funded_to_resume


def create_job(owner: User, **fields: Any) -> Job:
    """A draft job whose terms meet the pay floor (BelowPayFloor otherwise: nothing is kept)."""
    job = jobs.create_job(owner, **fields)
    check_pay_floor(job)
    return job


def add_items(user: User, job: Job, files: list[imports.UploadedFile], *, media_root: Path,
              limits: imports.UploadLimits = imports.UploadLimits()) -> int:
    """Import an upload whole (returns how many items it added); a job already open reserves the
    new answers' pay at once (402 and nothing imported when the balance cannot cover it)."""
    jobs.require_owner(user, job)
    if job.status in (JobStatus.PUBLISHED, JobStatus.PAUSED):
        budget_for(job, lock=True)
    added = imports.import_upload(user, job, files, media_root=media_root, limits=limits)
    if job.status in (JobStatus.PUBLISHED, JobStatus.PAUSED):
        fund_job(job, job.overlap * added)
    return added


def publish_job(user: User, job: Job) -> Job:
    """Draft → published, once the terms meet the floor and the escrow holds what every answer
    may earn."""
    jobs.require_owner(user, job)
    budget_for(job, lock=True)
    job = jobs.publish_job(user, job)
    check_pay_floor(job)
    fund_job(job, jobs.open_slots(job))
    return job


def pause_job(user: User, job: Job) -> Job:
    return jobs.pause_job(user, job)


def resume_job(user: User, job: Job) -> Job:
    """Paused → published, only if the budget covers what the job may still pay."""
    jobs.require_owner(user, job)
    if job.status is not JobStatus.PAUSED:
        return jobs.resume_job(user, job)  # the Conflict, with its message
    require_funded_to_resume(job)
    return jobs.resume_job(user, job)


def close_job(user: User, job: Job) -> Job:
    """Close for good: under the job's exclusive lock, decide every answer submitted, pay the
    accepted ones and refund the rest of the escrow. A second close gets 409."""
    was_funded = job.status is not JobStatus.DRAFT
    job = jobs.close_job(user, job)
    decided = finalize_job(job, now=job.closed_at)
    if was_funded:
        pay_answers(job, decided)
        refund_job(job)
    if decided:
        refresh_labels_when_done(job)
    return job


LIFECYCLE = {"publish": publish_job, "pause": pause_job, "resume": resume_job, "close": close_job}
