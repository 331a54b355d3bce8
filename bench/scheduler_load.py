"""Scheduler throughput: next-task and submit over HTTP, from 1, 8 and 32 annotators at once.

    # from the repository's root
    .venv/bin/python bench/scheduler_load.py                     # 20 s per level, 1/8/32
    .venv/bin/python bench/scheduler_load.py --duration 10 --levels 1,8 --gunicorn-workers 2

What it does, end to end, all on 127.0.0.1:
1. drops and recreates the PostgreSQL database ``--db`` (default ``fl_bench``) and runs the
   migrations with ``flask db upgrade``, configured like production (``FLASK_ENV=production``,
   a random ``FLASK_SECRET_KEY``, an instance folder in a temporary directory, CSRF on);
2. seeds one published job of ``--items`` text items (overlap 3, reward 10) through the
   services (the requester credited exactly what publishing reserves), and a fresh set of
   annotator accounts per level (bulk-inserted with one precomputed argon2id hash at
   argon2-cffi's default cost, which is what login verifies);
3. starts ``gunicorn --preload -w W --threads T wsgi:app`` on a free port;
4. per level, logs every simulated annotator in (``GET /login`` for the form's csrf_token,
   ``POST /login``, then the ``<meta name="csrf-token">`` of ``/work`` for the JSON calls'
   ``X-CSRFToken``), then lets them loop ``POST /api/jobs/<id>/next`` → ``POST
   /api/tasks/<id>/answer`` for ``--duration`` seconds, each on its own ``requests.Session``;
5. prints a table (answers/s, next-task and submit latency percentiles, errors) and then checks
   in SQL that no item got more than ``overlap`` answers, nobody got an item twice, no lease
   leaked, every answer the clients were told was stored is stored, and every accepted answer
   was paid exactly once; then that ``flask annotation replay-decisions`` (every decision
   re-derived from the stored worker models) and ``flask rewards reconcile`` (every balance
   re-added from its transfers) exit 0.

The load generator runs on the same machine as the server and the database and competes with
them for the CPU; its own CPU use per level is printed so that can be judged.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"
LABELS = ["positive"] * 8 + ["negative", "neutral"]  # mostly agreeing, so consensus accepts most
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


# --- database and app ------------------------------------------------------------------------

def recreate_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def server_env(db_url: str, instance: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "FLASK_APP": "wsgi",
        "FLASK_ENV": "production",
        "FLASK_SECRET_KEY": secrets.token_hex(32),
        "FLASK_SQLALCHEMY_DATABASE_URI": db_url,
        # Production refuses to start without the https address users open; nothing here
        # resolves it, it only has to be configured.
        "FLASK_PUBLIC_URL": "https://bench.invalid",
        # Production marks the session cookie Secure, and a client then sends it only over
        # https; the bench talks plain http to 127.0.0.1, so without this no annotator would
        # stay logged in after POST /login.
        "FLASK_SESSION_COOKIE_SECURE": "false",
        # Every simulated annotator logs in from 127.0.0.1: the per-address login limit is off.
        "FLASK_RATELIMIT_ENABLED": "false",
        "FAIRLABEL_INSTANCE_PATH": str(instance),
        "PYTHONPATH": str(REPO),
    })
    return env


def seed(env: dict[str, str], *, job_items: Sequence[int], overlap: int, reward: int,
         aggregation: str | None, n_annotators: int) -> list[int]:
    """One requester with one published job per entry of `job_items` (that many items each),
    and `n_annotators` annotators; returns the job ids."""
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    from argon2 import PasswordHasher

    from annotation.imports import UploadedFile
    from app import create_app
    from app.demo import TEXT_CONFIG  # the demo's sentiment config
    from app.extensions import db
    from app.identity.accounts import create_user
    from app.identity.models import Role, User
    from app.operations.jobs import add_items as import_upload
    from app.operations.jobs import create_job, publish_job
    from rewards.escrow import publish_cost
    from rewards.funding import credit_requester

    app = create_app()
    with app.app_context():
        owner = create_user("bench-requester", PASSWORD, "requester")
        options = {"aggregation": aggregation} if aggregation else {}  # else the platform default
        job_ids, methods = [], set()
        for n_items in job_items:
            job = create_job(owner, title="Scheduler load", label_config=TEXT_CONFIG,
                             reward=reward, overlap=overlap, **options)
            rows = "\n".join(json.dumps({"text": f"sentence number {i}"}) for i in range(n_items))
            import_upload(owner, job, [UploadedFile("rows.jsonl", rows.encode())],
                          media_root=app.config["MEDIA_ROOT"])
            cost = publish_cost(job)
            if cost:  # exactly what publishing reserves in escrow, as an admin's credit would
                credit_requester(owner, cost, key=f"bench-job-{job.id}")
            publish_job(owner, job)
            job_ids.append(job.id)
            methods.add(job.aggregation)
        password_hash = PasswordHasher().hash(PASSWORD)  # the production default cost
        db.session.execute(db.insert(User), [
            {"username": f"bench{i:03d}", "password_hash": password_hash, "role": Role.ANNOTATOR}
            for i in range(n_annotators)])
        db.session.commit()
        db.engine.dispose()
    print(f"job aggregation: {', '.join(sorted(methods))}")
    return job_ids


def start_gunicorn(env: dict[str, str], instance: Path, workers: int,
                   threads: int) -> tuple[subprocess.Popen, str, Path]:
    """`gunicorn --preload` on a free 127.0.0.1 port, logging to instance/gunicorn.log:
    (the master process, the base URL, the log's path). The caller waits until it is up."""
    port = free_port()
    log_path = instance / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--preload", "-w", str(workers),
               "--threads", str(threads), "-b", f"127.0.0.1:{port}", "wsgi:app"]
    print("server:", " ".join(["gunicorn"] + command[3:]), flush=True)
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=log)
    return server, f"http://127.0.0.1:{port}", log_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:  # bound, but the workers are still importing
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


