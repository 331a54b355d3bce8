"""Deciding items, reproducibly: answers → one label with a confidence → accept or reject.

Acceptance rule: an answer is accepted when, for every control, its answer is among the labels
with the highest consensus probability, so a tie rejects nobody — no worker loses pay to a coin
toss. Gold items are decided by their known answer, and their gold also trains the worker models.

Methods that learn per-worker reliability (Dawid–Skene, `auto`, …) need more than one item's
answers. So a job's worker models are fitted over its most recently completed items
(`CONTEXT_ITEMS`) and stored as a numbered version (`WorkerModel`); each item is then decided
from a stored version and its own answers (`consensus.FrozenModel.posterior`), and the decision
records the version and the posterior it used (`Decision`). Any process deciding an item reads the
same stored version, and `replay_decisions` re-derives every decision — and refits every version
— from the database alone.

A version is refitted, under the job's model lock, every `REFIT_EVERY` decisions, and at once
when an item to decide has an answer from a worker, or of a class, the version never saw (so a
new worker is judged by a model that knows them). Majority vote needs no workers and decides each
item from its own answers.

Every control kind is decided here through its entry in `annotation.controls`: categorical kinds
(a choice, each choice of a multiple choice, a pairwise preference) are *facets* fitted by the
job's method; the others (boxes, polygons, points, spans, segments, transcripts, numbers) are
fused by their own aggregator with per-worker weights — each worker's mean score against the
consensus (or gold) over the context items — stored in the same version.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, text

from annotation.controls import ItemContext, KindDecision, class_key, kind_of
from annotation.jobs import acceptance_thresholds, job_spec
from annotation.label_config import ControlSpec, LabelSpec
from annotation.models import Answer, AnswerStatus, Decision, Item, Job, WorkerModel
from app.extensions import db, utcnow
from consensus import AGGREGATORS, FrozenModel, encode_answers

TIE_TOLERANCE = 1e-9
CONTEXT_ITEMS = 2000
REFIT_EVERY = 100
PER_ITEM_METHODS = {"majority_vote"}
MODEL_LOCK_CLASS = 0x4D4F  # PostgreSQL advisory lock namespace for "refit this job's models"


WEIGHT_PRIOR, WEIGHT_PRIOR_ANSWERS = 0.7, 2.0  # a new worker's weight, and how many answers it counts as
MIN_WEIGHT = 0.05


def answer_key(choices: list[str]) -> str:
    """A single choice's answer as one comparable class name."""
    return class_key(choices)


@dataclass(frozen=True)
class AnswerRow:
    id: int
    item_id: int
    worker_id: int
    choices: dict[str, Any]  # {control: normalized value}


@dataclass(frozen=True)
class ControlDecision:
    basis: str  # "model" | "votes" | "gold"
    classes: list[str]
    posterior: list[float]
    label: list[str]  # the consensus answer
    confidence: float
    accepted: frozenset[str]  # answer keys that count as agreeing

    def as_json(self) -> dict[str, Any]:
        return {"basis": self.basis, "classes": self.classes, "posterior": self.posterior,
                "label": self.label, "confidence": self.confidence, "accepted": sorted(self.accepted)}


def answer_rows(job: Job, item_ids: Iterable[int]) -> list[AnswerRow]:
    ids = sorted(set(item_ids))
    if not ids:
        return []
    return [AnswerRow(*row) for row in db.session.execute(
        db.select(Answer.id, Answer.item_id, Answer.worker_id, Answer.choices)
        .where(Answer.job_id == job.id, Answer.item_id.in_(ids)).order_by(Answer.id))]


def _gold_of(job: Job) -> dict[int, dict[str, Any]]:
    return {item_id: gold for item_id, gold in db.session.execute(
        db.select(Item.id, Item.gold).where(Item.job_id == job.id, Item.gold.is_not(None)))
        if gold is not None}


def facets_of(spec: LabelSpec) -> list[tuple[ControlSpec, str, list[str]]]:
    """(control, facet key, class keys) of every categorical question the scored controls ask."""
    return [(control, key, classes) for control in spec.scored_controls if kind_of(control).categorical
            for key, classes in kind_of(control).facets(control)]


def weighted_controls(spec: LabelSpec) -> list[ControlSpec]:
    """The scored controls fused by their own aggregator with per-worker weights."""
    return [c for c in spec.scored_controls if not kind_of(c).categorical]


