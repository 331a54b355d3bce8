"""Every non-drawing control kind on the labeling page, in a real Chromium against the real server.

For each kind a job with one item is published; three annotators answer it — the first on a
390 px phone by touch (tap), the other two on a desktop with the keyboard (and the mouse to
select text for spans) — the item is decided, each answer is accepted or rejected as the kind's
consensus says, and the Label Studio JSON export holds what was entered. Spans use Chinese text
with an emoji before the span, so the code-point offsets the page sends differ from the DOM's
UTF-16 ones; the HyperText span crosses an element boundary.
"""
from __future__ import annotations

import json
import os

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, Watch, _cannot_run, go

from annotation.models import Answer, Item
from app.extensions import db as _db
from app.identity.models import User

from conftest import PASSWORD
from live_server import serve

pytestmark = pytest.mark.browser

DONE = "No more tasks for you in this job. Thank you!"
ANNOTATORS = ("ann_phone", "ann_keys", "ann_other")  # the first answers on a phone

# A Range over code points [start, end) of an object's text, as a page function (the test's own
# conversion, independent of spans.js).
_RANGE = """
function spanRange(name, start, end) {
  const root = document.querySelector(`#task-object [data-object="${name}"] [data-object-content]`);
  const chars = Array.from(root.textContent);
  const u16 = (cp) => chars.slice(0, cp).join("").length;
  const at = (u, isEnd) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let seen = 0;
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (isEnd ? u <= seen + n.data.length : u < seen + n.data.length) return [n, u - seen];
      seen += n.data.length;
    }
    throw new Error("offset outside the text");
  };
  const range = document.createRange();
  range.setStart(...at(u16(start), false));
  range.setEnd(...at(u16(end), true));
  return range;
}"""
# What a phone's touch selection leaves: a document selection over the text.
SELECT_JS = f"""([name, start, end]) => {{ {_RANGE}
  const selection = document.getSelection();
  selection.removeAllRanges();
  selection.addRange(spanRange(name, start, end));
}}"""
# Where to press and release the mouse to drag over [start, end): inside the first and last character.
POINTS_JS = f"""([name, start, end]) => {{ {_RANGE}
  const first = spanRange(name, start, start + 1).getClientRects()[0];
  const rects = spanRange(name, end - 1, end).getClientRects();
  const last = rects[rects.length - 1];
  return {{x1: first.left + 2, y1: first.top + first.height / 2, x2: last.right - 2, y2: last.top + last.height / 2}};
}}"""


