"""Export every format of a large job through the route's own code, timing it and its peak memory.

Seeds three jobs (bulk inserts, as ledger_throughput.py does):
- text: N items (default 100,000) × 3 answers, each a span control (PER/LOC) and a single choice,
  decided; exported as json, json-min, csv, hf and conll;
- image: M images (default 100,000; tiny PNGs written to a scratch media root, `_media` recording
  their names and sizes, names repeating so they must be made unique) × 3 answers with boxes and
  a polygon; exported as coco, yolo, yolo-seg and voc, with the images in the archive;
- audio: K recordings (default 100,000 quarter-second WAVs) × 3 answers with a transcript; exported as
  asr (JSONL with signed links) and asr with the audio in a zip.

Each export runs in a child process of its own through `app.web.exports.build_export` (what
`/jobs/<id>/export.<fmt>` and `flask annotation export` call), written to a scratch file; the
child reports seconds, bytes, and its peak RSS (`ru_maxrss`) before and after exporting. Then the
output is checked (outside the timing and after RSS is read): JSON parses to N tasks, archives
pass `testzip`.

    .venv/bin/python bench/export_formats.py [--database URL] [--items 100000] [--images 100000]
        [--recordings 100000] [--only json,csv]

The database (default postgresql://postgres@127.0.0.1:5432/fl_export_bench; sqlite:///path works
too) has its schema dropped and recreated.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/fl_export_bench"
MEDIA_ROOT = Path(tempfile.gettempdir()) / "fl_export_bench_media"
TEXT_CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
<Choices name="topic" toName="text" choice="single"><Choice value="news"/><Choice value="chat"/></Choices></View>"""
IMAGE_CONFIG = """<View><Image name="image" value="$image"/>
<RectangleLabels name="box" toName="image"><Label value="cat"/><Label value="dog"/></RectangleLabels>
<PolygonLabels name="area" toName="image"><Label value="road"/></PolygonLabels></View>"""
AUDIO_CONFIG = """<View><Audio name="audio" value="$audio"/><TextArea name="transcript" toName="audio"/></View>"""
FORMATS = [("text", "json", False), ("text", "json-min", False), ("text", "csv", False), ("text", "hf", False),
           ("text", "conll", False), ("image", "coco", True), ("image", "yolo", True), ("image", "yolo-seg", False),
           ("image", "voc", True), ("audio", "asr", False), ("audio", "asr", True)]
BATCH = 10_000