def _facet_value(control: ControlSpec, key: str, value: Any) -> str:
    return kind_of(control).facet_values(control, value)[key]


# --- Worker model versions --------------------------------------------------------------------

def _encode_state(frozen: FrozenModel) -> str:
    return base64.b64encode(frozen.to_bytes()).decode("ascii")


def _decode_state(state: str) -> FrozenModel:
    return FrozenModel.from_bytes(base64.b64decode(state))


@dataclass
class ControlFit:
    """One aggregator fitted over one facet's answers, with the encoding it was fitted on."""

    model: Any
    encoded: Any
    y: np.ndarray | None


def fit_controls(job: Job, rows: Sequence[AnswerRow], method: str | None = None) -> dict[str, ControlFit]:
    """Fit `method` (default: the job's) per categorical facet over `rows`; gold trains the
    models. Deterministic: the same answers give the same fits. {} when there are no answers."""
    if not rows:
        return {}
    method = method or job.aggregation
    gold = _gold_of(job)
    fits = {}
    for control, key, classes in facets_of(job_spec(job)):
        mine = [r for r in rows if control.name in r.choices]
        if not mine:
            continue
        keys = [_facet_value(control, key, r.choices[control.name]) for r in mine]
        gold_keys = {i: _facet_value(control, key, g[control.name]) for i, g in gold.items() if control.name in g}
        encoded = encode_answers([r.item_id for r in mine], [r.worker_id for r in mine], keys, classes=classes)
        answered = set(encoded.tasks.tolist())
        gold_items = [i for i in gold_keys if i in answered]
        y = encoded.encode_gold(gold_items, [gold_keys[i] for i in gold_items]) if gold_items else None
        model = AGGREGATORS[method]().fit(encoded.X, y, n_classes=encoded.n_classes)
        fits[key] = ControlFit(model, encoded, y)
    return fits


def _item_contexts(job: Job, spec: LabelSpec, item_ids: Iterable[int]) -> dict[int, ItemContext]:
    ids = sorted(set(item_ids))
    objects = {o.name: o for o in spec.objects}
    return {item_id: ItemContext(data=data, objects=objects) for item_id, data in db.session.execute(
        db.select(Item.id, Item.data).where(Item.id.in_(ids)))} if ids else {}


def fit_worker_weights(job: Job, control: ControlSpec, rows: Sequence[AnswerRow],
                       contexts: dict[int, ItemContext], gold: dict[int, dict[str, Any]]) -> dict[int, float]:
    """Each worker's weight for a non-categorical control: their mean score against the item's
    unweighted consensus (or its gold), shrunk towards WEIGHT_PRIOR so that one lucky or unlucky
    answer does not make a worker decisive or silent, and kept above MIN_WEIGHT."""
    kind = kind_of(control)
    thresholds = acceptance_thresholds(job, control)
    by_item: dict[int, list[AnswerRow]] = defaultdict(list)
    for row in rows:
        if control.name in row.choices:
            by_item[row.item_id].append(row)
    scores: dict[int, list[float]] = defaultdict(list)
    for item_id in sorted(by_item):
        mine, context = by_item[item_id], contexts[item_id]
        values = [r.choices[control.name] for r in mine]
        reference = (gold.get(item_id) or {}).get(control.name)
        if reference is None:
            reference = kind.decide(control, values, [1.0] * len(values), context, thresholds)
        for row, value in zip(mine, values):
            scores[row.worker_id].append(kind.score(control, value, reference, context, thresholds))
    return {worker: max(MIN_WEIGHT, (sum(s) + WEIGHT_PRIOR * WEIGHT_PRIOR_ANSWERS) / (len(s) + WEIGHT_PRIOR_ANSWERS))
            for worker, s in sorted(scores.items())}


def fit_worker_models(job: Job, item_ids: Sequence[int], method: str | None = None
                      ) -> tuple[dict[str, Any], dict[str, FrozenModel], int]:
    """Fit over the answers of `item_ids`: (meta, frozen model per categorical facet, largest
    answer id). A weighted control's meta holds its workers and their weights."""
    rows = answer_rows(job, item_ids)
    fits = fit_controls(job, rows, method)
    meta: dict[str, Any] = {key: {"classes": [str(c) for c in fit.encoded.classes.tolist()],
                                  "workers": [int(w) for w in fit.encoded.workers.tolist()]}
                            for key, fit in fits.items()}
    frozen = {key: FrozenModel.from_fitted(fit.model) for key, fit in fits.items()}
    spec = job_spec(job)
    weighted = weighted_controls(spec)
    if weighted and rows:
        contexts = _item_contexts(job, spec, (r.item_id for r in rows))
        gold = _gold_of(job)
        for control in weighted:
            weights = fit_worker_weights(job, control, rows, contexts, gold)
            meta[control.name] = {"kind": control.kind, "workers": list(weights),
                                  "weights": [weights[w] for w in weights]}
    return meta, frozen, max((r.id for r in rows), default=0)


