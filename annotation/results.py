"""Results a requester reads: every item's label refreshed by a fit over the whole job, and
each worker's quality. Payment decisions are `annotation.decisions`' and never change here."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from annotation.decisions import answer_rows, fit_controls
from annotation.models import Item, Job
from app.extensions import db
from consensus.quality import worker_quality


def recompute_job(job: Job) -> int:
    """Re-run consensus over the whole job and refresh every complete item's label and confidence.

    Decisions already made on answers stand: money has moved on them. Returns items updated.
    """
    items = db.session.scalars(
        db.select(Item).where(Item.job_id == job.id, Item.is_complete, Item.n_answers > 0)).all()
    if not items:
        return 0
    fits = fit_controls(job, answer_rows(job, [i.id for i in items]))
    codes = {name: {int(t): c for c, t in enumerate(fit.encoded.tasks.tolist())} for name, fit in fits.items()}
    for item in items:
        labels, confidences = {}, []
        for name, fit in fits.items():
            posterior = fit.model.probas_[codes[name][item.id]]
            best = int(np.argmax(posterior))
            labels[name] = json.loads(fit.encoded.classes[best])
            confidences.append(float(posterior[best]))
        item.consensus, item.confidence = labels, min(confidences)
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
