"""Roles that do not overlap (issue #9 §1): on main an admin could answer a requester's task,
pay itself a bonus from that job's escrow (201) and decide disputes over its own answers."""
from __future__ import annotations

import pytest

from annotation.errors import PermissionDenied
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer, resolve_dispute
from rewards.errors import RewardsConflict, RewardsNotFound
from rewards.funding import credit_requester

from conftest import answer_item


def test_an_admin_cannot_pay_a_bonus_from_someone_elses_job(db, make_user, make_job, login):
    job = make_job()
    worker = make_user()
    answers = answer_item(db, job, [worker, make_user(), make_user()], ["positive"] * 3)
    admin = make_user("admin")
    credit_requester(admin, 1000, key="admin-own-money")
    db.session.commit()
    response = login(admin).post(f"/api/jobs/{job.id}/bonuses", json={
        "amount": 5, "key": "k1", "answer_id": answers[0].id})
    assert response.status_code == 404
    with pytest.raises(RewardsNotFound):
        pay_bonus(admin, job, amount=5, key="k2", answer_id=answers[0].id)


def test_nobody_pays_a_bonus_to_themselves(db, make_user, make_job):
    owner = make_user("requester")
    job = make_job(owner)
    answer_item(db, job, [make_user(), make_user(), make_user()], ["positive"] * 3)
    with pytest.raises(RewardsConflict, match="themselves"):
        pay_bonus(owner, job, amount=1, key="me", worker_id=owner.id, source="balance")


def test_nobody_decides_a_dispute_they_are_party_to(db, make_user, make_job):
    admin_owner = make_user("admin")  # an admin may post jobs of their own...
    job = make_job(admin_owner)
    answers = answer_item(db, job, [make_user(), make_user(), make_user()], ["positive"] * 3)
    dispute_answer(admin_owner, answers[0], reason="looks copied")
    db.session.commit()
    with pytest.raises(RewardsConflict, match="party"):  # ...but not judge their own dispute
        resolve_dispute(admin_owner, answers[0], uphold=True)
    db.session.rollback()
    other_admin = make_user("admin")
    resolve_dispute(other_admin, answers[0], uphold=True)
    db.session.commit()
    assert answers[0].overruled_by == "dispute"


def test_only_the_owner_disputes_and_an_owner_never_answers_their_own_job(db, make_user, make_job):
    job = make_job()
    answers = answer_item(db, job, [make_user(), make_user(), make_user()], ["positive"] * 3)
    with pytest.raises(RewardsNotFound):
        dispute_answer(make_user("admin"), answers[0], reason="not mine to dispute")
    from annotation.tasks import next_task_for

    with pytest.raises(PermissionDenied):
        next_task_for(make_user("admin"), job)
