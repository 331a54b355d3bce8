"""kill -9 rounds under load: gunicorn workers die mid-request and nothing a client was told is lost.

    # from the repository's root
    .venv/bin/python bench/kill_under_load.py                 # 5 rounds of 12 s, ~2-3 min
    .venv/bin/python bench/kill_under_load.py --rounds random,close --round-seconds 8

Set up like bench/scheduler_load.py (its helpers, imported): the PostgreSQL database ``--db``
(default ``fl_kill``) dropped, recreated and migrated; the app configured as in production; one
requester with two published jobs (one for the kill rounds, a smaller one for the close round)
and ``--annotators`` annotator accounts; ``gunicorn --preload -w W --threads T``. Every annotator
is a thread with its own ``requests.Session`` that loops next task → answer as fast as it can.
A client whose answer request fails (connection cut, 5xx) sends the same answer again, as the
labeling page would; the server must make that retry harmless.

Rounds (``--rounds``, comma-separated, in order):

- ``random``: every ``--kill-every`` seconds (jittered) ``kill -9`` of a random gunicorn worker;
  the master forks a new one.
- ``submit``: the same, but aimed at a worker inside a submit: the killer reads ``pg_locks`` for
  a session that holds the job's row lock an answer takes (or has inserted an answer row and not
  committed), finds the gunicorn worker owning that connection's TCP port in ``/proc``, and kills
  it. If none is found within a second it kills a random worker.
- ``close``: ``submit``-style kills on the second job, and half way through the round the
  requester closes it over HTTP while answers are in flight; the worker running that close is
  killed 0-30 ms after the close locked the job, and the requester sends the form again.

After each round, with the load stopped and every worker respawned, in SQL (cumulative over the
rounds): every answer a client got a 2xx for is stored; no item has more than ``overlap``
answers and nobody answered an item twice; lease and answer counters match; no answer on a
complete item or on a closed job is pending; every accepted answer paid exactly once and every
balance is reward x accepted answers; then ``flask rewards reconcile`` and ``flask annotation
replay-decisions`` exit 0. It prints one line per round and exits 1 if anything failed.

Linux only (``/proc``); needs PostgreSQL on TCP (the worker is found by its connection's port).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scheduler_load as bench  # noqa: E402  (a sibling script, not a package)

MAX_SUBMIT_TRIES = 8


# --- gunicorn workers and who is inside a submit ----------------------------------------------

def workers_of(master: int) -> list[int]:
    """The master's live children: its workers (a new one appears as soon as it is forked)."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(pid) for pid in text.split()]


def _socket_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets whose local port is `port` (IPv4 and IPv6)."""
    hex_port = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(hex_port):
                inodes.add(fields[9])
    return inodes


def worker_with_port(workers: list[int], port: int) -> int | None:
    """Which of `workers` owns the client end of the database connection from `port`."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port)}
    if not wanted:
        return None
    for pid in workers:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        return pid
                except OSError:  # the fd closed while we looked
                    continue
        except OSError:  # the worker died while we looked
            continue
    return None


# A session inside a submit (or a close) has taken the job's row lock (RowShareLock on the
# table comes with FOR KEY SHARE / FOR UPDATE of a row) or has written an answer row and not yet
# committed (RowExclusiveLock on answer). The next-task pick locks item rows, never the job's.
IN_SUBMIT = """
SELECT a.client_port, bool_or(l.relation = 'answer'::regclass) AS wrote_answer,
       min(a.backend_xid::text)::bigint AS xid
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND l.granted
  AND a.client_port IS NOT NULL AND l.locktype = 'relation'
  AND ((l.relation = 'job'::regclass AND l.mode = 'RowShareLock')
       OR (l.relation = 'answer'::regclass AND l.mode = 'RowExclusiveLock'))
GROUP BY a.client_port
ORDER BY wrote_answer DESC
"""
# What became of a transaction id seen in pg_stat_activity (a 32-bit xid; the epoch is the
# current one's, right for a database this young).
XACT_STATUS = """
SELECT pg_xact_status(((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32 << 32)
                       | %s)::text::xid8)
"""


