"""Consensus decisions: majority vote, ties, gold, reasons, closing early."""
from conftest import choices_result

from annotation.jobs import close_job
from annotation.models import Answer, AnswerStatus, Item
from annotation.results import recompute_job
from annotation.tasks import next_task_for, submit_answer


def _label_all(db, job, workers, labels):
    answers = []
    for worker, label in zip(workers, labels):
        assignment = next_task_for(worker, job)
        answers.append(submit_answer(worker, assignment.id, choices_result(label)))
        db.session.commit()
    return answers


def test_majority_wins_and_the_minority_learns_why(db, make_user, make_job):
    job = make_job(n_items=1, overlap=3)
    answers = _label_all(db, job, [make_user() for _ in range(3)], ["positive", "positive", "negative"])
    item = db.session.get(Item, answers[0].item_id)
    assert item.is_complete and item.consensus == {"sentiment": ["positive"]}
    assert abs(item.confidence - 2 / 3) < 1e-9
    statuses = [db.session.get(Answer, a.id).status for a in answers]
    assert statuses == [AnswerStatus.ACCEPTED, AnswerStatus.ACCEPTED, AnswerStatus.REJECTED]
    assert db.session.get(Answer, answers[2].id).reject_reason == \
        "sentiment: the consensus is positive (confidence 67%)."


def test_a_tie_rejects_nobody(db, make_user, make_job):
    job = make_job(n_items=1, overlap=2)
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
