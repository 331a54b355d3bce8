"""Exports in every format, each read back by the tool (or a reader of the layout) it is for:
COCO by pycocotools, YOLO and VOC by re-reading labels and XML, CoNLL by re-tokenizing, the ASR
manifest as JSONL, the Hugging Face dataset by `datasets`; signed media links; bounded streaming.
"""
from __future__ import annotations

import csv
import io
import json
import re
import warnings
import wave
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from PIL import Image

import annotation.exports as exports
from annotation.errors import InvalidInput
from annotation.exports import FORMATS, export_job, formats_for
from annotation.exports.conll import bio, tokenize
from annotation.exports.media import MediaSigner, read_media_token, sign_media_token
from annotation.imports import UploadedFile
from annotation.jobs import job_spec
from annotation.label_config import parse_label_config, result_from_values
from annotation.models import Answer, AnswerStatus, Assignment, AssignmentStatus, Item
from app.extensions import utcnow
from app.operations.jobs import add_items

BOX_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="cat"/><Label value="dog"/></RectangleLabels>
  <PolygonLabels name="shape" toName="image"><Label value="road"/><Label value="cat"/></PolygonLabels>
  <KeyPointLabels name="point" toName="image"><Label value="nose"/><Label value="eye"/></KeyPointLabels>
</View>"""
NER_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/><Label value="ORG"/></Labels>
  <Choices name="topic" toName="text" choice="single"><Choice value="news"/><Choice value="chat"/></Choices>
  <Rating name="quality" toName="text" maxRating="5"/>
  <Number name="score" toName="text" min="0" max="10"/>
  <TextArea name="note" toName="text"/>
</View>"""
ASR_CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <TextArea name="transcript" toName="audio"/>
</View>"""
TEXT_CHOICES = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="multiple">
    <Choice value="positive"/><Choice value="negative"/><Choice value="neutral"/>
  </Choices>
</View>"""


# --- helpers -----------------------------------------------------------------------------------

def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def items_of(db, job) -> list[Item]:
    return db.session.scalars(db.select(Item).where(Item.job_id == job.id).order_by(Item.id)).all()


def media_job(db, app, make_job, config: str, files: list[tuple[str, bytes]]):
    """A draft job whose items are uploaded media files, one upload per file (so names may repeat)."""
    job = make_job(label_config=config, rows=[], publish=False)
    for name, data in files:
        add_items(job.owner, job, [UploadedFile(name, data)], media_root=Path(app.config["MEDIA_ROOT"]))
    db.session.commit()
    return job, items_of(db, job)


def decide(db, item: Item, consensus: dict, confidence: float) -> None:
    item.consensus, item.confidence = consensus, confidence
    db.session.commit()


def add_answer(db, item: Item, worker, values: dict, status=AnswerStatus.ACCEPTED) -> Answer:
    spec = job_spec(item.job)
    assignment = Assignment(item_id=item.id, job_id=item.job_id, worker_id=worker.id,
                            status=AssignmentStatus.SUBMITTED, lease_expires_at=utcnow())
    db.session.add(assignment)
    db.session.flush()
    answer = Answer(assignment_id=assignment.id, item_id=item.id, job_id=item.job_id, worker_id=worker.id,
                    result=result_from_values(spec, values), choices=values, active_ms=1500, elapsed_ms=1500,
                    status=status)
    db.session.add(answer)
    item.n_answers += 1
    db.session.commit()
    return answer


def run(job, fmt: str, **kwargs) -> bytes:
    return b"".join(export_job(job.owner, job, fmt, **kwargs).chunks)


def unzip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


