"""Annotator levels, derived from decided work — never stored, so they cannot drift or be edited.

A level needs both volume (accepted answers) and accuracy (the share of decided answers that
were accepted, lower 95% Wilson bound, so a handful of lucky answers does not make an expert).
Requesters can restrict a job to a minimum level and pay more for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func

from annotation.models import Answer, AnswerStatus
from app.extensions import db
from app.identity.models import User


@dataclass(frozen=True)
class Level:
    name: str
    title: str
    min_accepted: int
    min_accuracy: float  # lower Wilson bound of accepted / decided


LEVELS = (
    Level("newcomer", "Newcomer", 0, 0.0),
    Level("contributor", "Contributor", 50, 0.70),
    Level("expert", "Expert", 500, 0.85),
    Level("master", "Master", 2000, 0.92),
)
LEVEL_NAMES = tuple(level.name for level in LEVELS)
_RANK = {level.name: rank for rank, level in enumerate(LEVELS)}


def level_rank(name: str) -> int:
    return _RANK[name]


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for a proportion (0 with no data)."""
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


@dataclass(frozen=True)
class WorkerLevel:
    level: Level
    n_accepted: int
    n_decided: int
    accuracy_lower: float
    next_level: Level | None

    @property
    def accuracy(self) -> float:
        return self.n_accepted / self.n_decided if self.n_decided else 0.0

    def progress(self) -> str:
        """What is still needed for the next level, in words."""
        if self.next_level is None:
            return "Top level reached."
        needs = []
        if self.n_accepted < self.next_level.min_accepted:
            needs.append(f"{self.next_level.min_accepted - self.n_accepted} more accepted answers")
        if self.accuracy_lower < self.next_level.min_accuracy:
            needs.append(f"accuracy of at least {self.next_level.min_accuracy:.0%} (now {self.accuracy_lower:.0%})")
        return f"{self.next_level.title}: " + " and ".join(needs) + "."


def level_from_counts(n_accepted: int, n_decided: int) -> WorkerLevel:
    lower = wilson_lower(n_accepted, n_decided)
    reached = [lv for lv in LEVELS if n_accepted >= lv.min_accepted and lower >= lv.min_accuracy]
    level = reached[-1]
    rank = _RANK[level.name]
    return WorkerLevel(level, n_accepted, n_decided, lower,
                       LEVELS[rank + 1] if rank + 1 < len(LEVELS) else None)


def level_of(worker: User) -> WorkerLevel:
    counts = dict(db.session.execute(
        db.select(Answer.status, func.count()).where(
            Answer.worker_id == worker.id, Answer.status != AnswerStatus.PENDING)
        .group_by(Answer.status)).all())
    accepted = int(counts.get(AnswerStatus.ACCEPTED, 0))
    return level_from_counts(accepted, accepted + int(counts.get(AnswerStatus.REJECTED, 0)))


def meets_level(worker: User, min_level: str) -> bool:
    if min_level == LEVELS[0].name or worker.is_admin:
        return True
    return _RANK[level_of(worker).level.name] >= _RANK[min_level]
