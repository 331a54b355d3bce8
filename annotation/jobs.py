"""Jobs: create, find with visibility rules, and move through draft → published ⇄ paused → closed."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import markdown_it
import nh3
from sqlalchemy import func

from annotation.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from annotation.label_config import ControlSpec, LabelSpec, check_new_config, parse_label_config
from annotation.levels import LEVEL_NAMES
from annotation.models import Answer, Item, Job, JobStatus
from app.extensions import db, utcnow
from app.identity.models import User
from consensus import AGGREGATORS

MAX_OVERLAP = 50
MAX_REWARD = 10**15
_markdown = markdown_it.MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_instructions(markdown_text: str) -> str:
    """Markdown → HTML, sanitized by nh3 (raw HTML is escaped before it is even parsed)."""
    return nh3.clean(_markdown.render(markdown_text or ""), link_rel="noopener noreferrer nofollow")


def _require_int(name: str, value: object, low: int, high: int) -> int:
    from annotation.validation import whole_number  # ASCII digits only; one rule everywhere

    return whole_number(value, name, low, high)


def create_job(
    owner: User,
    *,
    title: str,
    label_config: str,
    reward: int,
    overlap: int,
    instructions: str = "",
    seconds_per_task: int = 30,
    aggregation: str = "auto",
    min_level: str = "newcomer",
    acceptance: Any = None,
) -> Job:
    """A draft job; raises InvalidConfig / InvalidInput naming the field at fault."""
    if not owner.is_requester:
        raise PermissionDenied("Only requesters can create jobs.")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise InvalidInput("A job needs a title of 1–200 characters.", field="title")
    spec = check_new_config(parse_label_config(label_config))
    acceptance = check_acceptance(spec, acceptance)
    if min_level not in LEVEL_NAMES:
        raise InvalidInput(f"Unknown level {min_level!r}; choose one of {', '.join(LEVEL_NAMES)}.",
                           field="min_level")
    if aggregation not in AGGREGATORS:
        raise InvalidInput(f"Unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATORS)}.",
                           field="aggregation")
    job = Job(
        owner=owner,
        title=title,
        instructions=instructions or "",
        label_config=label_config,
        reward=_require_int("reward", reward, 0, MAX_REWARD),
        overlap=_require_int("overlap", overlap, 1, MAX_OVERLAP),
        seconds_per_task=_require_int("seconds_per_task", seconds_per_task, 1, 24 * 3600),
        aggregation=aggregation,
        min_level=min_level,
        acceptance=acceptance,
        status=JobStatus.DRAFT,
    )
    db.session.add(job)
    db.session.flush()
    return job


# What each acceptance threshold may be set to (docs/annotation-types.md).
THRESHOLD_RANGES = {"min_f1": (0.0, 1.0), "iou": (0.01, 1.0), "max_wer": (0.0, 10.0), "distance": (0.01, 100.0),
                    "tolerance": (0.0, 1e15)}


def check_acceptance(spec: LabelSpec, acceptance: Any) -> dict[str, dict[str, float]] | None:
    """A job's acceptance thresholds, checked against its config: control names, the keys each
    kind takes, numbers in range. None or {} means every kind's defaults."""
    from annotation.controls import kind_of

    if acceptance in (None, "", {}):
        return None
    if not isinstance(acceptance, dict):
        raise InvalidInput("Acceptance thresholds map control names to {threshold: number}.", field="acceptance")
    checked: dict[str, dict[str, float]] = {}
    for name, values in acceptance.items():
        control = spec.control(name) if isinstance(name, str) else None
        if control is None or not control.scored:
            raise InvalidInput(f"Acceptance names {name!r}, which is not a scored control of this config.",
                               field="acceptance")
        defaults = kind_of(control).threshold_defaults
        if not isinstance(values, dict) or not values:
            raise InvalidInput(f"Acceptance for {name!r} must map thresholds to numbers.", field="acceptance")
        for key, number in values.items():
            if key not in defaults:
                takes = ", ".join(defaults) or "no thresholds"
                raise InvalidInput(f"{name!r} ({control.kind}) takes {takes}, not {key!r}.", field="acceptance")
            low, high = THRESHOLD_RANGES[key]
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not low <= number <= high:
                raise InvalidInput(f"Acceptance {name}.{key} must be a number from {low:g} to {high:g}.",
                                   field="acceptance")
            checked.setdefault(name, {})[key] = float(number)
    return checked


def acceptance_thresholds(job: Job, control: ControlSpec) -> dict[str, float]:
    """The thresholds that accept or reject answers to `control`: its kind's defaults, overridden
    by what the job set."""
    from annotation.controls import kind_of

    return {**kind_of(control).threshold_defaults, **((job.acceptance or {}).get(control.name) or {})}


def job_spec(job: Job) -> LabelSpec:
    """The parsed labeling config of a job (parsing is cached by config text)."""
    return parse_label_config(job.label_config)


def get_job_for(user: User, job_id: int, *, manage: bool = False) -> Job:
    """The job if `user` may see it (managing needs ownership or admin), else NotFound.

    Another requester's job is reported as missing, not forbidden, so ids leak nothing.
    """
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    if user.is_admin or job.owner_id == user.id:
        return job
    if manage or job.status in (JobStatus.DRAFT,) or not user.is_annotator:
        raise NotFound(f"Job {job_id} not found.")
    return job


def list_jobs_for(owner: User) -> Sequence[Job]:
    query = db.select(Job).order_by(Job.id.desc())
    if not owner.is_admin:
        query = query.where(Job.owner_id == owner.id)
    return db.session.scalars(query).all()


