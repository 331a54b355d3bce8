"""Boxes, outlines, key points and audio segments drawn in a real Chromium on the real server.

For each image/audio control kind a requester uploads one picture (Pillow draws a known shape on
a plain background) or one WAV (a tone burst between known times), and three annotators mark it:
one on a desktop with mouse and keyboard (a number key picks the label, drag draws, Delete
removes, Enter submits), one on a 390 px phone by touch (label buttons, a finger drag, taps, the
"Delete selected" button), and a third on a desktop drawing slightly differently. Each item must
be decided with a consensus close to what was drawn, every answer accepted, and the Label Studio
JSON export must hold the drawn regions, and the requester's results table draws them on the
picture. Two more jobs put boxes and a quality choice on one
image, and boxes and outlines on one image (one Annotorious; the tool follows the label picked).
JS errors, CSP violations (console errors) and failed requests fail the test.
"""
from __future__ import annotations

import io
import json
import math
import time
import wave

import numpy as np
import pytest
from browser_support import CHROMIUM_ARGS, PHONE, Watch, go
from PIL import Image, ImageDraw

from annotation.imports import UploadedFile
from annotation.models import Answer, AnswerStatus, Item
from app.extensions import db as _db
from app.identity.accounts import create_user
from app.operations.jobs import add_items, create_job, publish_job
from rewards.escrow import publish_cost
from rewards.funding import credit_requester

from live_server import serve

PASSWORD = "media controls password"
ANNOTATORS = ("desk_dee", "phone_pia", "desk_eli")  # the second one is on the phone
JITTER = (0.0, 1.5, -1.0)  # how far (percent, or percent of the clip) each one draws off
W, H = 400, 300  # the pictures' natural size
AUDIO_SECONDS, BURST = 4.0, (1.0, 2.5)  # the clip and its tone burst, in seconds

BOX = (25.0, 25.0, 40.0, 40.0)  # x, y, width, height, percent of the picture
TRIANGLE = [(50.0, 15.0), (82.0, 85.0), (18.0, 85.0)]
POINTS = {"Eye": (30.0, 30.0), "Nose": (70.0, 65.0)}
MIXED_BOX = (8.0, 20.0, 30.0, 40.0)
MIXED_TRIANGLE = [(70.0, 15.0), (92.0, 85.0), (48.0, 85.0)]

IMAGE = '<Image name="image" value="$image"/>'
BOXES = '<RectangleLabels name="box" toName="image"><Label value="Other"/><Label value="Square"/></RectangleLabels>'
OUTLINES = ('<PolygonLabels name="outline" toName="image"><Label value="Other"/><Label value="Triangle"/>'
            "</PolygonLabels>")
CONFIGS = {
    "boxes": f"<View>{IMAGE}{BOXES}</View>",
    "outlines": f"<View>{IMAGE}{OUTLINES}</View>",
    "points": f"""<View>{IMAGE}<KeyPointLabels name="kp" toName="image"><Label value="Eye"/>
                  <Label value="Nose"/></KeyPointLabels></View>""",
    "sounds": """<View><Audio name="audio" value="$audio"/><Labels name="sound" toName="audio">
                 <Label value="Noise"/><Label value="Tone"/></Labels></View>""",
    "quality": f"""<View>{IMAGE}{BOXES}<Choices name="quality" toName="image"><Choice value="good"/>
                   <Choice value="blurry"/></Choices></View>""",
    "mixed": f"<View>{IMAGE}{BOXES}{OUTLINES}</View>",
}
IMG = ".task-object-image img.task-image"
WAVE = ".waveform"


# --- media and jobs ------------------------------------------------------------------------------

def picture(kind: str) -> bytes:
    image = Image.new("RGB", (W, H), (236, 240, 244))
    draw = ImageDraw.Draw(image)

    def px(x, y):
        return x / 100 * W, y / 100 * H

    def square(x, y, w, h):
        draw.rectangle((*px(x, y), *px(x + w, y + h)), fill=(30, 80, 180))

    if kind == "outlines":
        draw.polygon([px(*p) for p in TRIANGLE], fill=(40, 120, 60))
    elif kind == "points":
        for x, y in POINTS.values():
            cx, cy = px(x, y)
            draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), fill=(180, 30, 30))
    elif kind == "mixed":
        square(*MIXED_BOX)
        draw.polygon([px(*p) for p in MIXED_TRIANGLE], fill=(40, 120, 60))
    else:
        square(*BOX)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def burst_wav(rate: int = 8000) -> bytes:
    t = np.arange(int(AUDIO_SECONDS * rate)) / rate
    signal = 0.01 * np.random.default_rng(7).standard_normal(t.size)
    on = (t >= BURST[0]) & (t < BURST[1])
    signal[on] += 0.8 * np.sin(2 * np.pi * 440 * t[on])
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def publish(live_app, owner, kind: str) -> int:
    """A published job of `kind` with its one uploaded file, funded for three answers."""
    media = (UploadedFile("clip.wav", burst_wav()) if kind == "sounds"
             else UploadedFile(f"{kind}.png", picture(kind)))
    job = create_job(owner, title=f"Mark the {kind}", label_config=CONFIGS[kind], reward=10, overlap=3)
    add_items(owner, job, [media], media_root=live_app.config["MEDIA_ROOT"])
    credit_requester(owner, publish_cost(job), key=f"media-controls-{kind}")
    publish_job(owner, job)
    _db.session.commit()
    return job.id


