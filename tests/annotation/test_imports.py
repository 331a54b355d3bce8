"""Uploads: rows and media, imported whole or not at all."""
import io
import json
import zipfile
from pathlib import Path

import pytest

from annotation.errors import Conflict, InvalidUpload
from annotation.imports import UploadedFile, UploadLimits, import_upload
from annotation.models import Item
from app.demo import IMAGE_CONFIG, shape_png, tone_wav
from app.extensions import db as db_


@pytest.fixture
def draft(make_job):
    return make_job(rows=[], publish=False)


def _upload(app, job, *files, **kwargs):
    """Import into `job` (a fresh one in these tests); the job's items, in upload order."""
    added = import_upload(job.owner, job, [UploadedFile(n, d) for n, d in files],
                          media_root=app.config["MEDIA_ROOT"], **kwargs)
    items = db_.session.scalars(db_.select(Item).where(Item.job_id == job.id).order_by(Item.id)).all()
    assert added == len(items) == job.n_items
    return items


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
    ("a.csv", b"text\nok\n\"\n", "a.csv: line 3: a quoted cell starts here and its closing quote is missing"),
    ("a.csv", b"text\n\"two\nlines\"\n", None),
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


# --- Issue #9 §3: uploads blow up memory and disk ---------------------------------------------------