def make_app(url: str):
    from app import create_app

    return create_app({"ENV": "testing", "TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                       "MEDIA_ROOT": str(MEDIA_ROOT), "PUBLIC_URL": "https://labels.example"})


def fresh_schema(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        engine.dispose()
    app = make_app(url)
    with app.app_context():
        from app.extensions import db

        db.create_all()
        db.engine.dispose()


def _png(width: int, height: int, seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (seed % 256, (seed * 7) % 256, 90)).save(out, "PNG")
    return out.getvalue()


def _wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return out.getvalue()


def _insert(db, model, rows, returning=True):
    ids = []
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        if returning:
            ids += db.session.scalars(sa.insert(model).returning(model.id, sort_by_parameter_order=True), chunk).all()
        else:
            db.session.execute(sa.insert(model), chunk)
    return ids


def seed_job(db, owner_id, worker_ids, kind: str, n: int) -> int:
    """One decided job of `n` items × 3 answers; returns its id."""
    from annotation.label_config import parse_label_config, result_from_values
    from annotation.models import (
        Answer,
        AnswerStatus,
        Assignment,
        AssignmentStatus,
        Item,
        Job,
        JobStatus,
    )
    from app.extensions import utcnow

    config = {"text": TEXT_CONFIG, "image": IMAGE_CONFIG, "audio": AUDIO_CONFIG}[kind]
    spec = parse_label_config(config)
    now = utcnow()
    job = Job(owner_id=owner_id, title=f"bench {kind}", label_config=config, reward=10, overlap=3,
              seconds_per_task=30, aggregation="dawid_skene", status=JobStatus.CLOSED, published_at=now,
              n_items=n)
    db.session.add(job)
    db.session.flush()
    rng = random.Random(7)
    folder = MEDIA_ROOT / str(job.id)
    folder.mkdir(parents=True, exist_ok=True)
    png, wav = _png(320, 240, 1), _wav(0.25)
    items, answers_of = [], []
    for i in range(n):
        if kind == "text":
            person = rng.choice(["Ada Lovelace", "Chen Wei", "Emeka Obi"])
            place = rng.choice(["Lisbon", "Nairobi", "北京"])
            text = f"{person} flew to {place} on day {i} of the trip."
            at = len(person) + len(" flew to ")
            value = {"ner": [{"start": 0, "end": len(person), "label": "PER"},
                             {"start": at, "end": at + len(place), "label": "LOC"}],
                     "topic": [rng.choice(["news", "chat"])]}
            data = {"text": text, "source": f"row-{i}"}
            variants = [value, value, {"ner": value["ner"][:1], "topic": ["chat"]}]
        elif kind == "image":
            name = f"{i:032x}.png"
            (folder / name).write_bytes(png)
            data = {"image": f"/media/{job.id}/{name}",
                    "_media": {"image": {"name": f"photo_{i % 1000}.png", "width": 320, "height": 240}}}
            x, y = rng.uniform(0, 50), rng.uniform(0, 50)
            value = {"box": [{"x": x, "y": y, "width": 20.0, "height": 30.0, "label": "cat"},
                             {"x": 60.0, "y": 10.0, "width": 25.5, "height": 40.25, "label": "dog"}],
                     "area": [{"points": [[5.0, 60.0], [95.0, 60.0], [95.0, 95.0], [5.0, 95.0]], "label": "road"}]}
            variants = [value, value, {"box": value["box"][:1], "area": value["area"]}]
        else:
            name = f"{i:032x}.wav"
            (folder / name).write_bytes(wav)
            data = {"audio": f"/media/{job.id}/{name}", "_media": {"audio": {"name": f"clip_{i % 500}.wav",
                                                                             "duration": 0.25}}}
            value = {"transcript": f"the quick brown fox number {i}"}
            variants = [value, value, {"transcript": f"the quick brown box number {i}"}]
        items.append({"job_id": job.id, "data": data, "n_taken": 3, "n_answers": 3, "is_complete": True,
                      "consensus": value, "confidence": round(rng.uniform(0.5, 1.0), 4), "completed_at": now})
        answers_of.append(variants)
    item_ids = _insert(db, Item, items)
    slots = [(item_id, worker_ids[k], answers_of[i][k]) for i, item_id in enumerate(item_ids) for k in range(3)]
    assignment_ids = _insert(db, Assignment, [
        {"item_id": item_id, "job_id": job.id, "worker_id": worker, "status": AssignmentStatus.SUBMITTED,
         "served_at": now, "lease_expires_at": now + dt.timedelta(minutes=15), "finished_at": now}
        for item_id, worker, _ in slots])
    _insert(db, Answer, [
        {"assignment_id": a, "item_id": item_id, "job_id": job.id, "worker_id": worker,
         "result": result_from_values(spec, values), "choices": values, "active_ms": 12_000, "elapsed_ms": 12_500,
         "submitted_at": now, "status": AnswerStatus.ACCEPTED, "decided_at": now}
        for a, (item_id, worker, values) in zip(assignment_ids, slots, strict=True)], returning=False)
    db.session.commit()
    return job.id


def seed(url: str, sizes: dict[str, int]) -> dict[str, int]:
    from app.identity.models import Role, User

    fresh_schema(url)
    app = make_app(url)
    with app.app_context():
        from app.extensions import db

        owner_id = db.session.execute(sa.insert(User).returning(User.id), [
            {"username": "bench-requester", "password_hash": "x", "role": Role.REQUESTER}]).scalar_one()
        worker_ids = db.session.scalars(sa.insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"username": f"bench-worker-{i}", "password_hash": "x", "role": Role.ANNOTATOR} for i in range(3)]).all()
        jobs = {kind: seed_job(db, owner_id, worker_ids, kind, n) for kind, n in sizes.items() if n}
        # Statistics, as autovacuum would gather soon after a bulk load (planned without them,
        # PostgreSQL picked a bitmap scan of every later item for each chunk of one job).
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return jobs


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> int:
    """The RSS now, in KiB, after resetting the peak to it (Linux: writing 5 to clear_refs resets
    VmHWM), so the peak read after the export is the export's own, not app start-up's. Where that
    is not possible, the start-up peak stays in and the export's share is over-, never under-stated."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        pass
    return _status_kib("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss() -> int:
    """Peak RSS in KiB since reset_peak_rss (or since start, where it could not reset)."""
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(url: str, job_id: int, fmt: str, media: bool) -> None:
    """Run one export; print one JSON line."""
    app = make_app(url)
    with app.app_context():
        from annotation.models import Job
        from app.extensions import db
        from app.web.exports import build_export

        job = db.session.get(Job, job_id)
        owner, n_items = job.owner, job.n_items
        base = reset_peak_rss()
        out = tempfile.NamedTemporaryFile(prefix="fl-export-", delete=False)
        started = time.perf_counter()
        export = build_export(app, owner, job, fmt, media=media)
        size = 0
        with out:
            for chunk in export.chunks:
                out.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
        peak = peak_rss()
        check = verify(out.name, fmt, export.mimetype, n_items)
        os.unlink(out.name)
    print(json.dumps({"seconds": seconds, "bytes": size, "base_kib": base, "peak_kib": peak, "items": n_items,
                      "check": check, "filename": export.filename}))


def verify(path: str, fmt: str, mimetype: str, n_items: int) -> str:
    if mimetype == "application/zip":
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            return f"zip ok, {len(archive.namelist()):,} files" if bad is None else f"BAD {bad}"
    if fmt in ("json", "json-min"):
        with open(path, encoding="utf-8") as handle:
            n = len(json.load(handle))
        return f"{n:,} objects" + ("" if n == n_items else " (MISMATCH)")
    with open(path, encoding="utf-8") as handle:
        lines = sum(1 for _ in handle)
    return f"{lines:,} lines"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--only", default="", help="comma-separated formats (default: all)")
    parser.add_argument("--child", nargs=3, metavar=("JOB", "FORMAT", "MEDIA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.database, int(args.child[0]), args.child[1], args.child[2] == "1")
        return

    started = time.perf_counter()
    jobs = seed(args.database, {"text": args.items, "image": args.images, "audio": args.recordings})
    print(f"seeded {args.items:,} text items, {args.images:,} images, {args.recordings:,} recordings "
          f"(× 3 answers each) into {args.database.split('@')[-1]} in {time.perf_counter() - started:.0f} s",
          flush=True)
    only = {f for f in args.only.split(",") if f}
    print("\n| job | format | items | answers | seconds | answers/s | output | peak RSS (MiB) | of which export |"
          " check |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for kind, fmt, media in FORMATS:
        if kind not in jobs or (only and fmt not in only):
            continue
        done = subprocess.run([sys.executable, __file__, "--database", args.database, "--child", str(jobs[kind]), fmt,
                               "1" if media else "0"], capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"| {kind} | {fmt} | FAILED: {done.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        answers = 3 * r["items"]
        label = fmt + (" + media" if media else "")
        print(f"| {kind} | {label} | {r['items']:,} | {answers:,} | {r['seconds']:.1f} | {answers / r['seconds']:,.0f} | "
              f"{r['bytes'] / 2**20:,.1f} MiB | {r['peak_kib'] / 1024:.0f} | +{(r['peak_kib'] - r['base_kib']) / 1024:.0f} |"
              f" {r['check']} |", flush=True)


if __name__ == "__main__":
    main()
