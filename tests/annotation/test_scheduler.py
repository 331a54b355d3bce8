"""The scheduler: leases, overlap, no repeats, closest-to-complete first, skips."""
import datetime as dt

import pytest

from annotation.errors import Conflict, LeaseExpired, NotFound, PermissionDenied
from annotation.models import AnswerStatus, AssignmentStatus, Item
from annotation.tasks import SchedulerSettings, next_task_for, skip_task
from app.operations.jobs import pause_job, resume_job
from app.operations.tasks import submit_answer

from conftest import choices_result

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _answer(db, worker, job, label="positive", now=NOW):
    assignment = next_task_for(worker, job, now=now)
    assert assignment is not None
    answer = submit_answer(worker, assignment.id, choices_result(label),
                           now=now + dt.timedelta(seconds=5))
    db.session.commit()
    return answer


def test_never_the_same_item_twice_and_never_over_overlap(db, make_user, make_job):
    job = make_job(n_items=2, overlap=2)
    workers = [make_user() for _ in range(3)]
    seen = {w.id: set() for w in workers}
    for _ in range(3):
        for worker in workers:
            assignment = next_task_for(worker, job, now=NOW)
            if assignment is None:
                continue
            assert assignment.item_id not in seen[worker.id]
            seen[worker.id].add(assignment.item_id)
            submit_answer(worker, assignment.id, choices_result("positive"), now=NOW)
            db.session.commit()
    items = db.session.scalars(db.select(Item).where(Item.job_id == job.id)).all()
    assert [(i.n_answers, i.n_taken, i.is_complete) for i in items] == [(2, 2, True), (2, 2, True)]
    assert all(next_task_for(w, job, now=NOW) is None for w in workers)


def test_items_closest_to_completion_come_first(db, make_user, make_job):
    job = make_job(n_items=3, overlap=3)
    first = _answer(db, make_user(), job)
    for _ in range(2):  # the two slots left on the started item go first
        assert next_task_for(make_user(), job, now=NOW).item_id == first.item_id
        db.session.commit()
    assert next_task_for(make_user(), job, now=NOW).item_id != first.item_id


def test_a_reload_gets_the_same_task_back(db, make_user, make_job):
    job, worker = make_job(n_items=3), make_user()
    first = next_task_for(worker, job, now=NOW)
    assert next_task_for(worker, job, now=NOW).id == first.id


def test_expired_lease_returns_the_item(db, make_user, make_job):
    job = make_job(n_items=1, overlap=1)
    slow, other = make_user(), make_user()
    settings = SchedulerSettings(lease_seconds=60)
    held = next_task_for(slow, job, settings=settings, now=NOW)
    db.session.commit()
    assert next_task_for(other, job, settings=settings, now=NOW + dt.timedelta(seconds=30)) is None
    later = next_task_for(other, job, settings=settings, now=NOW + dt.timedelta(seconds=61))
    assert later is not None and later.item_id == held.item_id
    db.session.commit()
    db.session.refresh(held)
    assert held.status is AssignmentStatus.EXPIRED
    submit_answer(other, later.id, choices_result("negative"), now=NOW + dt.timedelta(seconds=70))
    with pytest.raises(LeaseExpired):
        submit_answer(slow, held.id, choices_result("positive"), now=NOW + dt.timedelta(seconds=75))


def test_late_answer_to_an_expired_lease_counts_while_there_is_room(db, make_user, make_job):
    job = make_job(n_items=1, overlap=2)
    slow, other = make_user(), make_user()
    settings = SchedulerSettings(lease_seconds=60)
    held = next_task_for(slow, job, settings=settings, now=NOW)
    db.session.commit()
    next_task_for(other, job, settings=settings, now=NOW + dt.timedelta(seconds=61))  # expires `held`
    db.session.commit()
    answer = submit_answer(slow, held.id, choices_result("positive"), now=NOW + dt.timedelta(seconds=90))
    assert answer.status is AnswerStatus.PENDING
    item = db.session.get(Item, held.item_id)
    assert (item.n_taken, item.n_answers) == (2, 1)


def test_skip_hands_the_item_back_to_others_only(db, make_user, make_job):
    job = make_job(n_items=1, overlap=1)
    skipper, other = make_user(), make_user()
    assignment = next_task_for(skipper, job, now=NOW)
    skip_task(skipper, assignment.id)
    db.session.commit()
    assert next_task_for(skipper, job, now=NOW) is None
    assert next_task_for(other, job, now=NOW).item_id == assignment.item_id
    with pytest.raises(Conflict):
        submit_answer(skipper, assignment.id, choices_result("positive"))


def test_resubmitting_the_same_answer_is_harmless(db, make_user, make_job):
    job, worker = make_job(n_items=1, overlap=2), make_user()
    answer = _answer(db, worker, job)
    again = submit_answer(worker, answer.assignment_id, choices_result("positive"))
    assert again.id == answer.id
    with pytest.raises(Conflict, match="already answered"):
        submit_answer(worker, answer.assignment_id, choices_result("negative"))


def test_tasks_belong_to_their_worker(db, make_user, make_job):
    job, worker, thief = make_job(), make_user(), make_user()
    assignment = next_task_for(worker, job, now=NOW)
    with pytest.raises(NotFound):
        submit_answer(thief, assignment.id, choices_result("positive"))


def test_paused_and_closed_jobs_serve_nothing(db, make_user, make_job):
    job, worker = make_job(), make_user()
    pause_job(job.owner, job)
    with pytest.raises(Conflict):
        next_task_for(worker, job)
    resume_job(job.owner, job)
    assert next_task_for(worker, job) is not None


def test_requesters_do_not_take_tasks(make_user, make_job):
    job = make_job()
    with pytest.raises(PermissionDenied):
        next_task_for(make_user("requester"), job)


def test_active_time_is_clamped_to_what_the_server_saw(db, make_user, make_job):
    job, worker = make_job(), make_user()
    assignment = next_task_for(worker, job, now=NOW)
    answer = submit_answer(worker, assignment.id, choices_result("positive"),
                           now=NOW + dt.timedelta(seconds=7))
    assert (answer.active_ms, answer.elapsed_ms) == (7000, 7000)
    assert answer.result == choices_result("positive")
    other = next_task_for(make_user(), job, now=NOW)
    late = submit_answer(other.worker, other.id, choices_result("positive"), now=NOW + dt.timedelta(hours=2))
    assert (late.active_ms, late.elapsed_ms) == (10 * 60 * 1000, 2 * 3600 * 1000)  # idle capped


def test_api_round_trip_and_bad_answers_are_400(db, make_user, make_job, login):
    job = make_job(n_items=1, overlap=1)
    client = login(make_user())
    task = client.post(f"/api/jobs/{job.id}/next").json["task"]
    for body, code in [(None, "invalid_answer"), ({"nothing": 1}, "invalid_answer"),
                       ({"result": "x"}, "invalid_answer"),
                       ({"result": choices_result("maybe")}, "invalid_answer")]:
        response = client.post(task["answer_url"], json=body) if body else client.post(
            task["answer_url"], data="not json", content_type="application/json")
        assert response.status_code == 400, body
        assert response.json["error"]["code"] == code and response.json["error"]["message"]
    ok = client.post(task["answer_url"], json={"result": choices_result("neutral"), "active_ms": 1200})
    assert ok.status_code == 200 and ok.json["answer"]["status"] == "accepted"
    assert client.post(f"/api/jobs/{job.id}/next").json == {
        "task": None, "message": "No more tasks for you in this job. Thank you!"}
    assert client.post("/api/tasks/99999/answer", json={"result": []}).status_code == 404
