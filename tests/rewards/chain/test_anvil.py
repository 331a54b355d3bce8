"""The same client functions over real JSON-RPC against anvil (node_modules/.bin/anvil).

Not skipped when anvil is missing: it comes from `npm ci`, and a missing binary is a broken
setup that must fail loudly, in CI as anywhere."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from rewards.chain import client
from rewards.chain.anvil import Anvil, start_anvil
from rewards.chain.errors import TransactionReverted
from rewards.chain.merkle import earnings_tree


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = start_anvil()
    try:
        yield node
    finally:
        node.stop()
    assert node.process.poll() is not None  # nothing left running


def test_deploy_push_claim_over_json_rpc(anvil):
    w3 = anvil.w3
    assert w3.eth.chain_id == 31337
    owner = anvil.funded_account()
    token = client.deploy_token(w3, owner)
    distributor = client.deploy_distributor(w3, token.address, owner)
    client.mint(token, owner, distributor.address, 1_000_000)

    workers = [Account.create().address for _ in range(5)]
    receipt = client.push(distributor, owner, workers, [100, 200, 300, 400, 500])
    assert [client.balance_of(token, a) for a in workers] == [100, 200, 300, 400, 500]
    assert client.pushed_events(distributor, receipt) == [{"paidCount": 5, "totalAmount": 1500}]

    # an unsigned push built for the outbox, replayed: pays nothing the second time
    tx = client.build_push_tx(distributor, owner.address, workers, [100, 200, 300, 400, 500])
    assert tx["from"] == owner.address and "gas" in tx and tx["chainId"] == 31337
    replay = client.send(w3, owner, tx, abi=distributor.abi)
    assert client.pushed_events(distributor, replay) == [{"paidCount": 0, "totalAmount": 0}]

    tree = earnings_tree({a: 1_000 * (i + 1) for i, a in enumerate(workers)})
    client.post_epoch(distributor, owner, 1, tree.root, bytes(32))
    claimer = anvil.funded_account(1)
    client.claim(distributor, claimer, workers[2], 3_000, tree.proof(2))
    assert client.balance_of(token, workers[2]) == 3_000
    assert client.claimed_of(distributor, workers[2]) == 3_000

    with pytest.raises(TransactionReverted) as info:  # web3's ContractCustomError, decoded
        client.claim(distributor, claimer, workers[2], 3_000, tree.proof(2))
    assert info.value.error_name == "NothingToClaim"
    assert info.value.error_args["alreadyClaimed"] == 3_000


def test_missing_anvil_fails_with_a_hint(monkeypatch, tmp_path):
    from rewards.chain import anvil as anvil_module
    from rewards.chain.errors import ChainError

    monkeypatch.setattr(anvil_module, "ANVIL", tmp_path / "nope")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChainError, match="npm ci"):
        start_anvil()
