"""Posting transfers on the double-entry ledger."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from rewards.errors import InsufficientFunds, TransferConflict, UnbalancedTransfer
from rewards.models import LedgerAccount, LedgerEntry, LedgerTransfer

# Accounts that may go below zero: the treasury issues tokens; in this version a requester's
# balance may also run negative (the economics issue turns that into an escrow check).
NEGATIVE_ALLOWED = {"treasury", "requester"}


def get_account(code: str, *, kind: str, user_id: int | None = None,
                job_id: int | None = None) -> LedgerAccount:
    """The account with `code`, created on first use."""
    account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.code == code))
    if account is not None:
        return account
    account = LedgerAccount(code=code, kind=kind, user_id=user_id, job_id=job_id,
                            allow_negative=kind in NEGATIVE_ALLOWED, balance=0)
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:  # created concurrently: use theirs
        account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.code == code))
    return account


def post_transfer(key: str, legs: Mapping[LedgerAccount, int], *, kind: str,
                  memo: dict[str, Any] | None = None) -> LedgerTransfer:
    """Post one balanced transfer, idempotently by `key`.

    `legs` maps accounts to signed integer amounts summing to zero. Balances are updated with
    `balance = balance + amount` in account-id order (a fixed lock order, so concurrent transfers
    cannot deadlock), and the database's CHECK refuses any forbidden negative balance.
    """
    amounts = {account: amount for account, amount in legs.items() if amount != 0}
    if any(isinstance(a, bool) or not isinstance(a, int) for a in amounts.values()):
        raise UnbalancedTransfer("Ledger amounts must be whole token units (integers).")
    if sum(amounts.values()) != 0:
        raise UnbalancedTransfer(f"Transfer {key!r} does not balance: {sum(amounts.values())}.")
    if not amounts:
        raise UnbalancedTransfer(f"Transfer {key!r} moves nothing.")
    existing = db.session.scalar(db.select(LedgerTransfer).where(LedgerTransfer.key == key))
    if existing is not None:
        _check_replay(existing, amounts)
        return existing
    transfer = LedgerTransfer(key=key, kind=kind, memo=memo)
    try:
        with db.session.begin_nested():
            db.session.add(transfer)
            db.session.flush()
            for account in sorted(amounts, key=lambda a: a.id):
                db.session.add(LedgerEntry(transfer_id=transfer.id, account_id=account.id,
                                           amount=amounts[account]))
                db.session.execute(
                    update(LedgerAccount).where(LedgerAccount.id == account.id)
                    .values(balance=LedgerAccount.balance + amounts[account])
                    .execution_options(synchronize_session=False)
                )
            db.session.flush()
    except IntegrityError as exc:
        replay = db.session.scalar(db.select(LedgerTransfer).where(LedgerTransfer.key == key))
        if replay is not None:  # the same key committed concurrently
            _check_replay(replay, amounts)
            return replay
        if "balance_not_negative" in str(exc.orig):
            raise InsufficientFunds(f"Transfer {key!r} would overdraw an account.") from None
        raise
    for account in amounts:
        db.session.refresh(account, ["balance"])
    return transfer


def lock_accounts(accounts: Iterable[LedgerAccount]) -> None:
    """Row-lock `accounts` in id order (PostgreSQL; SQLite already serializes writers).

    A transaction that posts several transfers calls this first with every account they touch:
    locks taken transfer by transfer would interleave (worker A then escrow, escrow then worker B)
    and two such transactions could deadlock.
    """
    ids = sorted({a.id for a in accounts})
    if ids:
        db.session.execute(db.select(LedgerAccount.id).where(LedgerAccount.id.in_(ids))
                           .order_by(LedgerAccount.id).with_for_update())


def _check_replay(existing: LedgerTransfer, amounts: Mapping[LedgerAccount, int]) -> None:
    recorded = {e.account_id: e.amount for e in existing.entries}
    wanted = {a.id: amount for a, amount in amounts.items()}
    if recorded != wanted:
        raise TransferConflict(f"Transfer {existing.key!r} was already posted with other amounts.")


def balance_of(code: str) -> int:
    return db.session.scalar(db.select(LedgerAccount.balance).where(LedgerAccount.code == code)) or 0


def recomputed_balances() -> dict[str, tuple[int, int]]:
    """{code: (stored balance, sum of entries)} for every account, to reconcile the two."""
    sums = dict(db.session.execute(
        db.select(LedgerEntry.account_id, db.func.coalesce(db.func.sum(LedgerEntry.amount), 0))
        .group_by(LedgerEntry.account_id)
    ).all())
    return {a.code: (a.balance, int(sums.get(a.id, 0)))
            for a in db.session.scalars(db.select(LedgerAccount).order_by(LedgerAccount.id))}
