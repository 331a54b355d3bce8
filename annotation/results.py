"""Consensus on items: turn answers into one label with a confidence, then accept or reject.

The maths lives in `consensus` (pure numpy); this module feeds it answers and records the
decision. Acceptance rule: an answer is accepted when, for every control, its choice is among
the labels with the highest consensus probability. A tie therefore rejects nobody — no worker
loses pay to a coin toss. Gold items are decided by their known answer instead.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.extensions import db, utcnow
from annotation.jobs import job_spec
from annotation.label_config import LabelSpec
from annotation.models import Answer, AnswerStatus, Item, Job
from annotation.signals import answers_decided
from consensus import AGGREGATORS, encode_answers

TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ControlDecision:
    label: list[str]  # the consensus choices
    confidence: float
    accepted_keys: frozenset[str]  # answer keys that count as agreeing


def _key(choices: list[str]) -> str:
    return json.dumps(choices, separators=(",", ":"))


def aggregate_control(method: str, item_ids: list[int], worker_ids: list[int],
                      keys: list[str]) -> dict[int, ControlDecision]:
    """Run the job's aggregator over one control's answers; a decision per item id."""
    encoded = encode_answers(item_ids, worker_ids, keys)
    model = AGGREGATORS[method]()
    probas = model.fit_predict_proba(encoded.X, n_classes=encoded.n_classes)
    decisions = {}
    for code, item_id in enumerate(encoded.tasks.tolist()):
        row = probas[code]
        best = float(row.max())
        tied = np.flatnonzero(row >= best - TIE_TOLERANCE)
        label_code = int(model.labels_[code])
        decisions[item_id] = ControlDecision(
            label=json.loads(encoded.classes[label_code]),
            confidence=float(row[label_code]),
            accepted_keys=frozenset(str(encoded.classes[c]) for c in tied),
        )
    return decisions


def decide_items(job: Job, items: Sequence[Item], *, now: dt.datetime | None = None) -> list[Answer]:
    """Score `items` from their answers; mark answers accepted/rejected; return those decided."""
    now = now or utcnow()
    items = [i for i in items if i.n_answers > 0]
    if not items:
        return []
    spec = job_spec(job)
    by_item = {i.id: i for i in items}
    answers = db.session.scalars(
        db.select(Answer).where(Answer.item_id.in_(list(by_item))).order_by(Answer.id)
    ).all()
    decisions = {c.name: _decide_control(job, spec, c.name, answers, by_item) for c in spec.controls}
    decided = []
    for item in items:
        item.consensus = {name: per_item[item.id].label for name, per_item in decisions.items()}
        item.confidence = min(per_item[item.id].confidence for per_item in decisions.values())
        item.is_complete = True
        item.completed_at = item.completed_at or now
    for answer in answers:
        if answer.status is not AnswerStatus.PENDING:
            continue
        wrong = [name for name, per_item in decisions.items()
                 if _key(answer.choices[name]) not in per_item[answer.item_id].accepted_keys]
        answer.decided_at = now
        if wrong:
            answer.status = AnswerStatus.REJECTED
            answer.reject_reason = _reject_reason(by_item[answer.item_id], wrong, decisions)
        else:
            answer.status = AnswerStatus.ACCEPTED
        decided.append(answer)
    db.session.flush()
    if decided:
        answers_decided.send(job, answers=decided)
    return decided


def _decide_control(job: Job, spec: LabelSpec, name: str, answers: Sequence[Answer],
                    by_item: dict[int, Item]) -> dict[int, ControlDecision]:
    decisions: dict[int, ControlDecision] = {}
    crowd = [a for a in answers if by_item[a.item_id].gold is None]
    if crowd:
        decisions.update(aggregate_control(
            job.aggregation, [a.item_id for a in crowd], [a.worker_id for a in crowd],
            [_key(a.choices[name]) for a in crowd]))
    for item in by_item.values():
        if item.gold is not None:
            gold = item.gold[name]
            decisions[item.id] = ControlDecision(gold, 1.0, frozenset({_key(gold)}))
    return decisions


def _reject_reason(item: Item, wrong: list[str], decisions: dict[str, dict[int, ControlDecision]]) -> str:
    parts = []
    for name in wrong:
        decision = decisions[name][item.id]
        label = ", ".join(decision.label)
        if item.gold is not None:
            parts.append(f"{name}: this was a check question; the expected answer is {label}")
        else:
            parts.append(f"{name}: the consensus is {label} (confidence {decision.confidence:.0%})")
    return "; ".join(parts) + "."


def finalize_job(job: Job, *, now: dt.datetime | None = None) -> list[Answer]:
    """Score every incomplete item that has answers (used when a job closes early)."""
    items = db.session.scalars(
        db.select(Item).where(Item.job_id == job.id, Item.is_complete.is_(False), Item.n_answers > 0)
    ).all()
    return decide_items(job, items, now=now)


def recompute_job(job: Job, *, now: dt.datetime | None = None) -> int:
    """Re-run consensus over every complete item (labels and confidences); returns items updated.

    Decisions already made on answers stand: money has moved on them. Only the labels shown and
    exported are refreshed.
    """
    spec = job_spec(job)
    items = db.session.scalars(db.select(Item).where(Item.job_id == job.id, Item.n_answers > 0)).all()
    if not items:
        return 0
    by_item = {i.id: i for i in items}
    answers = db.session.scalars(db.select(Answer).where(Answer.job_id == job.id).order_by(Answer.id)).all()
    decisions = {c.name: _decide_control(job, spec, c.name, answers, by_item) for c in spec.controls}
    for item in items:
        if item.is_complete:
            item.consensus = {name: per_item[item.id].label for name, per_item in decisions.items()}
            item.confidence = min(per_item[item.id].confidence for per_item in decisions.values())
    db.session.flush()
    return sum(1 for i in items if i.is_complete)
