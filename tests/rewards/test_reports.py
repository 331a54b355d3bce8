"""Reports against a scripted scenario whose every bucket is worked out by hand (SQLite and PostgreSQL).

Job: 4 items × overlap 3, reward 10, fee 1 (10 %). Answers take 60 s, so once 10 are measured the
pay floor (1200 FLT/h) needs 20 per answer: every accepted answer gets a 10 top-up, refilled from
the requester's balance. Then bonuses from escrow and from the balance, two upheld disputes
(one of them over an answer with a balance bonus) and the close, which refunds the rest.
"""
import datetime as dt
from decimal import Decimal

import pytest

from annotation.models import Answer, AnswerStatus
from app.extensions import utcnow
from app.operations.jobs import close_job
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer, resolve_dispute
from rewards.errors import RewardsNotFound
from rewards.funding import credit_requester
from rewards.holds import release_holds
from rewards.ledger import account_statement, balance_of
from rewards.reports import (
    bonus_transfer,
    job_answers,
    job_spend,
    open_disputes,
    requester_spend,
    worker_earnings_series,
    worker_effective_hourly,
)

from conftest import answer_item


@pytest.fixture
def scenario(db, app, make_user, make_job):
    app.config["PLATFORM_FEE_BPS"] = 1000  # a fee of exactly 1 on a reward of 10 (fees round down)
    owner, admin = make_user("requester"), make_user("admin")
    a, b, c = (make_user() for _ in range(3))
    job = make_job(owner, n_items=4, overlap=3, reward=10, seconds_per_task=30)  # reserves 132
    credit_requester(owner, 1000, key="spare")
    db.session.commit()
    items = [answer_item(db, job, [a, b, c], ["positive"] * 3, seconds=60) for _ in range(3)]
    items.append(answer_item(db, job, [a, b, c], ["positive", "positive", "negative"], seconds=60))
    # 11 accepted: rewards 110, fees 11; top-ups 11 × 10 = 110, of which escrow had 11: refill 99
    b_last, a_last, a_third = items[3][1], items[3][0], items[2][0]
    dispute_answer(owner, b_last, reason="copied")
    resolve_dispute(admin, b_last, uphold=True)  # back to escrow: 10 + 1 + 10 = 21
    pay_bonus(owner, job, amount=5, key="esc", answer_id=a_last.id)  # escrow spares 21
    pay_bonus(owner, job, amount=7, key="bal", worker_id=c.id, source="balance")
    pay_bonus(owner, job, amount=4, key="x", answer_id=a_third.id, source="balance")
    dispute_answer(owner, a_third, reason="wrong")
    resolve_dispute(admin, a_third, uphold=True)  # 21 back to escrow, 4 back to the balance
    db.session.commit()
    return {"owner": owner, "admin": admin, "job": job, "workers": (a, b, c), "items": items}


def test_job_spend_counts_every_bucket_exactly(db, scenario):
    job, owner = scenario["job"], scenario["owner"]
    before = job_spend(job)
    assert (before.reserved, before.floor_reserved, before.rewards, before.fees, before.topups) == (
        231, 99, 110, 11, 110)
    assert (before.bonuses_escrow, before.bonuses_balance, before.bonuses) == (5, 11, 16)
    assert (before.reversals, before.reversals_to_balance, before.refunds) == (46, 4, 0)
    assert before.escrow_left == 37 == balance_of(f"FLT:escrow:job:{job.id}")

    close_job(owner, job)
    db.session.commit()
    spend = job_spend(job)
    assert (spend.refunds, spend.escrow_left) == (37, 0)
    assert spend.spent == 110 + 11 + 110 + 16 - 46 == 201
    # the identity every job keeps
    assert (spend.reserved + spend.bonuses_balance - spend.refunds - spend.reversals_to_balance
            == spend.spent + spend.escrow_left)
    # and the requester's balance agrees: 132 funded + 1000 − 231 reserved − 11 bonuses + 4 + 37
    assert balance_of(f"FLT:requester:{owner.id}") == 132 + 1000 - 231 - 11 + 4 + 37 == 931
    assert spend.as_dict()["spent"] == 201 and spend.as_dict()["bonuses"] == 16


