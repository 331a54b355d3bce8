"""The scheduler: serve the next task under a lease, take answers and skips.

Guarantees, on SQLite and PostgreSQL alike:
- nobody is served the same item twice (unique (item, worker) assignment);
- an item never has more than `overlap` leases plus answers: `Item.n_taken` only grows through
  a guarded `UPDATE ... WHERE n_taken < overlap`, which the database applies atomically;
- items closest to completion go first, so results arrive early;
- a lease that runs out returns its item to the pool.
On PostgreSQL, candidates are picked `FOR UPDATE SKIP LOCKED`, so concurrent requests fan out over
different items instead of queueing on one row.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, update

from annotation.decisions import decide_items
from annotation.errors import Conflict, LeaseExpired, NotFound, PermissionDenied
from annotation.jobs import job_spec, lock_job
from annotation.label_config import normalize_answer
from annotation.levels import LEVELS, level_rank, meets_level
from annotation.models import (
    Answer,
    AnswerStatus,
    Assignment,
    AssignmentStatus,
    Item,
    Job,
    JobStatus,
)
from app.extensions import db, utcnow
from app.identity.models import User

MAX_PICK_ATTEMPTS = 8
BUSY_WAIT_SECONDS = 2.0  # longest wait for items that are only busy with answers in flight
BUSY_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Submission:
    """A stored answer, and the answers its item's decision accepted or rejected (if the answer
    completed the item), for the caller to settle."""

    answer: Answer
    decided: list[Answer]


@dataclass(frozen=True)
class SchedulerSettings:
    lease_seconds: int = 15 * 60
    max_active_ms: int = 10 * 60 * 1000


def next_task_for(worker: User, job: Job, *, settings: SchedulerSettings = SchedulerSettings(),
                  now: dt.datetime | None = None) -> Assignment | None:
    """Lease the next item of `job` to `worker`, or return None when nothing is left for them.

    A worker who already holds a live lease in this job gets that task back (a reload or a
    second tab must not burn another item).
    """
    now = now or utcnow()
    if not worker.is_annotator:
        raise PermissionDenied("Only annotators can take tasks.")
    # The job's shared lock before any item's: a close holds the job exclusively and then
    # writes items, so taking them in the other order deadlocks against it.
    job = lock_job(job, exclusive=False)
    if job.status is not JobStatus.PUBLISHED:
        raise Conflict(f"This job is {job.status.value}; it serves no tasks now.")
    if job.owner_id == worker.id:
        raise PermissionDenied("Nobody answers their own job's tasks.")
    held = db.session.scalar(
        db.select(Assignment).where(
            Assignment.worker_id == worker.id, Assignment.job_id == job.id,
            Assignment.status == AssignmentStatus.LEASED, Assignment.lease_expires_at > now,
        ).limit(1)
    )
    if held is not None:
        return held
    if not meets_level(worker, job.min_level):
        title = LEVELS[level_rank(job.min_level)].title
        raise PermissionDenied(f"This job is open to {title} annotators and above; see your level "
                               "and what the next one needs on your earnings page.")
    release_expired_leases(job, now=now)
    already_seen = exists().where(Assignment.item_id == Item.id, Assignment.worker_id == worker.id)
    candidate = (
        db.select(Item.id)
        # `~is_complete` (not `IS false`) so PostgreSQL can use the partial index ix_item_job_open
        .where(Item.job_id == job.id, ~Item.is_complete,
               Item.n_taken < job.overlap, ~already_seen)
        .order_by(Item.n_taken.desc(), Item.id.desc())  # ix_item_job_open, backwards
        .limit(1)
    )
    # FOR NO KEY UPDATE: we never change an item's key, and the weaker lock does not collide
    # with the KEY SHARE locks that inserting answers and assignments take on their item.
    pick = candidate.with_for_update(skip_locked=True, key_share=True)
    busy_until = time.monotonic() + BUSY_WAIT_SECONDS
    for _ in range(MAX_PICK_ATTEMPTS):
        item_id = db.session.scalar(pick)
        while item_id is None:
            # SKIP LOCKED also skips items that are merely busy: an answer in flight holds its
            # item's row until it commits. If such items exist, poll for them briefly rather
            # than say "nothing left". Polling, not waiting on the row lock: a lock wait here
            # could join a deadlock cycle (rows a locking scan rejects stay locked).
            if db.session.scalar(candidate) is None or time.monotonic() > busy_until:
                return None
            time.sleep(BUSY_POLL_SECONDS)
            item_id = db.session.scalar(pick)
        taken = db.session.execute(
            update(Item).where(Item.id == item_id, Item.n_taken < job.overlap)
            .values(n_taken=Item.n_taken + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            continue  # someone filled it between our read and our write: pick again
        assignment = Assignment(
            item_id=item_id, job_id=job.id, worker_id=worker.id, served_at=now,
            lease_expires_at=now + dt.timedelta(seconds=settings.lease_seconds),
        )
        db.session.add(assignment)
        db.session.flush()
        return assignment
    return None


def release_expired_leases(job: Job, *, now: dt.datetime | None = None) -> int:
    """Return the items of leases that ran out to the pool; how many were released."""
    now = now or utcnow()
    expired_item_ids = db.session.scalars(
        update(Assignment)
        .where(Assignment.job_id == job.id, Assignment.status == AssignmentStatus.LEASED,
               Assignment.lease_expires_at <= now)
        .values(status=AssignmentStatus.EXPIRED, finished_at=now)
        .returning(Assignment.item_id)
        .execution_options(synchronize_session=False)
    ).all()
    for item_id in sorted(expired_item_ids):
        db.session.execute(
            update(Item).where(Item.id == item_id).values(n_taken=Item.n_taken - 1)
            .execution_options(synchronize_session=False)
        )
    if expired_item_ids:
        db.session.expire_all()
    return len(expired_item_ids)


def get_assignment_for(worker: User, assignment_id: int, *, lock: bool = False) -> Assignment:
    """`worker`'s task, else NotFound. Unlocked, a task already loaded in this session costs no
    query (a route checks ownership before reading the body, then the submit looks again)."""
    if lock:  # and re-read: another transaction may have changed it while we waited
        assignment = db.session.scalar(
            db.select(Assignment).where(Assignment.id == assignment_id)
            .with_for_update().execution_options(populate_existing=True))
    else:
        assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.worker_id != worker.id:
        raise NotFound(f"Task {assignment_id} not found.")
    return assignment


def submit_answer(worker: User, assignment_id: int, result: Any, *,
                  settings: SchedulerSettings = SchedulerSettings(),
                  now: dt.datetime | None = None) -> Submission:
    """Store `worker`'s answer (Label Studio result JSON); decide the item once it is complete.

    The job's row is locked (shared) first, then the task's: a close (which locks the job
    exclusively) either sees this answer committed and decides it, or this waits and finds the job
    closed — an answer is never stored after the close that should have decided it. Re-sending
    the same answer for an already submitted task returns the stored answer (nothing decided
    again), so a retry after a dropped connection is harmless.
    """
    now = now or utcnow()
    assignment = get_assignment_for(worker, assignment_id)
    job = lock_job(db.session.get(Job, assignment.job_id), exclusive=False)
    assignment = get_assignment_for(worker, assignment_id, lock=True)
    item_data = db.session.scalar(db.select(Item.data).where(Item.id == assignment.item_id))
    choices = normalize_answer(job_spec(job), result, item_data)
    if assignment.status is AssignmentStatus.SUBMITTED:
        previous = db.session.scalar(db.select(Answer).where(Answer.assignment_id == assignment.id))
        if previous is not None and previous.choices == choices:
            return Submission(previous, [])
        raise Conflict("This task was already answered.")
    if assignment.status is AssignmentStatus.SKIPPED:
        raise Conflict("This task was skipped; it cannot be answered now.")
    if job.status is JobStatus.CLOSED:
        raise Conflict("This job was closed; it takes no more answers.")
    if assignment.status is AssignmentStatus.EXPIRED and not _retake_slot(assignment, job):
        raise LeaseExpired("This task was held too long and others have answered it since.")
    elapsed_ms = max(0, int((now - assignment.served_at).total_seconds() * 1000))
    answer = Answer(
        assignment_id=assignment.id, item_id=assignment.item_id, job_id=job.id,
        worker_id=worker.id, result=result, choices=choices,
        active_ms=min(elapsed_ms, settings.max_active_ms),
        elapsed_ms=elapsed_ms, submitted_at=now,
    )
    assignment.status = AssignmentStatus.SUBMITTED
    assignment.finished_at = now
    db.session.add(answer)
    n_answers = db.session.execute(
        update(Item).where(Item.id == assignment.item_id)
        .values(n_answers=Item.n_answers + 1)
        .returning(Item.n_answers)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    db.session.flush()
    decided: list[Answer] = []
    if n_answers >= job.overlap:
        item = db.session.get(Item, assignment.item_id, populate_existing=True)
        decided = decide_items(job, [item], now=now)
    return Submission(answer, decided)


def skip_task(worker: User, assignment_id: int, *, now: dt.datetime | None = None) -> Assignment:
    """Hand a leased task back; the worker will not be served this item again."""
    now = now or utcnow()
    assignment = get_assignment_for(worker, assignment_id, lock=True)
    if assignment.status is AssignmentStatus.SKIPPED:
        return assignment
    if assignment.status is not AssignmentStatus.LEASED:
        raise Conflict(f"This task is {assignment.status.value}; only a task in progress can be skipped.")
    assignment.status = AssignmentStatus.SKIPPED
    assignment.finished_at = now
    db.session.execute(
        update(Item).where(Item.id == assignment.item_id).values(n_taken=Item.n_taken - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return assignment


def _retake_slot(assignment: Assignment, job: Job) -> bool:
    """A late answer to an expired lease still counts if the item has room for it."""
    taken = db.session.execute(
        update(Item).where(Item.id == assignment.item_id, Item.n_taken < job.overlap,
                           Item.is_complete.is_(False))
        .values(n_taken=Item.n_taken + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    return taken == 1


def worker_answer_counts(worker: User) -> dict[AnswerStatus, int]:
    rows = db.session.execute(
        db.select(Answer.status, func.count()).where(Answer.worker_id == worker.id)
        .group_by(Answer.status)
    ).all()
    return {status: count for status, count in rows}

