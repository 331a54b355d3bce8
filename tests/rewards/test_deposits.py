"""Deposits on the embedded chain (issue #5): a requester's ERC-20 transfer to the platform is
recorded when scanned, credited once when confirmed, never twice, and never when its block was
replaced; a transfer from a wallet nobody linked waits for an admin to say whose it was.

One in-process EVM is shared by the module (starting one costs ~2.5 s); the CLI test starts the
app's own through `current_chain()`. Wallets sign locally with eth_account and send raw.
"""
from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from flask import Flask, g

from rewards.accounts import requester_balance
from rewards.chain import client as chain_client
from rewards.chain.embedded import ETHER, fund
from rewards.deposits import (
    credit_confirmed_deposits,
    deposit_source,
    scan_deposits,
    unmatched_deposits,
)
from rewards.funding import credit_deposit
from rewards.models import ChainDeposit
from rewards.onchain import chain_for

CONFIRMATIONS = 3


@pytest.fixture(scope="module")
def embedded():
    """The module's in-process chain, built by rewards.onchain like the app's own."""
    bare = Flask(__name__)
    bare.config.from_object("app.config")
    return chain_for(bare)


@pytest.fixture
def chain(app, embedded, monkeypatch):
    """The shared chain, also as the app's `current_chain()`, requiring 3 confirmations.

    The embedded handle treats one confirmation as final (it mines a block per transaction), so the
    CHAIN_CONFIRMATIONS setting does not reach it: the rule is set on a copy of the handle.
    """
    monkeypatch.setattr("rewards.onchain.current_chain", lambda: embedded)

    @app.before_request
    def forget_cached_user() -> None:  # test clients share the test's app context (and its g)
        g.pop("_login_user", None)

    return dataclasses.replace(embedded, confirmations=CONFIRMATIONS)


def sign(account, text: str) -> str:
    return account.sign_message(encode_defunct(text=text)).signature.to_0x_hex()


def link_wallet_via_api(client, account) -> None:
    response = client.post("/api/siwe/message", json={"address": account.address, "purpose": "link"})
    assert response.status_code == 200, response.json
    text = response.json["message"]
    response = client.post("/api/wallet/link", json={"message": text, "signature": sign(account, text)})
    assert response.status_code == 200, response.json


def new_wallet(chain, tokens: int):
    """A fresh key with gas money and `tokens` minted to it by the token's owner."""
    account = Account.create()
    fund(chain.w3, account.address, ETHER)
    chain_client.mint(chain.token, chain.signer, account.address, tokens)
    return account


def transfer_to_platform(chain, account, amount: int):
    tx = chain_client.build_tx(chain.token.functions.transfer(chain.address, amount), account.address)
    return chain_client.send(chain.w3, account, tx, abi=chain.token.abi)


def mine(chain, blocks: int) -> None:
    """Bury the head under `blocks` more blocks (one dummy transaction each)."""
    for _ in range(blocks):
        fund(chain.w3, Account.create().address, 1)


def settle(db):
    db.session.commit()  # the services read the chain only with no transaction open


def balance(user) -> int:
    from rewards.policy import current_policy

    return requester_balance(current_policy().token, user.id)


