"""Consensus on items: turn answers into one label with a confidence, then accept or reject.

The maths lives in `consensus` (pure numpy); this module feeds it answers and records the
decision. Acceptance rule: an answer is accepted when, for every control, its choice is among
the labels with the highest consensus probability. A tie therefore rejects nobody — no worker
loses pay to a coin toss. Gold items are decided by their known answer, and their gold also
trains the worker models (semi-supervised).

Models that learn per-worker reliability (Dawid–Skene, `auto`, …) need more than one item's
answers, so an item is decided by a fit over its own answers plus those of the job's most
recently completed items (`CONTEXT_ITEMS`): bounded cost per decision, and enough answers per
worker to estimate them. When the job's last item completes, every label is refreshed by a fit
over the whole job. Majority vote is per item and skips the context.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotation.jobs import job_spec
from annotation.label_config import ControlSpec
from annotation.models import Answer, AnswerStatus, Item, Job
from annotation.signals import answers_decided
from app.extensions import db, utcnow
from consensus import AGGREGATORS, encode_answers, update_posterior
from consensus.quality import worker_quality

TIE_TOLERANCE = 1e-9
CONTEXT_ITEMS = 2000
PER_ITEM_METHODS = {"majority_vote"}


@dataclass(frozen=True)
class ControlDecision:
    label: list[str]  # the consensus choices
    confidence: float
    accepted_keys: frozenset[str]  # answer keys that count as agreeing


@dataclass(frozen=True)
class AnswerRow:
    item_id: int
    worker_id: int
    choices: dict[str, list[str]]


@dataclass
class ControlFit:
    """One aggregator fit over one control's answers, with its encoding."""

    model: Any
    encoded: Any
    y: np.ndarray | None
    decisions: dict[int, ControlDecision]

    @functools.cached_property
    def worker_codes(self) -> dict[int, int]:
        return {worker: code for code, worker in enumerate(self.encoded.workers.tolist())}

    @functools.cached_property
    def class_codes(self) -> dict[str, int]:
        return {label: code for code, label in enumerate(self.encoded.classes.tolist())}


#: control name → item id → decision
Decisions = dict[str, dict[int, ControlDecision]]


def _key(choices: list[str]) -> str:
    return json.dumps(choices, separators=(",", ":"))


def fit_control(method: str, control: ControlSpec, rows: Sequence[AnswerRow],
                gold: dict[int, dict[str, list[str]]]) -> ControlFit:
    """Run `method` over one control's answers; a decision for every item in `rows`."""
    keys = [_key(r.choices[control.name]) for r in rows]
    gold_keys = {item_id: _key(g[control.name]) for item_id, g in gold.items()}
    if control.multiple:  # a set of choices is one class; classes are the sets seen
        classes = sorted(set(keys) | set(gold_keys.values()))
    else:
        classes = [_key([c]) for c in control.choices]
    encoded = encode_answers([r.item_id for r in rows], [r.worker_id for r in rows], keys, classes=classes)
    answered = set(encoded.tasks.tolist())
    gold_items = [i for i in gold_keys if i in answered]
    y = encoded.encode_gold(gold_items, [gold_keys[i] for i in gold_items]) if gold_items else None
    model = AGGREGATORS[method]()
    probas = model.fit_predict_proba(encoded.X, y, n_classes=encoded.n_classes)
    decisions = {}
    for code, item_id in enumerate(encoded.tasks.tolist()):
        if item_id in gold:
            decisions[item_id] = _gold_decision(gold[item_id][control.name])
            continue
        decisions[item_id] = _decision_from(probas[code], encoded.classes)
    return ControlFit(model, encoded, y, decisions)


def _gold_decision(gold: list[str]) -> ControlDecision:
    return ControlDecision(gold, 1.0, frozenset({_key(gold)}))


def _decision_from(posterior: np.ndarray, classes: Sequence[str]) -> ControlDecision:
    tied = np.flatnonzero(posterior >= posterior.max() - TIE_TOLERANCE)
    label_code = int(np.argmax(posterior))
    return ControlDecision(
        label=json.loads(classes[label_code]),
        confidence=float(posterior[label_code]),
        accepted_keys=frozenset(str(classes[c]) for c in tied),
    )