def _zip(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return out.getvalue()


def _padded_png(seed: int, size: int) -> bytes:
    """A real PNG followed by zeros: an image check passes, only the size limit can refuse it."""
    png = shape_png("circle", seed)
    return png + bytes(size - len(png))


def _leftovers(app, job) -> list[str]:
    root = Path(app.config["MEDIA_ROOT"])
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_zip_cap_is_per_upload_not_per_zip(app, db, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    limits = UploadLimits(max_inflated_bytes=2**20)
    packs = [(f"pack{i}.zip", _zip((f"{i}.png", _padded_png(i, 600 * 1024)))) for i in range(2)]
    assert all(len(data) < 64 * 1024 for _, data in packs)  # each zip alone is small and under the cap
    with pytest.raises(InvalidUpload, match=r"pack1\.zip: the upload holds more than 1 MiB once unzipped"):
        _upload(app, job, *packs, limits=limits)
    db.session.rollback()
    assert _count(db, job) == 0 and _leftovers(app, job) == []
    assert len(_upload(app, job, packs[0], limits=limits)) == 1  # one of them fits


def test_inflated_cap_counts_plain_files_and_zip_members_together(app, db, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    with pytest.raises(InvalidUpload, match="more than 1 MiB once unzipped"):
        _upload(app, job, ("a.png", _padded_png(1, 700 * 1024)),
                ("pack.zip", _zip(("b.png", _padded_png(2, 400 * 1024)))),
                limits=UploadLimits(max_inflated_bytes=2**20))
    db.session.rollback()
    assert _leftovers(app, job) == []


def test_zip_member_cap_is_per_upload(app, db, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    packs = [(f"p{i}.zip", _zip(*[(f"{i}-{n}.png", shape_png("circle", n)) for n in range(2)])) for i in range(2)]
    with pytest.raises(InvalidUpload, match="zips hold more than 3 files"):
        _upload(app, job, *packs, limits=UploadLimits(max_zip_members=3))


def _row_file(name: str, n: int, tail: bytes = b"") -> bytes:
    if name.endswith(".csv"):
        return b"text\n" + b"".join(b"row %d\n" % i for i in range(n)) + tail
    if name.endswith(".jsonl"):
        return b"".join(b'{"text": "row %d"}\n' % i for i in range(n)) + tail
    return b"[" + b", ".join(b'{"text": "row %d"}' % i for i in range(n)) + (tail or b"]")


@pytest.mark.parametrize("name, tail", [
    ("rows.csv", b"\xff\xfe not UTF-8\n"),
    ("rows.jsonl", b"{broken\n"),
    ("rows.json", b', {"text": ]'),
])
def test_item_cap_stops_reading_rows_at_the_cap(app, db, draft, name, tail):
    """Reading stops at the cap: the broken line after it is never reached, so the cap is what
    the requester is told (a fully parsed 1M-row file used to cost +441 MiB before the refusal)."""
    limits = UploadLimits(max_items=10)
    with pytest.raises(InvalidUpload, match="at most 10 items; this one has more") as caught:
        _upload(app, draft, (name, _row_file(name, 11, tail)), limits=limits)
    assert "UTF-8" not in caught.value.message and "JSON" not in caught.value.message
    assert len(_upload(app, draft, (name, _row_file(name, 10)), limits=limits)) == 10


def test_item_cap_counts_every_file_of_the_upload(app, db, draft):
    with pytest.raises(InvalidUpload, match=r"at most 10 items; this one has more \(reading stopped at b\.csv: line 6\)"):
        _upload(app, draft, ("a.jsonl", _row_file("a.jsonl", 6)), ("b.csv", _row_file("b.csv", 6)),
                limits=UploadLimits(max_items=10))


@pytest.mark.parametrize("value, fragment", [
    (b"NaN", "NaN is not a number"),
    (b"-Infinity", "-Infinity is not a number"),
    (b"1e400", "too large a number"),
    (b"9" * 5000, "5000 digits is too long"),
    (b"[" * 50_000 + b"]" * 50_000, "nesting deeper than 64 levels"),
    (b'"nul \\u0000 inside"', "NUL character"),
])
def test_uploaded_rows_with_nan_infinity_huge_ints_or_deep_nesting_are_refused_with_the_line(
        app, db, draft, value, fragment):
    body = b'{"text": "fine"}\n{"text": ' + value + b"}\n"
    with pytest.raises(InvalidUpload) as caught:
        _upload(app, draft, ("rows.jsonl", body))
    assert "rows.jsonl: line 2" in caught.value.message and fragment in caught.value.message
    assert caught.value.details["line"] == 2
    with pytest.raises(InvalidUpload, match=fragment):
        _upload(app, draft, ("rows.json", b'[{"text": ' + value + b"}]"))
    db.session.rollback()
    assert _count(db, draft) == 0


@pytest.mark.parametrize("name, body, where", [
    ("rows.jsonl", b'{"text": "ok"}\n{"text": "ok"}\n{"text": "bad \\ud800 text"}\n', "rows.jsonl: line 3"),
    ("rows.jsonl", b'{"text": "ok", "\\udfff": 1}\n', "rows.jsonl: line 1"),
    ("rows.json", b'[{"text": "ok"}, {"data": {"text": "\\ud800"}}]', "rows.json: item 2"),
    ("rows.csv", "text\nok\nbad \udcff\n".encode("utf-8", "surrogatepass"), "rows.csv: line 3 is not UTF-8"),
])
def test_lone_surrogate_row_is_refused_with_its_line(app, db, draft, name, body, where):
    with pytest.raises(InvalidUpload) as caught:
        _upload(app, draft, (name, body))
    assert where in caught.value.message
    assert "surrogate" in caught.value.message or "UTF-8" in caught.value.message


def test_lone_surrogate_upload_leaves_the_job_page_and_export_working(db, make_job, login):
    job = make_job(rows=[{"text": "fine"}], publish=False)
    client = login(job.owner)
    refused = client.post(f"/jobs/{job.id}/items", data={
        "files": [(io.BytesIO(b'{"text": "ok"}\n{"text": "\\ud800"}\n'), "rows.jsonl")]},
        content_type="multipart/form-data")
    assert refused.status_code == 400
    assert "rows.jsonl: line 2: a string holds an unpaired surrogate" in refused.get_data(as_text=True)
    assert client.get(f"/jobs/{job.id}").status_code == 200
    assert client.get(f"/jobs/{job.id}/export.csv").status_code == 200
    assert _count(db, job) == 1


@pytest.mark.parametrize("body, line", [
    (b'text\nfirst\n"second\nthird\nfourth\n', 3),
    (b'text,source\nfirst,a\n"second,b\n', 3),
    (b'text\n"closed" then text\n', 2),
])
def test_csv_unterminated_quote_is_refused_with_its_line(app, db, draft, body, line):
    with pytest.raises(InvalidUpload) as caught:
        _upload(app, draft, ("rows.csv", body))
    assert f"rows.csv: line {line}:" in caught.value.message
    assert caught.value.details["line"] == line
    db.session.rollback()
    assert _count(db, draft) == 0


def test_csv_quoted_cells_may_still_span_lines(app, db, draft):
    items = _upload(app, draft, ("rows.csv", b'text,n\n"one\ntwo, three",1\nfour,2\n'))
    assert [i.data for i in items] == [{"text": "one\ntwo, three", "n": "1"}, {"text": "four", "n": "2"}]


def _tiff() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="TIFF")
    return out.getvalue()


@pytest.mark.parametrize("data, words", [
    (b"not an image", "the file is not a PNG, JPEG, GIF, WebP or BMP picture"),
    (shape_png("circle", 1)[:200], "the picture data is damaged or cut short"),
    (_tiff(), "the file is not a PNG, JPEG, GIF, WebP or BMP picture"),
])
def test_upload_errors_say_what_is_wrong_in_words_not_a_python_repr(app, make_job, data, words):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    with pytest.raises(InvalidUpload) as caught:
        _upload(app, job, ("cat.png", data))
    assert caught.value.message == f"cat.png: not a readable image — {words}."
    assert "<" not in caught.value.message and "0x" not in caught.value.message


def test_zip_members_that_are_damaged_or_encrypted_are_named(app, make_job):
    job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG)
    archive = bytearray(_zip(("a.png", _padded_png(1, 50_000))))
    start = archive.index(b"a.png") + len(b"a.png")  # the first member's data follows its name
    archive[start + 100:start + 140] = bytes(40)
    with pytest.raises(InvalidUpload, match=r"x\.zip: a\.png is damaged inside the zip"):
        _upload(app, job, ("x.zip", bytes(archive)))


def test_upload_files_may_be_streams_not_bytes(app, db, make_job):
    import tempfile

    job, text_job = make_job(rows=[], publish=False, label_config=IMAGE_CONFIG), make_job(rows=[], publish=False)
    media_root = app.config["MEDIA_ROOT"]
    with tempfile.SpooledTemporaryFile(max_size=10) as pack, tempfile.SpooledTemporaryFile(max_size=10) as rows:
        pack.write(_zip(("a.png", shape_png("circle", 1)), ("b.png", shape_png("square", 2))))
        rows.write(b'{"text": "x"}\n')
        assert import_upload(job.owner, job, [UploadedFile("pack.zip", pack)], media_root=media_root) == 2
        assert sorted(i.data["filename"] for i in db.session.scalars(db.select(Item))) == ["a.png", "b.png"]
        assert not list((Path(media_root) / ".incoming").iterdir())  # the scratch folder is gone
        assert import_upload(text_job.owner, text_job, [UploadedFile("r.jsonl", rows)], media_root=media_root) == 1
