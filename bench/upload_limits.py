"""Uploads at and beyond the limits: how long they take, how much memory and disk they cost.

    .venv/bin/python bench/upload_limits.py                                     # SQLite only
    .venv/bin/python bench/upload_limits.py --postgres postgresql://postgres@127.0.0.1:5432/fl_bench
    .venv/bin/python bench/upload_limits.py --cases csv_100k,zip_4x250mib

Each case runs against its own fresh gunicorn (one sync worker, `--timeout 300` so a slow case is
measured rather than killed) on a free 127.0.0.1 port, configured like production (CSRF on), with
a new draft job. The client logs in, takes the upload form's CSRF token from the job page and
POSTs the upload as multipart, like a browser. Reported per case:

- the HTTP status and wall time as the client saw it (compare with gunicorn's `--timeout`);
- the worker's resident memory before the request and its peak during it (Linux `VmHWM`, reset
  through `/proc/<pid>/clear_refs` just before the request), and the difference;
- what the media folder holds afterwards (a refused upload must leave nothing behind).

Cases: 100,000-row CSV and JSONL (short rows, and rows filling MAX_CONTENT_LENGTH — the largest
upload the settings allow — also as one JSON list), then refused ones: 1,000,000 short rows in
CSV, JSONL and JSON (over the item cap), four
zips that each inflate to 250 MiB in a ~1 MB request (over the inflated-size cap), and one JSONL
row nested 50,000 deep. The PostgreSQL database given is dropped and recreated.
"""
from __future__ import annotations

import argparse
import html
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PASSWORD = "bench-password-1"
MIB = 2**20
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# --- bodies ------------------------------------------------------------------------------------

