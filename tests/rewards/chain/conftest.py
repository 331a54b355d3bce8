"""Fixtures for chain tests: one in-process EVM per session, rolled back after every test.

Deploying both contracts on py-evm takes a few seconds, so the chain is started once and each
test runs inside an eth-tester snapshot that is reverted afterwards: every test sees the same
fresh deployment. No database and no Flask app are involved.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from rewards.chain.embedded import EmbeddedChain, start_embedded_chain

DISTRIBUTOR_FUNDS = 10**15  # token units (FLT has no decimals)


@pytest.fixture(scope="session")
def _session_chain() -> EmbeddedChain:
    return start_embedded_chain(fund_distributor=DISTRIBUTOR_FUNDS)


@pytest.fixture
def chain(_session_chain: EmbeddedChain) -> Iterator[EmbeddedChain]:
    tester = _session_chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    try:
        yield _session_chain
    finally:
        tester.revert_to_snapshot(snapshot)


@pytest.fixture
def new_account(chain: EmbeddedChain) -> Callable[..., LocalAccount]:
    """A fresh key, funded with gas money unless `funded=False`."""

    def make(*, funded: bool = True) -> LocalAccount:
        account: LocalAccount = Account.create()
        if funded:
            chain.fund(account.address)
        return account

    return make


@pytest.fixture
def wallets() -> Callable[[int], list[str]]:
    """`n` fresh worker addresses (no keys needed: they only receive)."""
    return lambda n: [Account.create().address for _ in range(n)]
