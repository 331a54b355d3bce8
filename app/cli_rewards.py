"""`flask rewards ...`: balances, statements, reconciliation, releasing held earnings, credits,
and the payout steps by hand.

Each command is a transaction boundary: it calls services, then commits (the payout steps commit
between their chain calls, in rewards.payouts.cycle). A chain that cannot be used ends the
command with its reason and exit status 1 (`ChainCommands`).
"""
from __future__ import annotations

import datetime as dt

import click

from app.cli_chain import ChainCommands
from app.extensions import db, utcnow
from app.identity.models import User
from rewards.errors import RewardsError

rewards_group = ChainCommands("rewards", help="Balances, statements, reconciliation, credits and payouts.")


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
@click.option("--now", "now_text", help="Release as of this UTC time (ISO 8601); development and tests only.")
def release_command(now_text: str | None) -> None:
    """Move earnings whose hold period ended from pending to available."""
    from flask import current_app

    from rewards.holds import release_holds

    if now_text and current_app.config["ENV"] not in ("development", "testing"):
        # A time in the future ends every requester's dispute window at once.
        raise click.ClickException("--now is for development and tests only: in production a hold ends "
                                   "when its dispute window does (PAYOUT_HOLD_SECONDS).")
    try:
        now = dt.datetime.fromisoformat(now_text).replace(tzinfo=dt.UTC) if now_text else utcnow()
    except ValueError:
        raise click.ClickException(f"--now must be an ISO 8601 time such as 2026-01-31T12:00, not {now_text!r}.") \
            from None
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
    from rewards.funding import credit_requester
    from rewards.policy import current_policy

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


def _require_rpc_config() -> None:
    """Payout steps by hand need a real node. The embedded EVM lives and dies with one process,
    so its payouts run only in the server's background worker."""
    from flask import current_app

    if not current_app.config.get("CHAIN_RPC_URL"):
        raise click.ClickException(
            "Payout steps by hand need a real node: set CHAIN_RPC_URL (and the signer key, token and "
            "distributor addresses). With the embedded in-process chain, the server's background "
            "worker runs payouts (RUN_WORKER_IN_PROCESS).")


def _rpc_chain():
    """The configured chain for a payout step run by hand (connected now: ChainUnavailable if the
    node does not answer)."""
    from rewards.onchain import current_chain

    _require_rpc_config()
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

    _require_rpc_config()  # a node that is down at start is waited for (or, with --once, reported)
    run_worker(current_app._get_current_object(), interval=interval, once=once)


@rewards_group.command("deploy")
def deploy_command() -> None:
    """Deploy the reward token and a distributor with the signer key (prints the addresses to set)."""
    import os

    from eth_account import Account
    from flask import current_app

    from rewards.chain.rpc import http_web3
    from rewards.onchain import deploy_contracts

    config = current_app.config
    if not config.get("CHAIN_RPC_URL"):
        raise click.ClickException("Set CHAIN_RPC_URL to the node to deploy on.")
    key = os.environ.get(config["CHAIN_SIGNER_KEY_ENV"])
    if not key:
        raise click.ClickException(f"Set the signer key in ${config['CHAIN_SIGNER_KEY_ENV']}.")
    token, distributor = deploy_contracts(http_web3(config["CHAIN_RPC_URL"]), Account.from_key(key))
    click.echo(f"FLASK_CHAIN_TOKEN_ADDRESS={token.address}\nFLASK_CHAIN_DISTRIBUTOR_ADDRESS={distributor.address}")


@rewards_group.command("verify-proof")
@click.argument("proof_file", type=click.File("r"))
@click.option("--rpc", help="Read the posted root from this node instead of the configured chain.")
@click.option("--distributor", help="The distributor to read it from (default: CHAIN_DISTRIBUTOR_ADDRESS, "
                                    "else the one the proof names).")
def verify_proof_command(proof_file, rpc: str | None, distributor: str | None) -> None:
    """Check a contribution proof: the salted label opens its commitment, the leaf climbs to the
    root, and that root is the one posted on chain for the proof's epoch (exit 1 otherwise).

    The posted root is read from --rpc, else from the configured node (CHAIN_RPC_URL); with the
    embedded demo chain, which lives in the server process, from this server's record of the
    confirmed posting transaction. The output says which."""
    import json

    from flask import current_app

    from rewards.payouts import check_contribution_proof, proof_structure_error
    from rewards.payouts.proofs import root_from_chain, root_on_chain, root_on_record

    try:
        proof = json.load(proof_file)
        problem = proof_structure_error(proof)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"Not a Fairlabel contribution proof: {exc}.") from None
    if problem:
        click.echo(f"Invalid: {problem}.", err=True)
        raise SystemExit(1)
    config, epoch = current_app.config, proof["epoch"]
    notes = []
    if rpc:
        from eth_utils import is_address

        from rewards.chain import client
        from rewards.chain.rpc import http_web3

        address = distributor or config.get("CHAIN_DISTRIBUTOR_ADDRESS") or proof["distributor"]
        if not is_address(address):
            raise click.ClickException(f"--distributor must be an address, not {address!r}.")
        if not (distributor or config.get("CHAIN_DISTRIBUTOR_ADDRESS")):
            notes.append("The distributor checked is the one the proof names: make sure it is the platform's.")
        w3 = http_web3(rpc)
        posted = root_from_chain(int(w3.eth.chain_id), client.contract_at(w3, client.DISTRIBUTOR, address), epoch,
                                 block="finalized" if config["CHAIN_CONFIRMATIONS"] == "finalized" else "latest")
    elif config.get("CHAIN_RPC_URL"):
        posted = root_on_chain(_rpc_chain(), epoch)
    else:
        posted = root_on_record(proof["chain_id"], proof["distributor"], epoch,
                                note="the configured chain is the embedded demo EVM of the server process, "
                                     "which this command cannot read (pass --rpc to read a node)")
    result = check_contribution_proof(proof, posted)
    click.echo(result.message, err=not result.ok)
    for note in notes:
        click.echo(note)
    if not result.ok:
        raise SystemExit(1)