def list_open_jobs() -> Sequence[Job]:
    has_open_items = db.select(Item.id).where(Item.job_id == Job.id, ~Item.is_complete).exists()
    return db.session.scalars(
        db.select(Job).where(Job.status == JobStatus.PUBLISHED, has_open_items)
        .order_by(Job.published_at.desc(), Job.id.desc())
    ).all()


def open_slots(job: Job) -> int:
    """Answers the job still wants: overlap × items, less what was answered."""
    answered = db.session.scalar(db.select(func.count()).select_from(Answer).where(Answer.job_id == job.id))
    return job.overlap * job.n_items - int(answered or 0)


def lock_job(job: Job, *, exclusive: bool) -> Job:
    """Lock the job's row for the rest of the transaction and re-read it.

    `exclusive=False` (FOR KEY SHARE) is what taking an answer holds: many at once, and
    compatible with ordinary updates of the row. `exclusive=True` (FOR UPDATE) is what closing
    holds: it waits for every answer in flight to commit and makes later ones wait, then see the
    job closed — so no answer can be stored after a close has decided the job's answers, and two
    closes cannot run at once. SQLite serializes every writing transaction instead.
    """
    query = db.select(Job).where(Job.id == job.id).execution_options(populate_existing=True)
    query = query.with_for_update() if exclusive else query.with_for_update(key_share=True, read=True)
    return db.session.scalar(query)


def publish_job(user: User, job: Job) -> Job:
    """Draft → published (the operation reserves the money first)."""
    require_owner(user, job)
    if job.status is not JobStatus.DRAFT:
        raise Conflict(f"Only a draft can be published; this job is {job.status.value}.")
    if job.n_items == 0:
        raise Conflict("Upload items before publishing: this job has none.")
    job.status = JobStatus.PUBLISHED
    job.published_at = utcnow()
    db.session.flush()
    return job


def pause_job(user: User, job: Job) -> Job:
    require_manager(user, job)
    if job.status is not JobStatus.PUBLISHED:
        raise Conflict(f"Only a published job can be paused; this job is {job.status.value}.")
    job.status = JobStatus.PAUSED
    db.session.flush()
    return job


def resume_job(user: User, job: Job) -> Job:
    """Paused → published (the operation checks the budget first)."""
    require_owner(user, job)
    if job.status is not JobStatus.PAUSED:
        raise Conflict(f"Only a paused job can be resumed; this job is {job.status.value}.")
    job.status = JobStatus.PUBLISHED
    db.session.flush()
    return job


def close_job(user: User, job: Job) -> Job:
    """Mark the job closed for good, under its exclusive lock (the operation then decides every
    answer submitted and settles the money). A second close gets Conflict."""
    require_manager(user, job)
    job = lock_job(job, exclusive=True)
    if job.status is JobStatus.CLOSED:
        raise Conflict("This job is already closed.")
    job.status = JobStatus.CLOSED
    job.closed_at = utcnow()
    db.session.flush()
    return job


def require_manager(user: User, job: Job) -> None:
    """Only the job's owner or an admin may see its results, pause or close it (others get
    NotFound, so ids leak nothing)."""
    if not (user.is_admin or job.owner_id == user.id):
        raise NotFound(f"Job {job.id} not found.")


def require_owner(user: User, job: Job) -> None:
    """What spends the owner's money (publishing, resuming, adding items, bonuses, disputes) is
    theirs alone: an admin may moderate a job but never spend from it."""
    require_manager(user, job)
    if job.owner_id != user.id:
        raise PermissionDenied("Only the job's owner can do this: it moves the owner's money.")


@dataclass(frozen=True)
class JobProgress:
    n_items: int
    n_complete: int
    n_answers: int

    @property
    def percent(self) -> int:
        return int(100 * self.n_complete / self.n_items) if self.n_items else 0


def job_progress(job: Job) -> JobProgress:
    n_complete = db.session.scalar(
        db.select(func.count()).select_from(Item).where(Item.job_id == job.id, Item.is_complete.is_(True))
    )
    n_answers = db.session.scalar(db.select(func.count()).select_from(Answer).where(Answer.job_id == job.id))
    return JobProgress(job.n_items, int(n_complete or 0), int(n_answers or 0))


MIN_ANSWERS_FOR_MEASURED_RATE = 5


def seconds_per_answer(job: Job, *, min_answers: int = MIN_ANSWERS_FOR_MEASURED_RATE) -> tuple[float, bool]:
    """(median active seconds per answer, measured?) over the job's latest 501 answers — the
    requester's estimate until there are `min_answers` answers to measure."""
    times = db.session.scalars(
        db.select(Answer.active_ms).where(Answer.job_id == job.id).order_by(Answer.id.desc()).limit(501)
    ).all()
    if len(times) >= min_answers:
        return max(statistics.median(times) / 1000, 1.0), True
    return float(job.seconds_per_task), False


def hourly_rate(job: Job) -> tuple[int, bool]:
    """Estimated token units per hour of work on this job, and whether it is measured."""
    seconds, measured = seconds_per_answer(job)
    return int(job.reward * 3600 / seconds), measured


def results_page(job: Job, *, page: int = 1, per_page: int = 50) -> list[Item]:
    return db.session.scalars(
        db.select(Item).where(Item.job_id == job.id).order_by(Item.is_complete.desc(), Item.id)
        .offset((max(page, 1) - 1) * per_page).limit(per_page)
    ).all()
