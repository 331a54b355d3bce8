"""Consensus decisions: majority vote, ties, gold, reasons, closing early."""
from annotation.models import Answer, AnswerStatus, Item
from annotation.results import recompute_job
from annotation.tasks import next_task_for
from app.operations.jobs import close_job
from app.operations.tasks import submit_answer

from conftest import choices_result


def _label_all(db, job, workers, labels):
    answers = []
    for worker, label in zip(workers, labels):
        assignment = next_task_for(worker, job)
        answers.append(submit_answer(worker, assignment.id, choices_result(label)))
        db.session.commit()
    return answers


def test_majority_wins_and_the_minority_learns_why(db, make_user, make_job):
    job = make_job(n_items=1, overlap=3, aggregation="majority_vote")
    answers = _label_all(db, job, [make_user() for _ in range(3)], ["positive", "positive", "negative"])
    item = db.session.get(Item, answers[0].item_id)
    assert item.is_complete and item.consensus == {"sentiment": ["positive"]}
    assert abs(item.confidence - 2 / 3) < 1e-9
    statuses = [db.session.get(Answer, a.id).status for a in answers]
    assert statuses == [AnswerStatus.ACCEPTED, AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]
    assert db.session.get(Answer, answers[2].id).reject_reason == \
        "sentiment: the consensus is positive (confidence 67%)."


def test_a_tie_rejects_nobody(db, make_user, make_job):
    job = make_job(n_items=1, overlap=2, aggregation="majority_vote")
    answers = _label_all(db, job, [make_user(), make_user()], ["positive", "negative"])
    assert {db.session.get(Answer, a.id).status for a in answers} == {AnswerStatus.ACCEPTED}
    assert db.session.get(Item, answers[0].item_id).confidence == 0.5


def test_gold_decides_gold_items(db, make_user, make_job):
    job = make_job(rows=[{"text": "check", "_gold": {"sentiment": "neutral"}}], overlap=3)
    answers = _label_all(db, job, [make_user() for _ in range(3)], ["positive", "positive", "neutral"])
    item = db.session.get(Item, answers[0].item_id)
    assert item.consensus == {"sentiment": ["neutral"]} and item.confidence == 1.0
    decided = [db.session.get(Answer, a.id) for a in answers]
    assert [a.status for a in decided] == [AnswerStatus.REJECTED, AnswerStatus.REJECTED, AnswerStatus.ACCEPTED]
    assert "check question; the expected answer is neutral" in decided[0].reject_reason


def test_multiple_choice_answers_agree_as_sets(db, make_user, make_job):
    config = """<View><Text name="text" value="$text"/><Choices name="topics" toName="text" choice="multiple">
      <Choice value="sport"/><Choice value="politics"/><Choice value="tech"/></Choices></View>"""
    job = make_job(n_items=1, overlap=3, label_config=config)
    workers = [make_user() for _ in range(3)]
    picks = [["tech", "sport"], ["sport", "tech"], ["politics"]]
    answers = []
    for worker, pick in zip(workers, picks):
        assignment = next_task_for(worker, job)
        answers.append(submit_answer(worker, assignment.id, choices_result(pick, control="topics")))
    db.session.commit()
    item = db.session.get(Item, answers[0].item_id)
    assert item.consensus == {"topics": ["sport", "tech"]}
    assert [db.session.get(Answer, a.id).status for a in answers] == [
        AnswerStatus.ACCEPTED, AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]


def test_closing_early_scores_partly_answered_items(db, make_user, make_job):
    job = make_job(n_items=2, overlap=3)
    answers = _label_all(db, job, [make_user(), make_user()], ["negative", "negative"])
    close_job(job.owner, job)
    db.session.commit()
    item = db.session.get(Item, answers[0].item_id)
    assert item.is_complete and item.consensus == {"sentiment": ["negative"]}
    assert all(db.session.get(Answer, a.id).status is AnswerStatus.ACCEPTED for a in answers)
    assert recompute_job(job) == 1


def _answer_everything(db, job, plan):
    """plan: worker -> function(item text) -> label; workers answer until nothing is left."""
    progress = True
    while progress:
        progress = False
        for worker, choose in plan.items():
            assignment = next_task_for(worker, job)
            if assignment is None:
                continue
            submit_answer(worker, assignment.id, choices_result(choose(assignment.item.data["text"])))
            db.session.commit()
            progress = True