def test_requester_spend_rows_and_totals(db, scenario, make_job, make_user):
    owner = scenario["owner"]
    draft = make_job(owner, publish=False, title="Draft")
    other = make_job(owner, n_items=1, overlap=1, reward=20)  # reserves 22 (fee 2 at 10 %)
    make_job(make_user("requester"))  # someone else's: never in this report
    report = requester_spend(owner)
    assert [job.id for job, _ in report.rows] == [other.id, draft.id, scenario["job"].id]
    by_id = {job.id: spend for job, spend in report.rows}
    assert by_id[draft.id].reserved == 0 and by_id[draft.id].spent == 0
    assert (by_id[other.id].reserved, by_id[other.id].escrow_left) == (22, 22)
    assert report.totals.reserved == 231 + 22
    assert report.totals.escrow_left == 37 + 22
    assert report.totals.bonuses == 16 and report.totals.spent == 201
    assert report.balance == balance_of(f"FLT:requester:{owner.id}")


def test_worker_series_and_effective_hourly(db, scenario):
    a = scenario["workers"][0]
    # a earned 4 rewards (40) + 4 top-ups (40) + bonuses 5 + 4 = 89; 24 of it was reversed
    series = worker_earnings_series(a, days=7)
    assert len(series) == 7 and series[-1].date == utcnow().date()
    assert [(d.earned, d.released, d.reversed) for d in series[:-1]] == [(0, 0, 0)] * 6
    assert (series[-1].earned, series[-1].released, series[-1].reversed) == (89, 0, 24)
    release_holds(now=utcnow() + dt.timedelta(hours=73), worker_id=a.id)
    db.session.commit()
    assert worker_earnings_series(a, days=7)[-1].released == 65

    hourly = worker_effective_hourly(a)
    # 65 kept over 4 decided answers × 60 s = 4 min: 975 FLT/h = 9.75 USD/h, under the 12 USD floor
    assert (hourly.earned, hourly.active_ms, hourly.n_decided) == (65, 240_000, 4)
    assert (hourly.per_hour, hourly.currency_per_hour) == (975, Decimal("9.75"))
    assert (hourly.floor_per_hour, hourly.floor_currency_per_hour, hourly.currency) == (
        1200, Decimal("12.00"), "USD")
    assert hourly.meets_floor is False


def test_a_new_worker_has_no_rate_yet(db, make_user):
    hourly = worker_effective_hourly(make_user())
    assert (hourly.per_hour, hourly.currency_per_hour, hourly.meets_floor) == (None, None, None)
    assert [d.earned for d in worker_earnings_series(make_user(), days=3)] == [0, 0, 0]


def test_job_answers_show_pay_and_holds(db, scenario):
    job = scenario["job"]
    rows = {r.answer.id: r for r in job_answers(job)}
    assert len(rows) == 12
    a_last, b_last, c_last = scenario["items"][3]
    assert (rows[a_last.id].paid, rows[a_last.id].hold_status) == (25, "held")
    assert rows[a_last.id].disputable(utcnow())
    assert (rows[b_last.id].paid, rows[b_last.id].hold_status) == (0, "reversed")
    assert rows[b_last.id].answer.status is AnswerStatus.REJECTED
    assert (rows[c_last.id].paid, rows[c_last.id].hold_status) == (0, None)
    assert not rows[c_last.id].disputable(utcnow())


def test_open_disputes_list_and_bonus_lookup(db, scenario):
    owner, admin = scenario["owner"], scenario["admin"]
    a_first = scenario["items"][0][0]
    assert open_disputes() == []
    dispute_answer(owner, db.session.get(Answer, a_first.id), reason="suspicious")
    db.session.commit()
    [open_] = open_disputes()
    assert (open_.answer.id, open_.job.id, open_.amount, open_.reason) == (
        a_first.id, scenario["job"].id, 20, "suspicious")
    assert bonus_transfer(owner, "bal").kind == "bonus"
    assert bonus_transfer(owner, "nope") is None and bonus_transfer(admin, "bal") is None


def test_statement_walks_the_running_balance(db, scenario):
    owner = scenario["owner"]
    code = f"FLT:requester:{owner.id}"
    lines = account_statement(code, limit=100)
    assert [line.kind for line in lines[:2]] == ["credit", "job_funding"]
    assert lines[-1].balance == balance_of(code)
    running = 0
    for line in lines:  # the whole history is here, so it adds up from zero
        running += line.amount
        assert line.balance == running and line.transfer_id and line.key and line.at
    last_two = account_statement(code, limit=2)
    assert last_two == lines[-2:]
    with pytest.raises(RewardsNotFound):
        account_statement("FLT:requester:999999")