def _answer_rows(job: Job, item_ids: Iterable[int] | None) -> list[AnswerRow]:
    query = db.select(Answer.item_id, Answer.worker_id, Answer.choices).where(Answer.job_id == job.id)
    if item_ids is not None:
        query = query.where(Answer.item_id.in_(list(item_ids)))
    return [AnswerRow(*row) for row in db.session.execute(query.order_by(Answer.id))]


def _gold_of(job: Job) -> dict[int, dict[str, list[str]]]:
    return {item_id: gold for item_id, gold in db.session.execute(
        db.select(Item.id, Item.gold).where(Item.job_id == job.id, Item.gold.is_not(None)))
        if gold is not None}


def _context_item_ids(job: Job, deciding: set[int]) -> set[int]:
    if job.aggregation in PER_ITEM_METHODS:
        return set(deciding)
    recent = db.session.scalars(
        db.select(Item.id).where(Item.job_id == job.id, Item.is_complete.is_(True))
        .order_by(Item.completed_at.desc(), Item.id.desc()).limit(CONTEXT_ITEMS)
    ).all()
    return set(deciding) | set(recent)


def _fit_all(job: Job, item_ids: set[int] | None) -> dict[str, ControlFit]:
    """A fit per control over the answers of `item_ids` (None: the whole job); {} if none."""
    rows = _answer_rows(job, item_ids)
    if not rows:
        return {}
    gold = _gold_of(job)
    return {c.name: fit_control(job.aggregation, c, rows, gold) for c in job_spec(job).controls}


def _decisions(fits: dict[str, ControlFit]) -> Decisions:
    return {name: fit.decisions for name, fit in fits.items()}


@dataclass
class _WorkerModels:
    """A job's fitted worker models, reused to decide single items between refits."""

    fits: dict[str, ControlFit]
    uses: int = 0


# Per process, keyed by (job id, job creation time, method), least recently used evicted.
_worker_models: OrderedDict[tuple, _WorkerModels] = OrderedDict()
MAX_CACHED_JOBS = 64
REFIT_EVERY = 100  # item decisions between refits of a job's worker models


def _cached_decisions(job: Job, item: Item) -> Decisions | None:
    """Decide one completed item from cached worker models in O(answers × classes).

    Fitting a confusion model over the job's recent items costs ~100 ms per completed item;
    the models move little from one item to the next, so they are refitted every REFIT_EVERY
    decisions (or when a worker or label they have not seen appears) and in between the item's
    posterior is built answer by answer with `consensus.update_posterior`. Returns None for
    per-item methods (the caller decides from the item's own answers).
    """
    if job.aggregation in PER_ITEM_METHODS:
        return None
    key = (job.id, job.created_at, job.aggregation)
    cached = _worker_models.get(key)
    if cached is None or cached.uses >= REFIT_EVERY:
        fits = _fit_all(job, _context_item_ids(job, {item.id}))
        if all(hasattr(f.model, "errors_") for f in fits.values()):  # reusable worker models
            _worker_models[key] = _WorkerModels(fits)
            _worker_models.move_to_end(key)
            while len(_worker_models) > MAX_CACHED_JOBS:
                _worker_models.popitem(last=False)
        return _decisions(fits)
    cached.uses += 1
    _worker_models.move_to_end(key)
    rows = _answer_rows(job, [item.id])
    decided: Decisions = {}
    for name, fit in cached.fits.items():
        if item.gold is not None:
            decided[name] = {item.id: _gold_decision(item.gold[name])}
            continue
        posterior = None
        for row in rows:
            worker = fit.worker_codes.get(row.worker_id)
            label = fit.class_codes.get(_key(row.choices[name]))
            if worker is None or label is None:  # someone or something new: refit
                _worker_models.pop(key, None)
                return _cached_decisions(job, item)
            posterior = update_posterior(fit.model, posterior, worker, label)
        decided[name] = {item.id: _decision_from(posterior, fit.encoded.classes)}
    return decided


