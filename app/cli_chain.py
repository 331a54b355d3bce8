"""`flask chain ...`: deposits seen on chain, and the sign-in nonce store.

    flask chain deposits scan [--from-block N] [--to-block N]   record transfers to the platform
    flask chain deposits credit                                 credit the confirmed ones, once
    flask chain deposits list [--status unmatched]              what was seen
    flask chain deposits assign DEPOSIT_ID USERNAME             an unmatched one was theirs
    flask chain nonces purge                                    drop expired sign-in nonces

Each command runs its service with no transaction open while the chain is read, then commits once.
A chain that cannot be used (the node is down, the configuration incomplete) ends the command
with its reason and exit status 1, never a traceback: `ChainCommands` groups do that for every
command under them, here and in `flask rewards`.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db, utcnow


class ChainCommands(AppGroup):
    """A command group whose commands fail with a clear message when the chain cannot be used;
    whatever the command left uncommitted is rolled back."""

    def invoke(self, ctx: click.Context):
        from flask import has_app_context

        from rewards.chain.errors import ChainError, ChainUnavailable

        try:
            return super().invoke(ctx)
        except ChainError as exc:
            if has_app_context():
                db.session.rollback()
            if not isinstance(exc, ChainUnavailable):
                raise click.ClickException(exc.message) from None
            raise click.ClickException(f"{exc.message} Check CHAIN_RPC_URL and try again: every step is "
                                       "safe to repeat.") from None


chain_group = ChainCommands("chain", help="Deposits seen on chain and wallet sign-in upkeep.")
deposits_group = AppGroup("deposits", help="Requester deposits: ERC-20 transfers to the platform wallet.")
nonces_group = AppGroup("nonces", help="Sign-In with Ethereum nonces.")
chain_group.add_command(deposits_group)
chain_group.add_command(nonces_group)


def _chain():
    from rewards.onchain import current_chain

    return current_chain()


@deposits_group.command("scan")
@click.option("--from-block", type=click.IntRange(min=0), default=None,
              help="First block to read (default: a few blocks below the newest recorded deposit, "
                   "or CHAIN_DEPOSIT_START_BLOCK).")
@click.option("--to-block", type=click.IntRange(min=0), default=None, help="Last block (default: the head).")
def scan_command(from_block: int | None, to_block: int | None) -> None:
    """Record token transfers to the platform wallet (each once); credit nothing yet."""
    from rewards.deposits import scan_deposits

    chain = _chain()
    db.session.commit()  # nothing is open while the chain is read
    result = scan_deposits(chain, from_block=from_block, to_block=to_block,
                           start_block=int(current_app.config.get("CHAIN_DEPOSIT_START_BLOCK") or 0))
    db.session.commit()
    click.echo(f"Scanned blocks {result.from_block}–{result.to_block} of chain {chain.chain_id}: "
               f"{result.new} new deposit(s) ({result.unmatched} from unknown wallets), "
               f"{result.moved} moved by a reorg.")


@deposits_group.command("credit")
def credit_command() -> None:
    """Credit confirmed, still-canonical deposits to their requesters (each exactly once)."""
    from rewards.deposits import credit_confirmed_deposits

    chain = _chain()
    db.session.commit()
    result = credit_confirmed_deposits(chain)
    lines = [f"  credited {d.amount} to user {d.user_id} ({d.tx_hash}:{d.log_index})" for d in result.credited]
    lines += [f"  reorged, not credited: {d.tx_hash}:{d.log_index}" for d in result.reorged]
    db.session.commit()
    for line in lines:
        click.echo(line)
    click.echo(f"Confirmed up to block {result.confirmed_block}: {len(result.credited)} credited, "
               f"{len(result.reorged)} reorged, {result.waiting} waiting for confirmations.")


@deposits_group.command("list")
@click.option("--status", type=click.Choice(["seen", "credited", "unmatched", "reorged"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
def list_command(status: str | None, limit: int) -> None:
    """Show recorded deposits, newest first."""
    from rewards.models import ChainDeposit

    query = db.select(ChainDeposit).order_by(ChainDeposit.id.desc()).limit(limit)
    if status:
        query = query.where(ChainDeposit.status == status)
    rows = db.session.scalars(query).all()
    if not rows:
        click.echo("No deposits.")
    for d in rows:
        click.echo(f"#{d.id:<6} {d.chain_id} {d.block_number:>10} {d.tx_hash}:{d.log_index} {d.from_address} "
                   f"{d.amount:>16} {d.status:<9} user={d.user_id or '-'}")


@deposits_group.command("assign")
@click.argument("deposit_id", type=int)
@click.argument("username")
def assign_command(deposit_id: int, username: str) -> None:
    """Credit an unmatched deposit to the requester USERNAME (it is credited by the next
    `credit`, once confirmed). Check who sent it first: this moves money."""
    from app.identity.models import User
    from rewards.deposits import assign_deposit
    from rewards.errors import RewardsError

    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    try:
        deposit = assign_deposit(deposit_id, user)
    except RewardsError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    amount = deposit.amount
    db.session.commit()
    click.echo(f"Deposit {deposit_id} ({amount}) is {username}'s; `flask chain deposits credit` credits it.")


@nonces_group.command("purge")
def purge_nonces_command() -> None:
    """Delete expired sign-in nonces (every request for a sign-in message stores one)."""
    from app.identity.wallets import purge_expired_nonces

    count = purge_expired_nonces(utcnow())
    db.session.commit()
    click.echo(f"Deleted {count} expired nonce(s).")
