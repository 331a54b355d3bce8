"""The background worker: releases held earnings and runs the payout engine on a timer.

In production run `flask rewards worker` as its own process against a real node. With the
embedded in-process chain, the worker runs as a thread of the web process
(RUN_WORKER_IN_PROCESS), because that chain exists only inside it.

The worker is a transaction boundary: each batch of released holds is committed here, and the
payout steps commit between their chain calls (rewards.payouts.cycle). A node that cannot be
reached ends the turn with nothing half-written; the next turn tries again.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask

from app.extensions import db
from rewards.chain.errors import ChainError

log = logging.getLogger(__name__)


def run_cycle(app: Flask) -> dict:
    """One turn: release the holds whose dispute window ended, then one payout cycle."""
    from rewards.holds import release_holds
    from rewards.onchain import current_chain
    from rewards.payouts import run_payout_cycle

    with app.app_context():
        try:
            released = 0
            while n := release_holds():
                db.session.commit()
                released += n
            result = run_payout_cycle(current_chain())
            return {"released": released, **result}
        finally:
            db.session.rollback()  # whatever the turn left unfinished is void
            db.session.remove()


def reconcile_at_start(app: Flask) -> bool:
    """Let the chain decide anything a previous run left open, and compare the books with it."""
    from rewards.onchain import current_chain
    from rewards.payouts import reconcile_chain

    with app.app_context():
        try:
            report = reconcile_chain(current_chain())
        finally:
            db.session.rollback()
            db.session.remove()
    log.info("start-up reconciliation: %s", "ok" if report.ok else report.mismatches)
    return report.ok


def run_worker(app: Flask, *, interval: int, once: bool = False,
               sleep: Callable[[float], None] = time.sleep) -> None:
    """Reconcile at start (the chain decides anything left open), then cycle every `interval` s.

    A chain that cannot be used (ChainUnavailable: the node is down; or its configuration is
    wrong) is logged and tried again next turn, reconciliation first; with `once` it is raised,
    so `flask rewards worker --once` fails with the reason."""
    reconciled = False
    while True:
        started = time.monotonic()
        try:
            if not reconciled:
                reconcile_at_start(app)
                reconciled = True
            log.info("payout cycle: %s", run_cycle(app))
        except ChainError as exc:
            if once:
                raise
            log.warning("payout cycle skipped: %s Retrying in %s s.", exc.message, interval)
        except Exception:
            if once:
                raise
            log.exception("payout cycle failed; retrying in %s s", interval)  # a bug: keep the trace
        if once:
            return
        sleep(max(0.0, interval - (time.monotonic() - started)))


def start_in_process_worker(app: Flask) -> threading.Thread:
    """A daemon thread running the worker inside the web process (embedded chain only)."""
    interval = int(app.config["PAYOUT_INTERVAL_SECONDS"])
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"interval": interval},
                              name="fairlabel-worker", daemon=True)
    thread.start()
    return thread