def _apply_label(item: Item, decisions: Decisions) -> None:
    item.consensus = {name: per_item[item.id].label for name, per_item in decisions.items()}
    item.confidence = min(per_item[item.id].confidence for per_item in decisions.values())


def decide_items(job: Job, items: Sequence[Item], *, now: dt.datetime | None = None) -> list[Answer]:
    """Score `items` from their answers; mark answers accepted/rejected; return those decided."""
    now = now or utcnow()
    items = [i for i in items if i.n_answers > 0]
    if not items:
        return []
    deciding = {i.id for i in items}
    decisions = _cached_decisions(job, items[0]) if len(items) == 1 else None
    if decisions is None:
        decisions = _decisions(_fit_all(job, _context_item_ids(job, deciding)))
    for item in items:
        _apply_label(item, decisions)
        item.is_complete = True
        item.completed_at = item.completed_at or now
    pending = db.session.scalars(
        db.select(Answer).where(Answer.item_id.in_(deciding), Answer.status == AnswerStatus.PENDING)
        .order_by(Answer.id)
    ).all()
    by_item = {i.id: i for i in items}
    for answer in pending:
        wrong = [name for name, per_item in decisions.items()
                 if _key(answer.choices[name]) not in per_item[answer.item_id].accepted_keys]
        answer.decided_at = now
        if wrong:
            answer.status = AnswerStatus.REJECTED
            answer.reject_reason = _reject_reason(by_item[answer.item_id], wrong, decisions)
        else:
            answer.status = AnswerStatus.ACCEPTED
    db.session.flush()
    if pending:
        answers_decided.send(job, answers=list(pending))
    if job.aggregation not in PER_ITEM_METHODS and not _has_open_items(job):
        recompute_job(job)
    return list(pending)


def _has_open_items(job: Job) -> bool:
    return db.session.scalar(
        db.select(Item.id).where(Item.job_id == job.id, ~Item.is_complete).limit(1)
    ) is not None


def _reject_reason(item: Item, wrong: list[str], decisions: Decisions) -> str:
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
        db.select(Item).where(Item.job_id == job.id, ~Item.is_complete, Item.n_answers > 0)
    ).all()
    return decide_items(job, items, now=now)


def recompute_job(job: Job) -> int:
    """Re-run consensus over the whole job and refresh every complete item's label and confidence.

    Decisions already made on answers stand: money has moved on them. Returns items updated.
    """
    items = db.session.scalars(
        db.select(Item).where(Item.job_id == job.id, Item.is_complete, Item.n_answers > 0)
    ).all()
    if not items:
        return 0
    decisions = _decisions(_fit_all(job, None))
    for item in items:
        _apply_label(item, decisions)
    db.session.flush()
    return len(items)


@dataclass(frozen=True)
class WorkerScore:
    worker_id: int
    n_answers: int
    agreement: float
    skill: float
    skill_low: float
    skill_high: float
    spammer_score: float
    gold_total: int
    gold_accuracy: float


def job_worker_quality(job: Job) -> dict[str, list[WorkerScore]]:
    """Per control, a row per worker: agreement with consensus, model skill with a 95% credible
    interval, spammer score (Raykar & Yu) and accuracy on gold."""
    table = {}
    for name, fit in _fit_all(job, None).items():
        quality = worker_quality(fit.encoded.X, fit.model.probas_, y=fit.y,
                                 errors=getattr(fit.model, "errors_", None),
                                 n_workers=fit.encoded.n_workers)
        table[name] = sorted((
            WorkerScore(int(worker), int(quality.n_answers[w]), float(quality.agreement[w]),
                        float(quality.skill[w]), float(quality.skill_low[w]), float(quality.skill_high[w]),
                        float(quality.spammer_score[w]), int(quality.gold_total[w]),
                        float(quality.gold_accuracy[w]))
            for w, worker in enumerate(fit.encoded.workers.tolist())
        ), key=lambda s: (-s.skill, s.worker_id))
    return table
