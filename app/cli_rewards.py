"""`flask rewards ...`: balances, statements, reconciliation, releasing held earnings, credits."""
from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup

from app.extensions import db, utcnow
from app.identity.models import User
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
    """Recompute every balance from its transfers and report any difference; with a real node
    configured, then reconcile with the chain too (exit 1 on any mismatch)."""
    from flask import current_app

    from rewards.reconcile import reconcile_ledger

    result = reconcile_ledger()
    click.echo(f"{result.n_accounts} accounts, {result.n_transfers} transfers, sum of balances {result.total}.")
    for found in result.discrepancies:
        click.echo(f"MISMATCH {found.what}: {found.problem}", err=True)
    if result.ok:
        click.echo("Every balance equals the sum of its entries; nothing is negative that must not be.")
    chain_ok = True
    if current_app.config.get("CHAIN_RPC_URL"):
        chain_ok = _reconcile_chain_report()
    if not (result.ok and chain_ok):
        raise SystemExit(1)


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


def _rpc_chain():
    """The configured chain for a payout step run by hand. The embedded EVM lives and dies with
    one process, so its payouts run only in the server's background worker."""
    from flask import current_app

    from rewards.onchain import current_chain

    if not current_app.config.get("CHAIN_RPC_URL"):
        raise click.ClickException(
            "Payout steps by hand need a real node: set CHAIN_RPC_URL (and the signer key, token and "
            "distributor addresses). With the embedded in-process chain, the server's background "
            "worker runs payouts (RUN_WORKER_IN_PROCESS).")
    return current_chain()


@rewards_group.command("epoch")
def epoch_command() -> None:
    """Record the next payout epoch: due balances go in flight, roots and transactions are queued."""
    from rewards.payouts import build_epoch, open_epoch

    chain = _rpc_chain()
    epoch = build_epoch(chain)
    db.session.commit()
    if epoch is None:
        still = open_epoch()
        click.echo(f"Epoch {still.id} is still being paid; run `flask rewards push` and `confirm`."
                   if still else "Nobody is due a payout; no epoch recorded.")
        return
    click.echo(f"Epoch {epoch.id}: {epoch.n_wallets} wallets, {epoch.total_amount} {epoch.token}, "
               f"{epoch.n_contributions} contributions; earnings root {epoch.earnings_root}.")


@rewards_group.command("push")
def push_command() -> None:
    """Sign (nonces from the database) and broadcast every queued payout transaction."""
    from rewards.payouts import send_queued

    sent = send_queued(_rpc_chain())
    click.echo(f"Broadcast {sent} transactions.")


@rewards_group.command("confirm")
def confirm_command() -> None:
    """Let the chain decide every open payout transaction (settle, re-broadcast, replace)."""
    from rewards.payouts import confirm_sent

    report = confirm_sent(_rpc_chain())
    click.echo(f"confirmed {report.confirmed}, reverted {report.reverted}, re-broadcast "
               f"{report.rebroadcast}, replaced {report.replaced}, waiting {report.waiting}.")


@rewards_group.command("reconcile-chain")
def reconcile_chain_command() -> None:
    """Compare what the ledger paid with the distributor's `claimed`, wallet by wallet (exit 1 on
    any mismatch; nothing is changed)."""
    if not _reconcile_chain_report():
        raise SystemExit(1)


def _reconcile_chain_report() -> bool:
    from rewards.payouts import reconcile_chain

    result = reconcile_chain(_rpc_chain())
    click.echo(f"{result.wallets_checked} wallets: ledger paid {result.ledger_paid}, claimed on chain "
               f"{result.chain_claimed}; in flight {result.in_flight}; distributor holds "
               f"{result.distributor_balance}.")
    click.echo(f"On chain the platform holds {result.custody} (its wallet and the distributor); the ledger "
               f"owes {result.liabilities} (surplus {result.surplus}).")
    for problem in result.mismatches:
        click.echo(f"MISMATCH {problem}", err=True)
    return result.ok


@rewards_group.command("worker")
@click.option("--interval", type=click.IntRange(1, 86_400), default=60, show_default=True)
@click.option("--once", is_flag=True, help="Run one cycle and exit.")
def worker_command(interval: int, once: bool) -> None:
    """Run the payout worker: reconcile at start, then release holds, confirm, build, send."""
    from flask import current_app

    from app.worker import run_worker

    _rpc_chain()
    run_worker(current_app._get_current_object(), interval=interval, once=once)


@rewards_group.command("deploy")
def deploy_command() -> None:
    """Deploy the reward token and a distributor with the signer key (prints the addresses to set)."""
    import os

    from eth_account import Account
    from flask import current_app
    from web3 import Web3

    from rewards.onchain import deploy_contracts

    config = current_app.config
    if not config.get("CHAIN_RPC_URL"):
        raise click.ClickException("Set CHAIN_RPC_URL to the node to deploy on.")
    key = os.environ.get(config["CHAIN_SIGNER_KEY_ENV"])
    if not key:
        raise click.ClickException(f"Set the signer key in ${config['CHAIN_SIGNER_KEY_ENV']}.")
    w3 = Web3(Web3.HTTPProvider(config["CHAIN_RPC_URL"]))
    token, distributor = deploy_contracts(w3, Account.from_key(key))
    click.echo(f"FLASK_CHAIN_TOKEN_ADDRESS={token.address}\nFLASK_CHAIN_DISTRIBUTOR_ADDRESS={distributor.address}")


@rewards_group.command("verify-proof")
@click.argument("proof_file", type=click.File("r"))
@click.option("--rpc", help="Also check the root against the distributor on this node.")
def verify_proof_command(proof_file, rpc: str | None) -> None:
    """Check a downloaded contribution proof: the salted label opens its commitment and the leaf
    climbs to the root (and, with --rpc, that root is the one posted on chain)."""
    import json

    from rewards.payouts import verify_contribution_proof

    try:
        proof = json.load(proof_file)
        ok = verify_contribution_proof(proof)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"Not a Fairlabel contribution proof: {exc}") from None
    if not ok:
        click.echo("INVALID: the proof does not lead to its root.", err=True)
        raise SystemExit(1)
    click.echo(f"Valid: answer {proof['answer_id']} (reward {proof['reward']}) is in epoch {proof['epoch']}'s "
               f"root {proof['root']}.")
    if rpc:
        from web3 import Web3

        from rewards.chain import client

        w3 = Web3(Web3.HTTPProvider(rpc))
        distributor = client.contract_at(w3, client.DISTRIBUTOR, proof["distributor"])
        posted = "0x" + distributor.functions.contributionsRoot(int(proof["epoch"])).call().hex()
        if posted.lower() != proof["root"].lower():
            click.echo(f"INVALID: the distributor holds {posted} for epoch {proof['epoch']}.", err=True)
            raise SystemExit(1)
        click.echo("The root matches the one posted on chain.")
