"""The job form's live preview in a real Chromium against the real server (CSRF on).

A requester on the new-job form writes a config with Choices and a TextArea, pastes a row, and
sees the task as the labeling page renders it; picks a choice, writes a comment, checks the
answer and sees it accepted as it would be stored; then breaks the config and sees the error
naming the tag. On a draft job page the preview shows the job's first uploaded item. A picture
and a sound picked from the requester's own disk preview from object URLs (the CSP's `blob:`).
JS errors, CSP violations and failed requests fail the test, but for the 400s the preview is
meant to get for the broken config.
"""
from __future__ import annotations

import json
import os

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Watch, _cannot_run, go

from app.demo import IMAGE_CONFIG, SEGMENT_CONFIG, bursts_wav, shape_png

from conftest import PASSWORD
from live_server import serve

pytestmark = pytest.mark.browser

CONFIG = """<View>
  <Header value="How does the customer feel?"/>
  <Text name="review" value="$review"/>
  <Choices name="mood" toName="review" choice="single">
    <Choice value="happy"/><Choice value="annoyed"/>
  </Choices>
  <TextArea name="why" toName="review" required="true"/>
</View>"""
ROW = {"review": "The parcel came two days late, but support was lovely.", "order": "A-17"}
BROKEN = CONFIG.replace('<TextArea name="why" toName="review" required="true"/>', '<Slider name="how" toName="review"/>')
# Runs before any page script, outside the page's CSP (the debugging protocol injects it).
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`));
"""


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def requester_page(live_app, browser, make_user, db):
    """(base URL, a page logged in as a requester by the login form, the watch, the user)."""
    if not os.path.exists(CHROMIUM):
        _cannot_run(f"Browser tests need Debian's chromium at {CHROMIUM}.")
    user = make_user("requester")
    username = user.username
    db.session.commit()  # end the read: on SQLite it would hold the lock the live server needs
    watch = Watch()
    with serve(live_app) as base:
        context = browser.new_context()
        context.set_default_timeout(10_000)
        page = watch.page(context)
        page.add_init_script(WATCH_CSP)
        go(page, f"{base}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/jobs")
        yield base, page, watch, user
        context.close()


def unexpected(watch: Watch, page, *, refused_previews: bool = False) -> list[str]:
    """What went wrong in the page: JS errors, failed requests, CSP violations — less, with
    `refused_previews`, the 400s a broken config is meant to get (and the console line each logs)."""
    def meant(problem: str) -> bool:
        return refused_previews and (problem.startswith("HTTP 400 POST") and problem.endswith("/api/preview")
                                     or "the server responded with a status of 400" in problem)

    return [p for p in watch.problems if not meant(p)] + [f"CSP: {v}" for v in page.evaluate("window.__csp")]


def wait_for_preview(page) -> None:
    page.wait_for_function("() => document.getElementById('preview').dataset.state === 'ready'")


def test_the_new_job_form_previews_answers_and_reports_config_errors(requester_page):
    base, page, watch, _ = requester_page
    go(page, f"{base}/jobs/new")
    wait_for_preview(page)  # the example config and row preview as soon as the page opens
    assert page.locator("#preview-task .task-text").inner_text() == "Type one of your rows here."

    page.locator("#label_config").fill(CONFIG)
    page.locator("#preview-row").fill(json.dumps(ROW))
    text = page.locator("#preview-task [data-object=review] .task-text")
    text.wait_for()
    assert text.inner_text() == ROW["review"]
    assert page.get_by_role("heading", name="How does the customer feel?").is_visible()
    order = page.locator("#preview-task").evaluate(
        "box => [...box.children].map(e => e.matches('h2') ? 'header' : (e.dataset.object || e.dataset.control))")
    assert order == ["header", "review", "mood", "why"]  # the labeling page's layout, in config order
    assert page.locator("#preview-task input[name=mood]").evaluate_all("els => els.map(e => e.value)") == [
        "happy", "annoyed"]
    assert page.locator("#preview-task label.choice kbd").all_inner_texts() == ["1", "2"]  # its keys

    # The annotator's own client-side refusal, then the keys and the mouse as on the labeling page.
    page.locator("#preview-check").click()
    assert page.locator("#preview-error").inner_text() == "Choose an option for mood first."
    page.locator("#preview-task label.choice", has_text="annoyed").click()
    assert page.locator("#preview-error").is_hidden()
    page.locator("#preview-task textarea").fill("Late parcel, kind support.")
    page.locator("#preview-check").click()
    verdict = page.locator("#preview-verdict")
    verdict.wait_for()
    assert page.locator("#preview-accepted").inner_text() == "Accepted. It would be stored as:"
    assert json.loads(page.locator("#preview-answer").inner_text()) == {
        "mood": ["annoyed"], "why": "Late parcel, kind support."}

    # Number keys choose, with focus in the preview (not in the form's fields).
    page.locator("#preview-task label.choice", has_text="happy").focus()
    page.keyboard.press("2")
    assert page.locator('#preview-task input[value="annoyed"]').is_checked()

    # A broken config: the error names the tag, in place of the task.
    page.locator("#label_config").fill(BROKEN)
    error = page.locator("#preview-config-error")
    error.wait_for()
    assert "Slider" in error.inner_text(), error.inner_text()
    assert page.locator("#preview-task").inner_html() == ""
    assert page.locator("#preview-check").is_disabled()
    assert page.locator("#label_config").get_attribute("aria-invalid") == "true"

    # Mended, the preview is back.
    page.locator("#label_config").fill(CONFIG)
    text.wait_for()
    assert error.is_hidden()
    assert unexpected(watch, page, refused_previews=True) == []


def test_the_draft_page_previews_its_first_item(requester_page, make_job, login, db):
    base, page, watch, user = requester_page
    job = make_job(user, publish=False, label_config=CONFIG,
                   rows=[{"review": "First of all."}, {"review": "Second of all."}])
    job_id = job.id
    db.session.commit()
    go(page, f"{base}/jobs/{job_id}")
    wait_for_preview(page)
    assert page.locator("#preview-task .task-text").inner_text() == "First of all."
    page.locator("#preview-item").select_option(index=1)
    page.wait_for_function(
        "() => document.querySelector('#preview-task .task-text')?.textContent === 'Second of all.'")
    page.locator("#preview-task label.choice", has_text="happy").click()
    page.locator("#preview-check").click()  # the comment is required: the server's own words
    assert page.locator("#preview-error").inner_text() == "Write something in why first."
    page.locator("#preview-task textarea").fill("ok")
    page.locator("#preview-check").click()
    page.locator("#preview-verdict").wait_for()
    assert unexpected(watch, page) == []


def test_a_local_picture_and_sound_preview_from_object_urls(requester_page):
    base, page, watch, _ = requester_page
    go(page, f"{base}/jobs/new")
    wait_for_preview(page)
    page.locator("#label_config").fill(IMAGE_CONFIG)
    page.locator("#preview-file-field").wait_for()
    page.locator("#preview-file").set_input_files(
        files=[{"name": "mine.png", "mimeType": "image/png", "buffer": shape_png("circle", 1, size=128)}])
    image = page.locator("#preview-task img.task-image")
    image.wait_for()
    assert image.get_attribute("src").startswith("blob:")
    page.wait_for_function("() => document.querySelector('#preview-task img.task-image').naturalWidth === 128")
    page.locator("#preview-task label.choice", has_text="circle").click()
    page.locator("#preview-check").click()
    page.locator("#preview-verdict").wait_for()

    page.locator("#label_config").fill(SEGMENT_CONFIG)
    page.locator("#preview-row").fill('{"audio": ""}')
    page.locator("#preview-file").set_input_files(
        files=[{"name": "mine.wav", "mimeType": "audio/wav", "buffer": bursts_wav([(1.0, 2.0)], seconds=3.0)}])
    page.locator("#preview-task audio.task-audio").wait_for(state="attached")
    assert page.locator("#preview-task audio.task-audio").get_attribute("src").startswith("blob:")
    # The waveform is decoded from the file's object URL, which wavesurfer fetches (connect-src blob:).
    page.locator("#preview-task .waveform-box[data-state=ready]").wait_for()
    assert page.locator("#preview-row-error").is_hidden() and page.locator("#preview-config-error").is_hidden()
    # While the config and the row were being changed they did not fit each other: those 400s are meant.
    assert unexpected(watch, page, refused_previews=True) == []
