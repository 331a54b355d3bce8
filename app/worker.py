"""The background worker: releases held earnings and runs the payout engine on a timer.

In production run `flask rewards worker` as its own process against a real node. With the
embedded in-process chain, the worker runs as a thread of the web process
(RUN_WORKER_IN_PROCESS), because that chain exists only inside it.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from app.extensions import db

log = logging.getLogger(__name__)


def run_cycle(app: Flask) -> dict:
    from rewards.onchain import current_chain
    from rewards.payouts import run_payout_cycle
    from rewards.settlement import release_holds

    with app.app_context():
        try:
            released = 0
            while n := release_holds():
                db.session.commit()
                released += n
            result = run_payout_cycle(current_chain())
            return {"released": released, **result}
        finally:
            db.session.rollback()
            db.session.remove()


def run_worker(app: Flask, *, interval: int, once: bool = False) -> None:
    """Reconcile at start (the chain decides anything left open), then cycle every `interval` s."""
    from rewards.onchain import current_chain
    from rewards.payouts import reconcile_chain

    with app.app_context():
        report = reconcile_chain(current_chain())
        log.info("start-up reconciliation: %s", "ok" if report.ok else report.mismatches)
        db.session.remove()
    while True:
        started = time.monotonic()
        try:
            log.info("payout cycle: %s", run_cycle(app))
        except Exception:  # noqa: BLE001 - a node outage must not kill the worker; retry next turn
            log.exception("payout cycle failed; retrying in %s s", interval)
        if once:
            return
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def start_in_process_worker(app: Flask) -> threading.Thread:
    """A daemon thread running the worker inside the web process (embedded chain only)."""
    interval = int(app.config["PAYOUT_INTERVAL_SECONDS"])
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"interval": interval},
                              name="fairlabel-worker", daemon=True)
    thread.start()
    return thread