class Killer(threading.Thread):
    """kill -9 of one gunicorn worker every `every` seconds (x0.5-1.5), random or aimed."""

    def __init__(self, master: int, dsn: str, every: float, aimed: bool, rng: random.Random):
        super().__init__(daemon=True)
        self.master, self.dsn, self.every, self.aimed, self.rng = master, dsn, every, aimed, rng
        self.stopped = threading.Event()
        self.kills: Counter = Counter()  # how each kill was chosen

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopped.wait(self.every * self.rng.uniform(0.5, 1.5)):
                pid, how, xid = self.aim(conn) if self.aimed else (None, "", None)
                if pid is None:
                    workers = workers_of(self.master)
                    if not workers:
                        continue
                    pid, how = self.rng.choice(workers), "random worker"
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:  # it died on its own between the look and the kill
                    continue
                if xid is not None:
                    how += f", its transaction {self.outcome(conn, xid)}"
                self.kills[how] += 1

    def aim(self, conn: psycopg.Connection) -> tuple[int | None, str, int | None]:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not self.stopped.is_set():
            workers = workers_of(self.master)
            for port, wrote_answer, xid in conn.execute(IN_SUBMIT):
                pid = worker_with_port(workers, port)
                if pid is not None:
                    return pid, ("in a submit, answer row written" if wrote_answer
                                 else "job row locked (a submit, or a next-task's insert)"), xid
            time.sleep(0.003)
        return None, "", None

    @staticmethod
    def outcome(conn: psycopg.Connection, xid: int) -> str:
        """'aborted' if the kill cut the transaction (the server rolled it back), 'committed'
        if the worker got there first. The backend notices its client is gone when it next
        reads or writes the socket, so this waits a little."""
        deadline = time.monotonic() + 5
        while True:
            status = conn.execute(XACT_STATUS, (xid,)).fetchone()[0]
            if status != "in progress" or time.monotonic() > deadline:
                return status
            time.sleep(0.01)


# The close's own lock: FOR UPDATE of the job's row (an answer takes FOR KEY SHARE).
IN_CLOSE = r"""
SELECT pid, client_port FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
  AND client_port IS NOT NULL AND query ~ 'FROM job\s+WHERE job\.id = \S+ FOR UPDATE\s*$'
"""


