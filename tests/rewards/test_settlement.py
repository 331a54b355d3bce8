"""The money flow of issue #4, scenario by scenario, on SQLite and PostgreSQL."""
import datetime as dt

import pytest

from annotation.errors import PermissionDenied
from annotation.imports import UploadedFile
from annotation.levels import level_from_counts, wilson_lower
from annotation.models import Answer, AnswerStatus, Job, JobStatus
from annotation.tasks import next_task_for
from app.extensions import utcnow
from app.operations.jobs import add_items as import_upload
from app.operations.jobs import close_job, create_job, publish_job, resume_job
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer, resolve_dispute
from rewards.errors import (
    BelowPayFloor,
    InsufficientFunds,
    InvalidAmount,
    RewardsConflict,
    RewardsNotFound,
    TransferConflict,
)
from rewards.escrow import budget_for, escrow_needs, publish_cost
from rewards.funding import credit_deposit, credit_requester
from rewards.holds import release_holds
from rewards.ledger import balance_of, recomputed_balances
from rewards.models import Hold, LedgerTransfer
from rewards.payouts import complete_payout, fail_payout, reserve_payout

from conftest import TEXT_CONFIG, answer_item


def escrow(job):
    return balance_of(f"FLT:escrow:job:{job.id}")


def requester(user):
    return balance_of(f"FLT:requester:{user.id}")


def pending(user):
    return balance_of(f"FLT:worker:{user.id}:pending")


def available(user):
    return balance_of(f"FLT:worker:{user.id}:available")


def books_balance():
    stored = recomputed_balances()
    assert all(kept == summed for kept, summed in stored.values()), stored
    assert sum(kept for kept, _ in stored.values()) == 0




def test_publishing_without_the_money_is_refused_and_reserves_nothing(db, app, make_user, make_job):
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner = make_user("requester")
    job = make_job(owner, n_items=4, publish=False, reward=10)
    credit_requester(owner, publish_cost(job) - 1, key="almost")
    db.session.commit()
    with pytest.raises(InsufficientFunds, match=r"needs 132 FLT .*balance is 131 FLT"):
        publish_job(owner, job)
    db.session.rollback()
    assert db.session.get(Job, job.id).status is JobStatus.DRAFT
    assert (requester(owner), escrow(job)) == (131, 0)
    credit_requester(owner, 1, key="enough")
    publish_job(owner, job)
    db.session.commit()
    assert (requester(owner), escrow(job)) == (0, 132)  # (10 + fee 1) × 3 × 4
    books_balance()


def test_adding_items_reserves_more_or_is_refused_whole(db, app, make_user, make_job):
    owner = make_user("requester")
    job = make_job(owner, n_items=1, overlap=2, reward=20)  # (20 + 1) × 2 = 42
    upload = [UploadedFile("more.jsonl", b'{"text": "a"}\n{"text": "b"}\n')]
    with pytest.raises(InsufficientFunds):
        import_upload(owner, job, upload, media_root=app.config["MEDIA_ROOT"])
    db.session.rollback()
    assert db.session.get(Job, job.id).n_items == 1 and escrow(job) == 42
    credit_requester(owner, 84, key="for-two-more")
    import_upload(owner, job, upload, media_root=app.config["MEDIA_ROOT"])
    db.session.commit()
    assert (db.session.get(Job, job.id).n_items, escrow(job), requester(owner)) == (3, 126, 0)


def test_a_job_under_the_pay_floor_is_refused_with_the_numbers(db, app, make_user):
    owner = make_user("requester")
    with pytest.raises(BelowPayFloor) as refused:
        create_job(owner, title="Cheap", label_config=TEXT_CONFIG, reward=5, overlap=1, seconds_per_task=60)
    message = refused.value.message
    assert "5 FLT" in message and "300 FLT/h" in message and "3.00 USD/h" in message
    assert "at least 20 FLT" in message and refused.value.details["minimum_reward"] == 20
    db.session.rollback()
    create_job(owner, title="Fair", label_config=TEXT_CONFIG, reward=20, overlap=1, seconds_per_task=60)
    app.config["PAY_FLOOR_PER_HOUR"] = "0"  # an operator may switch the floor off
    create_job(owner, title="Volunteer", label_config=TEXT_CONFIG, reward=0, overlap=1, seconds_per_task=60)