def test_auto_is_the_default_and_learns_workers_from_the_whole_job(db, make_user, make_job, login):
    truth = {f"sentence {i}": ["positive", "negative"][i % 2] for i in range(12)}
    rows = [{"text": t, **({"_gold": {"sentiment": label}} if i < 4 else {})}
            for i, (t, label) in enumerate(truth.items())]
    job = make_job(rows=rows, overlap=3)
    assert job.aggregation == "auto"
    good = [make_user(), make_user()]
    contrarian = make_user()
    flip = {"positive": "negative", "negative": "positive"}
    plan = {good[0]: truth.get, good[1]: truth.get, contrarian: lambda t: flip[truth[t]]}
    _answer_everything(db, job, plan)
    items = db.session.scalars(db.select(Item).where(Item.job_id == job.id)).all()
    assert all(i.is_complete for i in items)
    assert all(i.consensus == {"sentiment": [truth[i.data["text"]]]} for i in items)
    statuses = db.session.execute(db.select(Answer.worker_id, Answer.status)).all()
    assert {s for w, s in statuses if w == contrarian.id} == {AnswerStatus.REJECTED}
    assert {s for w, s in statuses if w != contrarian.id} == {AnswerStatus.ACCEPTED}

    page = login(job.owner).get(f"/jobs/{job.id}?quality=1").get_data(as_text=True)
    assert f"<td>#{contrarian.id}</td><td>12</td><td>0%</td>" in page
    assert "0% of 4" in page and "100% of 4" in page
    from annotation.results import job_worker_quality

    rows_by_worker = {r.worker_id: r for r in job_worker_quality(job)["sentiment"]}
    assert rows_by_worker[contrarian.id].skill_high < rows_by_worker[good[0].id].skill_low


def test_recompute_on_demand(db, make_user, make_job, login):
    job = make_job(n_items=2, overlap=1)
    _answer_everything(db, job, {make_user(): lambda t: "neutral"})
    client = login(job.owner)
    response = client.post(f"/jobs/{job.id}/recompute")
    assert response.status_code == 302
    assert "Consensus recomputed with auto for 2 items." in client.get(f"/jobs/{job.id}").get_data(as_text=True)


def test_unknown_aggregation_is_refused(make_user):
    import pytest

    from annotation.errors import InvalidInput
    from app.operations.jobs import create_job

    from conftest import TEXT_CONFIG

    with pytest.raises(InvalidInput, match="Unknown aggregation 'best'"):
        create_job(make_user("requester"), title="x", label_config=TEXT_CONFIG, reward=1, overlap=1,
                   aggregation="best")


def test_items_are_decided_from_a_stored_worker_model_version(db, make_user, make_job):
    from annotation.decisions import replay_decisions
    from annotation.models import Decision, WorkerModel

    truth = {f"sentence {i}": ["positive", "negative"][i % 2] for i in range(12)}
    job = make_job(rows=[{"text": t} for t in truth], overlap=3)
    workers = [make_user() for _ in range(3)]
    # Every worker answers item by item in turn, so all three are known after the first item.
    _answer_everything(db, job, {w: truth.get for w in workers})
    items = db.session.scalars(db.select(Item).where(Item.job_id == job.id)).all()
    assert all(i.consensus == {"sentiment": [truth[i.data["text"]]]} for i in items)
    versions = db.session.scalars(db.select(WorkerModel).where(WorkerModel.job_id == job.id)
                                  .order_by(WorkerModel.version)).all()
    # One fit for the first completed item; the eleven after it were decided from that stored
    # version (all three workers known, fewer than REFIT_EVERY decisions).
    assert [len(v.item_ids) for v in versions] == [1]
    decisions = db.session.scalars(db.select(Decision).where(Decision.job_id == job.id)).all()
    assert len(decisions) == 12 and {d.model_id for d in decisions} == {versions[0].id}
    assert all(a.decision_id is not None for a in db.session.scalars(db.select(Answer)))
    report = replay_decisions(job.id)
    assert report.ok, report.differences
    assert (report.n_models, report.n_decisions, report.n_answers) == (1, 12, 36)