def kill_the_close(master: int, dsn: str, rng: random.Random, found: list[str]) -> None:
    """kill -9 of the worker running the first close, 0-30 ms after it locked the job."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = conn.execute(IN_CLOSE).fetchone()
            if row:
                backend, port = row
                pid = worker_with_port(workers_of(master), port)
                if pid is None:
                    break
                # It has a transaction id once it holds the row lock (it may first wait for
                # answers in flight to commit); then let it run 0-30 ms more.
                xid = None
                while xid is None and time.monotonic() < deadline:
                    found_xid = conn.execute("SELECT backend_xid::text::bigint FROM "
                                             "pg_stat_activity WHERE pid = %s",
                                             (backend,)).fetchone()
                    if found_xid is None:  # the transaction, and the session, ended
                        break
                    xid = found_xid[0]
                    time.sleep(0.001)
                time.sleep(rng.uniform(0, 0.03))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    found.append("the round's killer got its worker first")
                    return
                outcome = (Killer.outcome(conn, xid) if xid is not None
                           else "had not locked or written anything yet")
                found.append(f"the worker running it killed, its transaction {outcome}")
                return
            time.sleep(0.002)
    found.append("the close was not caught in its transaction")


# --- clients ----------------------------------------------------------------------------------

@dataclass
class Client:
    requests: int = 0
    answer_ids: set[int] = field(default_factory=set)
    server_errors: int = 0  # 5xx
    connection_errors: int = 0  # connection reset / refused / cut mid-response
    retried_ok: int = 0  # answers that got their 2xx only on a retry
    gave_up: int = 0  # answers still failing after MAX_SUBMIT_TRIES
    refused: Counter = field(default_factory=Counter)  # 4xx by request (409 once closed)
    job_closed: bool = False
    exhausted: bool = False


def _post(client: Client, session: requests.Session, url: str, **kwargs) -> requests.Response | None:
    client.requests += 1
    try:
        response = session.post(url, timeout=60, **kwargs)
    except requests.RequestException:
        client.connection_errors += 1
        return None
    if response.status_code >= 500:
        client.server_errors += 1
        return None
    return response


def annotate(base: str, session: requests.Session, csrf: str, job_id: int, rng: random.Random,
             stop: threading.Event, client: Client) -> None:
    headers = {"X-CSRFToken": csrf}
    while not stop.is_set():
        response = _post(client, session, f"{base}/api/jobs/{job_id}/next", headers=headers)
        if response is None:
            time.sleep(0.02)
            continue
        if response.status_code != 200:  # 409 once the job is closed
            client.refused[f"next {response.status_code}"] += 1
            client.job_closed = response.status_code == 409
            return
        task = response.json()["task"]
        if task is None:
            client.exhausted = True
            return
        body = {"result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                            "value": {"choices": [rng.choice(bench.LABELS)]}}]}
        for attempt in range(MAX_SUBMIT_TRIES):
            response = _post(client, session, base + task["answer_url"], json=body,
                             headers=headers)
            if response is None:  # the worker died under it, or answered 5xx: send it again
                time.sleep(0.02 * (attempt + 1))
                continue
            if response.status_code == 200:
                client.answer_ids.add(response.json()["answer"]["id"])
                client.retried_ok += attempt > 0
            else:
                client.refused[f"answer {response.status_code}"] += 1
            break
        else:
            client.gave_up += 1


def close_over_http(base: str, session: requests.Session, csrf: str, job_id: int,
                    client: Client) -> str:
    """Close the job as its requester would, sending the form again while the request dies."""
    attempts = []
    for _ in range(40):
        t0 = time.monotonic()
        response = _post(client, session, f"{base}/jobs/{job_id}/close",
                         data={"csrf_token": csrf}, allow_redirects=False)
        took = f"{time.monotonic() - t0:.1f} s"
        if response is None:
            attempts.append(f"cut after {took}")
            time.sleep(0.05)
            continue
        if response.status_code == 302:
            return f"attempts: {', '.join(attempts + [f'302 after {took}'])}"
        if response.status_code == 409:  # an attempt whose response was lost had closed it
            return f"attempts: {', '.join(attempts + [f'409 after {took}'])}"
        raise RuntimeError(f"close answered {response.status_code}: {response.text[:300]}")
    raise RuntimeError("close failed 40 times")


# --- checks -----------------------------------------------------------------------------------

def check_pending(dsn: str, closed_job: int | None) -> list[tuple[str, bool, str]]:
    with psycopg.connect(dsn) as conn:
        def one(sql: str, *params):
            return conn.execute(sql, params).fetchone()[0]

        on_complete = one("SELECT count(*) FROM answer a JOIN item i ON i.id = a.item_id "
                          "WHERE i.is_complete AND a.status = 'pending'")
        on_closed = one("SELECT count(*) FROM answer a JOIN job j ON j.id = a.job_id "
                        "WHERE j.status = 'closed' AND a.status = 'pending'")
        checks = [
            ("no answer on a complete item is pending", on_complete == 0, f"{on_complete} pending"),
            ("no answer on a closed job is pending", on_closed == 0, f"{on_closed} pending"),
        ]
        if closed_job is not None:
            status = one("SELECT status FROM job WHERE id = %s", closed_job)
            checks.append((f"job {closed_job} is closed", status == "closed", status))
    return checks


LEDGER_CHECKS = ("every accepted answer paid exactly once", "worker balances",
                 "flask rewards reconcile")
REPLAY_CHECKS = ("flask annotation replay-decisions",)


def _all_ok(checks: list[tuple[str, bool, str]], prefixes: tuple[str, ...]) -> bool:
    return all(ok for name, ok, _ in checks if name.startswith(prefixes))


def wait_for_workers(master: int, n: int, base: str, timeout: float = 60) -> None:
    """Until the master has `n` workers again and the server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(workers_of(master)) == n:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not get back to {n} workers in {timeout:.0f} s")


# --- main -------------------------------------------------------------------------------------