def test_measured_time_under_the_floor_tops_up_every_accepted_answer(db, make_user, make_job):
    owner = make_user("requester")
    # 10 FLT per answer estimated at 30 s meets the 1200 FLT/h floor exactly; answers take 60 s.
    job = make_job(owner, n_items=4, overlap=3, reward=10, seconds_per_task=30)
    credit_requester(owner, 1000, key="spare")
    db.session.commit()
    workers = [make_user() for _ in range(3)]
    for _ in range(4):
        answer_item(db, job, workers, ["positive"] * 3, seconds=60)
    budget = budget_for(job)
    assert budget.topup_per_answer == 10  # 60 s at 1200/h needs 20 per answer
    assert "median 60 s" in budget.floor_notice
    # every accepted answer (including the 9 accepted before the floor was measurable) got 20
    for worker in workers:
        assert pending(worker) == 4 * 20
    topups = db.session.scalars(db.select(Hold).where(Hold.kind == "topup")).all()
    assert len(topups) == 12 and {h.amount for h in topups} == {10}
    close_job(owner, job)
    db.session.commit()
    assert escrow(job) == 0
    # the requester paid 12 × (20 + fee 0: 5% of 10 rounds down) and got the rest back
    assert requester(owner) == 120 + 1000 - 12 * 20
    books_balance()


def test_a_requester_who_cannot_cover_top_ups_is_paused_and_owed_top_ups_follow_the_money(
        db, app, make_user, make_job):
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner = make_user("requester")
    job = make_job(owner, n_items=6, overlap=2, reward=10, seconds_per_task=30)  # escrow 132, balance 0
    workers = [make_user() for _ in range(2)]
    for _ in range(5):  # 10 accepted answers at 90 s: the floor needs 30 per answer
        answer_item(db, job, workers, ["positive", "positive"], seconds=90)
    db.session.refresh(job)
    assert job.status is JobStatus.PAUSED
    budget = budget_for(job)
    assert budget.topup_per_answer == 20 and "paused" in budget.floor_notice
    needs = escrow_needs(job)
    # the 2 undecided slots keep their reward + fee; the rest went to top-ups, oldest first
    assert escrow(job) >= 2 * 11
    assert needs.owed_topups > 0 and needs.shortfall > 0
    with pytest.raises(InsufficientFunds, match="Resuming needs"):
        resume_job(owner, job)
    db.session.rollback()
    credit_requester(owner, 10_000, key="top-up-money")  # new money first pays what is owed
    db.session.commit()
    assert escrow_needs(job).owed_topups == 0
    assert [pending(w) for w in workers] == [5 * 30, 5 * 30]
    resume_job(owner, job)
    db.session.commit()
    assert db.session.get(Job, job.id).status is JobStatus.PUBLISHED
    books_balance()


def test_earnings_are_held_then_released_unless_disputed(db, app, make_user, make_job):
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner, admin = make_user("requester"), make_user("admin")
    job = make_job(owner, n_items=2, overlap=1, reward=10)
    worker = make_user()
    first, second = (answer_item(db, job, [worker], ["positive"])[0] for _ in range(2))
    assert (pending(worker), available(worker)) == (20, 0)
    assert release_holds() == 0  # the hold period (72 h) has not passed
    dispute_answer(owner, db.session.get(Answer, first.id), reason="Wrong on purpose")
    db.session.commit()
    later = utcnow() + dt.timedelta(hours=73)
    assert release_holds(now=later) == 1
    db.session.commit()
    assert (pending(worker), available(worker)) == (10, 10)
    with pytest.raises(RewardsNotFound):
        resolve_dispute(owner, db.session.get(Answer, first.id), uphold=True)
    resolve_dispute(admin, db.session.get(Answer, first.id), uphold=True)
    db.session.commit()
    answer = db.session.get(Answer, first.id)
    assert answer.status is AnswerStatus.REJECTED and "Wrong on purpose" in answer.reject_reason
    assert (pending(worker), available(worker), escrow(job)) == (0, 10, 11)  # reward and fee back
    with pytest.raises(RewardsConflict):  # already released: too late to dispute
        dispute_answer(owner, db.session.get(Answer, second.id), reason="late")
    books_balance()


def test_a_dismissed_dispute_releases_the_earnings(db, make_user, make_job):
    owner, admin, worker = make_user("requester"), make_user("admin"), make_user()
    job = make_job(owner, n_items=1, overlap=1, reward=10)
    (answer,) = answer_item(db, job, [worker], ["positive"])
    dispute_answer(owner, answer, reason="Looks odd")
    resolve_dispute(admin, answer, uphold=False)
    db.session.commit()
    assert (pending(worker), available(worker)) == (0, 10)
    assert db.session.get(Answer, answer.id).status is AnswerStatus.ACCEPTED