def _lock_models(job: Job) -> None:
    """Serialize refits of one job's models (PostgreSQL; SQLite serializes every writer)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:namespace, :job)"),
                           {"namespace": MODEL_LOCK_CLASS, "job": job.id})


def latest_model(job: Job) -> WorkerModel | None:
    return db.session.scalar(db.select(WorkerModel).where(WorkerModel.job_id == job.id)
                             .order_by(WorkerModel.version.desc()).limit(1))


def _still_usable(job: Job, model: WorkerModel | None, rows: Sequence[AnswerRow]) -> bool:
    if model is None or model.method != job.aggregation:
        return False
    uses = db.session.scalar(db.select(func.count()).select_from(Decision).where(Decision.model_id == model.id))
    if uses >= REFIT_EVERY:
        return False
    spec = job_spec(job)
    for control, key, _ in facets_of(spec):  # a worker or class the version never saw: refit
        meta = model.meta.get(key)
        answering = [r for r in rows if control.name in r.choices]
        if meta is None:
            if answering:
                return False
            continue
        known_classes, known_workers = set(meta["classes"]), set(meta["workers"])
        if any(_facet_value(control, key, r.choices[control.name]) not in known_classes
               or r.worker_id not in known_workers for r in answering):
            return False
    for control in weighted_controls(spec):
        known_workers = set((model.meta.get(control.name) or {}).get("workers", []))
        if any(r.worker_id not in known_workers for r in rows if control.name in r.choices):
            return False
    return True


def _context_item_ids(job: Job, deciding: set[int]) -> list[int]:
    recent = db.session.scalars(
        db.select(Item.id).where(Item.job_id == job.id, Item.is_complete.is_(True))
        .order_by(Item.completed_at.desc(), Item.id.desc()).limit(CONTEXT_ITEMS)).all()
    return sorted(set(recent) | deciding)


def model_for(job: Job, deciding: set[int], rows: Sequence[AnswerRow]) -> WorkerModel:
    """The stored version to decide these items with: the latest if still usable, else a new
    one fitted (under the job's model lock, re-checked once the lock is held)."""
    model = latest_model(job)
    if _still_usable(job, model, rows):
        return model
    _lock_models(job)
    model = latest_model(job)
    if _still_usable(job, model, rows):  # another process refitted while we waited
        return model
    item_ids = _context_item_ids(job, deciding)
    meta, frozen, through = fit_worker_models(job, item_ids)
    version = WorkerModel(job_id=job.id, version=(model.version + 1) if model else 1, method=job.aggregation,
                          meta=meta, state={name: _encode_state(f) for name, f in frozen.items()},
                          item_ids=item_ids, through_answer_id=through, created_at=utcnow())
    db.session.add(version)
    db.session.flush()
    return version


# --- Deciding ---------------------------------------------------------------------------------

def _from_posterior(basis: str, posterior: np.ndarray, classes: list[str]) -> ControlDecision:
    tied = np.flatnonzero(posterior >= posterior.max() - TIE_TOLERANCE)
    label_code = int(np.argmax(posterior))
    return ControlDecision(basis, list(classes), [float(p) for p in posterior], json.loads(classes[label_code]),
                           float(posterior[label_code]), frozenset(classes[c] for c in tied))


def _gold_facet(key: str) -> ControlDecision:
    return ControlDecision("gold", [key], [1.0], json.loads(key), 1.0, frozenset({key}))


def decide_facet(classes: list[str], keys: list[str], workers: list[int], *, model: WorkerModel | None,
                 facet: str, frozen_cache: dict | None = None) -> ControlDecision:
    """One categorical facet of one item, from a stored model version (or the item's own votes)."""
    if model is None or facet not in model.meta:
        frozen, known, basis = FrozenModel.votes(len(classes)), {}, "votes"
    else:
        meta = model.meta[facet]
        classes = meta["classes"]
        cache = frozen_cache if frozen_cache is not None else {}
        if (model.id, facet) not in cache:
            cache[model.id, facet] = (_decode_state(model.state[facet]),
                                      {w: i for i, w in enumerate(meta["workers"])})
        frozen, known = cache[model.id, facet]
        basis = "model"
    codes = {c: i for i, c in enumerate(classes)}
    posterior = frozen.posterior([known.get(w, -1) for w in workers], [codes[k] for k in keys])
    return _from_posterior(basis, posterior, classes)


@dataclass(frozen=True)
class CategoricalDecision:
    """A categorical control decided: its label and confidence, and each facet's decision."""

    basis: str
    label: Any
    confidence: float
    facets: dict[str, ControlDecision]

    def as_json(self) -> dict[str, Any]:
        if self.basis != "facets":  # one facet: stored as before multiple choices had facets
            return next(iter(self.facets.values())).as_json()
        return {"basis": self.basis, "label": self.label, "confidence": self.confidence,
                "facets": {key: d.as_json() for key, d in self.facets.items()}}

    @property
    def accepted(self) -> dict[str, frozenset[str]]:
        return {key: d.accepted for key, d in self.facets.items()}


def decide_control(control: ControlSpec, item_rows: Sequence[AnswerRow], *, gold: Any,
                   model: WorkerModel | None, context: ItemContext, thresholds: dict[str, float],
                   frozen_cache: dict | None = None) -> CategoricalDecision | KindDecision:
    """One scored control of one item: from gold when the item has it, else from a stored model
    version (categorical facets, or a weighted aggregator with the version's worker weights)."""
    kind = kind_of(control)
    mine = [r for r in item_rows if control.name in r.choices]
    if kind.categorical:
        facets = {}
        for key, classes in kind.facets(control):
            if gold is not None:
                facets[key] = _gold_facet(_facet_value(control, key, gold))
                continue
            facets[key] = decide_facet(classes, [_facet_value(control, key, r.choices[control.name]) for r in mine],
                                       [r.worker_id for r in mine], model=model, facet=key, frozen_cache=frozen_cache)
        label = kind.label_from_facets(control, {key: class_key(d.label) for key, d in facets.items()})
        basis = "gold" if gold is not None else next(iter(facets.values())).basis
        many = len(facets) > 1 or control.multiple
        return CategoricalDecision("facets" if many else basis, label,
                                   min(d.confidence for d in facets.values()), facets)
    values = [r.choices[control.name] for r in mine]
    if gold is not None:
        return KindDecision("gold", gold, 1.0)
    meta = (model.meta.get(control.name) if model is not None else None) or {}
    known = dict(zip(meta.get("workers", []), meta.get("weights", [])))
    weights = [float(known.get(r.worker_id, 1.0)) for r in mine]
    label = kind.decide(control, values, weights, context, thresholds)
    scores = [kind.score(control, v, label, context, thresholds) for v in values]
    confidence = float(np.average(scores, weights=weights)) if values and sum(weights) > 0 else 0.0
    return KindDecision("model" if meta else "votes", label, confidence)


def _rejections(spec: LabelSpec, job: Job, values: dict[str, Any], outcome: dict[str, Any],
                context: ItemContext) -> list[str]:
    """Why an answer disagrees with its item's decision, one part per control ([] = accepted)."""
    parts = []
    for name, decision in outcome.items():
        control = spec.control(name)
        kind = kind_of(control)
        value = values.get(name)
        thresholds = acceptance_thresholds(job, control)
        gold = decision.basis == "gold" or (isinstance(decision, CategoricalDecision)
                                            and all(d.basis == "gold" for d in decision.facets.values()))
        if kind.categorical:
            why = kind.categorical_rejection(control, value, decision.accepted, decision.label, thresholds)
            if why is None:
                continue
            shown = ", ".join(decision.label) if isinstance(decision.label, list) else str(decision.label)
            shown = shown or "none of the choices"
            if gold:
                parts.append(f"{name}: this was a check question; the expected answer is {shown}")
            elif why == "disagrees":
                parts.append(f"{name}: the consensus is {shown} (confidence {decision.confidence:.0%})")
            else:
                parts.append(f"{name}: {why}; the consensus is {shown}")
            continue
        why = kind.rejection(control, value, decision.label, context, thresholds)
        if why is not None:
            parts.append(f"{name}: this was a check question; {why}" if gold else f"{name}: {why}")
    return parts


def decide_items(job: Job, items: Sequence[Item], *, now: dt.datetime | None = None) -> list[Answer]:
    """Decide `items` from their answers: record a Decision each, mark every pending answer
    accepted or rejected (with the reason), label the item; return the answers decided."""
    now = now or utcnow()
    items = [i for i in items if i.n_answers > 0 and not i.is_complete]
    if not items:
        return []
    deciding = {i.id for i in items}
    rows = answer_rows(job, deciding)
    model = None if job.aggregation in PER_ITEM_METHODS else model_for(job, deciding, rows)
    by_item: dict[int, list[AnswerRow]] = defaultdict(list)
    for row in rows:
        by_item[row.item_id].append(row)
    spec = job_spec(job)
    objects = {o.name: o for o in spec.objects}
    contexts = {i.id: ItemContext(data=i.data, objects=objects) for i in items}
    cache: dict = {}
    outcomes: dict[int, dict[str, Any]] = {}
    for item in items:
        outcome = _decide_item(job, spec, item, by_item[item.id], model, contexts[item.id], cache)
        outcomes[item.id] = outcome
        decision = Decision(item_id=item.id, job_id=job.id, model_id=model.id if model else None,
                            method=job.aggregation, outcome={n: d.as_json() for n, d in outcome.items()},
                            decided_at=now)
        db.session.add(decision)
        item.consensus = {name: d.label for name, d in outcome.items()}
        item.confidence = min(d.confidence for d in outcome.values())
        item.is_complete = True
        item.completed_at = item.completed_at or now
    db.session.flush()
    decision_ids = {d.item_id: d.id for d in db.session.scalars(
        db.select(Decision).where(Decision.item_id.in_(deciding)))}
    pending = db.session.scalars(
        db.select(Answer).where(Answer.item_id.in_(deciding), Answer.status == AnswerStatus.PENDING)
        .order_by(Answer.id)).all()
    for answer in pending:
        wrong = _rejections(spec, job, answer.choices, outcomes[answer.item_id], contexts[answer.item_id])
        answer.decided_at = now
        answer.decision_id = decision_ids[answer.item_id]
        if wrong:
            answer.status = AnswerStatus.REJECTED
            answer.reject_reason = "; ".join(wrong) + "."
        else:
            answer.status = AnswerStatus.ACCEPTED
    db.session.flush()
    return list(pending)


def _decide_item(job: Job, spec: LabelSpec, item: Item, rows: Sequence[AnswerRow], model: WorkerModel | None,
                 context: ItemContext, cache: dict) -> dict[str, Any]:
    return {c.name: decide_control(c, rows, gold=(item.gold or {}).get(c.name), model=model, context=context,
                                   thresholds=acceptance_thresholds(job, c), frozen_cache=cache)
            for c in spec.scored_controls}


def has_open_items(job: Job) -> bool:
    return db.session.scalar(
        db.select(Item.id).where(Item.job_id == job.id, ~Item.is_complete).limit(1)) is not None


def finalize_job(job: Job, *, now: dt.datetime | None = None) -> list[Answer]:
    """Decide every incomplete item that has answers (a job closing early): no answer a client
    was told is stored stays pending."""
    items = db.session.scalars(
        db.select(Item).where(Item.job_id == job.id, ~Item.is_complete, Item.n_answers > 0)
        .order_by(Item.id)).all()
    return decide_items(job, items, now=now)


# --- Replay -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    job_id: int
    what: str  # "model 3", "item 17", "answer 52"
    problem: str


@dataclass
class ReplayReport:
    n_models: int = 0
    n_decisions: int = 0
    n_answers: int = 0
    n_unrecorded: int = 0  # items decided before decisions were recorded (an older release)
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _replay_model(job: Job, model: WorkerModel, report: ReplayReport) -> None:
    meta, frozen, through = fit_worker_models(job, model.item_ids, model.method)
    where = f"model {model.id} (job {job.id} v{model.version})"
    if through != model.through_answer_id:
        report.differences.append(Difference(job.id, where, f"its items now have answers up to "
                                             f"{through}, not {model.through_answer_id}"))
    if meta != model.meta:
        report.differences.append(Difference(job.id, where, "refitting gives other classes or workers"))
        return
    for name, refit in frozen.items():
        if not refit.allclose(_decode_state(model.state[name])):
            report.differences.append(Difference(job.id, where, f"refitting {name!r} gives other worker models"))


def replay_decisions(job_id: int | None = None, *, refit: bool = True) -> ReplayReport:
    """Re-derive every decision (of one job, or all) from the database and report differences.

    For each decision: the posterior from its stored model version (or the item's votes, or its
    gold) and the item's answers must be the recorded one, and each answer's status the one the
    decision implies (unless a later ruling — an upheld dispute — overruled it). With `refit`,
    every model version is also refitted from its recorded inputs and compared. Fixes nothing.
    """
    report = ReplayReport()
    query = db.select(Job).order_by(Job.id)
    if job_id is not None:
        query = query.where(Job.id == job_id)
    for job in db.session.scalars(query).all():
        models = {m.id: m for m in db.session.scalars(db.select(WorkerModel).where(WorkerModel.job_id == job.id))}
        report.n_models += len(models)
        if refit:
            for model in models.values():
                _replay_model(job, model, report)
        _replay_job_decisions(job, models, report)
    return report


def _same(replayed: Any, recorded: Any) -> bool:
    """Outcomes compared as stored JSON, floats to 1e-12 relative."""
    if isinstance(replayed, float) or isinstance(recorded, float):
        return (isinstance(replayed, (int, float)) and isinstance(recorded, (int, float))
                and bool(np.isclose(replayed, recorded, rtol=1e-12, atol=0)))
    if isinstance(replayed, dict) and isinstance(recorded, dict):
        return replayed.keys() == recorded.keys() and all(_same(replayed[k], recorded[k]) for k in replayed)
    if isinstance(replayed, (list, tuple)) and isinstance(recorded, (list, tuple)):
        return len(replayed) == len(recorded) and all(_same(a, b) for a, b in zip(replayed, recorded))
    return replayed == recorded


def _replay_job_decisions(job: Job, models: dict[int, WorkerModel], report: ReplayReport) -> None:
    decisions = db.session.scalars(db.select(Decision).where(Decision.job_id == job.id).order_by(Decision.id)).all()
    items = {i.id: i for i in db.session.scalars(db.select(Item).where(Item.job_id == job.id))}
    answers: dict[int, list[Answer]] = defaultdict(list)
    for answer in db.session.scalars(db.select(Answer).where(Answer.job_id == job.id).order_by(Answer.id)):
        answers[answer.item_id].append(answer)
    spec = job_spec(job)
    objects = {o.name: o for o in spec.objects}
    cache: dict = {}
    decided_items = set()
    for decision in decisions:
        report.n_decisions += 1
        decided_items.add(decision.item_id)
        item = items[decision.item_id]
        mine = answers[item.id]
        rows = [AnswerRow(a.id, a.item_id, a.worker_id, a.choices) for a in mine]
        model = models.get(decision.model_id) if decision.model_id else None
        context = ItemContext(data=item.data, objects=objects)
        outcome = _decide_item(job, spec, item, rows, model, context, cache)
        where = f"item {item.id}"
        for name, replayed in outcome.items():
            recorded = decision.outcome.get(name, {})
            if not _same(json.loads(json.dumps(replayed.as_json())), recorded):
                report.differences.append(Difference(job.id, where, f"{name!r}: replay gives {replayed.label} "
                                                     f"{replayed.as_json().get('posterior', replayed.confidence)}, "
                                                     f"recorded {recorded.get('label')} "
                                                     f"{recorded.get('posterior', recorded.get('confidence'))}"))
        for answer in mine:
            report.n_answers += 1
            wrong = _rejections(spec, job, answer.choices, outcome, context)
            expected = AnswerStatus.REJECTED if wrong else AnswerStatus.ACCEPTED
            if answer.decision_id != decision.id:
                report.differences.append(Difference(job.id, f"answer {answer.id}",
                                                     f"is not linked to its item's decision {decision.id}"))
            elif answer.status is not expected and answer.overruled_by is None:
                report.differences.append(Difference(job.id, f"answer {answer.id}", f"is {answer.status.value} "
                                                     f"but its decision makes it {expected.value}"))
    for item in items.values():
        if item.id in decided_items or not answers[item.id]:
            continue
        if all(a.decision_id is None and a.status is not AnswerStatus.PENDING for a in answers[item.id]):
            report.n_unrecorded += 1  # decided by a release that did not record decisions
        elif item.is_complete or any(a.status is not AnswerStatus.PENDING for a in answers[item.id]):
            report.differences.append(Difference(job.id, f"item {item.id}", "is decided but has no decision"))
