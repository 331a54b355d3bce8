"""Which session may meet a chain call: the outbox's rule, in one place.

No database transaction stays open while the chain is asked anything (design.md §2): a slow node
must not hold row locks, and what was decided before the call is either committed or not, never
half. Payout code therefore calls `before_chain_call()` before reading or writing the chain:

- a session that holds writes not yet committed is refused (RuntimeError): ending it would
  either commit or discard someone else's work, and which is the caller's decision;
- a transaction that only read is ended, which loses nothing (it only releases the snapshot).

"Holds writes" means: objects added, changed or deleted and not flushed, or any flush or
INSERT/UPDATE/DELETE executed through the session since its transaction began. SQLAlchemy keeps
the first; the session events below record the second in `session.info`.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from app.extensions import db

_WROTE = "rewards.payouts.wrote"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_WROTE, None)


def holds_writes(session: Session | None = None) -> bool:
    """Whether the session has work that only a commit or a rollback may end."""
    session = session or db.session()
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE))


def before_chain_call(what: str) -> None:
    """Make sure no transaction is open when `what` asks the chain (see the module docstring)."""
    session = db.session()
    if holds_writes(session):
        raise RuntimeError(f"{what} asks the chain and must not run while this session holds "
                           "uncommitted writes: commit (or roll back) first.")
    if session.in_transaction():
        session.rollback()  # it only read: nothing is lost