def test_bonuses_from_spare_escrow_or_balance_pay_once(db, make_user, make_job):
    owner, other = make_user("requester"), make_user("requester")
    job = make_job(owner, n_items=2, overlap=1, reward=10)
    worker = make_user()
    (answer,) = answer_item(db, job, [worker], ["positive"])
    # one item is still open: its 11 must stay; nothing is spare
    with pytest.raises(InsufficientFunds, match="can spare 0"):
        pay_bonus(owner, job, amount=5, key="b1", answer_id=answer.id)
    db.session.rollback()
    with pytest.raises(InsufficientFunds):
        pay_bonus(owner, job, amount=5, key="b1", answer_id=answer.id, source="balance")
    db.session.rollback()
    credit_requester(owner, 50, key="bonus-money")
    first = pay_bonus(owner, job, amount=5, key="b1", answer_id=answer.id, source="balance")
    again = pay_bonus(owner, job, amount=5, key="b1", answer_id=answer.id, source="balance")
    db.session.commit()
    assert first.id == again.id and pending(worker) == 15 and requester(owner) == 45
    with pytest.raises(TransferConflict):
        pay_bonus(owner, job, amount=6, key="b1", answer_id=answer.id, source="balance")
    db.session.rollback()
    with pytest.raises(RewardsNotFound):
        pay_bonus(other, job, amount=5, key="x", answer_id=answer.id, source="balance")
    with pytest.raises(InvalidAmount):
        pay_bonus(owner, job, amount=-3, key="neg", worker_id=worker.id)
    with pytest.raises(RewardsNotFound):  # someone who never worked on the job
        pay_bonus(owner, job, amount=3, key="stranger", worker_id=other.id, source="balance")
    close_job(owner, job)  # after close nothing is undecided: the escrow is refunded
    db.session.commit()
    assert escrow(job) == 0
    books_balance()


def test_deposits_are_credited_once_per_source(db, make_user):
    owner = make_user("requester")
    credit_deposit(owner, 700, source="31337:0xabc:0")
    credit_deposit(owner, 700, source="31337:0xabc:0")
    db.session.commit()
    assert requester(owner) == 700 and balance_of("FLT:deposits:clearing") == -700
    with pytest.raises(TransferConflict):
        credit_deposit(owner, 701, source="31337:0xabc:0")


def test_payouts_move_available_through_in_flight(db, make_user, make_job):
    owner, worker = make_user("requester"), make_user()
    job = make_job(owner, n_items=3, overlap=1, reward=10)
    for _ in range(3):
        answer_item(db, job, [worker], ["positive"])
    release_holds(now=utcnow() + dt.timedelta(days=4))
    db.session.commit()
    with pytest.raises(InsufficientFunds, match="Only 30 FLT"):
        reserve_payout(worker, 31, key="p0")
    db.session.rollback()
    reserve_payout(worker, 20, key="p1")
    reserve_payout(worker, 10, key="p2")
    complete_payout(worker, 20, key="p1")
    fail_payout(worker, 10, key="p2")
    db.session.commit()
    assert (available(worker), balance_of(f"FLT:worker:{worker.id}:payout")) == (10, 0)
    books_balance()


def test_gold_items_are_paid_like_any_other(db, app, make_user, make_job):
    owner, worker = make_user("requester"), make_user()
    job = make_job(owner, overlap=1, reward=10, rows=[{"text": "known", "_gold": {"sentiment": ["positive"]}}])
    answer_item(db, job, [worker], ["positive"])
    assert pending(worker) == 10


def test_min_level_jobs_refuse_lower_levels(db, make_user, make_job, login):
    owner, worker = make_user("requester"), make_user()
    job = make_job(owner, min_level="expert")
    with pytest.raises(PermissionDenied, match="Expert annotators and above"):
        next_task_for(worker, job)
    response = login(worker).post(f"/api/jobs/{job.id}/next")
    assert response.status_code == 403 and "Expert" in response.get_json()["error"]["message"]
    with pytest.raises(Exception, match="Unknown level"):
        make_job(owner, min_level="wizard")


def test_levels_need_volume_and_accuracy():
    assert level_from_counts(0, 0).level.name == "newcomer"
    assert level_from_counts(60, 60).level.name == "contributor"
    assert level_from_counts(60, 120).level.name == "newcomer"  # 50% accurate
    assert level_from_counts(600, 610).level.name == "expert"
    assert level_from_counts(5000, 5100).level.name == "master"
    assert wilson_lower(10, 10) < 1.0 and wilson_lower(0, 0) == 0.0
    assert "more accepted answers" in level_from_counts(10, 10).progress()


def test_every_reward_transfer_is_keyed_by_its_answer(db, make_user, make_job):
    job = make_job(n_items=1, overlap=3, reward=10)
    workers = [make_user() for _ in range(3)]
    answers = answer_item(db, job, workers, ["positive", "positive", "negative"])
    keys = set(db.session.scalars(db.select(LedgerTransfer.key).where(LedgerTransfer.kind == "reward")))
    assert keys == {f"answer:{a.id}:reward" for a in answers[:2]}