@pytest.fixture
def image_job(db, app, make_job):
    """Two images (200×100 and 64×48) both uploaded as `a.png`, decided with boxes, polygons and
    key points (a label placed twice on the second)."""
    job, items = media_job(db, app, make_job, BOX_CONFIG, [("a.png", png(200, 100)), ("a.png", png(64, 48, (1, 2, 3)))])
    first, second = items
    decide(db, first, {
        "box": [{"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0, "label": "cat"},
                {"x": 50.0, "y": 5.5, "width": 25.25, "height": 50.0, "label": "dog"}],
        "shape": [{"points": [[10.0, 10.0], [60.0, 10.0], [60.0, 90.0], [10.0, 90.0]], "label": "road"}],
        "point": [{"x": 25.0, "y": 50.0, "label": "nose"}],
    }, 0.875)
    decide(db, second, {
        "box": [], "shape": [{"points": [[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]], "label": "cat"}],
        "point": [{"x": 10.0, "y": 10.0, "label": "eye"}, {"x": 90.0, "y": 90.0, "label": "eye"},
                  {"x": 50.0, "y": 50.0, "label": "nose"}],
    }, 0.5)
    return job, items


def signer_for(app, **kwargs) -> MediaSigner:
    return MediaSigner(app.config["SECRET_KEY"], app.config["PUBLIC_URL"] + "/media/signed", **kwargs)


# --- which formats fit which job ----------------------------------------------------------------

@pytest.mark.parametrize("config, expected", [
    (TEXT_CHOICES, ["json", "json-min", "csv", "hf"]),
    (BOX_CONFIG, ["json", "json-min", "csv", "hf", "coco", "yolo", "yolo-seg", "voc"]),
    (NER_CONFIG, ["json", "json-min", "csv", "hf", "conll"]),
    (ASR_CONFIG, ["json", "json-min", "csv", "hf", "asr"]),
    ("""<View><Image name="i" value="$i"/><KeyPointLabels name="k" toName="i"><Label value="a"/>
        </KeyPointLabels></View>""", ["json", "json-min", "csv", "hf", "coco"]),
])
def test_formats_follow_the_config(config, expected):
    found = formats_for(parse_label_config(config), job_id=7)
    assert [f for f, _, _ in found] == expected
    names = {f: filename for f, _, filename in found}
    assert names["json"] == "fairlabel-job-7.json" and names["csv"] == "fairlabel-job-7.csv"
    assert set(expected) <= set(FORMATS)


def test_a_format_that_does_not_fit_says_what_it_needs(db, make_job, login):
    job = make_job(label_config=TEXT_CHOICES, n_items=1, publish=False)
    with pytest.raises(InvalidInput, match="COCO export needs an Image object with boxes"):
        export_job(job.owner, job, "coco")
    with pytest.raises(InvalidInput, match="CoNLL-2003 .BIO. export needs text spans"):
        export_job(job.owner, job, "conll")
    with pytest.raises(InvalidInput, match="ASR manifest .NeMo JSONL. export needs an Audio object with a TextArea"):
        export_job(job.owner, job, "asr")
    client = login(job.owner)
    response = client.get(f"/jobs/{job.id}/export.yolo")
    assert response.status_code == 400 and "needs an Image object with boxes" in response.get_data(as_text=True)
    assert client.get(f"/jobs/{job.id}/export.xml").status_code == 400


# --- COCO ---------------------------------------------------------------------------------------

def test_coco_reads_back_through_pycocotools(db, app, image_job, tmp_path):
    from pycocotools.coco import COCO

    job, (first, second) = image_job
    archive = unzip(run(job, "coco", media=True, media_root=app.config["MEDIA_ROOT"]))
    assert sorted(archive.namelist()) == ["annotations.json", "images/a-2.png", "images/a.png"]
    assert Image.open(io.BytesIO(archive.read("images/a-2.png"))).size == (64, 48)
    (tmp_path / "annotations.json").write_bytes(archive.read("annotations.json"))
    coco = COCO(str(tmp_path / "annotations.json"))

    cats = {c["name"]: c for c in coco.loadCats(coco.getCatIds())}
    assert list(cats) == ["cat", "dog", "road", "point"]  # "cat" shared by boxes and polygons
    assert cats["point"]["keypoints"] == ["nose", "eye"]
    images = {i["file_name"]: i for i in coco.loadImgs(coco.getImgIds())}
    assert {n: (i["width"], i["height"], i["fairlabel_item_id"]) for n, i in images.items()} == {
        "a.png": (200, 100, first.id), "a-2.png": (64, 48, second.id)}

    anns = coco.loadAnns(coco.getAnnIds(imgIds=[images["a.png"]["id"]]))
    boxes = sorted((coco.cats[a["category_id"]]["name"], a["bbox"]) for a in anns if not a["segmentation"]
                   and "keypoints" not in a)
    assert boxes == [("cat", [20.0, 20.0, 60.0, 40.0]), ("dog", [100.0, 5.5, 50.5, 50.0])]
    assert all(a["score"] == 0.875 and a["iscrowd"] == 0 for a in anns)
    road = next(a for a in anns if a["segmentation"])
    assert road["segmentation"] == [[20.0, 10.0, 120.0, 10.0, 120.0, 90.0, 20.0, 90.0]]
    assert road["area"] == 100 * 80 and road["bbox"] == [20.0, 10.0, 100.0, 80.0]
    with warnings.catch_warnings():  # pycocotools' C code predates NumPy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        mask = coco.annToMask(road)
    assert mask.shape == (100, 200) and abs(int(mask.sum()) - road["area"]) <= 2 * (100 + 80)
    nose = next(a for a in anns if "keypoints" in a)
    assert nose["keypoints"] == [50.0, 50.0, 2, 0, 0, 0] and nose["num_keypoints"] == 1

    second_anns = coco.loadAnns(coco.getAnnIds(imgIds=[images["a-2.png"]["id"]]))
    points = sorted(a["keypoints"] for a in second_anns if "keypoints" in a)
    # The eye placed twice starts a second instance: no point is lost.
    assert points == [[0, 0, 0, 57.6, 43.2, 2], [32.0, 24.0, 2, 6.4, 4.8, 2]]
    triangle = next(a for a in second_anns if a["segmentation"])
    assert triangle["area"] == pytest.approx(32 * 24 / 2) and coco.cats[triangle["category_id"]]["name"] == "cat"


def test_coco_without_media_links_each_image(db, app, image_job):
    job, _ = image_job
    signer = signer_for(app)
    data = json.loads(unzip(run(job, "coco", signer=signer, media_root=app.config["MEDIA_ROOT"]))
                      .read("annotations.json"))
    assert all(i["coco_url"].startswith("http://localhost/media/signed/") for i in data["images"])
    assert len(data["annotations"]) == 7  # 2 boxes, 2 polygons, 3 key-point instances


def test_image_size_comes_from_the_file_when_the_upload_did_not_record_it(db, app, image_job):
    job, (first, _) = image_job
    data = dict(first.data)
    data.pop("_media", None)
    first.data = data
    db.session.commit()
    coco = json.loads(unzip(run(job, "coco", media_root=app.config["MEDIA_ROOT"])).read("annotations.json"))
    assert {(i["width"], i["height"]) for i in coco["images"]} == {(200, 100), (64, 48)}
    # Without the file, an image cannot be put in pixels: it is listed, not guessed.
    archive = unzip(run(job, "coco"))
    (skipped,) = archive.read("skipped.csv").decode().splitlines()[1:]
    assert skipped.startswith(f"{first.id},") and skipped.endswith(",image size unknown")


# --- YOLO and VOC -------------------------------------------------------------------------------

def read_yolo_boxes(text: str, names: list[str]) -> list[dict]:
    boxes = []
    for line in text.splitlines():
        cls, cx, cy, w, h = line.split()
        cx, cy, w, h = (float(v) * 100 for v in (cx, cy, w, h))
        boxes.append({"x": cx - w / 2, "y": cy - h / 2, "width": w, "height": h, "label": names[int(cls)]})
    return boxes


def test_yolo_labels_read_back_to_the_consensus_boxes(db, app, image_job):
    job, (first, second) = image_job
    archive = unzip(run(job, "yolo", media=True, media_root=app.config["MEDIA_ROOT"]))
    assert {"data.yaml", "classes.txt", "items.csv", "labels/a.txt", "labels/a-2.txt", "images/a.png",
            "images/a-2.png"} <= set(archive.namelist())
    yaml_text = archive.read("data.yaml").decode()
    assert "train: images" in yaml_text and 'nc: 2' in yaml_text
    names = [json.loads(m) for m in re.findall(r"^  \d+: (.*)$", yaml_text, re.M)]
    assert names == ["cat", "dog"] == archive.read("classes.txt").decode().split()
    got = read_yolo_boxes(archive.read("labels/a.txt").decode(), names)
    for mine, want in zip(got, first.consensus["box"], strict=True):
        assert mine["label"] == want["label"]
        assert all(abs(mine[k] - want[k]) < 1e-3 for k in ("x", "y", "width", "height"))
    assert archive.read("labels/a-2.txt") == b""  # decided: nothing here
    rows = list(csv.DictReader(io.StringIO(archive.read("items.csv").decode())))
    assert [(r["file_name"], int(r["item_id"]), float(r["confidence"])) for r in rows] == [
        ("a.png", first.id, 0.875), ("a-2.png", second.id, 0.5)]


def test_yolo_segmentation_reads_back_to_the_consensus_polygons(db, app, image_job):
    job, (first, second) = image_job
    archive = unzip(run(job, "yolo-seg"))
    names = archive.read("classes.txt").decode().split()
    assert names == ["road", "cat"]
    for item, stem in ((first, "a"), (second, "a-2")):
        (line,) = archive.read(f"labels/{stem}.txt").decode().splitlines()
        cls, *coords = line.split()
        points = [[float(coords[i]) * 100, float(coords[i + 1]) * 100] for i in range(0, len(coords), 2)]
        (want,) = item.consensus["shape"]
        assert names[int(cls)] == want["label"]
        assert sum(points, []) == pytest.approx(sum(want["points"], []), abs=1e-3)
    assert "images/a.png" not in archive.namelist()  # media only when asked for


def test_voc_xml_reads_back_to_the_consensus_boxes(db, app, image_job):
    job, (first, _) = image_job
    archive = unzip(run(job, "voc", media=True, media_root=app.config["MEDIA_ROOT"]))
    assert {"Annotations/a.xml", "Annotations/a-2.xml", "images/a.png", "ImageSets/Main/default.txt"} <= set(
        archive.namelist())
    root = ET.fromstring(archive.read("Annotations/a.xml"))
    assert root.findtext("filename") == "a.png" and float(root.findtext("confidence")) == 0.875
    width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
    assert (width, height) == (200, 100)
    boxes = []
    for obj in root.iter("object"):
        xmin, ymin, xmax, ymax = (int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append({"label": obj.findtext("name"), "x": xmin / width * 100, "y": ymin / height * 100,
                      "width": (xmax - xmin) / width * 100, "height": (ymax - ymin) / height * 100})
    for mine, want in zip(boxes, first.consensus["box"], strict=True):
        assert mine["label"] == want["label"]
        assert abs(mine["x"] - want["x"]) <= 100 / width and abs(mine["y"] - want["y"]) <= 100 / height
        assert abs(mine["width"] - want["width"]) <= 200 / width and abs(mine["height"] - want["height"]) <= 200 / height
    assert len(list(ET.fromstring(archive.read("Annotations/a-2.xml")).iter("object"))) == 0


# --- CoNLL --------------------------------------------------------------------------------------

def read_conll(text: str) -> list[list[tuple[str, str]]]:
    lines = text.split("\n")
    assert lines[0] == "-DOCSTART- -X- -X- O" and lines[1] == ""
    documents, current = [], []
    for line in lines[2:]:
        if not line:
            if current:
                documents.append(current)
            current = []
            continue
        token, pos, chunk, tag = line.split(" ")
        assert (pos, chunk) == ("-X-", "_")
        current.append((token, tag))
    return documents


def spans_from_tags(text: str, tokens: list[tuple[str, str]]) -> list[dict]:
    """Align the tokens to the text again (they are its non-space characters, in order) and
    rebuild the spans from the B-/I- tags."""
    spans, cursor = [], 0
    for token, tag in tokens:
        start = text.index(token, cursor)
        assert not text[cursor:start].strip(), "a token skipped text"
        cursor = start + len(token)
        if tag.startswith("B-"):
            spans.append({"start": start, "end": cursor, "label": tag[2:]})
        elif tag.startswith("I-"):
            assert spans and spans[-1]["label"] == tag[2:]
            spans[-1]["end"] = cursor
    assert not text[cursor:].strip()
    return spans


CONLL_CASES = [
    # Chinese without spaces; 北京 and 张伟 sit inside runs of other characters.
    ("张伟昨天去了北京大学。", [{"start": 0, "end": 2, "label": "PER"}, {"start": 6, "end": 8, "label": "LOC"}]),
    # Japanese: kana and kanji, a span ending inside a katakana run.
    ("東京タワーに行きました", [{"start": 0, "end": 4, "label": "LOC"}]),
    # A boundary inside an English word, and adjacent spans of the same label.
    ("unhappy NewYork Ada Bob", [{"start": 2, "end": 7, "label": "ORG"}, {"start": 8, "end": 11, "label": "LOC"},
                                 {"start": 16, "end": 19, "label": "PER"}, {"start": 20, "end": 23, "label": "PER"}]),
    # An emoji (one code point, two UTF-16 units) right before a span, and punctuation.
    ("🎉Paris, France!", [{"start": 1, "end": 6, "label": "LOC"}, {"start": 8, "end": 14, "label": "LOC"}]),
    ("Dr.Ada Lovelace (1815)", [{"start": 3, "end": 15, "label": "PER"}]),
]


@pytest.mark.parametrize("text, spans", CONLL_CASES)
def test_bio_tags_give_back_exactly_the_spans(text, spans):
    tokens, unwritten = bio(text, spans)
    assert unwritten == 0
    assert spans_from_tags(text, tokens) == spans
    assert "".join(t for t, _ in tokens) == re.sub(r"\s", "", text)


def test_tokenizer_splits_cjk_per_character_and_other_scripts_by_words():
    text = "我爱Python和東京! ça va?"
    assert [text[s:e] for s, e in tokenize(text)] == ["我", "爱", "Python", "和", "東", "京", "!", "ça", "va", "?"]


def test_spans_bio_cannot_hold_are_counted_not_hidden():
    tokens, unwritten = bio("a b", [{"start": 1, "end": 2, "label": "X"}])  # whitespace only
    assert tokens == [("a", "O"), ("b", "O")] and unwritten == 1
    _, overlapping = bio("abcdef", [{"start": 0, "end": 4, "label": "X"}, {"start": 2, "end": 6, "label": "Y"}])
    assert overlapping == 1


def test_conll_export_rebuilds_the_consensus_spans(db, make_job):
    job = make_job(label_config=NER_CONFIG, rows=[{"text": t} for t, _ in CONLL_CASES] + [{"text": "undecided"}],
                   publish=False)
    items = items_of(db, job)
    for (_, spans), item, confidence in zip(CONLL_CASES, items, (0.9, 0.8, 0.7, 0.6, 0.5), strict=False):
        decide(db, item, {"ner": spans, "topic": ["news"]}, confidence)
    archive = unzip(run(job, "conll"))
    assert sorted(archive.namelist()) == ["items.csv", "ner.conll"]
    documents = read_conll(archive.read("ner.conll").decode())
    assert len(documents) == len(CONLL_CASES)  # the undecided item is not a training example
    for (text, spans), tokens in zip(CONLL_CASES, documents, strict=True):
        assert spans_from_tags(text, tokens) == spans
    rows = list(csv.DictReader(io.StringIO(archive.read("items.csv").decode())))
    assert [(int(r["item_id"]), float(r["confidence"]), r["unwritten"]) for r in rows] == [
        (item.id, c, "0") for item, c in zip(items, (0.9, 0.8, 0.7, 0.6, 0.5), strict=False)]


# --- ASR manifest -------------------------------------------------------------------------------

def test_asr_manifest_with_and_without_audio(db, app, make_job, client):
    job, items = media_job(db, app, make_job, ASR_CONFIG, [("hello.wav", wav(1.5)), ("hello.wav", wav(0.25))])
    decide(db, items[0], {"transcript": "hello world"}, 0.75)  # the second is undecided
    lines = [json.loads(line) for line in run(job, "asr", signer=signer_for(app)).decode().splitlines()]
    assert len(lines) == 1
    (line,) = lines
    assert (line["duration"], line["text"], line["confidence"], line["item_id"]) == (1.5, "hello world", 0.75,
                                                                                    items[0].id)
    assert line["audio_filepath"].startswith("http://localhost/media/signed/")
    with client.get(line["audio_filepath"].removeprefix("http://localhost")) as served:
        assert served.status_code == 200 and served.data[:4] == b"RIFF"

    export = export_job(job.owner, job, "asr", media=True, media_root=app.config["MEDIA_ROOT"])
    assert export.filename.endswith(".zip") and export.mimetype == "application/zip"
    archive = unzip(b"".join(export.chunks))
    (entry,) = [json.loads(x) for x in archive.read("manifest.jsonl").decode().splitlines()]
    assert entry["audio_filepath"] == "audio/hello.wav"
    with wave.open(io.BytesIO(archive.read(entry["audio_filepath"]))) as audio:
        assert audio.getnframes() / audio.getframerate() == entry["duration"]


# --- Hugging Face -------------------------------------------------------------------------------

@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def load_both(folder: Path):
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's own deprecations are not ours to fix
        by_card = load_dataset(str(folder), cache_dir=str(folder.parent / "c1"))["train"]
        by_file = load_dataset("json", data_files=str(folder / "data" / "train.jsonl"),
                               cache_dir=str(folder.parent / "c2"))["train"]
    return by_card, by_file


def test_hf_dataset_loads_with_datasets(db, make_user, make_job, hf_offline):
    job = make_job(label_config=NER_CONFIG, rows=[{"text": "Ada went to Lisbon", "source": "a"},
                                                  {"text": "北京很好", "source": {"nested": 1}},
                                                  {"text": "not yet"}], publish=False)
    first, second, _ = items_of(db, job)
    decide(db, first, {"ner": [{"start": 0, "end": 3, "label": "PER"}, {"start": 12, "end": 18, "label": "LOC"}],
                       "topic": ["news"], "quality": 4, "score": 7, "note": "fine"}, 0.9)
    decide(db, second, {"ner": [{"start": 0, "end": 2, "label": "LOC"}], "topic": ["chat"], "quality": 2,
                        "score": 2.5}, 0.6)
    worker = make_user()
    add_answer(db, first, worker, {"ner": [{"start": 0, "end": 3, "label": "PER"}], "topic": ["news"],
                                   "quality": 4, "score": 7})
    folder = hf_offline / "dataset"
    unzip(run(job, "hf")).extractall(folder)
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "license: other" in card and "path: data/train.jsonl" in card
    by_card, by_file = load_both(folder)
    assert by_card.num_rows == by_file.num_rows == 3
    features = by_card.features
    assert features["ner"].feature["start"].dtype == "int64" and features["score"].dtype == "float64"
    assert features["source"].dtype == "string" and features["confidence"].dtype == "float64"
    row = by_card[0]
    assert row["item_id"] == first.id and row["topic"] == ["news"] and row["quality"] == 4 and row["score"] == 7.0
    assert row["ner"] == [{"start": 0, "end": 3, "label": "PER", "text": "Ada"},
                          {"start": 12, "end": 18, "label": "LOC", "text": "Lisbon"}]
    assert row["confidence"] == 0.9 and row["answers"][0]["worker_id"] == worker.id
    assert json.loads(row["answers"][0]["values"])["quality"] == 4
    assert by_card[1]["source"] == '{"nested":1}' and by_card[1]["note"] is None
    assert by_card[2]["ner"] is None and by_card[2]["confidence"] is None
    assert [r["item_id"] for r in by_file] == [r["item_id"] for r in by_card]


def test_hf_dataset_of_an_image_job_with_the_images(db, app, image_job, hf_offline):
    job, (first, _) = image_job
    folder = hf_offline / "images-dataset"
    unzip(run(job, "hf", media=True, media_root=app.config["MEDIA_ROOT"])).extractall(folder)
    by_card, _ = load_both(folder)
    row = by_card[0]
    assert row["image"] == "images/a.png" and (folder / row["image"]).is_file()
    assert row["shape"][0]["points"] == first.consensus["shape"][0]["points"]
    assert row["box"][1]["width"] == 25.25 and row["point"][0]["label"] == "nose"


# --- JSON, JSON-min, CSV and signed media links ----------------------------------------------------

def test_json_min_and_csv_are_readable(db, make_job, make_user):
    job = make_job(label_config=NER_CONFIG, rows=[{"text": "Ada in Oslo", "topic": "clash"}], publish=False)
    (item,) = items_of(db, job)
    decide(db, item, {"ner": [{"start": 0, "end": 3, "label": "PER"}], "topic": ["news"], "quality": 5,
                      "score": 1.5, "note": "ok"}, 0.66)
    add_answer(db, item, make_user(), {"topic": ["news"], "ner": [], "quality": 5, "score": 1.5})
    (row,) = json.loads(run(job, "json-min"))
    assert row == {"item_id": item.id, "text": "Ada in Oslo", "data.topic": "clash",
                   "ner": [{"start": 0, "end": 3, "label": "PER", "text": "Ada"}], "topic": "news",
                   "quality": 5, "score": 1.5, "note": "ok", "confidence": 0.66, "n_answers": 1}
    (cells,) = csv.DictReader(io.StringIO(run(job, "csv").decode()))
    assert cells["topic"] == "news" and cells["data.topic"] == "clash" and cells["quality"] == "5"
    assert json.loads(cells["ner"]) == [{"start": 0, "end": 3, "label": "PER"}] and cells["confidence"] == "0.6600"
    assert json.loads(cells["answers"])[0]["choices"]["topic"] == ["news"]
    (task,) = json.loads(run(job, "json"))
    assert task["predictions"][0]["score"] == 0.66
    assert {r["from_name"] for r in task["predictions"][0]["result"]} == {"ner", "topic", "quality", "score", "note"}


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_escaped(db, make_job):
    job = make_job(label_config=NER_CONFIG, rows=[{"text": "=1+2", "topic": "@SUM(A1)"}], publish=False)
    (item,) = items_of(db, job)
    decide(db, item, {"ner": [], "topic": ["news"], "quality": 5, "score": -3,
                      "note": '=HYPERLINK("https://evil.example","click")'}, 0.5)
    (cells,) = csv.DictReader(io.StringIO(run(job, "csv").decode()))
    assert cells["note"] == '\'=HYPERLINK("https://evil.example","click")'
    assert cells["text"] == "'=1+2" and cells["data.topic"] == "'@SUM(A1)"
    assert cells["score"] == "-3"  # a number is not a formula
    (row,) = json.loads(run(job, "json-min"))
    assert row["note"].startswith("=HYPERLINK")  # JSON is data, not a spreadsheet: left as written


def test_json_formats_link_media_with_signed_urls_that_open_without_login(db, app, image_job, client):
    job, (first, _) = image_job
    signer = signer_for(app)
    (task, _) = json.loads(run(job, "json", signer=signer))
    (row, _) = json.loads(run(job, "json-min", signer=signer))
    cells = next(csv.DictReader(io.StringIO(run(job, "csv", signer=signer).decode())))
    assert "_media" not in row and "_media" not in cells
    for url in (task["data"]["image"], row["image"], cells["image"]):
        assert url.startswith("http://localhost/media/signed/")
        stored = Path(app.config["MEDIA_ROOT"]) / str(job.id) / Path(first.data["image"]).name
        with client.get(url.removeprefix("http://localhost")) as served:  # an anonymous client
            assert served.status_code == 200 and served.data == stored.read_bytes()
            assert served.headers["Cache-Control"] == "no-store"


def test_expired_and_forged_media_links_are_refused(db, app, image_job, client):
    job, (first, _) = image_job
    name = Path(first.data["image"]).name
    secret = app.config["SECRET_KEY"]
    expired = sign_media_token(secret, job.id, name, expires_in=60, now=1_000_000)
    assert client.get(f"/media/signed/{expired}").status_code == 403
    assert read_media_token(secret, expired, now=1_000_059) == (job.id, name)
    forged = sign_media_token("another secret", job.id, name)
    assert client.get(f"/media/signed/{forged}").status_code == 404
    valid = sign_media_token(secret, job.id, name)
    assert client.get(f"/media/signed/{valid[:-2]}xx").status_code == 404
    assert client.get(f"/media/signed/{sign_media_token(secret, job.id, '../../etc/passwd')}").status_code == 404
    assert client.get(f"/media/signed/{sign_media_token(secret, job.id + 1, name)}").status_code == 404
    assert client.get("/media/signed/" + "a" * 2000).status_code == 404
    with client.get(f"/media/signed/{valid}") as served:
        assert served.status_code == 200


def test_an_archive_keeps_no_memory_per_member_and_reads_back_past_the_zip64_count(tmp_path):
    """70,000 members (more than a plain zip's 65,535) through ZipStream: traced memory after the
    last is what it was after the first thousand, give or take (zipfile's own list of ZipInfo
    would hold ~0.4 KB each, 27 MB here), and zipfile reads every member back."""
    import tracemalloc

    from annotation.exports.archive import ZipStream

    archive, out = ZipStream(), (tmp_path / "many.zip").open("wb")
    tracemalloc.start()
    try:
        for i in range(70_000):
            for chunk in archive.small(f"labels/{i:08d}.txt", f"0 0.5 0.5 0.{i % 9 + 1} 0.1\n"):
                out.write(chunk)
            if i == 1_000:
                after_first_thousand = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - after_first_thousand
        for chunk in archive.close():
            out.write(chunk)
    finally:
        tracemalloc.stop()
        out.close()
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MiB kept for 69,000 members"
    with zipfile.ZipFile(tmp_path / "many.zip") as read:
        names = read.namelist()
        assert len(names) == 70_000 and names[0] == "labels/00000000.txt" and names[-1] == "labels/00069999.txt"
        assert read.read("labels/00012345.txt") == b"0 0.5 0.5 0.7 0.1\n"
        assert read.testzip() is None


def test_media_names_stay_unique_case_insensitively_with_one_lookup_per_repeat(db, make_job):
    from annotation.exports.common import MediaNames

    namer = MediaNames()
    assert [namer._unique(s) for s in ["a", "A", "a", "a-2", "a", "b", "a-4", "a"]] == [
        "a", "A-2", "a-3", "a-2-2", "a-4", "b", "a-4-2", "a-5"]
    assert len({namer._unique("photo").lower() for _ in range(5_000)}) == 5_000


# --- the route, the manifest and the CLI ---------------------------------------------------------

def test_the_job_page_offers_every_format_that_fits_and_each_link_downloads(db, app, image_job, make_job, login):
    import html as html_module

    job, _ = image_job
    client = login(job.owner)
    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    section = page[page.index('id="exports"'):page.index("</p>", page.index('id="exports"'))]
    links = [html_module.unescape(h) for h in re.findall(r'href="([^"]+)"', section)]
    assert {link.split("/export.")[1] for link in links} == {
        "json", "json-min", "csv", "hf", "hf?media=1", "coco", "coco?media=1", "yolo", "yolo?media=1",
        "yolo-seg", "yolo-seg?media=1", "voc", "voc?media=1"}
    for link in links:
        with client.get(link) as response:
            assert response.status_code == 200, link
    text_job = make_job(owner=job.owner, label_config=NER_CONFIG, rows=[{"text": "Ada in Oslo"}], publish=False)
    page = client.get(f"/jobs/{text_job.id}").get_data(as_text=True)
    section = page[page.index('id="exports"'):page.index("</p>", page.index('id="exports"'))]
    assert "CoNLL-2003" in section and "COCO" not in section and "media=1" not in section


def test_route_streams_a_download_and_adds_the_manifest_on_request(db, app, image_job, login):
    job, _ = image_job
    client = login(job.owner)
    response = client.get(f"/jobs/{job.id}/export.coco?media=1")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"] == f'attachment; filename="fairlabel-job-{job.id}.coco.zip"'
    assert "images/a.png" in unzip(response.data).namelist()
    with_manifest = unzip(client.get(f"/jobs/{job.id}/export.coco?manifest=1").data)
    assert json.loads(with_manifest.read("manifest.json"))["format"] == "fairlabel-manifest-v1"
    csv_zip = client.get(f"/jobs/{job.id}/export.csv?manifest=1")
    assert csv_zip.headers["Content-Disposition"].endswith(f'fairlabel-job-{job.id}.csv.zip"')
    archive = unzip(csv_zip.data)
    assert sorted(archive.namelist()) == [f"fairlabel-job-{job.id}.csv", "manifest.json"]
    assert archive.read(f"fairlabel-job-{job.id}.csv").startswith(b"item_id,image,")


@pytest.mark.parametrize("fmt", ["json", "json-min", "csv", "hf", "coco", "yolo", "yolo-seg", "voc"])
def test_cli_writes_every_format(db, app, image_job, runner, tmp_path, fmt):
    job, _ = image_job
    out, manifest = tmp_path / f"out.{fmt}", tmp_path / "manifest.json"
    result = runner.invoke(args=["annotation", "export", str(job.id), "--format", fmt, "--out", str(out),
                                 "--media", "--manifest", str(manifest)])
    assert result.exit_code == 0, result.output
    assert json.loads(manifest.read_text())["job_id"] == job.id
    if zipfile.is_zipfile(out):
        names = unzip(out.read_bytes()).namelist()
        assert fmt in ("hf", "coco", "yolo", "yolo-seg", "voc") and any(n.endswith("a-2.png") for n in names)
    else:
        assert fmt in ("json", "json-min", "csv") and b"http://localhost/media/signed/" in out.read_bytes()
    refused = runner.invoke(args=["annotation", "export", str(job.id), "--format", "conll"])
    assert refused.exit_code == 1 and "needs text spans" in refused.output


# --- memory stays bounded -------------------------------------------------------------------------

@pytest.mark.parametrize("own_transactions", [False, True])
@pytest.mark.parametrize("fmt", ["json", "csv", "hf", "conll"])
def test_exports_stream_chunk_by_chunk(db, make_job, monkeypatch, fmt, own_transactions):
    """The first bytes leave before most rows are read: the export never holds the job. Read in
    transactions of their own (as the route and CLI do), the chunks leave none open."""
    from sqlalchemy import event

    job = make_job(label_config=NER_CONFIG, rows=[{"text": f"Ada number {i}"} for i in range(40)], publish=False)
    for item in items_of(db, job):
        item.consensus, item.confidence = {"ner": [{"start": 0, "end": 3, "label": "PER"}], "topic": ["news"]}, 0.5
    db.session.commit()
    monkeypatch.setattr(exports, "FLUSH_BYTES", 1)
    monkeypatch.setattr("annotation.exports.archive.CHUNK_BYTES", 1)
    reads: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM item" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        chunks = export_job(job.owner, job, fmt, chunk_size=5, own_transactions=own_transactions).chunks
        if own_transactions:
            db.session.rollback()
        next(chunks)
        if own_transactions:
            assert not db.session().in_transaction()
        first = len(reads)
        rest = b"".join(chunks)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert rest
    passes = 2 if fmt in ("csv", "hf") else 1  # csv and hf read the data keys first
    assert len(reads) >= passes * 8  # 40 items, 5 a chunk
    assert first <= (passes - 1) * 9 + 1, f"{first} chunks read before the first byte"