class Lab:
    """A live server, a Chromium, and the steps every scenario takes."""

    def __init__(self, base, browser, live_app, watch):
        self.base, self.browser, self.live_app, self.watch = base, browser, live_app, watch
        self.sessions: dict[str, str] = {}  # username → a logged-in session cookie

    def page(self, username: str, *, phone: bool = False):
        """A page logged in as `username`: with its session cookie when there is one (the login
        form is tested elsewhere; this keeps each answer under a second), else by the form."""
        options = dict(viewport=PHONE, is_mobile=True, has_touch=True) if phone else {}
        context = self.browser.new_context(**options)
        context.set_default_timeout(10_000)
        page = self.watch.page(context)
        if username in self.sessions:
            context.add_cookies([{"name": "session", "value": self.sessions[username], "url": self.base}])
            return page
        go(page, f"{self.base}/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{self.base}/work")
        return page

    def answer(self, job_id: int, username: str, act, *, phone: bool = False) -> None:
        """`username` opens the job, `act(page)` answers its one task (and submits); then the page
        must say there is nothing left."""
        page = self.page(username, phone=phone)
        go(page, f"{self.base}/work/jobs/{job_id}")
        page.wait_for_function("() => document.getElementById('labeler').hasAttribute('data-task-id')")
        task_id = page.locator("#labeler").get_attribute("data-task-id")
        assert task_id, page.locator("#task-done").inner_text()
        if phone:
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        act(page)
        page.wait_for_function(
            """prev => document.getElementById('labeler').dataset.taskId !== prev
                       || !document.getElementById('task-error').hidden""", arg=task_id)
        error = page.locator("#task-error")
        assert error.is_hidden(), f"the labeling page says: {error.inner_text()}"
        assert page.locator("#task-done").inner_text() == DONE
        page.context.close()

    def run(self, job_id: int, acts) -> None:
        for n, (username, act) in enumerate(zip(ANNOTATORS, acts, strict=True)):
            self.answer(job_id, username, act, phone=n == 0)

    def outcome(self, job_id: int):
        """(the item, {username: answer}) from the database."""
        with self.live_app.app_context():
            [item] = _db.session.scalars(_db.select(Item).where(Item.job_id == job_id)).all()
            answers = {}
            for answer in _db.session.scalars(_db.select(Answer).where(Answer.job_id == job_id)):
                answers[_db.session.get(User, answer.worker_id).username] = answer
            _db.session.expunge_all()
        return item, answers


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module (each answer still gets a fresh context): launching one per
    test would cost more than the answers."""
    if not os.path.exists(CHROMIUM):
        _cannot_run(f"Browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _cannot_run("Browser tests need Playwright for Python (pip install -e '.[test]').")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lab(app, live_app, chromium):
    with serve(live_app) as base:
        yield Lab(base, chromium, live_app, Watch())


@pytest.fixture
def job_for(db, make_user, make_job, login, lab):
    """A published one-item job with `config` and its three annotators; (job id, export())."""

    def make(config: str, row: dict, **overrides):
        requester = make_user("requester")
        for n, name in enumerate(ANNOTATORS):
            annotator = make_user("annotator", username=name)
            if n:  # the first logs in with the form; the others reuse a session the app signed
                lab.sessions[name] = login(annotator).get_cookie("session").value
        job = make_job(requester, label_config=config, rows=[row], overlap=3, reward=10,
                       aggregation="majority_vote", **overrides)
        job_id = job.id
        client = login(requester)
        db.session.commit()  # end this session's reads: on SQLite they would hold the server's write lock

        def export():
            with client.get(f"/jobs/{job_id}/export.json") as response:
                assert response.status_code == 200, response.data
                [task] = json.loads(response.get_data(as_text=True))
            db.session.commit()
            with_names = {}
            for annotation in task["annotations"]:
                with_names[usernames(db)[annotation["completed_by"]]] = annotation
            return task, with_names

        return job_id, export

    return make


def usernames(db):
    names = {u.id: u.username for u in db.session.scalars(db.select(User))}
    db.session.commit()
    return names


def values(annotation, control=None):
    """The (from_name, value) pairs of an exported annotation's result."""
    return [(r["from_name"], r["value"]) for r in annotation["result"] if control in (None, r["from_name"])]


def statuses(answers):
    return {name: answers[name].status.value for name in ANNOTATORS}


def tap_submit(page):
    page.locator("#submit-btn").tap()


# --- multiple choice, headers and an optional comment ---------------------------------------------

TOPICS = """<View>
  <Header value="Which topics does this sentence touch?"/>
  <Text name="text" value="$text"/>
  <Choices name="topics" toName="text" choice="multiple">
    <Choice value="sports"/><Choice value="politics"/><Choice value="weather"/>
  </Choices>
  <Header value="Anything the requester should know?"/>
  <TextArea name="comment" toName="text" placeholder="Optional comment"/>
</View>"""


