"""Many writers spending the same money at once: no overspend, no deadlock, no double posting.

Each thread is one request: its own app context (so its own session and connection), one
transaction per call, committed on success and rolled back on any exception. Demand is several
times what there is to spend, so most calls must be refused — and refused with InsufficientFunds,
never with a deadlock, a serialization error or a negative balance.

The PostgreSQL run is the point (row locks, READ COMMITTED); on SQLite every transaction takes
the database's write lock first, so the same tests check the bookkeeping with writers queued.
"""
from __future__ import annotations

import threading
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from annotation.models import Answer, AnswerStatus, Job, JobStatus
from annotation.tasks import next_task_for
from app.identity.models import User
from app.operations.jobs import publish_job
from app.operations.tasks import submit_answer
from rewards.accounts import escrow_account, requester_account, treasury_account
from rewards.bonuses import pay_bonus
from rewards.errors import InsufficientFunds
from rewards.escrow import escrow_needs, publish_cost
from rewards.funding import credit_requester
from rewards.ledger import balance_of, post_transfer, recomputed_balances
from rewards.models import Hold, LedgerAccount, LedgerTransfer

from conftest import choices_result

N_THREADS = 24
JOIN_TIMEOUT = 120  # seconds for all threads; a deadlock shows up as a timeout, not a hang


