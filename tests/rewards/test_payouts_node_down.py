"""Issue #9: "A dead RPC node gives 500". With CHAIN_RPC_URL pointing at a closed port, every page,
API call, command and the worker answers with the reason (503 where the chain is needed), never a
500 or a traceback, and the RPC URL's path (where providers put API keys) is never shown."""
from __future__ import annotations

import logging
import socket

import pytest
from eth_account import Account

from app.worker import run_worker
from rewards.chain.errors import ChainError, ChainUnavailable

SECRET_PATH = "/v3/not-for-your-eyes"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def dead_node(app, monkeypatch):
    """The app configured for a real node that refuses every connection."""
    monkeypatch.setenv(app.config["CHAIN_SIGNER_KEY_ENV"], "0x" + "42" * 32)
    app.config.update(CHAIN_RPC_URL=f"http://127.0.0.1:{closed_port()}{SECRET_PATH}",
                      CHAIN_TOKEN_ADDRESS=Account.create().address,
                      CHAIN_DISTRIBUTOR_ADDRESS=Account.create().address, CHAIN_ID=None)
    app.extensions.pop("fairlabel_chain", None)
    yield app.config["CHAIN_RPC_URL"]
    app.extensions.pop("fairlabel_chain", None)


def test_dead_node_wallet_page_for_a_requester_says_so_instead_of_500(db, make_user, login, dead_node):
    requester = make_user("requester")
    requester.wallet_address = Account.create().address
    db.session.commit()
    page = login(requester).get("/wallet")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and requester.wallet_address in text
    assert "The blockchain node cannot be reached right now, so the deposit address is not shown." in text
    assert SECRET_PATH not in text


def test_dead_node_wallet_sign_in_message_is_503_with_a_clear_message(client, dead_node):
    answer = client.post("/api/siwe/message", json={"address": Account.create().address, "purpose": "login"})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert error["code"] == "chain_unavailable" and "cannot be reached" in error["message"]


def test_dead_node_gives_chain_unavailable_a_connection_error(app, dead_node):
    from rewards.onchain import current_chain

    with pytest.raises(ChainUnavailable) as caught:
        current_chain()
    assert isinstance(caught.value, ChainError) and isinstance(caught.value, ConnectionError)
    assert caught.value.code == "chain_unavailable" and SECRET_PATH not in str(caught.value)
    assert "fairlabel_chain" not in app.extensions  # the next use tries again


@pytest.mark.parametrize("args", [
    ["rewards", "epoch"], ["rewards", "push"], ["rewards", "confirm"], ["rewards", "reconcile-chain"],
    ["rewards", "reconcile"], ["rewards", "worker", "--once"], ["rewards", "deploy"],
    ["chain", "deposits", "scan"], ["chain", "deposits", "credit"],
], ids=" ".join)
def test_dead_node_cli_commands_fail_with_the_reason(runner, dead_node, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "cannot be reached (connection failed)" in result.output
    assert "Traceback" not in result.output and SECRET_PATH not in result.output


def test_dead_node_verify_proof_with_rpc_fails_with_the_reason(runner, tmp_path, dead_node):
    import json

    from rewards.chain import merkle

    wallet, commitment = Account.create().address, "0x" + merkle.label_commitment(bytes(32), "{}").hex()
    leaf = "0x" + merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (1, 1, wallet, bytes.fromhex(commitment[2:]), 5, 1)).hex()
    proof = {"answer_id": 1, "item_id": 1, "wallet": wallet, "label_json": "{}", "salt": "0x" + "00" * 32,
             "label_commitment": commitment, "reward": 5, "epoch": 1, "proof": [], "root": leaf, "chain_id": 1,
             "distributor": Account.create().address}
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    result = runner.invoke(args=["rewards", "verify-proof", str(path), "--rpc", dead_node])
    assert result.exit_code == 1 and "cannot be reached" in result.output and SECRET_PATH not in result.output


def test_dead_node_worker_keeps_trying_and_once_reports(app, dead_node, caplog):
    with pytest.raises(ChainUnavailable):
        run_worker(app, interval=1, once=True)

    naps = []

    def sleep(seconds):
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt  # stop the loop: the test has seen enough turns

    with caplog.at_level(logging.WARNING, logger="app.worker"), pytest.raises(KeyboardInterrupt):
        run_worker(app, interval=1, sleep=sleep)
    skipped = [r for r in caplog.records if "payout cycle skipped" in r.getMessage()]
    assert len(skipped) == 3 and all(r.exc_info is None for r in skipped)  # a warning, not a crash
    assert "cannot be reached" in skipped[0].getMessage()


# --- issue #9 §4: "/wallet answers 500 for every demo annotator" ------------------------------------

def test_wallet_page_without_wallet_verified_at_is_not_500(db, make_user, login):
    """A linked wallet with no verification time (as the demo data had) renders, saying so."""
    for role in ("annotator", "requester"):
        user = make_user(role)
        user.wallet_address, user.wallet_verified_at = Account.create().address, None
        db.session.commit()
        page = login(user).get("/wallet")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and user.wallet_address in text
        assert "No record of when this wallet was proven by signature" in text