def test_multiple_choice_headers_and_optional_comment(lab, job_for):
    job_id, export = job_for(TOPICS, {"text": "The match was delayed by heavy rain."})

    def in_order(page):
        """The headers reach the annotator, and the page is in the config's order."""
        first = page.get_by_role("heading", name="Which topics does this sentence touch?")
        second = page.get_by_role("heading", name="Anything the requester should know?")
        assert first.is_visible() and second.is_visible()
        order = page.locator("#task-object").evaluate(
            """box => [...box.children].map(e => e.matches('h2') ? e.textContent
                       : (e.dataset.object || e.dataset.control))""")
        assert order == ["Which topics does this sentence touch?", "text", "topics",
                         "Anything the requester should know?", "comment"]

    def phone(page):
        in_order(page)
        assert "(choose any)" in page.locator("#task-controls legend").inner_text()
        page.locator("label.choice", has_text="sports").tap()
        page.locator("label.choice", has_text="weather").tap()
        assert page.locator('#task-controls input[value="weather"]').is_checked()
        page.locator("#task-controls textarea").tap()
        page.locator("#task-controls textarea").fill("Rain is weather, not sport?")
        tap_submit(page)

    def keys(page):
        in_order(page)
        page.keyboard.press("1")
        page.keyboard.press("3")
        assert page.locator('#task-controls input[value="sports"]').is_checked()
        page.keyboard.press("Enter")  # the comment is optional

    def other(page):
        page.keyboard.press("Enter")  # nothing chosen yet: the page says so and sends nothing
        assert page.locator("#task-error").inner_text() == "Choose an option for topics first."
        page.keyboard.press("1")
        assert page.locator("#task-error").is_hidden()
        page.keyboard.press("1")  # toggles sports off again
        page.keyboard.press("2")
        assert not page.locator('#task-controls input[value="sports"]').is_checked()
        assert page.locator('#task-controls input[value="politics"]').is_checked()
        page.keyboard.press("Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    assert item.is_complete and item.consensus == {"topics": ["sports", "weather"]}
    assert answers["ann_phone"].choices == {"topics": ["sports", "weather"], "comment": "Rain is weather, not sport?"}
    assert answers["ann_keys"].choices == {"topics": ["sports", "weather"]}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    task, by_name = export()
    assert values(by_name["ann_phone"]) == [("topics", {"choices": ["sports", "weather"]}),
                                            ("comment", {"text": ["Rain is weather, not sport?"]})]
    assert values(by_name["ann_keys"]) == [("topics", {"choices": ["sports", "weather"]})]
    assert values(by_name["ann_other"]) == [("topics", {"choices": ["politics"]})]
    assert task["predictions"][0]["result"][0]["value"] == {"choices": ["sports", "weather"]}
    assert lab.watch.problems == []


# --- pairwise ------------------------------------------------------------------------------------

PAIRWISE = """<View>
  <Header value="Which answer is more helpful?"/>
  <Pairwise name="better" toName="a,b"/>
  <Text name="a" value="$a"/>
  <Text name="b" value="$b"/>
</View>"""


def test_pairwise(lab, job_for):
    job_id, export = job_for(PAIRWISE, {"a": "Restart the router, then wait a minute.",
                                        "b": "Have you tried turning it off?"})

    def sides(page):
        left, right = (page.locator(".pair .pair-side").nth(i).bounding_box() for i in (0, 1))
        return left, right

    def phone(page):
        left, right = sides(page)
        assert right["y"] >= left["y"] + left["height"] - 1  # stacked on a phone
        page.locator("label.pairwise-left").tap()
        tap_submit(page)

    def keys(page):
        left, right = sides(page)
        assert abs(left["y"] - right["y"]) < 2 and right["x"] > left["x"] + left["width"] - 1  # side by side
        assert page.locator(".pair .pair-side").nth(0).inner_text().endswith("Restart the router, then wait a minute.")
        page.keyboard.press("1")
        assert page.locator('#task-controls input[value="left"]').is_checked()
        page.keyboard.press("Enter")

    def other(page):
        page.keyboard.press("2")
        page.keyboard.press("Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    assert item.is_complete and item.consensus == {"better": "left"}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    _, by_name = export()
    assert by_name["ann_keys"]["result"] == [
        {"from_name": "better", "to_name": "a,b", "type": "pairwise", "value": {"selected": "left"}}]
    assert values(by_name["ann_other"]) == [("better", {"selected": "right"})]
    assert lab.watch.problems == []


# --- textarea --------------------------------------------------------------------------------------

TRANSCRIBE = """<View>
  <Header value="Retype the sentence, fixing its typos"/>
  <Text name="text" value="$text"/>
  <TextArea name="transcript" toName="text" required="true" rows="3"/>
</View>"""


def test_textarea_transcription(lab, job_for):
    job_id, export = job_for(TRANSCRIBE, {"text": "teh cat sat on teh mat"})

    def phone(page):
        page.locator("#task-controls textarea").tap()
        page.locator("#task-controls textarea").fill("the cat sat on the mat")
        tap_submit(page)

    def keys(page):
        page.keyboard.press("Shift+Tab")  # from the submit button back to the text box
        assert page.evaluate("document.activeElement.tagName") == "TEXTAREA"
        page.keyboard.type("the cat sat")  # "s" types, it does not skip
        page.keyboard.press("Enter")  # a newline, not a submit
        page.keyboard.type("on the mat")
        assert page.locator("#task-controls textarea").input_value() == "the cat sat\non the mat"
        assert page.locator("#labeler").get_attribute("data-task-id")
        page.keyboard.press("Control+Enter")

    def other(page):
        page.keyboard.press("Enter")  # nothing written yet: the page says so, nothing is sent
        assert "Write something in transcript" in page.locator("#task-error").inner_text()
        page.keyboard.press("Shift+Tab")
        page.keyboard.type("a dog ran away")
        page.keyboard.press("Control+Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    assert item.is_complete and item.consensus == {"transcript": "the cat sat on the mat"}
    assert answers["ann_keys"].choices == {"transcript": "the cat sat\non the mat"}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    _, by_name = export()
    assert values(by_name["ann_keys"]) == [("transcript", {"text": ["the cat sat\non the mat"]})]
    assert values(by_name["ann_other"]) == [("transcript", {"text": ["a dog ran away"]})]
    assert lab.watch.problems == []


# --- rating and number -------------------------------------------------------------------------------

SCALARS = """<View>
  <Text name="text" value="$text"/>
  <Rating name="quality" toName="text" maxRating="5"/>
  <Number name="legs" toName="text" min="0" max="100" step="1"/>
</View>"""


def test_rating_and_number(lab, job_for):
    job_id, export = job_for(SCALARS, {"text": "How many legs do three dogs and a bird have?"})

    def phone(page):
        page.locator("label.star").nth(3).tap()
        assert page.locator("label.star.lit").count() == 4
        field = page.locator('#task-controls input[type="number"]')
        assert (field.get_attribute("min"), field.get_attribute("max"), field.get_attribute("step")) == ("0", "100", "1")
        field.tap()
        field.fill("14")
        tap_submit(page)

    def keys(page):
        page.keyboard.press("4")
        assert page.locator('#task-controls input[value="4"]').is_checked()
        assert page.locator(".rating-value").inner_text() == "4 of 5"
        page.keyboard.press("Shift+Tab")  # from the submit button back to the number
        page.keyboard.type("14")
        page.keyboard.press("Enter")  # the form's own submit from its field

    def other(page):
        page.keyboard.press("1")
        page.keyboard.press("Shift+Tab")
        page.keyboard.type("50")
        page.keyboard.press("Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    assert item.is_complete and item.consensus == {"quality": 4, "legs": 14}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    assert "you answered 50; the consensus is 14" in answers["ann_other"].reject_reason
    _, by_name = export()
    assert values(by_name["ann_phone"]) == [("quality", {"rating": 4}), ("legs", {"number": 14})]
    assert values(by_name["ann_other"]) == [("quality", {"rating": 1}), ("legs", {"number": 50})]
    assert lab.watch.problems == []


# --- spans ---------------------------------------------------------------------------------------------

NER = """<View>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <Text name="text" value="$text"/>
  <Choices name="has_place" toName="text"><Choice value="yes"/><Choice value="no"/></Choices>
</View>"""
# 🎉 is one code point but two UTF-16 units: 王小明 is [1, 4), 北京 [5, 7), 工作 [7, 9).
NER_TEXT = "🎉王小明在北京工作。"


def drag(page, name, start, end):
    points = page.evaluate(POINTS_JS, [name, start, end])
    page.mouse.move(points["x1"], points["y1"])
    page.mouse.down()
    page.mouse.move(points["x2"], points["y2"], steps=8)
    page.mouse.up()


def chip(page, start, end, label):
    return page.locator(f'.spans li[data-start="{start}"][data-end="{end}"][data-label="{label}"]')


def test_spans_on_text(lab, job_for):
    from playwright.sync_api import expect

    job_id, export = job_for(NER, {"text": NER_TEXT})

    def phone(page):
        for (start, end), label in (((1, 4), "PER"), ((5, 7), "LOC"), ((7, 9), "PER")):
            page.evaluate(SELECT_JS, ["text", start, end])
            page.locator(".span-hint", has_text="choose a label").wait_for()
            page.locator(f'.label-btn[data-label="{label}"]').tap()
            chip(page, start, end, label).wait_for()
        chip(page, 7, 9, "PER").locator(".span-remove").tap()  # a mistake, taken back
        assert chip(page, 7, 9, "PER").count() == 0
        page.locator("label.choice", has_text="yes").tap()
        tap_submit(page)

    def keys(page):
        # The labels take keys 1–2, the choices after them 3–4.
        assert page.locator(".spans kbd").all_inner_texts() == ["1", "2"]
        assert page.locator(".choices kbd").all_inner_texts() == ["3", "4"]
        page.keyboard.press("1")  # pick PER first: the next mouse selection is tagged at once
        assert page.locator('.label-btn[data-label="PER"]').get_attribute("aria-pressed") == "true"
        drag(page, "text", 1, 4)
        chip(page, 1, 4, "PER").wait_for()
        page.keyboard.press("2")  # nothing selected: LOC becomes the label
        drag(page, "text", 5, 7)
        chip(page, 5, 7, "LOC").wait_for()
        drag(page, "text", 7, 9)  # a mistake: click it in the text and delete it
        chip(page, 7, 9, "LOC").wait_for()
        page.keyboard.press("2")  # put the label down again
        points = page.evaluate(POINTS_JS, ["text", 7, 9])
        page.mouse.click(points["x1"] + 3, points["y1"])
        expect(chip(page, 7, 9, "LOC").locator(".span-chip")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Delete")
        assert chip(page, 7, 9, "LOC").count() == 0
        page.keyboard.press("3")
        page.keyboard.press("Enter")

    def other(page):
        drag(page, "text", 5, 7)  # select first, then the label key
        page.locator(".span-hint", has_text="Selected “北京”").wait_for()
        page.keyboard.press("1")
        chip(page, 5, 7, "PER").wait_for()
        page.keyboard.press("4")
        page.keyboard.press("Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    expected = [{"start": 1, "end": 4, "label": "PER"}, {"start": 5, "end": 7, "label": "LOC"}]
    assert item.is_complete and item.consensus == {"ner": expected, "has_place": ["yes"]}
    assert answers["ann_keys"].choices == {"ner": expected, "has_place": ["yes"]}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    _, by_name = export()
    for name in ("ann_phone", "ann_keys"):
        assert values(by_name[name], "ner") == [
            ("ner", {"start": 1, "end": 4, "labels": ["PER"]}), ("ner", {"start": 5, "end": 7, "labels": ["LOC"]})]
    assert values(by_name["ann_other"]) == [("ner", {"start": 5, "end": 7, "labels": ["PER"]}),
                                            ("has_place", {"choices": ["no"]})]
    assert lab.watch.problems == []


PLACES = """<View>
  <HyperText name="page" value="$html"/>
  <Labels name="place" toName="page"><Label value="PLACE"/></Labels>
</View>"""
# Text content "😀 我爱北京天安门": 爱北京 is [3, 6) and crosses the </b>; 天安门 is [6, 9).
PLACES_HTML = "<p>😀 我<b>爱北</b>京天安门</p>"


def test_spans_on_hypertext(lab, job_for):
    job_id, export = job_for(PLACES, {"html": PLACES_HTML})

    def phone(page):
        assert page.locator("#task-object .task-hypertext b").inner_text() == "爱北"  # HTML, not text
        page.evaluate(SELECT_JS, ["page", 3, 6])
        page.locator(".span-hint", has_text="Selected “爱北京”").wait_for()
        page.locator('.label-btn[data-label="PLACE"]').tap()
        chip(page, 3, 6, "PLACE").wait_for()
        tap_submit(page)

    def keys(page):
        drag(page, "page", 3, 6)
        page.locator(".span-hint", has_text="Selected “爱北京”").wait_for()
        page.keyboard.press("1")
        chip(page, 3, 6, "PLACE").wait_for()
        page.keyboard.press("Enter")

    def other(page):
        drag(page, "page", 6, 9)
        page.keyboard.press("1")
        chip(page, 6, 9, "PLACE").wait_for()
        page.keyboard.press("Enter")

    lab.run(job_id, [phone, keys, other])
    item, answers = lab.outcome(job_id)
    assert item.is_complete and item.consensus == {"place": [{"start": 3, "end": 6, "label": "PLACE"}]}
    assert statuses(answers) == {"ann_phone": "accepted", "ann_keys": "accepted", "ann_other": "rejected"}
    _, by_name = export()
    assert values(by_name["ann_phone"]) == [("place", {"start": 3, "end": 6, "labels": ["PLACE"]})]
    assert values(by_name["ann_other"]) == [("place", {"start": 6, "end": 9, "labels": ["PLACE"]})]
    assert lab.watch.problems == []


# --- the results page's read-only rendering (static/js/results.js) --------------------------------------

ALL_KINDS = """<View>
  <Text name="text" value="$text"/>
  <HyperText name="page" value="$html"/>
  <Text name="a" value="$a"/>
  <Text name="b" value="$b"/>
  <Choices name="topics" toName="text" choice="multiple">
    <Choice value="sports"/><Choice value="politics"/><Choice value="weather"/>
  </Choices>
  <Pairwise name="better" toName="a,b"/>
  <TextArea name="transcript" toName="text" required="true"/>
  <Rating name="quality" toName="text" maxRating="5"/>
  <Number name="legs" toName="text" min="0" max="100"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <Labels name="place" toName="page"><Label value="PLACE"/></Labels>
</View>"""


def test_results_page_shows_each_kind(lab):
    """results.js against the contract the job page emits: `[data-decision]` elements holding
    {"control", "value", "item": {…data…}} and the spec in #results-spec."""
    import html

    from annotation.label_config import parse_label_config

    spec = parse_label_config(ALL_KINDS).to_json()
    data = {"text": NER_TEXT, "html": PLACES_HTML, "a": "left text", "b": "right text"}
    decisions = {
        "topics": ["sports", "weather"],
        "better": "left",
        "transcript": "<b>not bold</b>\nsecond line",
        "quality": 4,
        "legs": 14,
        "ner": [{"start": 1, "end": 4, "label": "PER"}, {"start": 5, "end": 7, "label": "LOC"}],
        "place": [{"start": 3, "end": 6, "label": "PLACE"}],
    }
    body = "".join(
        f"<div class=\"decision\" id=\"d-{name}\" data-decision=\"{html.escape(json.dumps({'control': name, 'value': value, 'item': data}))}\">"
        f"{html.escape(json.dumps(value))}</div>" for name, value in decisions.items())
    page_html = (f"<!doctype html><html><head><link rel=\"stylesheet\" href=\"/static/css/app.css\"></head><body>{body}"
                 f"<script type=\"application/json\" id=\"results-spec\">{html.escape(json.dumps(spec), quote=False)}</script>"
                 "<script type=\"module\" src=\"/static/js/results.js\"></script></body></html>")
    context = lab.browser.new_context()
    page = lab.watch.page(context)
    page.route(f"{lab.base}/results-under-test",
               lambda route: route.fulfill(status=200, content_type="text/html", body=page_html))
    page.goto(f"{lab.base}/results-under-test")
    page.wait_for_function(f"() => document.querySelectorAll('[data-rendered]').length === {len(decisions)}")

    def text(name):
        return page.locator(f"#d-{name}").inner_text()

    assert text("topics") == "sports, weather"
    assert text("better") == "Left is better (a)"
    assert page.locator("#d-transcript").text_content() == "<b>not bold</b>\nsecond line"  # text, not HTML
    assert page.locator("#d-transcript b").count() == 0
    assert text("quality") == "★★★★☆ 4/5"
    assert text("legs") == "14"
    assert page.locator("#d-ner mark").all_inner_texts() == ["王小明", "北京"]
    assert page.locator("#d-place mark").all_inner_texts() == ["爱北京"]
    assert "PLACE “爱北京” (3–6)" in text("place")
    context.close()
    assert lab.watch.problems == []