# --- input, as a mouse and as a finger -----------------------------------------------------------

class Mouse:
    def __init__(self, page):
        self.page = page

    def drag(self, a, b):
        mouse = self.page.mouse
        mouse.move(*a)
        mouse.down()
        mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=4)
        mouse.move(*b, steps=4)
        mouse.up()

    def tap(self, p):
        self.page.mouse.click(*p)


class Finger:
    """Touch as a phone sends it: Chromium's touch events, which the page sees as pointer events
    of type touch (Playwright's touchscreen only taps, so drags go through CDP)."""

    def __init__(self, page):
        self.page = page
        self.cdp = page.context.new_cdp_session(page)

    def _touch(self, kind, p=None):
        points = [] if p is None else [{"x": p[0], "y": p[1], "id": 1}]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def drag(self, a, b):
        self._touch("touchStart", a)
        time.sleep(0.15)  # a finger rests before it moves (wavesurfer waits 100 ms on touch)
        for i in range(1, 9):
            self._touch("touchMove", (a[0] + (b[0] - a[0]) * i / 8, a[1] + (b[1] - a[1]) * i / 8))
            time.sleep(0.01)
        time.sleep(0.25)  # and rests before it lifts: a lift in motion is a fling, and a tap during a fling is eaten
        self._touch("touchEnd")

    def tap(self, p):
        self.page.touchscreen.tap(*p)


# --- driving the labeling page -------------------------------------------------------------------

