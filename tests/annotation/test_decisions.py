"""Decisions from stored worker-model versions, and their replay (issue #9 §2).

On main each gunicorn process kept its own fitted worker models in memory and refitted every 100
decisions, so the same item could be accepted in one process and rejected in another, and no
decision could be replayed. Now a decision names the stored version and the posterior it used,
and `replay_decisions` / `flask annotation replay-decisions` re-derive everything from the
database (exit 1 on any difference).
"""
from __future__ import annotations

import base64

import numpy as np

from annotation.decisions import REFIT_EVERY, replay_decisions
from annotation.models import Answer, AnswerStatus, Decision, WorkerModel
from consensus import FrozenModel

from conftest import answer_item


def _crowd(db, make_user, make_job, n_items=6, **job):
    job = make_job(n_items=n_items, overlap=3, **job)
    workers = [make_user() for _ in range(4)]
    for n in range(n_items):
        crowd = workers[n % 2:n % 2 + 3]
        answer_item(db, job, crowd, ["positive", "positive", "negative" if n % 3 else "positive"])
    return job, workers


def test_every_decision_records_its_version_and_posterior_and_replays(db, make_user, make_job):
    job, _ = _crowd(db, make_user, make_job)
    decisions = db.session.scalars(db.select(Decision).where(Decision.job_id == job.id)).all()
    assert len(decisions) == 6
    for decision in decisions:
        model = db.session.get(WorkerModel, decision.model_id)
        assert model.job_id == job.id and model.method == "auto"
        outcome = decision.outcome["sentiment"]
        assert outcome["basis"] == "model" and abs(sum(outcome["posterior"]) - 1) < 1e-12
    report = replay_decisions(job.id)
    assert report.ok, report.differences
    assert report.n_decisions == 6 and report.n_answers == 18 and report.n_models >= 1


def test_a_new_worker_gets_a_refit_and_the_version_count_is_bounded(db, make_user, make_job):
    job, workers = _crowd(db, make_user, make_job, n_items=4)
    versions = db.session.scalars(db.select(WorkerModel.version).where(WorkerModel.job_id == job.id)).all()
    # items 0 and 1 bring workers 0-2 and 1-3: the fourth worker forces one refit, then none.
    assert sorted(versions) == [1, 2]
    assert REFIT_EVERY == 100


def test_replay_finds_a_tampered_posterior_status_or_model(db, make_user, make_job, runner):
    job, _ = _crowd(db, make_user, make_job)
    db.session.commit()
    assert runner.invoke(args=["annotation", "replay-decisions"]).exit_code == 0

    decision = db.session.scalars(db.select(Decision).order_by(Decision.id)).first()
    outcome = dict(decision.outcome)
    outcome["sentiment"] = {**outcome["sentiment"], "posterior": [0.5, 0.25, 0.25]}
    decision.outcome = outcome
    answer = db.session.scalars(db.select(Answer).where(Answer.status == AnswerStatus.ACCEPTED)).first()
    answer.status = AnswerStatus.REJECTED
    model = db.session.scalars(db.select(WorkerModel).order_by(WorkerModel.id)).first()
    frozen = FrozenModel.from_bytes(base64.b64decode(model.state["sentiment"]))
    forged = FrozenModel(frozen.kind, frozen.n_classes, frozen.priors, np.clip(frozen.errors * 1.1, 0, 1),
                         frozen.pooled, frozen.weights)
    model.state = {"sentiment": base64.b64encode(forged.to_bytes()).decode()}
    db.session.commit()

    report = replay_decisions(job.id)
    problems = " | ".join(f"{d.what}: {d.problem}" for d in report.differences)
    assert f"item {decision.item_id}" in problems
    assert f"answer {answer.id}" in problems
    assert f"model {model.id}" in problems and "other worker models" in problems
    result = runner.invoke(args=["annotation", "replay-decisions", "--job", str(job.id)])
    assert result.exit_code == 1 and "differences" in result.output


def test_gold_and_majority_vote_decisions_replay_without_a_model(db, make_user, make_job):
    rows = [{"text": "check", "_gold": {"sentiment": "neutral"}}, {"text": "plain"}]
    job = make_job(rows=rows, overlap=3, aggregation="majority_vote")
    workers = [make_user() for _ in range(3)]
    for _ in rows:
        answer_item(db, job, workers, ["neutral", "positive", "positive"])
    decisions = db.session.scalars(db.select(Decision).where(Decision.job_id == job.id)).all()
    assert {d.model_id for d in decisions} == {None}
    assert sorted(d.outcome["sentiment"]["basis"] for d in decisions) == ["gold", "votes"]
    assert replay_decisions(job.id).ok
    assert db.session.scalar(db.select(db.func.count()).select_from(WorkerModel)) == 0