# --- simulated annotators ----------------------------------------------------------------------

@dataclass
class Stats:
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    answer_ids: list[int] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    exhausted: int = 0


def log_in(base: str, username: str, page: str = "/work") -> tuple[requests.Session, str]:
    """A logged-in session and the csrf token of `page` (for JSON calls and forms alike)."""
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=30)
    token = CSRF_INPUT.search(form.text).group(1)
    response = session.post(f"{base}/login", timeout=60, allow_redirects=False,
                            data={"username": username, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"login of {username} failed: {response.status_code}")
    landing = session.get(base + page, timeout=30)
    return session, CSRF_META.search(landing.text).group(1)


def annotate(base: str, session: requests.Session, csrf: str, job_id: int, seed_: int,
             start: threading.Barrier, stop_at: list[float], stats: Stats) -> None:
    rng = random.Random(seed_)
    headers = {"X-CSRFToken": csrf}
    start.wait()
    while time.monotonic() < stop_at[0]:
        t0 = time.perf_counter()
        try:
            response = session.post(f"{base}/api/jobs/{job_id}/next", headers=headers, timeout=60)
        except requests.RequestException as exc:
            stats.errors[f"next {type(exc).__name__}"] += 1
            continue
        stats.next_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            stats.errors[f"next {response.status_code}"] += 1
            continue
        task = response.json()["task"]
        if task is None:
            stats.exhausted += 1
            return
        body = {"result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                            "value": {"choices": [rng.choice(LABELS)]}}],
                "active_ms": rng.randint(1000, 5000)}
        t0 = time.perf_counter()
        try:
            response = session.post(base + task["answer_url"], json=body, headers=headers,
                                    timeout=60)
        except requests.RequestException as exc:
            stats.errors[f"submit {type(exc).__name__}"] += 1
            continue
        stats.submit_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            stats.errors[f"submit {response.status_code}"] += 1
            continue  # the lease is still held: the next call hands the task back, as a retry
        stats.answer_ids.append(response.json()["answer"]["id"])


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return at(0.50), at(0.95), at(0.99)


def run_level(base: str, job_id: int, usernames: list[str], duration: float,
              sampler: WaitSampler | None = None) -> dict:
    logins = [log_in(base, name) for name in usernames]
    stats = [Stats() for _ in usernames]
    start = threading.Barrier(len(usernames) + 1)
    stop_at = [float("inf")]
    threads = [threading.Thread(target=annotate, daemon=True,
                                args=(base, session, csrf, job_id, i, start, stop_at, stats[i]))
               for i, (session, csrf) in enumerate(logins)]
    for thread in threads:
        thread.start()
    cpu0 = _cpu_seconds()
    stop_at[0] = time.monotonic() + duration
    t0 = time.monotonic()
    start.wait()
    if sampler:
        sampler.start()
    for thread in threads:
        thread.join()
    if sampler:
        sampler.stopped.set()
    elapsed = time.monotonic() - t0
    cpu = _cpu_seconds() - cpu0
    answers = [a for s in stats for a in s.answer_ids]
    errors = sum((s.errors for s in stats), Counter())
    return {
        "concurrency": len(usernames), "elapsed": elapsed, "answers": len(answers),
        "answer_ids": answers, "answers_per_s": len(answers) / elapsed,
        "next": percentiles([x for s in stats for x in s.next_ms]),
        "submit": percentiles([x for s in stats for x in s.submit_ms]),
        "n_next": sum(len(s.next_ms) for s in stats),
        "errors": errors, "exhausted": sum(s.exhausted for s in stats),
        "client_cpu": cpu / elapsed,
    }


class WaitSampler(threading.Thread):
    """Samples what the server's database sessions are doing, every 50 ms: where time goes."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.samples, self.stopped = dsn, Counter(), threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopped.wait(0.05):
                for state, wait, query in conn.execute(
                        "SELECT state, coalesce(wait_event_type || ':' || wait_event, 'cpu'), "
                        "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND state <> 'idle'"):
                    what = query if state == "active" else "(in transaction, between statements)"
                    self.samples[(wait if state == "active" else "app", what)] += 1

    def report(self, top: int = 8) -> list[str]:
        total = sum(self.samples.values()) or 1
        return [f"{n / total:5.0%}  {wait:<28} {what}"
                for (wait, what), n in self.samples.most_common(top)]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- checks ----------------------------------------------------------------------------------

def check_database(dsn: str, overlap: int, reward: int,
                   reported_ids: list[int]) -> list[tuple[str, bool, str]]:
    with psycopg.connect(dsn) as conn:
        def one(sql: str, *params):
            return conn.execute(sql, params).fetchone()[0]

        over = one("SELECT count(*) FROM (SELECT item_id FROM answer GROUP BY item_id "
                   "HAVING count(*) > %s) t", overlap)
        twice = one("SELECT count(*) FROM (SELECT worker_id, item_id FROM answer "
                    "GROUP BY worker_id, item_id HAVING count(*) > 1) t")
        twice_served = one("SELECT count(*) FROM (SELECT worker_id, item_id FROM assignment "
                           "GROUP BY worker_id, item_id HAVING count(*) > 1) t")
        leaked = one("SELECT count(*) FROM item i WHERE i.n_taken <> "
                     "(SELECT count(*) FROM assignment a WHERE a.item_id = i.id "
                     "AND a.status IN ('leased', 'submitted'))")
        miscounted = one("SELECT count(*) FROM item i WHERE i.n_answers <> "
                         "(SELECT count(*) FROM answer a WHERE a.item_id = i.id)")
        stored = {row[0] for row in conn.execute("SELECT id FROM answer")}
        lost = len(set(reported_ids) - stored)
        extra = len(stored - set(reported_ids))
        unpaid = one("SELECT count(*) FROM answer a WHERE a.status = 'accepted' AND NOT EXISTS "
                     "(SELECT 1 FROM ledger_transfer t "
                     "WHERE t.key = 'answer:' || a.id || ':reward')") if reward else 0
        paid_wrongly = one("SELECT count(*) FROM ledger_transfer t "
                           "WHERE t.key LIKE 'answer:%%:reward' "
                           "AND NOT EXISTS (SELECT 1 FROM answer a WHERE a.status = 'accepted' "
                           "AND t.key = 'answer:' || a.id || ':reward')")
        wrong_balance = one(
            "SELECT count(*) FROM ledger_account acc WHERE acc.kind = 'worker_earnings' "
            "AND acc.balance <> %s * (SELECT count(*) FROM answer a "
            "WHERE a.worker_id = acc.user_id AND a.status = 'accepted')", reward)
        complete = one("SELECT count(*) FROM item WHERE is_complete")
        n_answers, n_accepted = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'accepted') FROM answer").fetchone()
    return [
        (f"no item has more than {overlap} answers", over == 0, f"{over} over-answered items"),
        ("no worker answered an item twice", twice == 0,
         f"{twice} repeated (worker, item) answers"),
        ("no worker was served an item twice", twice_served == 0, f"{twice_served} repeats"),
        ("item.n_taken = live leases + answers", leaked == 0, f"{leaked} items off"),
        ("item.n_answers = answers stored", miscounted == 0, f"{miscounted} items off"),
        ("every answer reported stored is stored", lost == 0,
         f"{lost} lost; {extra} stored but not reported (a client saw an error after commit)"),
        ("every accepted answer paid exactly once", unpaid == 0 and paid_wrongly == 0,
         f"{unpaid} unpaid, {paid_wrongly} transfers without an accepted answer "
         f"(key is unique: at most one per answer)"),
        (f"worker balances = {reward} x accepted answers", wrong_balance == 0,
         f"{wrong_balance} accounts off"),
        ("totals", True, f"{n_answers} answers ({n_accepted} accepted), {complete} items complete"),
    ]


COMMAND_CHECKS = [
    (("annotation", "replay-decisions"), "flask annotation replay-decisions exits 0"),
    (("rewards", "reconcile"), "flask rewards reconcile exits 0"),
]


def check_commands(env: dict[str, str]) -> list[tuple[str, bool, str]]:
    """Re-derive every decision and re-add every balance with the platform's own commands, as
    an operator would after an incident; each exits 1 on any difference."""
    checks = []
    for args, name in COMMAND_CHECKS:
        done = subprocess.run([sys.executable, "-m", "flask", *args], env=env, cwd=REPO,
                              capture_output=True, text=True)
        output = (done.stdout + done.stderr).strip().splitlines()
        detail = f"exit {done.returncode}: " + (" | ".join(output[-3:]) if output else "(no output)")
        checks.append((name, done.returncode == 0, detail))
    return checks


# --- main --------------------------------------------------------------------------------------

def _dirty() -> bool:
    """Uncommitted changes to code the server runs (the app and its packages)."""
    paths = ["app", "annotation", "consensus", "rewards", "migrations", "wsgi.py"]
    out = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=REPO,
                         capture_output=True, text=True).stdout
    return bool(out.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,8,32", help="concurrent annotators per level")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--aggregation",
                        help="consensus method of the job (default: the platform's)")
    parser.add_argument("--reward", type=int, default=10,
                        help="tokens per accepted answer; 0 = no payments (isolates the ledger)")
    parser.add_argument("--gunicorn-workers", type=int, default=8)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (the database --db is dropped and recreated)")
    parser.add_argument("--db", default="fl_bench")
    parser.add_argument("--sample-waits", action="store_true",
                        help="sample pg_stat_activity per level; print where sessions wait")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    print(f"fairlabel {commit or '?'} ({'dirty tree' if _dirty() else 'clean tree'}), "
          f"{os.cpu_count()} CPUs, started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    dsn = f"{args.pg}/{args.db}"
    recreate_database(f"{args.pg}/postgres", args.db)
    instance = Path(tempfile.mkdtemp(prefix="fl_bench_"))
    env = server_env(dsn.replace("postgresql://", "postgresql+psycopg://", 1), instance)
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, cwd=REPO, check=True,
                   capture_output=True)
    t0 = time.monotonic()
    [job_id] = seed(env, job_items=[args.items], overlap=args.overlap, reward=args.reward,
                    aggregation=args.aggregation, n_annotators=sum(levels))
    # Fresh tables have no planner statistics until autovacuum gets to them (up to a minute
    # after the import); without them the pick sorts every open item. Measure the steady state.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    print(f"seeded job {job_id}: {args.items} items, overlap {args.overlap}, "
          f"{sum(levels)} annotators ({time.monotonic() - t0:.1f} s)", flush=True)

    server, base, log_path = start_gunicorn(env, instance, args.gunicorn_workers, args.gunicorn_threads)
    results = []
    try:
        wait_until_up(base, server)
        first = 0
        for level in levels:
            names = [f"bench{i:03d}" for i in range(first, first + level)]
            first += level
            load_before = os.getloadavg()[0]
            sampler = WaitSampler(dsn) if args.sample_waits else None
            result = run_level(base, job_id, names, args.duration, sampler)
            if sampler:
                result["waits"] = sampler.report()
            result["load"] = (load_before, os.getloadavg()[0])
            results.append(result)
            print(f"  level {level}: {result['answers']} answers in {result['elapsed']:.1f} s "
                  f"(1-min load average {result['load'][0]:.1f} -> {result['load'][1]:.1f} "
                  f"on {os.cpu_count()} CPUs)", flush=True)
    finally:
        server.terminate()
        server.wait(30)

    print()
    print(f"{'concurrency':>11} | {'answers/s':>9} | {'next-task p50/p95/p99 ms':>24} | "
          f"{'submit p50/p95/p99 ms':>22} | {'errors':>6} | {'client CPU':>10}")
    print("-" * 100)
    for r in results:
        nxt = "/".join(f"{x:.0f}" for x in r["next"])
        sub = "/".join(f"{x:.0f}" for x in r["submit"])
        print(f"{r['concurrency']:>11} | {r['answers_per_s']:>9.1f} | {nxt:>24} | {sub:>22} | "
              f"{sum(r['errors'].values()):>6} | {r['client_cpu']:>9.0%}")
    for r in results:
        if r["errors"]:
            print(f"errors at {r['concurrency']}: " +
                  ", ".join(f"{k} x{v}" for k, v in sorted(r["errors"].items())))
        if r.get("waits"):
            print(f"database sessions at {r['concurrency']} (share of non-idle samples):")
            print("\n".join("    " + line for line in r["waits"]))
        if r["exhausted"]:
            print(f"at {r['concurrency']}: {r['exhausted']} annotators ran out of tasks")
    server_log = log_path.read_text(errors="replace")
    kinds = Counter(re.findall(r"^(\w+(?:\.\w+)*(?:Error|Detected|Exception)): ", server_log, re.M))
    if kinds:
        print("server log exceptions: " + ", ".join(f"{k} x{v}" for k, v in kinds.most_common()))

    print()
    reported = [a for r in results for a in r["answer_ids"]]
    checks = check_database(dsn, args.overlap, args.reward, reported) + check_commands(env)
    for name, ok, detail in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