def _rows(n: int, width: int) -> list[str]:
    filler = "lorem ipsum dolor sit amet " * (width // 27 + 1)
    return [f"review {i}: {filler}"[:width] for i in range(n)]


def csv_body(n: int, width: int = 40) -> bytes:
    return ("text\n" + "".join(f"{row}\n" for row in _rows(n, width))).encode()


def jsonl_body(n: int, width: int = 40) -> bytes:
    return "".join(json.dumps({"text": row}) + "\n" for row in _rows(n, width)).encode()


def json_body(n: int, width: int = 40) -> bytes:
    return json.dumps([{"text": row} for row in _rows(n, width)]).encode()


def inflating_zip(member_bytes: int, index: int) -> bytes:
    """A zip of one .png: a real 1x1 PNG followed by zeros (images may carry trailing bytes), so
    it passes the image check and only the size limits can refuse it."""
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (1, 1), (index, 0, 0)).save(png, format="PNG")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(f"big-{index}.png", "w", force_zip64=True) as member:
            member.write(png.getvalue())
            zeros = bytes(MIB)
            for _ in range((member_bytes - len(png.getvalue())) // MIB):
                member.write(zeros)
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    files: object  # callable(max_content_length) -> list[(filename, bytes)]


def _fill_rows(kind: str, n: int, max_content: int) -> list[tuple[str, bytes]]:
    """n rows as wide as fits in one request of `max_content` bytes (less multipart overhead)."""
    budget = max_content - 64 * 1024
    width = budget // n - (len('{"text": ""}\n') if kind == "jsonl" else 1)
    make = {"csv": csv_body, "jsonl": jsonl_body, "json": json_body}[kind]
    body = make(n, width)
    while len(body) > budget:
        width -= 1
        body = make(n, width)
    return [(f"rows.{kind}", body)]


CASES = [
    Case("csv_100k", "100,000-row CSV, 40-char rows", lambda m: [("rows.csv", csv_body(100_000))]),
    Case("jsonl_100k", "100,000-row JSONL, 40-char rows", lambda m: [("rows.jsonl", jsonl_body(100_000))]),
    Case("csv_100k_max", "100,000-row CSV filling MAX_CONTENT_LENGTH", lambda m: _fill_rows("csv", 100_000, m)),
    Case("jsonl_100k_max", "100,000-row JSONL filling MAX_CONTENT_LENGTH",
         lambda m: _fill_rows("jsonl", 100_000, m)),
    Case("json_100k_max", "100,000-item JSON list filling MAX_CONTENT_LENGTH",
         lambda m: _fill_rows("json", 100_000, m)),
    Case("csv_1m", "refused: 1,000,000-row CSV (item cap)", lambda m: [("rows.csv", csv_body(1_000_000, 8))]),
    Case("jsonl_1m", "refused: 1,000,000-row JSONL (item cap)",
         lambda m: [("rows.jsonl", jsonl_body(1_000_000, 8))]),
    Case("json_1m", "refused: 1,000,000-item JSON list (item cap)",
         lambda m: [("rows.json", json_body(1_000_000, 8))]),
    Case("zip_4x250mib", "refused: 4 zips inflating to 250 MiB each (inflated cap)",
         lambda m: [(f"pack{i}.zip", inflating_zip(250 * MIB, i)) for i in range(4)]),
    Case("jsonl_deep", "refused: a JSONL row nested 50,000 deep",
         lambda m: [("rows.jsonl", b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n")]),
]


# --- server ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(db_url: str, instance: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FLASK_ENV": "production",
        "FLASK_SECRET_KEY": secrets.token_hex(32),
        "FLASK_SQLALCHEMY_DATABASE_URI": db_url,
        "FLASK_PUBLIC_URL": "https://bench.invalid",
        "FLASK_SESSION_COOKIE_SECURE": "false",  # the client speaks plain HTTP to 127.0.0.1
        "FLASK_RATELIMIT_ENABLED": "false",
        "FAIRLABEL_INSTANCE_PATH": str(instance),
        "PYTHONPATH": str(REPO),
    })
    return env


def prepare(db_url: str, env: dict[str, str], n_jobs: int, *, image_jobs: int) -> tuple[list[int], dict]:
    """Migrate, create the requester and `n_jobs` draft jobs (the last `image_jobs` label images)."""
    code = f"""
import json
from flask_migrate import upgrade
from app import create_app
from app.demo import IMAGE_CONFIG, TEXT_CONFIG
from app.extensions import db
from app.identity.accounts import create_user
from app.operations.jobs import create_job
app = create_app()
with app.app_context():
    upgrade()
    owner = create_user("bench-requester", {PASSWORD!r}, "requester")
    ids = []
    for n in range({n_jobs}):
        config = IMAGE_CONFIG if n >= {n_jobs - image_jobs} else TEXT_CONFIG
        ids.append(create_job(owner, title=f"upload {{n}}", label_config=config, reward=10, overlap=1).id)
    db.session.commit()
    limits = {{k: app.config.get(k) for k in ("MAX_CONTENT_LENGTH", "MAX_ITEMS_PER_UPLOAD",
                                             "MAX_UPLOAD_INFLATED_BYTES")}}
    print(json.dumps({{"ids": ids, "limits": limits}}))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["ids"], result["limits"]


def start_gunicorn(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", "1", "--threads", "1", "--timeout", "300",
         "-b", f"127.0.0.1:{port}", "wsgi:app"],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def worker_pid(master: subprocess.Popen, base: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise SystemExit(f"gunicorn exited with {master.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
                return int(children[0])
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


def memory_mib(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) / 1024 for k in ("VmRSS", "VmHWM")}


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# --- one case ----------------------------------------------------------------------------------

def run_case(case: Case, job_id: int, env: dict[str, str], media: Path, limits: dict) -> dict:
    files = case.files(limits["MAX_CONTENT_LENGTH"])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(env, port)
    try:
        pid = worker_pid(server, base)
        session = requests.Session()
        page = session.get(f"{base}/login", timeout=30)
        session.post(f"{base}/login", allow_redirects=False, timeout=30, data={
            "username": "bench-requester", "password": PASSWORD,
            "csrf_token": CSRF_INPUT.search(page.text).group(1)})
        token = CSRF_INPUT.search(session.get(f"{base}/jobs/{job_id}", timeout=30).text).group(1)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = memory_mib(pid)["VmRSS"]
        started = time.perf_counter()
        response = session.post(f"{base}/jobs/{job_id}/items", allow_redirects=False, timeout=600,
                                data={"csrf_token": token},
                                files=[("files", (name, body)) for name, body in files])
        seconds = time.perf_counter() - started
        peak = memory_mib(pid)["VmHWM"]
        alive = server.poll() is None and requests.get(f"{base}/healthz", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(30)
    message = ""
    if response.status_code != 302:
        found = re.search(r'<p class="error"[^>]*>\s*([^<]+)', response.text)
        message = html.unescape(found.group(1).strip() if found else response.text[:120]).replace("\n", " ")
    return {"case": case.name, "what": case.what, "request_mib": sum(len(b) for _, b in files) / MIB,
            "status": response.status_code, "seconds": seconds, "rss_before": before, "rss_peak": peak,
            "media_mib": folder_bytes(media) / MIB, "alive": alive, "message": message[:90]}


def run_backend(label: str, db_url: str, cases: list[Case], *, header: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fl-upload-bench-") as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        env = server_env(db_url, instance)
        image_cases = sum(c.name.startswith("zip") for c in cases)
        ids, limits = prepare(db_url, env, len(cases), image_jobs=image_cases)
        if header:
            print_header(limits)
        text_ids, image_ids = ids[:len(ids) - image_cases], ids[len(ids) - image_cases:]
        for case in cases:
            job_id = image_ids.pop(0) if case.name.startswith("zip") else text_ids.pop(0)
            print_row({"backend": label, **run_case(case, job_id, env, instance / "media", limits)})


def print_header(limits: dict) -> None:
    print(f"limits: MAX_CONTENT_LENGTH={limits['MAX_CONTENT_LENGTH'] // MIB} MiB, "
          f"MAX_ITEMS_PER_UPLOAD={limits['MAX_ITEMS_PER_UPLOAD']:,}, MAX_UPLOAD_INFLATED_BYTES="
          f"{(limits['MAX_UPLOAD_INFLATED_BYTES'] or 0) // MIB} MiB")
    print(f"{'backend':10} {'case':15} {'request':>9} {'status':>6} {'seconds':>8} {'RSS before':>10} "
          f"{'RSS peak':>9} {'added':>7} {'media left':>10} {'alive':>5}  message")


def print_row(r: dict) -> None:
    print(f"{r['backend']:10} {r['case']:15} {r['request_mib']:7.1f}Mi {r['status']:>6} {r['seconds']:8.2f} "
          f"{r['rss_before']:8.0f}Mi {r['rss_peak']:7.0f}Mi {r['rss_peak'] - r['rss_before']:5.0f}Mi "
          f"{r['media_mib']:8.1f}Mi {'yes' if r['alive'] else 'NO':>5}  {r['message']}", flush=True)


def recreate_postgres(url: str) -> str:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database is dropped and recreated")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.cases or c.name in args.cases.split(",")]
    backends = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    for n, (label, url) in enumerate(backends):
        with tempfile.TemporaryDirectory(prefix="fl-upload-db-") as tmp:
            db_url = f"sqlite:///{tmp}/bench.sqlite" if url is None else recreate_postgres(url)
            run_backend(label, db_url, cases, header=n == 0)


if __name__ == "__main__":
    main()
