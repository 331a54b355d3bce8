"""Typed models of jobs, items and the work done on them (people are `app.identity.models`).

Models hold columns, relationships and invariants; services in this package orchestrate them.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from app.extensions import db, utcnow, value_enum
from app.identity.models import User


class JobStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    PAUSED = "paused"
    CLOSED = "closed"


class AssignmentStatus(enum.StrEnum):
    LEASED = "leased"
    SUBMITTED = "submitted"
    SKIPPED = "skipped"
    EXPIRED = "expired"


class AnswerStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Job(db.Model):
    __table_args__ = (
        CheckConstraint("reward >= 0", name="reward_not_negative"),
        CheckConstraint("overlap >= 1", name="overlap_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    label_config: Mapped[str] = mapped_column(Text)
    reward: Mapped[int] = mapped_column(BigInteger)  # token units paid per accepted answer
    overlap: Mapped[int]  # answers wanted per item
    seconds_per_task: Mapped[int]  # the requester's estimate, until answers measure it
    aggregation: Mapped[str] = mapped_column(String(32), default="auto")  # a consensus.AGGREGATORS name
    # The least annotator level (annotation/levels.py) that may work on this job.
    min_level: Mapped[str] = mapped_column(String(16), default="newcomer", server_default="newcomer")
    # Acceptance thresholds per control, over each kind's defaults: {control: {"min_f1": 0.6, …}}
    # (docs/annotation-types.md). None: the defaults.
    acceptance: Mapped[dict[str, Any] | None]
    status: Mapped[JobStatus] = mapped_column(value_enum(JobStatus), default=JobStatus.DRAFT)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    # Changed only by uploads; answer counts are counted, not kept, so that concurrent
    # submissions never queue on the job's row.
    n_items: Mapped[int] = mapped_column(default=0)

    owner: Mapped[User] = relationship()
    items: WriteOnlyMapped[Item] = relationship(back_populates="job", passive_deletes=True)

    @property
    def is_open(self) -> bool:
        return self.status is JobStatus.PUBLISHED

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.title!r} {self.status.value}>"


class Item(db.Model):
    """One thing to label. `n_taken` counts live leases plus submitted answers: the scheduler
    hands out an item only while `n_taken < job.overlap`, so it can never be over-answered."""

    __table_args__ = (
        # Read backwards, this is the scheduler's pick order (open items of a job, fullest
        # first), so the pick is an index scan even before the planner has statistics on
        # freshly uploaded items.
        Index("ix_item_job_open", "job_id", "n_taken", "id",
              postgresql_where=text("NOT is_complete"), sqlite_where=text("NOT is_complete")),
        CheckConstraint("n_taken >= 0", name="n_taken_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    # The row's fields; `_media` (set by the platform) holds each uploaded file's name and size or
    # duration: {variable: {"name", "width", "height"} | {"name", "duration"}}.
    data: Mapped[dict[str, Any]]
    # Known answer for a gold question: {control name: normalized value}. Never sent to annotators.
    gold: Mapped[dict[str, Any] | None]
    n_taken: Mapped[int] = mapped_column(default=0)
    n_answers: Mapped[int] = mapped_column(default=0)
    is_complete: Mapped[bool] = mapped_column(default=False)
    # Consensus: {control name: normalized value} and its confidence in [0, 1].
    consensus: Mapped[dict[str, Any] | None]
    confidence: Mapped[float | None]
    completed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="items")


class Assignment(db.Model):
    """An item served to one worker. Unique per (item, worker): nobody gets an item twice."""

    __table_args__ = (
        UniqueConstraint("item_id", "worker_id"),
        Index("ix_assignment_worker_job", "worker_id", "job_id"),
        Index("ix_assignment_status_expires", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[AssignmentStatus] = mapped_column(
        value_enum(AssignmentStatus), default=AssignmentStatus.LEASED
    )
    served_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    item: Mapped[Item] = relationship()
    worker: Mapped[User] = relationship()


class Answer(db.Model):
    """A submitted answer, in Label Studio's result JSON shape, with how long it took."""

    __table_args__ = (
        Index("ix_answer_item", "item_id"),
        Index("ix_answer_worker_submitted", "worker_id", "submitted_at"),
        Index("ix_answer_job", "job_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.id"), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"))
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    result: Mapped[list[Any]]
    # The normalized value per control, as compared by consensus: {control name: value}
    # (docs/annotation-types.md; for a choice, the sorted choices).
    choices: Mapped[dict[str, Any]]
    # Time spent on the task as the server measures it (served → submitted), with an idle gap
    # capped at MAX_ACTIVE_MS_PER_ANSWER; the pay floor is measured on it.
    active_ms: Mapped[int]
    elapsed_ms: Mapped[int]  # served → submitted, uncapped
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[AnswerStatus] = mapped_column(value_enum(AnswerStatus), default=AnswerStatus.PENDING)
    decided_at: Mapped[dt.datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    # The decision that accepted or rejected this answer (None while pending), and what later
    # overruled it, if anything did ("dispute": a requester's dispute was upheld).
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"), index=True)
    overruled_by: Mapped[str | None] = mapped_column(String(16))

    item: Mapped[Item] = relationship()
    worker: Mapped[User] = relationship()
    job: Mapped[Job] = relationship()


class WorkerModel(db.Model):
    """A version of a job's fitted worker models, one frozen model per control.

    Items are decided from a stored version, never from a process's memory, so every process
    and every replay reaches the same decision. `state` holds each control's
    `consensus.FrozenModel` bytes; `meta` each control's classes and worker ids in code order,
    and the fit's inputs (`item_ids`, answers up to `through_answer_id`) so a replay can refit
    and check the version itself.
    """

    __table_args__ = (UniqueConstraint("job_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"))
    version: Mapped[int]
    method: Mapped[str] = mapped_column(String(32))
    meta: Mapped[dict[str, Any]]
    state: Mapped[dict[str, Any]]  # {control: base64 of FrozenModel.to_bytes()}
    item_ids: Mapped[list[Any]]
    through_answer_id: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Decision(db.Model):
    """How one item was decided: for each control the model version, the posterior it gave
    (or the gold answer) and which answers it accepted. What was paid follows from this."""

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job.id", ondelete="CASCADE"), index=True)
    # None for decisions that need no fitted workers (majority vote, gold items).
    model_id: Mapped[int | None] = mapped_column(ForeignKey("worker_model.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    # {control: {"basis": "model"|"votes"|"gold", "classes": [...], "posterior": [...],
    #            "label": [...], "confidence": float, "accepted": [class keys]}}
    outcome: Mapped[dict[str, Any]]
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
