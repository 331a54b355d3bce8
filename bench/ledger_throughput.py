"""Ledger throughput: accepted answers settled per second, by concurrent writers, on PostgreSQL.

"Settle" is the production path: `rewards.settlement.pay_answers(job, answers)` for one
decision (`overlap` accepted answers of one item) per transaction — reward escrow → worker
pending, fee → platform, one hold each, the pay-floor check — then commit. Answers (and their
assignments) are bulk-inserted up front as ACCEPTED; only settlement is timed.

Writers are processes (multiprocessing, fork), so the GIL is not what is measured. Scenarios:
one writer; N writers each on its own job; N writers all on one hot job (one escrow row).
Afterwards the books are checked: balances sum to zero, stored == recomputed, no forbidden
negative, every accepted answer paid exactly once (one reward transfer and one hold).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/fl_ledger_bench \
        .venv/bin/python bench/ledger_throughput.py [--writers 1,4,16] [--decisions 40]

The database's public schema is dropped and recreated (tables from the models).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/fl_ledger_bench"
OVERLAP, REWARD, N_WORKERS = 3, 10, 48
LABEL_CONFIG = """<View><Text name="text" value="$text"/>
<Choices name="sentiment" toName="text"><Choice value="positive"/><Choice value="negative"/></Choices></View>"""


def make_app(url: str, pool: int = 5):
    from app import create_app

    config = {
        "ENV": "testing", "TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": pool, "max_overflow": 0},
    }
    if os.environ.get("BENCH_FEE_BPS"):  # 0: no fee leg, so no single platform-fees row to queue on
        config["PLATFORM_FEE_BPS"] = int(os.environ["BENCH_FEE_BPS"])
    return create_app(config)


def fresh_schema(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    engine.dispose()
    app = make_app(url)
    with app.app_context():
        from app.extensions import db

        db.create_all()
        db.engine.dispose()


def truncate(db) -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def prepare(url: str, n_jobs: int, decisions_per_job: int) -> list[list[tuple[int, list[int]]]]:
    """Jobs funded through the real path, and their accepted answers in bulk.

    Returns, per job, its decisions: (job id, [answer ids of one item]).
    """
    import datetime as dt

    from annotation.models import (
        Answer,
        AnswerStatus,
        Assignment,
        AssignmentStatus,
        Item,
        Job,
        JobStatus,
    )
    from app.extensions import db, utcnow
    from app.identity.models import Role, User
    from rewards.escrow import fund_job, publish_cost
    from rewards.funding import credit_requester

    app = make_app(url)
    with app.app_context():
        truncate(db)
        now = utcnow()
        owner_id = db.session.execute(sa.insert(User).returning(User.id), [
            {"username": "bench-requester", "password_hash": "x", "role": Role.REQUESTER}]).scalar_one()
        worker_ids = db.session.scalars(sa.insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"username": f"bench-worker-{i}", "password_hash": "x", "role": Role.ANNOTATOR}
            for i in range(N_WORKERS)]).all()
        owner = db.session.get(User, owner_id)
        plan = []
        for j in range(n_jobs):
            job = Job(owner_id=owner_id, title=f"bench {j}", label_config=LABEL_CONFIG, reward=REWARD,
                      overlap=OVERLAP, seconds_per_task=30, aggregation="majority_vote",
                      status=JobStatus.PUBLISHED, published_at=now, n_items=decisions_per_job)
            db.session.add(job)
            db.session.flush()
            credit_requester(owner, publish_cost(job), key=f"bench-job-{job.id}")
            fund_job(job, slots=OVERLAP * decisions_per_job)
            item_ids = db.session.scalars(sa.insert(Item).returning(Item.id, sort_by_parameter_order=True), [
                {"job_id": job.id, "data": {"text": f"{j}-{i}"}, "n_taken": OVERLAP, "n_answers": OVERLAP,
                 "is_complete": True, "completed_at": now} for i in range(decisions_per_job)]).all()
            slots = [(item_id, worker_ids[(i * OVERLAP + k) % N_WORKERS])
                     for i, item_id in enumerate(item_ids) for k in range(OVERLAP)]
            assignment_ids = db.session.scalars(
                sa.insert(Assignment).returning(Assignment.id, sort_by_parameter_order=True), [
                    {"item_id": item_id, "job_id": job.id, "worker_id": worker_id,
                     "status": AssignmentStatus.SUBMITTED, "served_at": now,
                     "lease_expires_at": now + dt.timedelta(minutes=15), "finished_at": now}
                    for item_id, worker_id in slots]).all()
            answer_ids = db.session.scalars(sa.insert(Answer).returning(Answer.id, sort_by_parameter_order=True), [
                {"assignment_id": a_id, "item_id": item_id, "job_id": job.id, "worker_id": worker_id,
                 "result": [], "choices": {"sentiment": ["positive"]}, "active_ms": 30_000,
                 "elapsed_ms": 30_000, "submitted_at": now, "status": AnswerStatus.ACCEPTED,
                 "decided_at": now}
                for a_id, (item_id, worker_id) in zip(assignment_ids, slots, strict=True)]).all()
            plan.append([(job.id, answer_ids[i:i + OVERLAP]) for i in range(0, len(answer_ids), OVERLAP)])
        db.session.commit()
        # Every worker's accounts exist, as they would after their first paid answer: the first
        # one created is a separate cost (and not what steady-state throughput is about).
        from rewards.accounts import fees_account, pending_account
        fees_account("FLT")
        for worker_id in worker_ids:
            pending_account("FLT", worker_id)
        db.session.commit()
        db.engine.dispose()
    return plan


def writer(url: str, decisions: list[tuple[int, list[int]]], barrier, out, per_tx: int = 1) -> None:
    """One process: settle `per_tx` decisions per transaction (one pay_answers call over their
    answers, as when many items are decided at once), timing each transaction."""
    from annotation.models import Answer, Job
    from app.extensions import db
    from rewards.earnings import pay_answers

    app = make_app(url, pool=1)
    latencies, errors = [], []
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # connect before the clock starts
        db.session.commit()
        barrier.wait()
        groups = [(decisions[i][0], [a for _, ids in decisions[i:i + per_tx] for a in ids])
                  for i in range(0, len(decisions), per_tx)]
        assert all(job_id == decisions[0][0] for job_id, _ in decisions), "one job per writer"
        for job_id, answer_ids in groups:
            started = time.perf_counter()
            try:
                job = db.session.get(Job, job_id)
                answers = db.session.scalars(db.select(Answer).where(Answer.id.in_(answer_ids))).all()
                pay_answers(job, answers=list(answers))
                db.session.commit()
            except Exception as exc:  # reported, and counted against the invariants
                db.session.rollback()
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - started)
        db.session.remove()
        db.engine.dispose()
    out.put((latencies, errors))


def check_books(url: str, n_answers: int) -> tuple[bool, str]:
    from annotation.models import Answer, AnswerStatus
    from app.extensions import db
    from rewards.ledger import recomputed_balances
    from rewards.models import Hold, LedgerAccount, LedgerTransfer

    app = make_app(url)
    with app.app_context():
        problems = []
        balances = recomputed_balances()
        if sum(kept for kept, _ in balances.values()) != 0:
            problems.append("balances do not sum to zero")
        if any(kept != summed for kept, summed in balances.values()):
            problems.append("stored != recomputed")
        negative = db.session.scalar(db.select(db.func.count()).select_from(LedgerAccount).where(
            LedgerAccount.balance < 0, ~LedgerAccount.kind.in_(["treasury", "deposits_clearing"])))
        if negative:
            problems.append(f"{negative} forbidden negative balances")
        accepted = db.session.scalar(db.select(db.func.count()).select_from(Answer).where(
            Answer.status == AnswerStatus.ACCEPTED))
        rewards = db.session.execute(db.select(db.func.count(), db.func.count(db.distinct(LedgerTransfer.key)))
                                     .where(LedgerTransfer.kind == "reward")).one()
        holds = db.session.scalar(db.select(db.func.count()).select_from(Hold).where(Hold.kind == "reward"))
        if not (accepted == n_answers == rewards[0] == rewards[1] == holds):
            problems.append(f"accepted {accepted}, reward transfers {rewards[0]} ({rewards[1]} keys), "
                            f"holds {holds}, expected {n_answers}")
        db.engine.dispose()
    return not problems, "; ".join(problems) or "OK"


def run(url: str, writers: int, hot: bool, decisions_per_writer: int, per_tx: int = 1) -> dict:
    n_jobs = 1 if hot else writers
    plan = prepare(url, n_jobs, decisions_per_writer * writers // n_jobs)
    decisions = [d for job in plan for d in job]
    # Hot: writers interleave on one job. Otherwise writer i settles job i.
    shares = [decisions[i::writers] for i in range(writers)] if hot else plan
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=writer, args=(url, share, barrier, out, per_tx)) for share in shares]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    results = [out.get(timeout=600) for _ in procs]
    seconds = time.perf_counter() - started
    for p in procs:
        p.join(60)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, errs in results for e in errs]
    n_answers = len(decisions) * OVERLAP
    ok, detail = check_books(url, n_answers)
    if errors:
        ok, detail = False, f"{len(errors)} failed transactions, first: {errors[0]}; {detail}"
    return {"writers": writers, "jobs": n_jobs, "per_tx": per_tx * OVERLAP, "answers": n_answers, "seconds": seconds,
            "rate": n_answers / seconds, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "ok": ok, "detail": detail}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", default="1,4,16", help="comma-separated writer counts")
    parser.add_argument("--decisions", type=int, default=40,
                        help=f"decisions (of {OVERLAP} answers) each writer settles")
    parser.add_argument("--fee-bps", type=int, default=None,
                        help="override PLATFORM_FEE_BPS (0 removes the shared platform-fees row)")
    parser.add_argument("--decisions-per-tx", default="1",
                        help="comma-separated: decisions settled per transaction (1 = the answer "
                             "request path; more = many items decided at once, e.g. a job closing)")
    args = parser.parse_args()
    if args.fee_bps is not None:
        os.environ["BENCH_FEE_BPS"] = str(args.fee_bps)  # inherited by the writer processes
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    fresh_schema(url)
    rows = []
    for per_tx in [int(d) for d in args.decisions_per_tx.split(",")]:
        for writers in [int(w) for w in args.writers.split(",")]:
            rows.append(run(url, writers, hot=False, decisions_per_writer=args.decisions, per_tx=per_tx))
            if writers > 1:
                rows.append(run(url, writers, hot=True, decisions_per_writer=args.decisions, per_tx=per_tx))
    fee = os.environ.get("BENCH_FEE_BPS", "default")
    print(f"\nLedger settlement throughput (pay_answers; decisions of {OVERLAP} answers), PostgreSQL, "
          f"{os.cpu_count()} CPUs, fee bps {fee}, load average {os.getloadavg()[0]:.1f}\n")
    print("| answers per tx | writers | jobs | answers | seconds | answers/s | p50 tx ms | p99 tx ms | invariants |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['per_tx']} | {r['writers']} | {r['jobs']}{' (hot)' if r['jobs'] == 1 and r['writers'] > 1 else ''} "
              f"| {r['answers']} | {r['seconds']:.2f} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
              f"| {'OK' if r['ok'] else 'FAILED: ' + r['detail']} |")


if __name__ == "__main__":
    main()