def run_round(kind: str, *, base: str, master: int, dsn: str, logins, job_id: int,
              requester, seconds: float, kill_every: float, kill_close: bool,
              rng: random.Random) -> dict:
    stop = threading.Event()
    clients = [Client() for _ in logins]
    threads = [threading.Thread(target=annotate, daemon=True, args=(
        base, session, csrf, job_id, random.Random(rng.random()), stop, clients[i]))
        for i, (session, csrf) in enumerate(logins)]
    killer = Killer(master, dsn, kill_every, aimed=kind in ("submit", "close"),
                    rng=random.Random(rng.random()))
    closer, close_result = Client(), None
    t0 = time.monotonic()
    for thread in threads:
        thread.start()
    killer.start()
    if kind == "close":
        time.sleep(seconds / 2)
        in_flight = sum(len(c.answer_ids) for c in clients)
        close_kill: list[str] = []
        close_killer = threading.Thread(target=kill_the_close, daemon=True, args=(
            master, dsn, random.Random(rng.random()), close_kill))
        if kill_close:
            close_killer.start()
        started = time.monotonic() - t0
        close_result = close_over_http(base, *requester, job_id, closer)
        close_result += f"; sent {started:.1f} s into the round, after {in_flight} answers"
        if kill_close:
            close_killer.join()
            close_result += f"; first attempt: {close_kill[0]}"
    while time.monotonic() - t0 < seconds and any(t.is_alive() for t in threads):
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    killer.stopped.set()
    killer.join()
    elapsed = time.monotonic() - t0
    return {
        "kind": kind, "elapsed": elapsed, "kills": killer.kills, "clients": clients,
        "closer": closer, "close_result": close_result,
        "answer_ids": set().union(*(c.answer_ids for c in clients)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", default="random,submit,random,submit,close",
                        help="round kinds in order: random, submit, close (close ends the "
                             "second job, so at most once)")
    parser.add_argument("--round-seconds", type=float, default=12.0)
    parser.add_argument("--kill-every", type=float, default=2.0,
                        help="mean seconds between two kills")
    parser.add_argument("--kill-close", action=argparse.BooleanOptionalAction, default=True,
                        help="kill the worker running the close's first attempt")
    parser.add_argument("--annotators", type=int, default=12)
    parser.add_argument("--items", type=int, default=4000, help="items of the kill rounds' job")
    parser.add_argument("--close-items", type=int, default=600, help="items of the closed job")
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--reward", type=int, default=10)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--gunicorn-threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server (the database --db is dropped and recreated)")
    parser.add_argument("--db", default="fl_kill")
    args = parser.parse_args(argv)
    kinds = args.rounds.split(",")
    if set(kinds) - {"random", "submit", "close"} or kinds.count("close") > 1:
        parser.error("--rounds: random, submit and at most one close")
    rng = random.Random(args.seed)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=bench.REPO,
                            capture_output=True, text=True).stdout.strip()
    print(f"fairlabel {commit or '?'} ({'dirty tree' if bench._dirty() else 'clean tree'}), "
          f"{os.cpu_count()} CPUs, started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    dsn = f"{args.pg}/{args.db}"
    bench.recreate_database(f"{args.pg}/postgres", args.db)
    instance = Path(tempfile.mkdtemp(prefix="fl_kill_"))
    env = bench.server_env(dsn.replace("postgresql://", "postgresql+psycopg://", 1), instance)
    subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], env=env, cwd=bench.REPO,
                   check=True, capture_output=True)
    load_job, close_job = bench.seed(env, job_items=[args.items, args.close_items],
                                     overlap=args.overlap, reward=args.reward, aggregation=None,
                                     n_annotators=args.annotators)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    print(f"jobs {load_job} ({args.items} items) and {close_job} ({args.close_items} items, "
          f"closed in its round), overlap {args.overlap}, reward {args.reward}, "
          f"{args.annotators} annotators", flush=True)

    server, base, log_path = bench.start_gunicorn(env, instance, args.gunicorn_workers,
                                                  args.gunicorn_threads)
    rows, failures, reported = [], [], set()
    try:
        bench.wait_until_up(base, server)
        wait_for_workers(server.pid, args.gunicorn_workers, base)
        logins = [bench.log_in(base, f"bench{i:03d}") for i in range(args.annotators)]
        requester = bench.log_in(base, "bench-requester", page=f"/jobs/{close_job}")
        for number, kind in enumerate(kinds, 1):
            result = run_round(kind, base=base, master=server.pid, dsn=dsn, logins=logins,
                               job_id=close_job if kind == "close" else load_job,
                               requester=requester, seconds=args.round_seconds,
                               kill_every=args.kill_every, kill_close=args.kill_close,
                               rng=rng)
            wait_for_workers(server.pid, args.gunicorn_workers, base)
            reported |= result["answer_ids"]
            checks = (bench.check_database(dsn, args.overlap, args.reward, sorted(reported))
                      + check_pending(dsn, close_job if kind == "close" else None)
                      + bench.check_commands(env))
            clients = result["clients"] + [result["closer"]]
            row = {
                "round": number, "kind": kind, "elapsed": result["elapsed"],
                "kills": result["kills"], "requests": sum(c.requests for c in clients),
                "answers": len(result["answer_ids"]),
                "errors_5xx": sum(c.server_errors for c in clients),
                "connection_errors": sum(c.connection_errors for c in clients),
                "retried_ok": sum(c.retried_ok for c in result["clients"]),
                "gave_up": sum(c.gave_up for c in result["clients"]),
                "refused": sum((c.refused for c in result["clients"]), Counter()),
                "lost": _lost(dsn, result["answer_ids"]),
                "ledger_ok": _all_ok(checks, LEDGER_CHECKS),
                "replay_ok": _all_ok(checks, REPLAY_CHECKS),
                "close": result["close_result"],
                "exhausted": sum(c.exhausted for c in result["clients"]),
            }
            rows.append(row)
            bad = [(name, detail) for name, ok, detail in checks if not ok]
            failures += [(number, name, detail) for name, detail in bad]
            print(f"  round {number} ({kind}): {sum(row['kills'].values())} kills, "
                  f"{row['answers']} answers with a 2xx, {row['lost']} lost, "
                  f"{'all checks ok' if not bad else f'{len(bad)} checks FAILED'}", flush=True)
    finally:
        server.terminate()
        server.wait(30)

    print()
    print(f"{'round':>5} | {'kind':<6} | {'kills':>5} | {'requests':>8} | {'2xx answers':>11} | "
          f"{'5xx':>4} | {'conn errors':>11} | {'retry ok':>8} | {'lost':>4} | {'ledger':>6} | "
          f"{'replay':>6}")
    print("-" * 104)
    for r in rows:
        print(f"{r['round']:>5} | {r['kind']:<6} | {sum(r['kills'].values()):>5} | "
              f"{r['requests']:>8} | {r['answers']:>11} | {r['errors_5xx']:>4} | "
              f"{r['connection_errors']:>11} | {r['retried_ok']:>8} | {r['lost']:>4} | "
              f"{'ok' if r['ledger_ok'] else 'FAIL':>6} | {'ok' if r['replay_ok'] else 'FAIL':>6}")
    print()
    for r in rows:
        kills = ", ".join(f"{how} x{n}" for how, n in r["kills"].most_common()) or "none"
        extra = [f"kills: {kills}"]
        if r["refused"]:
            extra.append("4xx: " + ", ".join(
                f"{what} x{n}" for what, n in sorted(r["refused"].items())))
        if r["gave_up"]:
            extra.append(f"{r['gave_up']} answers still failing after {MAX_SUBMIT_TRIES} tries")
        if r["exhausted"]:
            extra.append(f"{r['exhausted']} annotators ran out of tasks")
        if r["close"]:
            extra.append(f"close: {r['close']}")
        print(f"round {r['round']}: " + "; ".join(extra))
    server_log = log_path.read_text(errors="replace")
    kinds_seen = Counter(re.findall(r"^(\w+(?:\.\w+)*(?:Error|Detected|Exception)): ",
                                    server_log, re.M))
    signals = len(re.findall(r"was sent SIGKILL|Worker \(pid:\d+\) was sent", server_log))
    print(f"server log: {signals} workers reported killed by a signal; exceptions: "
          + (", ".join(f"{k} x{v}" for k, v in kinds_seen.most_common()) or "none"))
    print()
    if failures:
        for number, name, detail in failures:
            print(f"  [FAIL] after round {number}: {name}: {detail}")
        return 1
    print(f"  [ok] every check after every round ({len(reported)} answers with a 2xx in all, "
          "none lost)")
    return 0


def _lost(dsn: str, answer_ids: set[int]) -> int:
    """Of the answers a client got a 2xx for, how many the database does not hold."""
    if not answer_ids:
        return 0
    with psycopg.connect(dsn) as conn:
        stored = conn.execute("SELECT count(*) FROM answer WHERE id = ANY(%s)",
                              (sorted(answer_ids),)).fetchone()[0]
    return len(answer_ids) - stored


if __name__ == "__main__":
    sys.exit(main())
