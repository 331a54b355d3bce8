"""Results a requester reads: every item's label refreshed by a fit over the whole job, and
each worker's quality. Payment decisions are `annotation.decisions`' and never change here."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotation.controls import kind_of
from annotation.decisions import answer_rows, facets_of, fit_controls, weighted_controls
from annotation.jobs import job_spec
from annotation.models import Decision, Item, Job
from app.extensions import db
from consensus.quality import worker_quality


def recompute_job(job: Job) -> int:
    """Re-run consensus over the whole job and refresh every complete item's label and confidence
    for the categorical controls (the others are fused per item and need no whole-job refit).

    Decisions already made on answers stand: money has moved on them. Returns items updated.
    """
    items = db.session.scalars(
        db.select(Item).where(Item.job_id == job.id, Item.is_complete, Item.n_answers > 0)).all()
    if not items:
        return 0
    fits = fit_controls(job, answer_rows(job, [i.id for i in items]))
    codes = {key: {int(t): c for c, t in enumerate(fit.encoded.tasks.tolist())} for key, fit in fits.items()}
    spec = job_spec(job)
    facets = facets_of(spec)
    weighted = {c.name for c in weighted_controls(spec)}
    outcomes = dict(db.session.execute(db.select(Decision.item_id, Decision.outcome).where(
        Decision.job_id == job.id)).all()) if weighted else {}
    for item in items:
        labels = dict(item.consensus or {})
        confidence = {}
        best_of: dict[str, dict[str, str]] = {}
        for control, key, _ in facets:
            if key not in fits or item.id not in codes[key] or (item.gold or {}).get(control.name) is not None:
                continue
            posterior = fits[key].model.probas_[codes[key][item.id]]
            best = int(np.argmax(posterior))
            best_of.setdefault(control.name, {})[key] = fits[key].encoded.classes[best]
            confidence[control.name] = min(confidence.get(control.name, 1.0), float(posterior[best]))
        for control in {c.name: c for c, _, _ in facets}.values():
            found = best_of.get(control.name)
            if found and len(found) == len(kind_of(control).facets(control)):
                labels[control.name] = kind_of(control).label_from_facets(control, found)
        if confidence:
            fused = [float(o["confidence"]) for name, o in outcomes.get(item.id, {}).items() if name in weighted]
            item.consensus, item.confidence = labels, min([*confidence.values(), *fused])
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
    item_ids = db.session.scalars(db.select(Item.id).where(Item.job_id == job.id)).all()
    table = {}
    for name, fit in fit_controls(job, answer_rows(job, item_ids)).items():
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