def test_a_deposit_is_credited_once_and_only_when_confirmed(app, db, chain, make_user, login):
    requester = make_user("requester")
    web = login(requester)
    wallet = new_wallet(chain, 1_000)
    link_wallet_via_api(web, wallet)  # the message names the embedded chain's id
    start = chain.w3.eth.block_number + 1
    receipt = transfer_to_platform(chain, wallet, 700)
    settle(db)

    scanned = scan_deposits(chain, from_block=start)
    settle(db)
    assert (scanned.new, scanned.unmatched) == (1, 0)
    deposit = db.session.scalar(db.select(ChainDeposit))
    assert (deposit.status, deposit.user_id, deposit.amount) == ("seen", requester.id, 700)
    assert deposit.chain_id == chain.chain_id and deposit.from_address == wallet.address
    assert deposit.tx_hash == receipt["transactionHash"].to_0x_hex()
    assert deposit.block_number == receipt["blockNumber"]
    settle(db)

    # Buried under 0 and then 1 block: not yet final with 3 confirmations.
    for _ in range(2):
        result = credit_confirmed_deposits(chain)
        settle(db)
        assert (result.credited, result.waiting) == ([], 1)
        assert balance(requester) == 0
        settle(db)
        mine(chain, 1)

    result = credit_confirmed_deposits(chain)
    settle(db)
    assert [d.amount for d in result.credited] == [700] and result.confirmed_block == receipt["blockNumber"]
    assert balance(requester) == 700
    deposit = db.session.scalar(db.select(ChainDeposit))
    assert deposit.status == "credited" and deposit.credited_at is not None
    settle(db)

    # Scanning and crediting again, or the same source reported again, change nothing.
    again = scan_deposits(chain, from_block=start)
    settle(db)
    assert (again.new, again.moved) == (0, 0)
    assert credit_confirmed_deposits(chain).credited == []
    settle(db)
    credit_deposit(requester, 700, source=deposit_source(deposit.chain_id, deposit.tx_hash, deposit.log_index))
    settle(db)
    assert balance(requester) == 700
    assert db.session.scalar(db.select(db.func.count(ChainDeposit.id))) == 1


def test_a_transfer_from_an_unknown_wallet_waits_for_an_admin_to_assign_it(app, db, chain, make_user, login,
                                                                              runner):
    requester, annotator, admin = make_user("requester"), make_user("annotator"), make_user("admin")
    stranger = new_wallet(chain, 100)
    worker_wallet = new_wallet(chain, 100)
    link_wallet_via_api(login(annotator), worker_wallet)  # an annotator's wallet is no requester's
    start = chain.w3.eth.block_number + 1
    transfer_to_platform(chain, stranger, 40)
    transfer_to_platform(chain, worker_wallet, 60)
    chain_client.mint(chain.token, chain.signer, chain.address, 5)  # a mint is not a deposit
    mine(chain, CONFIRMATIONS)
    settle(db)

    scanned = scan_deposits(chain, from_block=start)
    settle(db)
    assert (scanned.new, scanned.unmatched) == (2, 2)
    result = credit_confirmed_deposits(chain)
    settle(db)
    assert (result.credited, result.waiting) == ([], 0)
    rows = unmatched_deposits()
    assert sorted((d.from_address, d.amount, d.user_id) for d in rows) == sorted(
        [(stranger.address, 40, None), (worker_wallet.address, 60, None)])
    assert balance(requester) == 0 and balance(annotator) == 0
    page = login(admin).get("/wallet").get_data(as_text=True)
    assert stranger.address in page and rows[0].tx_hash in page
    assert stranger.address not in login(requester).get("/wallet").get_data(as_text=True)

    # An admin who knows whose it was assigns it; the next credit run credits it, once.
    from app.cli_chain import chain_group

    stranger_deposit = next(d for d in rows if d.from_address == stranger.address)
    settle(db)
    listing = runner.invoke(chain_group, ["deposits", "list", "--status", "unmatched"])
    assert f"#{stranger_deposit.id} " in listing.output
    assigned = runner.invoke(chain_group, ["deposits", "assign", str(stranger_deposit.id), annotator.username])
    assert assigned.exit_code == 1 and "not a requester" in assigned.output
    assigned = runner.invoke(chain_group, ["deposits", "assign", str(stranger_deposit.id), requester.username])
    assert assigned.exit_code == 0, assigned.output
    settle(db)
    assert [d.amount for d in credit_confirmed_deposits(chain).credited] == [40]
    settle(db)
    assert balance(requester) == 40
    again = runner.invoke(chain_group, ["deposits", "assign", str(stranger_deposit.id), requester.username])
    assert again.exit_code == 1 and "is credited, not unmatched" in again.output


