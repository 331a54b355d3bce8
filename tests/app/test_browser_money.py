"""The money charts in a real Chromium on a phone viewport, on the real server with CSRF on.

A requester with a worked job opens /spending and an annotator opens /me: each page's Chart.js
chart is drawn (a canvas with a size, and `Chart.getChart(canvas)` finds it), nothing overflows
the phone's width, and the page logs no JS error and no failed request. Runs once per database
backend (the `app` fixture's `database_url` param).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM_ARGS,
    PHONE,
    Watch,
    go,
)

from app.extensions import db as _db
from app.extensions import utcnow

from conftest import PASSWORD, choices_result
from live_server import serve


def log_in(page, base: str, username: str, home: str) -> None:
    go(page, f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{home}")


def check_chart(page, canvas_id: str, screenshot: Path) -> None:
    """The chart is drawn: Chart.js knows the canvas, which has a size and fits the phone."""
    page.wait_for_function(
        "id => window.Chart && Chart.getChart(document.getElementById(id)) != null", arg=canvas_id)
    chart = page.evaluate(
        """id => { const c = Chart.getChart(document.getElementById(id));
                   return {type: c.config.type, n: c.data.datasets.length,
                           total: c.data.datasets.reduce((s, d) => s + d.data.reduce((a, b) => a + b, 0), 0)}; }""",
        canvas_id)
    assert chart["n"] >= 2 and chart["total"] > 0, chart
    box = page.locator(f"#{canvas_id}").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0


def seed(app, make_user, make_job) -> tuple[str, str, int, list[int]]:
    """A requester whose job has accepted answers and a bonus; one of its annotators; the job
    and the other annotator's answers."""
    from annotation.tasks import next_task_for
    from app.operations.tasks import submit_answer
    from rewards.bonuses import pay_bonus
    from rewards.funding import credit_requester

    owner = make_user("requester", username="req_money")
    job = make_job(owner, n_items=2, overlap=2, reward=10)
    make_job(owner, n_items=1, overlap=1, reward=20, title="Second job")
    workers = [make_user(username="ann_money"), make_user()]
    start = utcnow()
    others = []
    for _ in range(2):
        for worker in workers:
            assignment = next_task_for(worker, job, now=start)
            answer = submit_answer(worker, assignment.id, choices_result("positive"),
                                   now=start + dt.timedelta(seconds=30))
            _db.session.commit()
            if worker is workers[1]:
                others.append(answer.id)
    credit_requester(owner, 50, key="bonus-money")
    pay_bonus(owner, job, amount=5, key="b1", worker_id=workers[0].id, source="balance")
    _db.session.commit()
    seeded = owner.username, workers[0].username, job.id, others
    _db.session.remove()  # no open transaction: on SQLite it would hold the server's write lock
    return seeded


@pytest.mark.browser
def test_money_charts_render_on_a_phone(app, live_app, chromium_path, make_user, make_job, tmp_path):
    from playwright.sync_api import sync_playwright

    requester_name, annotator_name, job_id, (bonused, disputed) = seed(app, make_user, make_job)
    watch = Watch()
    with serve(live_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)

        def new_page():
            context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            context.set_default_timeout(15_000)
            return watch.page(context)

        try:
            requester = new_page()
            log_in(requester, base, requester_name, "/jobs")
            requester.get_by_role("link", name="Spending per job").click()
            requester.wait_for_url(f"{base}/spending")
            check_chart(requester, "spending-chart", tmp_path / "spending-phone.png")
            assert requester.locator("#spending-table tbody tr").count() == 2
            assert requester.locator("#total-spent").inner_text() == "45"  # 4 × (10 + fee 0) + 5 bonus

            # On the job page: a bonus for one answer through the form (Enter submits it) ...
            go(requester, f"{base}/jobs/{job_id}")
            requester.get_by_role("link", name=f"Bonus for answer #{bonused}").click()
            requester.get_by_label("Amount (token units)").fill("3")
            requester.get_by_label("Pay from").select_option("balance")
            requester.get_by_label("Amount (token units)").press("Enter")
            requester.wait_for_url(f"{base}/jobs/{job_id}#money")
            assert "Bonus of 3 FLT" in requester.locator(".flash").inner_text()
            assert requester.locator('#spend td[data-k="bonuses_balance"]').inner_text() == "8"
            # ... and a dispute, with the keyboard only
            requester.locator(f"#answer-{disputed} summary").focus()
            requester.keyboard.press("Enter")
            requester.keyboard.press("Tab")
            requester.keyboard.type("copied from another answer")
            requester.keyboard.press("Tab")
            requester.keyboard.press("Enter")
            requester.wait_for_url(f"{base}/jobs/{job_id}#answers")
            assert f"Answer #{disputed} disputed" in requester.locator(".flash").inner_text()
            assert "disputed" in requester.locator(f"#answer-{disputed}").inner_text()
            requester.context.close()

            annotator = new_page()
            log_in(annotator, base, annotator_name, "/work")
            # keyboard only: Tab from the top of the page to the Earnings link, then Enter
            for _ in range(10):
                annotator.keyboard.press("Tab")
                if annotator.evaluate("document.activeElement.textContent.trim()") == "Earnings":
                    break
            annotator.keyboard.press("Enter")
            annotator.wait_for_url(f"{base}/me")
            check_chart(annotator, "earnings-chart", tmp_path / "earnings-phone.png")
            assert annotator.locator("#earned").inner_text() == "25"  # 2 rewards + a 5 bonus
            assert annotator.locator("#level").inner_text() == "Newcomer"
            annotator.context.close()
        finally:
            browser.close()
    assert watch.problems == []
