"""Holds: an accepted earning waits in the worker's pending balance for the requester's dispute
window, then `release_holds` moves it to available (and on to payout)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db, utcnow
from rewards.accounts import worker_accounts
from rewards.ledger import TransferSpec, post_transfers
from rewards.models import Hold, HoldStatus
from rewards.policy import PayPolicy


def new_hold(key: str, kind: str, worker_id: int, job_id: int, answer_id: int | None, amount: int,
             policy: PayPolicy, now: dt.datetime | None = None) -> Hold:
    """A hold for the earning posted under ledger transfer `key` (not yet added)."""
    now = now or utcnow()
    return Hold(key=key, token=policy.token, kind=kind, worker_id=worker_id, job_id=job_id,
                answer_id=answer_id, amount=amount, status=HoldStatus.HELD,
                release_at=now + dt.timedelta(seconds=policy.hold_seconds), created_at=now)


def record_holds(holds: list[Hold]) -> None:
    """Add holds whose key is new (a replayed transfer has its hold already), in one statement."""
    if not holds:
        return
    db.session.flush()
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    columns = ("key", "token", "kind", "worker_id", "job_id", "answer_id", "amount", "status",
               "release_at", "created_at")
    # executemany form: the statement compiles once and is cached, whatever the batch size.
    db.session.execute(insert(Hold).on_conflict_do_nothing(index_elements=["key"]),
                       [{c: getattr(h, c) for c in columns} for h in holds])


def release_holds(*, now: dt.datetime | None = None, worker_id: int | None = None,
                  limit: int = 5000) -> int:
    """Move held earnings whose hold ended from pending to available; how many were released."""
    now = now or utcnow()
    query = (db.select(Hold).where(Hold.status == HoldStatus.HELD, Hold.release_at <= now)
             .order_by(Hold.id).limit(limit))
    if worker_id is not None:
        query = query.where(Hold.worker_id == worker_id)
    holds = db.session.scalars(query.with_for_update(skip_locked=True)).all()
    if not holds:
        return 0
    accounts = {token: worker_accounts(token, [h.worker_id for h in holds if h.token == token],
                                       ("pending", "available"))
                for token in {h.token for h in holds}}
    specs = []
    for hold in holds:
        mine = accounts[hold.token]
        specs.append(TransferSpec(f"hold:{hold.id}:release",
                                  {mine[hold.worker_id, "pending"]: -hold.amount,
                                   mine[hold.worker_id, "available"]: hold.amount},
                                  "release", {"hold_id": hold.id}))
        hold.status, hold.decided_at = HoldStatus.RELEASED, now
    post_transfers(specs)
    return len(holds)
