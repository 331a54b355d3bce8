"""The whole loop in a real Chromium, on the real server, with CSRF on (issue #2, item 9).

A requester signs up, creates a text job, uploads a CSV and publishes; a fourth annotator skips
every task with S; three annotators label every item with the keyboard only (digit, Enter) while
the page loads each next task in place; the requester downloads the CSV and JSON exports, which
must hold the majority label, its share as confidence and every raw answer; the annotator who
was outvoted sees the rejections and their reason on /me. One screenshot at a phone viewport.
Runs once per database backend (the `app` fixture's `database_url` param).
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM_ARGS,
    PHONE,
    Watch,
    go,
)

from app.extensions import db as _db
from app.identity.models import User

from conftest import TEXT_CONFIG
from live_server import serve

PASSWORD = "browser test password"
REWARD = 10
OVERLAP = 3
# What each of the three annotators presses for each item (by its text). Items 2 and 4 have a
# dissenting third annotator, so their consensus has confidence 2/3 and that answer is rejected.
PLAN = {
    "I love this phone": ("positive", "positive", "positive"),
    "Terrible service, never again": ("negative", "negative", "neutral"),
    "The box is brown": ("neutral", "neutral", "neutral"),
    "Best day ever, thank you": ("positive", "positive", "negative"),
}
ANNOTATORS = ("ann_ada", "ann_ben", "ann_cy")
SKIPPER = "ann_skip"
DONE = "No more tasks for you in this job. Thank you!"
# The test app's settings that the live app shares; it differs only in having CSRF on.


def sign_up(page, base: str, username: str, role_label: str, home: str) -> None:
    go(page, f"{base}/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label(role_label).check()
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}{home}")
    assert f"Welcome, {username}!" in page.locator(".flash").inner_text()


def log_in(page, base: str, username: str) -> None:
    go(page, f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/work")


def open_labeler(page, base: str, job_id: int) -> None:
    go(page, f"{base}/work/jobs/{job_id}")
    page.wait_for_function(
        "() => document.getElementById('labeler').hasAttribute('data-task-id')")


def wait_for_next(page, previous_id: str) -> None:
    """Until the page shows another task (or the done message), or an error for this one."""
    page.wait_for_function(
        """prev => document.getElementById('labeler').dataset.taskId !== prev
                   || !document.getElementById('task-error').hidden""", arg=previous_id)
    error = page.locator("#task-error")
    assert error.is_hidden(), f"the labeling page says: {error.inner_text()}"


def work_through(page, act) -> list[str]:
    """Call `act(text)` on each task served until none is left; the texts, in order."""
    seen: list[str] = []
    for _ in range(len(PLAN) + 1):
        task_id = page.locator("#labeler").get_attribute("data-task-id")
        if not task_id:
            break
        text = page.locator("#task-object .task-text").inner_text()
        assert text not in seen, f"served {text!r} twice"
        seen.append(text)
        act(text)
        wait_for_next(page, task_id)
    assert page.locator("#task-done").inner_text() == DONE
    assert page.locator("#task-form").is_hidden()
    return seen


def press_choice(page, choice: str) -> None:
    """Choose with the digit key shown next to `choice`, then submit with Enter."""
    values = page.locator("#task-controls input").evaluate_all("els => els.map(e => e.value)")
    page.keyboard.press(str(values.index(choice) + 1))
    assert page.locator(f'#task-controls input[value="{choice}"]').is_checked()
    page.keyboard.press("Enter")


def check_phone_layout(page, screenshot: Path) -> None:
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 0
    submit = page.locator("#submit-btn")
    assert submit.is_visible()
    box = submit.bounding_box()
    assert box is not None  # on screen without scrolling either way
    assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def download(page, link_name: str, filename: str) -> str:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name, exact=True).click()
    assert info.value.suggested_filename == filename
    return Path(info.value.path()).read_text(encoding="utf-8")


def create_and_publish_job(page, base: str, live_app) -> int:
    sign_up(page, base, "req_rita", "get data labeled", "/jobs")
    go(page, f"{base}/jobs/new")
    page.get_by_label("Title").fill("Review sentiment")
    page.get_by_label("Labeling config (Label Studio XML)").fill(TEXT_CONFIG)
    page.get_by_label("Reward per accepted answer (token units)").fill(str(REWARD))
    page.get_by_label("Answers per item (overlap)").fill(str(OVERLAP))
    # The expected confidences below are vote shares, so pick majority vote (the default is auto).
    page.get_by_label("Consensus method").select_option("majority_vote")
    page.get_by_role("button", name="Create draft").click()
    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    assert page.locator("h1 .badge").inner_text() == "draft"

    rows = io.StringIO()
    csv.writer(rows, lineterminator="\n").writerows([["text"], *([text] for text in PLAN)])
    page.locator("#files").set_input_files(files=[
        {"name": "reviews.csv", "mimeType": "text/csv", "buffer": rows.getvalue().encode()}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(f"{base}/jobs/{job_id}")
    assert f"Imported {len(PLAN)} items." in page.locator(".flash").inner_text()

    # An admin credits the requester with the CLI, exactly what publishing reserves: the reward
    # and the platform fee (5% of 10 rounds down: 0) per answer. (In an app context of its own,
    # whose teardown ends the session: on SQLite an open transaction would hold the write lock
    # the server needs.)
    budget = REWARD * OVERLAP * len(PLAN)
    with live_app.app_context():
        credit = live_app.test_cli_runner().invoke(
            args=["rewards", "credit", "req_rita", str(budget), "--key", "browser-test"])
    assert credit.exit_code == 0, credit.output
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url(f"{base}/jobs/{job_id}")
    assert page.locator("h1 .badge").inner_text() == "published"
    assert f"budget left {budget} FLT" in page.locator("section.card").first.inner_text()
    return job_id


@pytest.mark.browser
def test_the_whole_loop_in_a_browser(app, live_app, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    watch = Watch()
    with serve(live_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True,
                                    args=CHROMIUM_ARGS)

        def new_page(**options):
            context = browser.new_context(accept_downloads=True, **options)
            context.set_default_timeout(15_000)
            return watch.page(context)

        try:
            requester = new_page()
            job_id = create_and_publish_job(requester, base, live_app)

            # A fourth annotator skips every task with S: each goes back to the pool.
            skipper = new_page()
            sign_up(skipper, base, SKIPPER, "label data and earn", "/work")
            # CSRF is really on: the same session without the page's token is refused.
            assert skipper.request.post(f"{base}/api/jobs/{job_id}/next").status == 400
            open_labeler(skipper, base, job_id)
            skipped = work_through(skipper, lambda _: skipper.keyboard.press("s"))
            assert sorted(skipped) == sorted(PLAN)
            skipper.context.close()

            # Three annotators label everything with the keyboard; the first one on a phone.
            pressed: dict[str, dict[str, str]] = {}
            for n, name in enumerate(ANNOTATORS):
                phone = n == 0
                page = (new_page(viewport=PHONE, is_mobile=True, has_touch=True) if phone
                        else new_page())
                sign_up(page, base, name, "label data and earn", "/work")
                open_labeler(page, base, job_id)
                if phone:
                    check_phone_layout(page, tmp_path / "label-phone.png")
                mine = pressed[name] = {}

                def answer(text, page=page, mine=mine, n=n):
                    mine[text] = PLAN[text][n]
                    press_choice(page, mine[text])

                assert sorted(work_through(page, answer)) == sorted(PLAN)
                page.context.close()

            # What to expect, from what was pressed: the majority label and its share.
            expected = {}
            for text in PLAN:
                votes = [pressed[name][text] for name in ANNOTATORS]
                label, count = Counter(votes).most_common(1)[0]
                expected[text] = (label, count / len(votes))
            losers = {(name, text) for text in PLAN for name in ANNOTATORS
                      if pressed[name][text] != expected[text][0]}
            assert losers == {("ann_cy", "Terrible service, never again"),
                              ("ann_cy", "Best day ever, thank you")}

            def status(name: str, text: str) -> str:
                return "rejected" if (name, text) in losers else "accepted"

            with live_app.app_context():
                names = {u.id: u.username for u in _db.session.scalars(_db.select(User))}

            # The requester sees the job complete, with the consensus in the results table.
            go(requester, f"{base}/jobs/{job_id}")
            summary = requester.locator("section.card").first.inner_text()
            assert f"{len(PLAN)}/{len(PLAN)} items complete (100%)" in summary
            assert f"{OVERLAP * len(PLAN)} answers so far" in summary
            assert requester.locator("#progress").get_attribute("value") == str(len(PLAN))
            rows = requester.locator("#results tbody tr").all()
            assert len(rows) == len(PLAN)
            for row in rows:
                cells = row.locator("td").all_inner_texts()
                label, share = expected[cells[1]]
                assert cells[2:] == [label, f"{share:.0%}", f"{OVERLAP}/{OVERLAP}"]

            # The CSV export: consensus, confidence and every raw answer.
            exported = list(csv.DictReader(io.StringIO(
                download(requester, "CSV", f"fairlabel-job-{job_id}.csv"))))
            assert sorted(r["text"] for r in exported) == sorted(PLAN)
            for row in exported:
                text = row["text"]
                label, share = expected[text]
                assert (row["sentiment"], row["confidence"], row["n_answers"]) == (
                    label, f"{share:.4f}", str(OVERLAP))
                raw = json.loads(row["answers"])
                assert len(raw) == OVERLAP
                assert {names[a["worker"]]: (a["choices"], a["status"]) for a in raw} == {
                    name: ({"sentiment": [pressed[name][text]]}, status(name, text))
                    for name in ANNOTATORS}

            # The Label Studio JSON export: consensus as a scored prediction, answers as
            # annotations.
            tasks = json.loads(
                download(requester, "Label Studio JSON", f"fairlabel-job-{job_id}.json"))
            assert sorted(t["data"]["text"] for t in tasks) == sorted(PLAN)
            for task in tasks:
                text = task["data"]["text"]
                label, share = expected[text]
                [prediction] = task["predictions"]
                assert prediction["score"] == pytest.approx(share, abs=1e-9)
                assert prediction["result"] == [{"from_name": "sentiment", "to_name": "text",
                                                 "type": "choices", "value": {"choices": [label]}}]
                assert len(task["annotations"]) == OVERLAP  # the skipper left none
                by_worker = {names[a["completed_by"]]: a for a in task["annotations"]}
                assert set(by_worker) == set(ANNOTATORS)
                for name, annotation in by_worker.items():
                    assert annotation["result"] == [{
                        "from_name": "sentiment", "to_name": "text", "type": "choices",
                        "value": {"choices": [pressed[name][text]]}}]
                    assert annotation["status"] == status(name, text)
                    assert annotation["lead_time"] >= 0

            # On /me, the outvoted annotator sees each rejection and why; the others are paid.
            for name in (*ANNOTATORS, SKIPPER):
                page = new_page()
                log_in(page, base, name)
                go(page, f"{base}/me")
                if name == SKIPPER:
                    assert page.locator("#earned").inner_text() == "0"
                    assert page.locator("#history").count() == 0
                    page.context.close()
                    continue
                lost = [text for who, text in losers if who == name]
                earned = REWARD * (len(PLAN) - len(lost))
                assert page.locator("#earned").inner_text() == str(earned)
                assert page.locator("#history tbody tr.accepted").count() == len(PLAN) - len(lost)
                rejected = [row.locator("td").all_inner_texts()
                            for row in page.locator("#history tbody tr.rejected").all()]
                assert sorted((cells[2], cells[3], cells[5]) for cells in rejected) == sorted(
                    (pressed[name][text], "rejected",
                     f"sentiment: the consensus is {expected[text][0]} "
                     f"(confidence {expected[text][1]:.0%}).") for text in lost)
                page.context.close()
        finally:
            browser.close()
    assert watch.problems == []