def log_in(page, base: str, username: str) -> None:
    go(page, f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/**")


def open_task(page, base: str, job_id: int, control: str) -> str:
    """Open the job's labeling page; wait until `control`'s library is loaded; the task id."""
    go(page, f"{base}/work/jobs/{job_id}")
    page.wait_for_function("() => document.getElementById('labeler').dataset.taskId")
    page.wait_for_selector(f'.regions-{control}[data-state="ready"]')
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"
    return page.locator("#labeler").get_attribute("data-task-id")


def at(page, selector: str, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of (x, y) percent of the element `selector`."""
    box = page.locator(selector).bounding_box()
    return box["x"] + x / 100 * box["width"], box["y"] + y / 100 * box["height"]


def counted(page, control: str, n: int) -> None:
    page.wait_for_selector(f'.regions-{control}[data-count="{n}"]')


def pick(page, phone: bool, key: str, label: str) -> None:
    """Pick the label to draw: its number key on a desktop, its button on the phone."""
    if phone:
        page.locator(".region-label", has_text=label).tap()
    else:
        page.keyboard.press(key)


def delete_selected(page, phone: bool, control: str) -> None:
    if phone:
        page.locator(f".regions-{control} .region-delete").tap()
    else:
        page.keyboard.press("Delete")


def submit(page, phone: bool, task_id: str) -> None:
    if phone:
        page.locator("#submit-btn").tap()
    else:
        page.keyboard.press("Enter")
    page.wait_for_function(
        """prev => document.getElementById('labeler').dataset.taskId !== prev
                   || !document.getElementById('task-error').hidden""", arg=task_id)
    error = page.locator("#task-error")
    assert error.is_hidden(), f"the labeling page says: {error.inner_text()}"


def draw_box(page, hand, phone, jitter, box=BOX):
    pick(page, phone, "2", "Square")
    x, y, w, h = box
    hand.drag(at(page, IMG, x + jitter, y), at(page, IMG, x + w, y + h + jitter))


def draw_outline(page, hand, phone, jitter, points=TRIANGLE, key="2", label="Triangle"):
    pick(page, phone, key, label)
    corners = [at(page, IMG, x + jitter, y - jitter) for x, y in points]
    for corner in [*corners, corners[0]]:  # one click/tap per corner; the first again closes it
        hand.tap(corner)
        page.wait_for_timeout(80)  # separate taps, not a double tap


# --- what each annotator does, per job -----------------------------------------------------------

def label_boxes(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "rectangles")
    if n < 2:  # a wrong box first, then selected and deleted (the Delete key; the phone's button)
        pick(page, phone, "1", "Other")
        hand.drag(at(page, IMG, 70, 70), at(page, IMG, 90, 92))
        counted(page, "rectangles", 1)
        hand.tap(at(page, IMG, 80, 80))
        page.wait_for_selector(".regions-rectangles .region-delete:enabled")
        delete_selected(page, phone, "rectangles")
        counted(page, "rectangles", 0)
    draw_box(page, hand, phone, jitter)
    counted(page, "rectangles", 1)
    submit(page, phone, task)


def label_outlines(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "polygons")
    if n == 2:  # a stray outline, clicked and deleted with the key
        draw_outline(page, hand, phone, 0, points=[(2, 2), (12, 2), (2, 12)], key="1", label="Other")
        counted(page, "polygons", 1)
        hand.tap(at(page, IMG, 4, 4))
        page.wait_for_selector(".regions-polygons .region-delete:enabled")
        delete_selected(page, phone, "polygons")
        counted(page, "polygons", 0)
    draw_outline(page, hand, phone, jitter)
    counted(page, "polygons", 1)
    submit(page, phone, task)


def label_points(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "keypoints")
    for key, (label, (x, y)) in enumerate(POINTS.items(), start=1):
        pick(page, phone, str(key), label)
        if n == 0 and label == "Eye":  # put off the mark, then dragged onto it
            hand.tap(at(page, IMG, x + 10, y + 10))
            hand.drag(at(page, IMG, x + 10, y + 10), at(page, IMG, x, y))
            page.keyboard.press("Escape")  # the moved point stays selected until Escape; a label key would relabel it
        else:
            hand.tap(at(page, IMG, x + jitter, y - jitter))
    counted(page, "keypoints", 2)
    submit(page, phone, task)


def label_sounds(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "segments")
    start, end = (t / AUDIO_SECONDS * 100 for t in BURST)
    if n == 2:  # a stray "Noise" segment, clicked and deleted with the key
        pick(page, phone, "1", "Noise")
        hand.drag(at(page, WAVE, 80, 50), at(page, WAVE, 92, 50))
        counted(page, "segments", 1)
        hand.tap(at(page, WAVE, 86, 50))
        page.wait_for_selector(".regions-segments .region-delete:enabled")
        delete_selected(page, phone, "segments")
        counted(page, "segments", 0)
    pick(page, phone, "2", "Tone")
    hand.drag(at(page, WAVE, start + jitter, 50), at(page, WAVE, end - jitter, 50))
    counted(page, "segments", 1)
    submit(page, phone, task)


def label_quality(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "rectangles")
    draw_box(page, hand, phone, jitter)
    if phone:
        page.locator('input[value="good"]').tap()
    else:
        page.keyboard.press("3")  # the quality choices take the keys after the box labels' 1–2
    assert page.locator('input[value="good"]').is_checked()
    counted(page, "rectangles", 1)
    submit(page, phone, task)


def label_mixed(page, base, job_id, hand, phone, jitter, n):
    task = open_task(page, base, job_id, "polygons")
    draw_box(page, hand, phone, jitter, box=MIXED_BOX)
    counted(page, "rectangles", 1)
    draw_outline(page, hand, phone, jitter, points=MIXED_TRIANGLE, key="4")  # keys 3–4: the outline's
    counted(page, "polygons", 1)
    counted(page, "rectangles", 1)  # the box is still a box, of the box control
    submit(page, phone, task)


LABEL = {"boxes": label_boxes, "outlines": label_outlines, "points": label_points, "sounds": label_sounds,
         "quality": label_quality, "mixed": label_mixed}


# --- what must come out --------------------------------------------------------------------------

def near_box(value, box, tolerance=2.5):
    return value["label"] == "Square" and all(
        abs(value[k] - e) <= tolerance for k, e in zip(("x", "y", "width", "height"), box))


def near_outline(value, corners, tolerance=3.0):
    return value["label"] == "Triangle" and len(value["points"]) == len(corners) and all(
        min(math.dist(c, p) for p in value["points"]) <= tolerance for c in corners)


def near_points(values, tolerance=2.5):
    return sorted(v["label"] for v in values) == sorted(POINTS) and all(
        math.dist((v["x"], v["y"]), POINTS[v["label"]]) <= tolerance for v in values)


def near_segment(value, tolerance=0.15):
    return value["label"] == "Tone" and abs(value["start"] - BURST[0]) <= tolerance and abs(
        value["end"] - BURST[1]) <= tolerance


EXPECT = {  # kind -> {control: check of its normalized value}
    "boxes": {"box": lambda v: len(v) == 1 and near_box(v[0], BOX)},
    "outlines": {"outline": lambda v: len(v) == 1 and near_outline(v[0], TRIANGLE)},
    "points": {"kp": near_points},
    "sounds": {"sound": lambda v: len(v) == 1 and near_segment(v[0])},
    "quality": {"box": lambda v: len(v) == 1 and near_box(v[0], BOX), "quality": lambda v: v == ["good"]},
    "mixed": {"box": lambda v: len(v) == 1 and near_box(v[0], MIXED_BOX),
              "outline": lambda v: len(v) == 1 and near_outline(v[0], MIXED_TRIANGLE)},
}


def normalized(region):
    """A Label Studio result region of the export, in the normalized shape the checks read."""
    value = dict(region["value"])
    for key in ("rectanglelabels", "polygonlabels", "keypointlabels", "labels", "choices"):
        if key in value:
            labels = value.pop(key)
            if key == "choices":
                return labels
            value["label"] = labels[0]
    return value


def check_export(kind: str, text: str) -> None:
    [task] = json.loads(text)
    assert len(task["annotations"]) == 3
    for annotation in [*task["annotations"], *task["predictions"]]:
        assert annotation.get("status", "accepted") == "accepted"
        for control, check in EXPECT[kind].items():
            regions = [r for r in annotation["result"] if r["from_name"] == control]
            if control == "quality":
                [region] = regions
                assert check(normalized(region)), (kind, region)
            else:
                assert check([normalized(r) for r in regions]), (kind, control, regions)


def see_results(page, base: str, jobs: dict[str, int]) -> None:
    """The requester's results table: each decision drawn on its own picture (or as segments on a
    track), the uploaded file by its name."""
    go(page, f"{base}/jobs/{jobs['mixed']}")
    page.wait_for_function("() => document.querySelectorAll('#results [data-rendered]').length === 2")
    box, outline = page.locator('#results [data-rendered="rectangles"]'), page.locator('#results [data-rendered="polygons"]')
    assert box.locator("img.task-image").count() == 1 and outline.locator("img.task-image").count() == 1
    assert box.locator(".region-overlay rect").count() == 1 and outline.locator(".region-overlay polygon").count() == 1
    assert box.locator("img.task-image").evaluate("img => img.complete && img.naturalWidth") == W
    assert page.locator("#results .media-name").inner_text() == "mixed.png"
    go(page, f"{base}/jobs/{jobs['sounds']}")
    page.wait_for_selector('#results [data-rendered="segments"] .segment-bar')
    assert "Tone" in page.locator('#results [data-rendered="segments"]').inner_text()
    assert page.locator("#results .media-name").inner_text() == "clip.wav"


# --- the test ------------------------------------------------------------------------------------

@pytest.mark.browser
def test_boxes_outlines_points_and_segments_by_mouse_and_by_touch(app, live_app, chromium_path):
    from playwright.sync_api import sync_playwright

    with live_app.app_context():
        owner = create_user("req_media", PASSWORD, "requester")
        for name in ANNOTATORS:
            create_user(name, PASSWORD, "annotator")
        _db.session.commit()
        jobs = {kind: publish(live_app, owner, kind) for kind in CONFIGS}

    watch = Watch()
    with serve(live_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            for n, name in enumerate(ANNOTATORS):
                phone = n == 1
                context = browser.new_context(**({"viewport": PHONE, "is_mobile": True, "has_touch": True}
                                                 if phone else {}))
                context.set_default_timeout(15_000)
                page = watch.page(context)
                log_in(page, base, name)
                hand = Finger(page) if phone else Mouse(page)
                for kind, label in LABEL.items():
                    label(page, base, jobs[kind], hand, phone, JITTER[n], n)
                context.close()
            requester = watch.page(browser.new_context())
            log_in(requester, base, "req_media")
            exports = {}
            for kind, job_id in jobs.items():
                response = requester.request.get(f"{base}/jobs/{job_id}/export.json")
                assert response.ok, (kind, response.status)
                exports[kind] = response.text()
            see_results(requester, base, jobs)
        finally:
            browser.close()
    assert watch.problems == []

    with live_app.app_context():
        for kind, job_id in jobs.items():
            item = _db.session.scalars(_db.select(Item).where(Item.job_id == job_id)).one()
            answers = _db.session.scalars(_db.select(Answer).where(Answer.item_id == item.id)).all()
            assert item.is_complete, kind
            assert [(a.status, a.reject_reason) for a in answers] == [(AnswerStatus.ACCEPTED, None)] * 3, kind
            for control, check in EXPECT[kind].items():
                assert check(item.consensus[control]), (kind, control, item.consensus[control])
    for kind, text in exports.items():
        check_export(kind, text)