def run_concurrently(app, db, calls: list[Callable[[], Any]]) -> list[list[tuple[str, Any]]]:
    """Run each callable list in its own thread, all released at once by a barrier.

    `calls[i]` is a function returning the thread's list of steps; every step is a callable run
    in its own transaction. Returns, per thread, ("ok", result) or ("error", exception) per step.
    """
    db.session.commit()  # end the main thread's transaction (on SQLite it would hold the lock)
    barrier = threading.Barrier(len(calls))
    results: list[list[tuple[str, Any]]] = [[] for _ in calls]

    def work(index: int) -> None:
        with app.app_context():
            try:
                steps = calls[index]()
                db.session.commit()  # hold no transaction while waiting (SQLite: the write lock)
                barrier.wait()
                for step in steps:
                    try:
                        results[index].append(("ok", step()))
                        db.session.commit()
                    except Exception as exc:  # the main thread asserts on what was raised
                        db.session.rollback()
                        exc.formatted = traceback.format_exc()
                        results[index].append(("error", exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "writers still running: deadlock or livelock"
    db.session.expire_all()
    return results


def only_insufficient_funds(results) -> Counter:
    """Count outcomes per step name; fail on any error other than InsufficientFunds."""
    for thread in results:
        for status, value in thread:
            if status == "error" and not isinstance(value, InsufficientFunds):
                pytest.fail(f"a writer failed with {type(value).__name__}:\n{value.formatted}")
    return Counter(status for thread in results for status, _ in thread)


def books_balance() -> None:
    stored = recomputed_balances()
    assert all(kept == summed for kept, summed in stored.values()), stored
    assert sum(kept for kept, _ in stored.values()) == 0
    # Only the accounts facing the outside world may be below zero.
    negative = {code: kept for code, (kept, _) in stored.items()
                if kept < 0 and not code.endswith((":treasury", ":deposits:clearing"))}
    assert negative == {}


def answered_job(db, make_user, make_job, owner, **overrides):
    """A published job in which one annotator has answered (so bonuses have someone to go to)."""
    job = make_job(owner, **overrides)
    worker = make_user("annotator")
    assignment = next_task_for(worker, job)
    submit_answer(worker, assignment.id, choices_result("positive"))
    db.session.commit()
    return job, worker


def test_one_requester_balance_many_spenders(app, db, make_user, make_job):
    """24 requests publish jobs and pay bonuses from one requester's balance, 4× oversubscribed."""
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner = make_user("requester")
    bonus_job, worker = answered_job(db, make_user, make_job, owner, n_items=2, overlap=1)
    drafts = [make_job(owner, n_items=1, overlap=1, reward=10, publish=False) for _ in range(N_THREADS)]
    cost, bonus = publish_cost(drafts[0]), 7
    assert cost == 11
    funds = 6 * cost + 6 * bonus  # demand: 24 × (11 + 7) = 432
    credit_requester(owner, funds, key="the-funds")
    owner_id, worker_id, bonus_job_id = owner.id, worker.id, bonus_job.id
    draft_ids = [d.id for d in drafts]

    def spender(i: int):
        def steps():
            me = db.session.get(User, owner_id)
            return [lambda: publish_job(me, db.session.get(Job, draft_ids[i])).id,
                    lambda: pay_bonus(me, db.session.get(Job, bonus_job_id), amount=bonus,
                                      key=f"bonus-{i}", worker_id=worker_id, source="balance").id]
        return steps

    results = run_concurrently(app, db, [spender(i) for i in range(N_THREADS)])
    outcomes = only_insufficient_funds(results)
    published = [i for i, r in enumerate(results) if r[0][0] == "ok"]
    bonuses = [i for i, r in enumerate(results) if r[1][0] == "ok"]
    assert outcomes["ok"] == len(published) + len(bonuses) and outcomes["error"] > 0
    left = balance_of(f"FLT:requester:{owner_id}")
    # Everything that succeeded moved exactly its amount, and nothing more left the balance.
    assert left >= 0
    assert len(published) * cost + len(bonuses) * bonus == funds - left
    # The losers lost because the money was gone (balances only fall), not by accident.
    assert left < cost and (left < bonus or len(bonuses) == N_THREADS)
    for i, draft_id in enumerate(draft_ids):
        job = db.session.get(Job, draft_id)
        assert job.status is (JobStatus.PUBLISHED if i in published else JobStatus.DRAFT)
        assert balance_of(f"FLT:escrow:job:{draft_id}") == (cost if i in published else 0)
    assert balance_of(f"FLT:worker:{worker_id}:pending") == 10 + len(bonuses) * bonus
    assert db.session.scalar(db.select(db.func.count()).select_from(Hold)
                             .where(Hold.kind == "bonus")) == len(bonuses)
    books_balance()


def _escrow_with_surplus(db, make_user, make_job, *, n_items: int, surplus: int):
    """A published job (overlap 1, reward 10 + fee per slot) whose escrow holds `surplus`
    beyond what its slots need, with one answer in (so bonuses have a worker to go to)."""
    owner = make_user("requester")
    job, worker = answered_job(db, make_user, make_job, owner, n_items=n_items, overlap=1, reward=10)
    credit_requester(owner, surplus, key="extra")
    post_transfer(f"job:{job.id}:extra", {requester_account("FLT", owner.id): -surplus,
                                          escrow_account("FLT", job.id): surplus}, kind="job_funding")
    db.session.commit()
    needs = escrow_needs(job)
    assert (needs.surplus, needs.shortfall) == (surplus, 0)
    return owner, job, worker


def test_bonuses_from_one_escrow_spend_only_its_surplus(app, db, make_user, make_job):
    """24 requests each pay a bonus from one job's escrow, 8× what it can spare."""
    surplus, bonus = 90, 30
    owner, job, worker = _escrow_with_surplus(db, make_user, make_job, n_items=20, surplus=surplus)
    owner_id, job_id, worker_id = owner.id, job.id, worker.id

    def payer(i: int):
        def steps():
            me = db.session.get(User, owner_id)
            return [lambda: pay_bonus(me, db.session.get(Job, job_id), amount=bonus, key=f"e-{i}",
                                      worker_id=worker_id, source="escrow").id]
        return steps

    results = run_concurrently(app, db, [payer(i) for i in range(N_THREADS)])
    outcomes = only_insufficient_funds(results)
    assert outcomes["ok"] * bonus <= surplus, f"{outcomes['ok']} bonuses of {bonus} from a surplus of {surplus}"
    assert outcomes["ok"] == surplus // bonus
    job = db.session.get(Job, job_id)
    assert escrow_needs(job).shortfall == 0
    books_balance()


def test_one_escrow_bonuses_race_accepted_answers(app, db, make_user, make_job):
    """16 bonus requests and 8 annotators answering drain one job's escrow at once: every answer
    is still paid, the bonuses get at most the surplus, and the escrow never goes below zero."""
    n_items, surplus, bonus = 30, 100, 30
    owner, job, first = _escrow_with_surplus(db, make_user, make_job, n_items=n_items, surplus=surplus)
    annotators = [make_user("annotator") for _ in range(8)]
    owner_id, job_id, first_id = owner.id, job.id, first.id
    annotator_ids = [a.id for a in annotators]

    def payer(i: int):
        def steps():
            me = db.session.get(User, owner_id)
            return [lambda: pay_bonus(me, db.session.get(Job, job_id), amount=bonus, key=f"r-{i}",
                                      worker_id=first_id, source="escrow").id]
        return steps

    def annotator(i: int):
        def answer_one():
            worker, job = db.session.get(User, annotator_ids[i]), db.session.get(Job, job_id)
            assignment = next_task_for(worker, job)
            if assignment is None:
                return None
            return submit_answer(worker, assignment.id, choices_result("positive")).id

        def steps():
            return [answer_one for _ in range(n_items)]
        return steps

    results = run_concurrently(app, db, [payer(i) for i in range(16)] + [annotator(i) for i in range(8)])
    only_insufficient_funds(results)
    bonuses = sum(1 for thread in results[:16] for status, _ in thread if status == "ok")
    answers = db.session.scalars(db.select(Answer).where(Answer.job_id == job_id)).all()
    assert len(answers) == n_items and all(a.status is AnswerStatus.ACCEPTED for a in answers)
    reward_keys = set(db.session.scalars(db.select(LedgerTransfer.key).where(LedgerTransfer.kind == "reward")))
    assert reward_keys == {f"answer:{a.id}:reward" for a in answers}
    assert bonuses * bonus <= surplus
    assert balance_of(f"FLT:escrow:job:{job_id}") == surplus - bonuses * bonus >= 0
    books_balance()


def test_one_key_posted_from_many_threads_is_one_transfer(app, db, make_user):
    """32 retries of the same transfer (and of the same credit, and the same bonus) racing each
    other: each is posted once, and every caller gets the one stored transfer back."""
    owner = make_user("requester")
    treasury, account = treasury_account("FLT"), requester_account("FLT", owner.id)
    db.session.commit()
    treasury_id, account_id, owner_id = treasury.id, account.id, owner.id

    def steps():
        t, a = db.session.get(LedgerAccount, treasury_id), db.session.get(LedgerAccount, account_id)
        me = db.session.get(User, owner_id)
        return [lambda: post_transfer("same-key", {t: -5, a: 5}, kind="test").id,
                lambda: credit_requester(me, 40, key="same-credit").id]

    results = run_concurrently(app, db, [steps] * 32)
    outcomes = only_insufficient_funds(results)
    assert outcomes == {"ok": 64}
    for step, key in ((0, "same-key"), (1, "credit:same-credit")):
        stored = db.session.scalars(db.select(LedgerTransfer.id).where(LedgerTransfer.key == key)).all()
        assert len(stored) == 1
        assert {thread[step][1] for thread in results} == {stored[0]}
    assert balance_of(f"FLT:requester:{owner_id}") == 45
    books_balance()


def test_one_bonus_sent_from_many_threads_pays_once(app, db, make_user, make_job):
    owner = make_user("requester")
    job, worker = answered_job(db, make_user, make_job, owner, n_items=1, overlap=1)
    credit_requester(owner, 50, key="for-the-bonus")
    owner_id, job_id, worker_id = owner.id, job.id, worker.id

    def steps():
        me = db.session.get(User, owner_id)
        return [lambda: pay_bonus(me, db.session.get(Job, job_id), amount=50, key="thanks",
                                  worker_id=worker_id, source="balance").id]

    results = run_concurrently(app, db, [steps] * 32)
    assert only_insufficient_funds(results) == {"ok": 32}
    stored = db.session.scalars(db.select(LedgerTransfer.id).where(
        LedgerTransfer.key == f"bonus:{owner_id}:thanks")).all()
    assert len(stored) == 1 and {thread[0][1] for thread in results} == {stored[0]}
    assert db.session.scalar(db.select(db.func.count()).select_from(Hold).where(Hold.kind == "bonus")) == 1
    assert balance_of(f"FLT:requester:{owner_id}") == 0
    assert balance_of(f"FLT:worker:{worker_id}:pending") == 10 + 50
    books_balance()
