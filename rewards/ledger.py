"""Posting transfers on the double-entry ledger."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, column, insert, update
from sqlalchemy import values as sa_values
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.extensions import db
from rewards.errors import InsufficientFunds, RewardsNotFound, TransferConflict, UnbalancedTransfer
from rewards.models import LedgerAccount, LedgerEntry, LedgerTransfer

# The only accounts that may go below zero are the platform's counterparties to the outside
# world: the treasury (tokens issued or paid out) and deposits clearing (tokens received on chain
# before they are credited). Everyone's money — requesters, escrows, workers — never can.
NEGATIVE_ALLOWED = {"treasury", "deposits_clearing"}


def get_account(code: str, *, kind: str, token: str = "FLT", user_id: int | None = None,
                job_id: int | None = None) -> LedgerAccount:
    """The account with `code`, created on first use."""
    account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.code == code))
    if account is not None:
        return account
    account = LedgerAccount(code=code, token=token, kind=kind, user_id=user_id, job_id=job_id,
                            allow_negative=kind in NEGATIVE_ALLOWED, balance=0)
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:  # created concurrently: use theirs
        account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.code == code))
    return account


@dataclass(frozen=True)
class AccountRef:
    """What names an account, for fetching many at once."""

    code: str
    kind: str
    token: str = "FLT"
    user_id: int | None = None
    job_id: int | None = None


def get_accounts(refs: Sequence[AccountRef]) -> dict[str, LedgerAccount]:
    """{code: account} for all `refs` in one query, creating any that do not exist yet."""
    found = {a.code: a for a in db.session.scalars(
        db.select(LedgerAccount).where(LedgerAccount.code.in_([r.code for r in refs])))}
    for ref in refs:
        if ref.code not in found:
            found[ref.code] = get_account(ref.code, kind=ref.kind, token=ref.token, user_id=ref.user_id,
                                          job_id=ref.job_id)
    return found


@dataclass(frozen=True)
class TransferSpec:
    """One transfer to post: `legs` maps accounts to signed integer amounts summing to zero."""

    key: str
    legs: Mapping[LedgerAccount, int]
    kind: str
    memo: dict[str, Any] | None = None

    def amounts(self) -> dict[LedgerAccount, int]:
        amounts = {account: amount for account, amount in self.legs.items() if amount != 0}
        if any(isinstance(a, bool) or not isinstance(a, int) for a in amounts.values()):
            raise UnbalancedTransfer("Ledger amounts must be whole token units (integers).")
        if sum(amounts.values()) != 0:
            raise UnbalancedTransfer(f"Transfer {self.key!r} does not balance: {sum(amounts.values())}.")
        if not amounts:
            raise UnbalancedTransfer(f"Transfer {self.key!r} moves nothing.")
        return amounts


def post_transfer(key: str, legs: Mapping[LedgerAccount, int], *, kind: str,
                  memo: dict[str, Any] | None = None) -> LedgerTransfer:
    """Post one balanced transfer, idempotently by `key` (see `post_transfers`)."""
    return post_transfers([TransferSpec(key, legs, kind, memo)])[0]


def post_transfers(specs: Sequence[TransferSpec]) -> list[LedgerTransfer]:
    """Post balanced transfers, each idempotent by its key: all of them or none.

    A key already posted with the same legs is a no-op (its stored transfer is returned); with
    other legs it is a TransferConflict. The accounts are locked first, in account-id order (a
    fixed lock order, so concurrent batches cannot deadlock); under those locks the keys already
    posted are known for certain (a replay touches the same accounts, so it waits for the first
    posting to commit) and a forbidden negative balance is refused (InsufficientFunds) before
    anything is written. Then the transfers, their entries and one balance update per account
    are written. The database's CHECK stays as the last line of defence.
    """
    wanted = {spec.key: spec.amounts() for spec in specs}
    if len(wanted) != len(specs):
        raise UnbalancedTransfer("A batch names the same transfer key twice.")
    accounts = {a.id: a for amounts in wanted.values() for a in amounts}
    locked = {row.id: row for row in db.session.execute(
        db.select(LedgerAccount.id, LedgerAccount.balance, LedgerAccount.allow_negative, LedgerAccount.code)
        .where(LedgerAccount.id.in_(sorted(accounts))).order_by(LedgerAccount.id)
        .with_for_update(key_share=True))}
    posted = _existing(wanted)
    new = [spec for spec in specs if spec.key not in posted]
    deltas: dict[int, int] = defaultdict(int)
    for spec in new:
        for account, amount in wanted[spec.key].items():
            deltas[account.id] += amount
    overdrawn = [locked[i].code for i, d in deltas.items()
                 if d < 0 and not locked[i].allow_negative and locked[i].balance + d < 0]
    if overdrawn:
        raise InsufficientFunds("The transfer would overdraw an account.", keys=list(wanted),
                                accounts=overdrawn)
    if new:
        try:
            transfers = _write(new, wanted, deltas)
        except IntegrityError as exc:
            # Under the account locks only a key reused for other accounts, posted concurrently,
            # can get here; the transaction is void either way.
            if "balance_not_negative" in str(exc.orig):
                raise InsufficientFunds("The transfer would overdraw an account.", keys=list(wanted)) from None
            raise TransferConflict("A transfer key was posted concurrently with other accounts.",
                                   keys=list(wanted)) from None
    else:
        transfers = []
    for account in accounts.values():
        db.session.expire(account, ["balance"])
    by_key = {**posted, **{t.key: t for t in transfers}}
    return [by_key[spec.key] for spec in specs]


def _write(new: Sequence[TransferSpec], wanted: Mapping[str, Mapping[LedgerAccount, int]],
           deltas: Mapping[int, int]) -> list[LedgerTransfer]:
    # ORM bulk INSERT ... RETURNING: one statement per table, no unit-of-work bookkeeping.
    transfers = db.session.scalars(
        insert(LedgerTransfer).returning(LedgerTransfer, sort_by_parameter_order=True),
        [{"key": spec.key, "kind": spec.kind, "memo": spec.memo} for spec in new]).all()
    db.session.execute(insert(LedgerEntry), [
        {"transfer_id": transfer.id, "account_id": account.id, "amount": amount}
        for transfer, spec in zip(transfers, new, strict=True)
        for account, amount in wanted[spec.key].items()])
    changed = sorted((i, d) for i, d in deltas.items() if d)
    if db.session.get_bind().dialect.name == "postgresql" and len(changed) > 1:
        # One statement for every account: the rows are already locked, so order is moot here.
        values = sa_values(column("id", Integer), column("delta", BigInteger), name="d").data(changed)
        db.session.execute(
            update(LedgerAccount).where(LedgerAccount.id == values.c.id)
            .values(balance=LedgerAccount.balance + values.c.delta)
            .execution_options(synchronize_session=False))
    else:
        for account_id, delta in changed:
            db.session.execute(
                update(LedgerAccount).where(LedgerAccount.id == account_id)
                .values(balance=LedgerAccount.balance + delta)
                .execution_options(synchronize_session=False))
    db.session.flush()
    return transfers


def _existing(wanted: Mapping[str, Mapping[LedgerAccount, int]]) -> dict[str, LedgerTransfer]:
    """Transfers already posted under these keys, checked to be true replays."""
    keys = db.session.scalars(db.select(LedgerTransfer.key).where(LedgerTransfer.key.in_(list(wanted)))).all()
    if not keys:  # the usual case: one cheap index probe, no entries loaded
        return {}
    posted = {t.key: t for t in db.session.scalars(
        db.select(LedgerTransfer).where(LedgerTransfer.key.in_(keys))
        .options(selectinload(LedgerTransfer.entries)))}
    for key, transfer in posted.items():
        _check_replay(transfer, wanted[key])
    return posted


def _check_replay(existing: LedgerTransfer, amounts: Mapping[LedgerAccount, int]) -> None:
    recorded = {e.account_id: e.amount for e in existing.entries}
    wanted = {a.id: amount for a, amount in amounts.items()}
    if recorded != wanted:
        raise TransferConflict(f"Transfer {existing.key!r} was already posted with other amounts.")


def balance_of(code: str) -> int:
    return db.session.scalar(db.select(LedgerAccount.balance).where(LedgerAccount.code == code)) or 0


def reverse_transfer(key: str, original_key: str, *, kind: str = "reversal",
                     memo: dict[str, Any] | None = None) -> LedgerTransfer:
    """Post the exact opposite of transfer `original_key` under `key`: corrections are new
    transfers, never edits."""
    original = db.session.scalar(
        db.select(LedgerTransfer).where(LedgerTransfer.key == original_key)
        .options(selectinload(LedgerTransfer.entries).selectinload(LedgerEntry.account)))
    if original is None:
        raise TransferConflict(f"No transfer {original_key!r} to reverse.")
    legs = {entry.account: -entry.amount for entry in original.entries}
    return post_transfer(key, legs, kind=kind, memo={"reverses": original_key, **(memo or {})})


def recomputed_balances() -> dict[str, tuple[int, int]]:
    """{code: (stored balance, sum of entries)} for every account, to reconcile the two."""
    sums = dict(db.session.execute(
        db.select(LedgerEntry.account_id, db.func.coalesce(db.func.sum(LedgerEntry.amount), 0))
        .group_by(LedgerEntry.account_id)
    ).all())
    return {a.code: (a.balance, int(sums.get(a.id, 0)))
            for a in db.session.scalars(db.select(LedgerAccount).order_by(LedgerAccount.id))}


@dataclass(frozen=True)
class StatementLine:
    at: Any  # datetime of the transfer
    transfer_id: int
    key: str
    kind: str
    amount: int
    balance: int  # the account's balance after this entry
    memo: dict[str, Any] | None


def account_statement(code: str, *, limit: int = 50) -> list[StatementLine]:
    """The account's latest `limit` entries, oldest first, with the balance after each."""
    account = db.session.scalar(db.select(LedgerAccount).where(LedgerAccount.code == code))
    if account is None:
        raise RewardsNotFound(f"No ledger account {code!r}.")
    rows = db.session.execute(
        db.select(LedgerEntry.amount, LedgerTransfer.created_at, LedgerTransfer.id, LedgerTransfer.key,
                  LedgerTransfer.kind, LedgerTransfer.memo)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
        .where(LedgerEntry.account_id == account.id).order_by(LedgerEntry.id.desc()).limit(limit)
    ).all()
    balance = account.balance
    lines = []
    for amount, at, transfer_id, key, kind, memo in rows:  # newest first: walk the balance back
        lines.append(StatementLine(at, transfer_id, key, kind, amount, balance, memo))
        balance -= amount
    return lines[::-1]