def test_a_deposit_whose_block_is_replaced_is_not_credited_until_seen_again(app, db, chain, make_user, login):
    requester = make_user("requester")
    wallet = new_wallet(chain, 500)
    link_wallet_via_api(login(requester), wallet)
    tester = chain.w3.provider.ethereum_tester
    start = chain.w3.eth.block_number + 1
    snapshot = tester.take_snapshot()
    tx = chain_client.build_tx(chain.token.functions.transfer(chain.address, 300), wallet.address)
    raw = wallet.sign_transaction(tx).raw_transaction
    first = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(raw))
    settle(db)
    assert scan_deposits(chain, from_block=start).new == 1
    settle(db)

    # A reorg: the deposit's block is replaced by others that do not contain it.
    tester.revert_to_snapshot(snapshot)
    mine(chain, CONFIRMATIONS + 1)
    settle(db)
    result = credit_confirmed_deposits(chain)
    settle(db)
    assert result.credited == [] and [d.tx_hash for d in result.reorged] == [first["transactionHash"].to_0x_hex()]
    assert db.session.scalar(db.select(ChainDeposit.status)) == "reorged"
    assert balance(requester) == 0
    settle(db)

    # The same signed transaction is mined again, in another block: scanned, it is "seen" again.
    again = chain.w3.eth.wait_for_transaction_receipt(chain.w3.eth.send_raw_transaction(raw))
    assert again["transactionHash"] == first["transactionHash"] and again["blockHash"] != first["blockHash"]
    mine(chain, CONFIRMATIONS - 1)
    settle(db)
    scanned = scan_deposits(chain, from_block=start)
    settle(db)
    assert (scanned.new, scanned.moved) == (0, 1)
    deposit = db.session.scalar(db.select(ChainDeposit))
    assert (deposit.status, deposit.block_hash) == ("seen", again["blockHash"].to_0x_hex())
    settle(db)
    assert [d.amount for d in credit_confirmed_deposits(chain).credited] == [300]
    settle(db)
    assert balance(requester) == 300


def test_services_refuse_to_read_the_chain_inside_a_transaction(app, db, chain):
    db.session.execute(db.select(ChainDeposit.id)).all()  # opens a transaction
    with pytest.raises(RuntimeError, match="transaction"):
        scan_deposits(chain, from_block=0)
    with pytest.raises(RuntimeError, match="transaction"):
        credit_confirmed_deposits(chain)


def test_cli_scans_and_credits_through_the_apps_own_chain(app, db, make_user, login, runner):
    """No shortcuts: the app starts its embedded chain, the wallet is linked with that chain's id,
    and the commands scan from the default cursor (there is no deposit yet: block 0)."""
    from app.cli_chain import chain_group
    from rewards.onchain import current_chain

    @app.before_request
    def forget_cached_user() -> None:
        g.pop("_login_user", None)

    chain = current_chain()
    requester = make_user("requester")
    web = login(requester)
    wallet = new_wallet(chain, 250)
    link_wallet_via_api(web, wallet)
    assert f"Chain ID: {chain.chain_id}\n" in web.post(
        "/api/siwe/message", json={"address": wallet.address, "purpose": "link"}).json["message"]
    transfer_to_platform(chain, wallet, 250)
    settle(db)

    scan = runner.invoke(chain_group, ["deposits", "scan"])
    assert scan.exit_code == 0, scan.output
    assert "1 new deposit(s) (0 from unknown wallets)" in scan.output and "Scanned blocks 0–" in scan.output
    credit = runner.invoke(chain_group, ["deposits", "credit"])  # the embedded rule: 1 confirmation
    assert credit.exit_code == 0, credit.output
    assert f"credited 250 to user {requester.id}" in credit.output
    assert runner.invoke(chain_group, ["deposits", "credit"]).output.startswith("Confirmed up to block")
    assert "0 credited" in runner.invoke(chain_group, ["deposits", "credit"]).output
    listing = runner.invoke(chain_group, ["deposits", "list"])
    assert "credited" in listing.output and wallet.address in listing.output
    db.session.rollback()
    assert balance(requester) == 250
