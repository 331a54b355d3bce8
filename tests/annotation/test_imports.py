"""Uploads: rows and media, imported whole or not at all."""
import io
import json
import zipfile

import pytest

from annotation.errors import Conflict, InvalidUpload
from annotation.imports import UploadedFile, UploadLimits, import_upload
from annotation.models import Item
from app.demo import IMAGE_CONFIG, shape_png, tone_wav


@pytest.fixture
def draft(make_job):
    return make_job(rows=[], publish=False)


def _upload(app, job, *files, **kwargs):
    return import_upload(job.owner, job, [UploadedFile(n, d) for n, d in files],
                         media_root=app.config["MEDIA_ROOT"], **kwargs)


def _count(db, job):
    return db.session.scalar(db.select(db.func.count()).select_from(Item).where(Item.job_id == job.id))


def test_csv_json_and_jsonl_rows(app, db, draft):
    csv_body = b"text,source,_gold.sentiment\nfirst,a,positive\n\"second, with comma\",b,\n"
    json_body = json.dumps([{"text": "third"}, {"data": {"text": "fourth"}}]).encode()
    jsonl_body = b'{"text": "fifth", "_gold": {"sentiment": ["negative"]}}\n\n{"text": "sixth"}\n'
    items = _upload(app, draft, ("a.csv", csv_body), ("b.json", json_body), ("c.jsonl", jsonl_body))
    db.session.commit()
    assert [i.data["text"] for i in items] == ["first", "second, with comma", "third", "fourth", "fifth", "sixth"]
    assert items[0].data == {"text": "first", "source": "a"}
    assert items[0].gold == {"sentiment": ["positive"]} and items[1].gold is None
    assert items[4].gold == {"sentiment": ["negative"]}
    assert draft.n_items == 6 == _count(db, draft)


@pytest.mark.parametrize("name, body, fragment", [
    ("a.csv", b"text\nok\n\n", None),
    ("a.csv", b"title\nno text column\n", "a.csv: line 2: missing field 'text'"),
    ("a.csv", b"text\nok\n\"\n", None),
    ("a.csv", b"text\nfine\nbad,extra\n", "more cells than the header"),
    ("a.json", b'[{"text": "ok"}, {"text": ', "invalid JSON at line 1"),
    ("a.json", b'{"text": 1}'.replace(b"1", b'"x"') + b"x", "invalid JSON"),
    ("a.json", b'"just a string"', "expected a JSON list"),
    ("a.jsonl", b'{"text": "ok"}\n{"text": "ok"\n', "line 2 is not valid JSON"),
    ("a.jsonl", b'{"text": "ok"}\n[1, 2]\n', "item 2 is not an object"),
    ("a.jsonl", b'{"text": "ok", "_gold": {"sentiment": "maybe"}}\n', "not a valid answer"),
    ("a.csv", b"\xff\xfe\x00bad", "not UTF-8"),
    ("a.exe", b"MZ", "unsupported file type"),
    ("empty.csv", b"", "no header row"),
])
def test_bad_rows_import_nothing(app, db, draft, name, body, fragment):
    if fragment is None:  # the valid control case: proves the parametrization can pass
        assert len(_upload(app, draft, (name, body))) >= 1
        return
    good = ("good.jsonl", b'{"text": "would be fine"}\n')
    with pytest.raises(InvalidUpload) as caught:
        _upload(app, draft, good, (name, body))
    assert fragment in caught.value.message
    db.session.rollback()
    assert _count(db, draft) == 0


def test_image_files_and_zip(app, db, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("nested/dir/../b.png", shape_png("square", 2))
        zf.writestr("__MACOSX/._b.png", b"junk")
    items = _upload(app, job, ("a.png", shape_png("circle", 1)), ("pack.zip", archive.getvalue()))
    db.session.commit()
    assert [i.data["filename"] for i in items] == ["a.png", "b.png"]
    for item in items:
        assert item.data["image"].startswith(f"/media/{job.id}/")


def test_media_that_lies_about_its_type_is_refused(app, db, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    with pytest.raises(InvalidUpload, match="not a readable image"):
        _upload(app, job, ("ok.png", shape_png("circle", 1)), ("fake.png", b"not an image"))
    with pytest.raises(InvalidUpload, match="labels image files, not audio"):
        _upload(app, job, ("tone.wav", tone_wav(440)))
    with pytest.raises(InvalidUpload, match="not a valid zip"):
        _upload(app, job, ("x.zip", b"PK nope"))


def test_zip_limits(app, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(3):
            zf.writestr(f"{n}.png", shape_png("circle", n))
    with pytest.raises(InvalidUpload, match="more than 2 files"):
        _upload(app, job, ("x.zip", archive.getvalue()), limits=UploadLimits(max_zip_members=2))
    with pytest.raises(InvalidUpload, match="at most 2 items"):
        _upload(app, job, ("x.zip", archive.getvalue()), limits=UploadLimits(max_items=2))


def test_closed_job_takes_no_items(app, make_job):
    job = make_job(n_items=1)
    from annotation.jobs import close_job

    close_job(job.owner, job)
    with pytest.raises(Conflict):
        _upload(app, job, ("a.jsonl", b'{"text": "late"}'))


def test_upload_page_shows_the_error_and_keeps_nothing(db, make_job, login):
    job = make_job(rows=[], publish=False)
    client = login(job.owner)
    response = client.post(f"/jobs/{job.id}/items", data={
        "files": [(io.BytesIO(b'{"text": "ok"}\n'), "a.jsonl"), (io.BytesIO(b"{broken"), "b.jsonl")]},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "b.jsonl: line 1 is not valid JSON" in response.get_data(as_text=True)
    assert _count(db, job) == 0
    ok = client.post(f"/jobs/{job.id}/items", data={"files": [(io.BytesIO(b'{"text": "ok"}\n'), "a.jsonl")]},
                     content_type="multipart/form-data")
    assert ok.status_code == 302 and _count(db, job) == 1


def test_oversized_upload_is_413_not_500(app, make_job, login):
    job = make_job(rows=[], publish=False)
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = login(job.owner).post(f"/jobs/{job.id}/items", data={
        "files": [(io.BytesIO(b"x" * 4096), "big.csv")]}, content_type="multipart/form-data")
    assert response.status_code == 413 and "larger than" in response.get_data(as_text=True)
