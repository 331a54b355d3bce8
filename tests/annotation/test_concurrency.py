"""The scheduler under contention: 32 annotators asking for tasks and answering at once.

Each thread is one annotator with its own app context (so its own session and connection),
committing after every service call as a request would; or, in the `http` variant, its own
logged-in test client going through the JSON API. Afterwards the database itself is checked:
no item over-answered, nobody served an item twice, no answer lost, no lease leaked, every
accepted answer paid exactly once.

On SQLite every transaction starts with BEGIN IMMEDIATE, so the 32 threads queue on the
database lock (30 s busy timeout); the run is small enough for that to stay fast.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

import pytest

from annotation.errors import LeaseExpired
from annotation.models import Answer, AnswerStatus, Assignment, AssignmentStatus, Item, Job
from annotation.tasks import SchedulerSettings, next_task_for
from app.identity.models import User
from app.operations.tasks import submit_answer
from rewards.accounts import pending_account
from rewards.ledger import balance_of, recomputed_balances
from rewards.models import LedgerTransfer
from rewards.policy import PayPolicy

from conftest import choices_result

N_WORKERS = 32
N_ITEMS = 60
OVERLAP = 3
REWARD = 10
MAX_CALLS = 4 * N_ITEMS
JOIN_TIMEOUT = 120  # seconds for the whole crowd; a deadlock shows up as a timeout, not a hang


def label_for(worker_index: int, item_id: int) -> str:
    """Mostly "positive", sometimes "negative": consensus then both accepts and rejects."""
    return "negative" if (item_id * 7 + worker_index) % 5 == 0 else "positive"


@dataclass
class Outcome:
    """What one annotator thread saw: the answers it was told were stored, and any error."""

    worker_id: int
    answers: list[tuple[int, int]] = field(default_factory=list)  # (answer id, item id)
    errors: list[str] = field(default_factory=list)
    calls: int = 0


def _work_through_services(app, db, barrier: threading.Barrier, index: int, out: Outcome,
                           job_id: int) -> None:
    """Loop next task → answer until none is left, committing after each call like a request.

    A failed call is rolled back, recorded and retried, as a client would: the lease is still
    held, so the next `next_task_for` hands the same task back.
    """
    with app.app_context():
        barrier.wait()
        while out.calls < MAX_CALLS:  # a bound, in case the scheduler loops forever
            out.calls += 1
            try:
                worker = db.session.get(User, out.worker_id)
                job = db.session.get(Job, job_id)
                assignment = next_task_for(worker, job)
                db.session.commit()
                if assignment is None:
                    break
                item_id = assignment.item_id
                answer = submit_answer(worker, assignment.id,
                                       choices_result(label_for(index, item_id)))
                db.session.commit()
                out.answers.append((answer.id, item_id))
            except Exception:  # reported by the main thread, which owns the assertions
                db.session.rollback()
                out.errors.append(traceback.format_exc())
        db.session.remove()


def _work_through_http(client, barrier: threading.Barrier, index: int, out: Outcome,
                       job_id: int) -> None:
    barrier.wait()
    while out.calls < MAX_CALLS:
        out.calls += 1
        try:
            response = client.post(f"/api/jobs/{job_id}/next")
            if response.status_code != 200:
                out.errors.append(f"next: {response.status_code} {response.get_data(as_text=True)}")
                continue
            task = response.get_json()["task"]
            if task is None:
                break
            response = client.post(task["answer_url"], json={
                "result": choices_result(label_for(index, task["item_id"])), "active_ms": 1000})
            if response.status_code != 200:
                body = response.get_data(as_text=True)
                out.errors.append(f"answer: {response.status_code} {body}")
                continue
            out.answers.append((response.get_json()["answer"]["id"], task["item_id"]))
        except Exception:
            out.errors.append(traceback.format_exc())


@pytest.mark.parametrize(("via", "paid_before"), [
    ("services", False),
    # Workers who earned before have ledger accounts older than this job's escrow account.
    ("services", True),
    ("http", False),
], ids=["services-new-workers", "services-paid-before", "http-new-workers"])
def test_32_annotators_at_once(app, db, make_user, make_job, login, via, paid_before):
    workers = [make_user("annotator") for _ in range(N_WORKERS)]
    if paid_before:
        for worker in workers:
            pending_account("FLT", worker.id)
        db.session.commit()
    job = make_job(n_items=N_ITEMS, overlap=OVERLAP, reward=REWARD)
    outcomes = [Outcome(worker_id=w.id) for w in workers]
    clients = [login(w) for w in workers] if via == "http" else []
    job_id = job.id
    # End the main thread's transaction: on SQLite an open one would hold the write lock.
    db.session.commit()

    barrier = threading.Barrier(N_WORKERS)
    if via == "services":
        threads = [threading.Thread(target=_work_through_services,
                                    args=(app, db, barrier, i, outcomes[i], job_id))
                   for i in range(N_WORKERS)]
    else:
        threads = [threading.Thread(target=_work_through_http,
                                    args=(clients[i], barrier, i, outcomes[i], job_id))
                   for i in range(N_WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "annotators still running: deadlock or livelock"
    db.session.expire_all()

    # No item has more than `overlap` answers; no worker answered an item twice (counted in SQL).
    per_item = dict(db.session.execute(
        db.select(Answer.item_id, db.func.count()).group_by(Answer.item_id)).all())
    assert max(per_item.values()) <= OVERLAP
    repeats = db.session.execute(
        db.select(Answer.worker_id, Answer.item_id, db.func.count())
        .group_by(Answer.worker_id, Answer.item_id).having(db.func.count() > 1)).all()
    assert repeats == []

    # Every answer a thread was told was stored is in the database, and nothing else is.
    reported = [answer_id for o in outcomes for answer_id, _ in o.answers]
    assert len(reported) == len(set(reported))
    stored = dict(db.session.execute(db.select(Answer.id, Answer.worker_id)).all())
    assert set(reported) == set(stored)
    for o in outcomes:
        assert all(stored[answer_id] == o.worker_id for answer_id, _ in o.answers)
    assert len(stored) == N_ITEMS * OVERLAP

    # Every item ends complete with exactly `overlap` answers, and no lease is left behind.
    items = db.session.scalars(db.select(Item).where(Item.job_id == job_id)).all()
    assert len(items) == N_ITEMS
    for item in items:
        assert item.is_complete, item.id
        assert item.n_answers == per_item[item.id] == OVERLAP, item.id
        assert item.n_taken == item.n_answers, item.id
        assert item.consensus is not None
    statuses = Counter(db.session.scalars(db.select(Assignment.status)).all())
    assert statuses == {AssignmentStatus.SUBMITTED: N_ITEMS * OVERLAP}

    # Accepted answers were paid exactly once; rejected ones not at all; the books balance.
    answers = db.session.scalars(db.select(Answer)).all()
    assert {a.status for a in answers} <= {AnswerStatus.ACCEPTED, AnswerStatus.REJECTED}
    accepted = [a for a in answers if a.status is AnswerStatus.ACCEPTED]
    assert 0 < len(accepted) < len(answers)  # the labels were chosen to exercise both
    reward_keys = Counter(db.session.scalars(
        db.select(LedgerTransfer.key).where(LedgerTransfer.key.like("answer:%:reward"))).all())
    assert reward_keys == Counter(f"answer:{a.id}:reward" for a in accepted)
    accepted_per_worker = Counter(a.worker_id for a in accepted)
    for worker in workers:
        assert balance_of(f"FLT:worker:{worker.id}:pending") == REWARD * accepted_per_worker[worker.id]
    per_answer = REWARD + PayPolicy().fee_for(REWARD)
    assert balance_of(f"FLT:escrow:job:{job_id}") == per_answer * (N_ITEMS * OVERLAP - len(accepted))
    for code, (kept, summed) in recomputed_balances().items():
        assert kept == summed, code

    errors = [e for o in outcomes for e in o.errors]
    assert errors == [], f"{len(errors)} failed calls; the first: {errors[0]}"


def test_same_answer_sent_twice_at_once_is_stored_once(app, db, make_user, make_job):
    """A double click or a client retry racing the first request: one answer, same id twice."""
    job = make_job(n_items=1, overlap=1, reward=REWARD)
    worker = make_user("annotator")
    assignment = next_task_for(worker, job)
    worker_id, assignment_id = worker.id, assignment.id
    db.session.commit()  # and read nothing more: on SQLite a new transaction takes the write lock
    barrier = threading.Barrier(2)
    got: list[int | str] = []

    def send() -> None:
        with app.app_context():
            try:
                barrier.wait()
                answer = submit_answer(db.session.get(User, worker_id), assignment_id,
                                       choices_result("positive"))
                db.session.commit()
                got.append(answer.id)
            except Exception:
                db.session.rollback()
                got.append(traceback.format_exc())
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert all(isinstance(g, int) for g in got), got
    stored = db.session.scalars(db.select(Answer.id)).all()
    assert len(stored) == 1 and got == [stored[0], stored[0]]
    assert db.session.scalar(db.select(db.func.count()).select_from(LedgerTransfer)
                             .where(LedgerTransfer.key == f"answer:{stored[0]}:reward")) == 1
    assert balance_of(f"FLT:worker:{worker_id}:pending") == REWARD


def test_an_item_busy_with_a_submit_is_still_served(app, db, make_user, make_job):
    """The one open item is row-locked by another annotator's answer in flight: a request for
    work must wait for it, not skip it and tell the annotator there is nothing left."""
    job = make_job(n_items=1, overlap=2)
    first, second = make_user("annotator"), make_user("annotator")
    lease = next_task_for(first, job)
    job_id, item_id, lease_id = job.id, lease.item_id, lease.id
    first_id, second_id = first.id, second.id
    db.session.commit()
    holding, served = threading.Event(), []

    def answer_slowly() -> None:
        with app.app_context():
            submit_answer(db.session.get(User, first_id), lease_id, choices_result("positive"))
            db.session.flush()  # the item's row is now locked (on SQLite: the database)
            holding.set()
            time.sleep(0.5)
            db.session.commit()
            db.session.remove()

    def ask() -> None:
        with app.app_context():
            worker, job = db.session.get(User, second_id), db.session.get(Job, job_id)
            served.append(next_task_for(worker, job))
            served.append(served[0] and served[0].item_id)
            db.session.commit()
            db.session.remove()

    submitter = threading.Thread(target=answer_slowly)
    submitter.start()
    assert holding.wait(JOIN_TIMEOUT)
    asker = threading.Thread(target=ask)
    asker.start()
    for thread in (submitter, asker):
        thread.join(JOIN_TIMEOUT)
    assert served[1] == item_id


# --- leases that run out ---------------------------------------------------------------------

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SHORT = SchedulerSettings(lease_seconds=10)


def _item(db, item_id: int) -> Item:
    return db.session.get(Item, item_id, populate_existing=True)


def test_expired_lease_returns_the_item(db, make_user, make_job):
    job = make_job(n_items=1, overlap=1)
    slow, fast = make_user("annotator"), make_user("annotator")
    first = next_task_for(slow, job, settings=SHORT, now=T0)
    db.session.commit()
    assert _item(db, first.item_id).n_taken == 1
    # Within the lease the item is taken: nobody else is served it.
    assert next_task_for(fast, job, settings=SHORT, now=T0 + dt.timedelta(seconds=9)) is None
    db.session.commit()
    # The lease runs out: the next request releases it and serves the item again.
    second = next_task_for(fast, job, settings=SHORT, now=T0 + dt.timedelta(seconds=11))
    db.session.commit()
    assert second is not None and second.item_id == first.item_id and second.worker_id == fast.id
    db.session.refresh(first)
    assert first.status is AssignmentStatus.EXPIRED
    assert _item(db, first.item_id).n_taken == 1
    # The slow worker is not served the same item again, even with their lease gone.
    assert next_task_for(slow, job, settings=SHORT, now=T0 + dt.timedelta(seconds=12)) is None


def test_late_answer_is_accepted_while_the_item_has_room(db, make_user, make_job):
    job = make_job(n_items=1, overlap=2)
    slow, fast = make_user("annotator"), make_user("annotator")
    late = next_task_for(slow, job, settings=SHORT, now=T0)
    db.session.commit()
    taken = next_task_for(fast, job, settings=SHORT, now=T0 + dt.timedelta(seconds=30))
    db.session.commit()
    db.session.refresh(late)
    assert late.status is AssignmentStatus.EXPIRED and taken.item_id == late.item_id
    assert _item(db, late.item_id).n_taken == 1  # the expired lease gave its slot back

    # One slot is still free (overlap 2, one live lease): the late answer takes it.
    answer = submit_answer(slow, late.id, choices_result("positive"), settings=SHORT,
                           now=T0 + dt.timedelta(seconds=31))
    db.session.commit()
    assert answer.id is not None
    item = _item(db, late.item_id)
    assert (item.n_taken, item.n_answers, item.is_complete) == (2, 1, False)
    submit_answer(fast, taken.id, choices_result("positive"), settings=SHORT,
                  now=T0 + dt.timedelta(seconds=32))
    db.session.commit()
    item = _item(db, late.item_id)
    assert (item.n_taken, item.n_answers, item.is_complete) == (2, 2, True)


def test_late_answer_is_refused_once_others_filled_the_item(db, make_user, make_job):
    job = make_job(n_items=1, overlap=1)
    slow, fast = make_user("annotator"), make_user("annotator")
    late = next_task_for(slow, job, settings=SHORT, now=T0)
    db.session.commit()
    taken = next_task_for(fast, job, settings=SHORT, now=T0 + dt.timedelta(seconds=30))
    db.session.commit()
    late_id, item_id = late.id, late.item_id

    # The item's only slot is leased to someone else: refused, nothing stored, nothing taken.
    with pytest.raises(LeaseExpired):
        submit_answer(slow, late_id, choices_result("positive"), settings=SHORT,
                      now=T0 + dt.timedelta(seconds=31))
    db.session.rollback()
    assert (_item(db, item_id).n_taken, _item(db, item_id).n_answers) == (1, 0)

    # ... and still refused after they answered and the item is complete.
    submit_answer(fast, taken.id, choices_result("positive"), settings=SHORT,
                  now=T0 + dt.timedelta(seconds=32))
    db.session.commit()
    with pytest.raises(LeaseExpired):
        submit_answer(slow, late_id, choices_result("positive"), settings=SHORT,
                      now=T0 + dt.timedelta(seconds=33))
    db.session.rollback()
    item = _item(db, item_id)
    assert (item.n_taken, item.n_answers, item.is_complete) == (1, 1, True)
    assert db.session.scalar(db.select(db.func.count()).select_from(Answer)) == 1


def test_late_answer_through_the_api_is_a_409(app, db, make_user, make_job, login):
    app.config["LEASE_SECONDS"] = 10
    job = make_job(n_items=1, overlap=1)
    slow, fast = make_user("annotator"), make_user("annotator")
    late = next_task_for(slow, job, settings=SHORT, now=T0)
    next_task_for(fast, job, settings=SHORT, now=T0 + dt.timedelta(seconds=30))
    db.session.commit()
    response = login(slow).post(f"/api/tasks/{late.id}/answer",
                                json={"result": choices_result("positive")})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "lease_expired"
