"""`flask rewards ...`: balances, statements, reconciliation, releasing held earnings, credits."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from annotation.models import User
from app.extensions import db, utcnow
from rewards.errors import RewardsError

rewards_group = AppGroup("rewards", help="Balances, statements, reconciliation and credits.")


def _fail(exc: RewardsError) -> None:
    db.session.rollback()
    raise click.ClickException(exc.message)


def _account_code(name: str) -> str:
    """Accept an account code with or without its token ("requester:5" or "FLT:requester:5"),
    or a username ("@alice" → their requester or worker accounts are listed by `balance`)."""
    from rewards.models import LedgerAccount
    from rewards.policy import current_policy

    for code in (name, f"{current_policy().token}:{name}"):
        if db.session.scalar(db.select(LedgerAccount.id).where(LedgerAccount.code == code)) is not None:
            return code
    raise click.ClickException(f"No ledger account {name!r}. Try `flask rewards balance` to list them.")


@rewards_group.command("balance")
@click.argument("account", required=False)
def balance_command(account: str | None) -> None:
    """Show one account's balance, a user's accounts (@username), or every account."""
    from rewards.models import LedgerAccount

    query = db.select(LedgerAccount).order_by(LedgerAccount.id)
    if account and account.startswith("@"):
        user = db.session.scalar(db.select(User).where(User.username == account[1:]))
        if user is None:
            raise click.ClickException(f"No user named {account[1:]!r}.")
        query = query.where(LedgerAccount.user_id == user.id)
    elif account:
        query = query.where(LedgerAccount.code == _account_code(account))
    rows = db.session.scalars(query).all()
    if not rows:
        click.echo("No accounts yet.")
    for row in rows:
        click.echo(f"{row.code:<40} {row.kind:<18} {row.balance:>16}")


@rewards_group.command("statement")
@click.argument("account")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def statement_command(account: str, limit: int) -> None:
    """List an account's latest entries, oldest first, with the running balance."""
    from rewards.ledger import account_statement

    code = _account_code(account)
    lines = account_statement(code, limit=limit)
    click.echo(f"{'when (UTC)':<20} {'transfer':<36} {'kind':<16} {'amount':>12} {'balance':>14}")
    for line in lines:
        click.echo(f"{line.at.strftime('%Y-%m-%d %H:%M:%S'):<20} {line.key:<36} {line.kind:<16} "
                   f"{line.amount:>12} {line.balance:>14}")
    if not lines:
        click.echo("(no entries)")


@rewards_group.command("reconcile")
def reconcile_command() -> None:
    """Recompute every balance from its transfers and report any difference (exit 1 if any)."""
    from rewards.reconcile import reconcile_ledger

    result = reconcile_ledger()
    click.echo(f"{result.n_accounts} accounts, {result.n_transfers} transfers, sum of balances {result.total}.")
    for found in result.discrepancies:
        click.echo(f"MISMATCH {found.what}: {found.problem}", err=True)
    if not result.ok:
        raise SystemExit(1)
    click.echo("Every balance equals the sum of its entries; nothing is negative that must not be.")


@rewards_group.command("release")
@click.option("--now", "now_text", help="Release as of this UTC time (ISO 8601), for testing.")
def release_command(now_text: str | None) -> None:
    """Move earnings whose hold period ended from pending to available."""
    from rewards.settlement import release_holds

    now = dt.datetime.fromisoformat(now_text).replace(tzinfo=dt.UTC) if now_text else utcnow()
    total = 0
    while released := release_holds(now=now):
        db.session.commit()
        total += released
    click.echo(f"Released {total} held earnings.")


@rewards_group.command("credit")
@click.argument("username")
@click.argument("amount", type=click.IntRange(min=1))
@click.option("--key", required=True, help="Unique id of this credit: running it again credits nothing.")
def credit_command(username: str, amount: int, key: str) -> None:
    """Credit a requester's balance from the treasury (development and demo funding)."""
    from rewards.accounts import requester_balance
    from rewards.policy import current_policy
    from rewards.settlement import credit_requester

    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None or not user.is_requester:
        raise click.ClickException(f"No requester named {username!r}.")
    try:
        credit_requester(user, amount, key=key)
    except RewardsError as exc:
        _fail(exc)
    db.session.commit()
    token = current_policy().token
    click.echo(f"{username}: balance {requester_balance(token, user.id)} {token}.")
