"""An in-process EVM with the token and distributor deployed: payouts with nothing else running.

The demo's default chain and the fast test chain (design.md §4, §6). It runs py-evm through
eth-tester (`eth-tester[py-evm]`, a dependency of the package); production points web3 at an
RPC URL instead and uses the same client functions.
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from rewards.chain import client
from rewards.chain.errors import ChainError

ETHER = 10**18


@dataclass(frozen=True)
class EmbeddedChain:
    """A running in-process chain: the web3 handle, the owner's key and the two contracts."""

    w3: Web3
    owner: LocalAccount
    token: Contract
    distributor: Contract

    def fund(self, address: str, wei: int = 10 * ETHER) -> None:
        """Give `address` gas money from the chain's prefunded account."""
        fund(self.w3, address, wei)


def new_web3() -> Web3:
    """A fresh in-process EVM (py-evm, latest fork eth-tester supports, auto-mining)."""
    try:
        from web3 import EthereumTesterProvider

        return Web3(EthereumTesterProvider())
    except ImportError as exc:  # eth-tester or py-evm missing
        raise ChainError("The in-process EVM needs eth-tester[py-evm]: "
                         "pip install 'eth-tester[py-evm]'.") from exc


def fund(w3: Web3, address: str, wei: int) -> None:
    """Send `wei` to `address` from eth-tester's first (unlocked, prefunded) account."""
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": wei})
    w3.eth.wait_for_transaction_receipt(tx_hash)


def start_embedded_chain(owner_key: str | bytes | None = None, *, fund_distributor: int = 0,
                         owner_ether: int = 100) -> EmbeddedChain:
    """Start an in-process chain, fund an owner key (a new random one by default), deploy the
    token and a distributor paying in it, and mint `fund_distributor` tokens to the distributor."""
    w3 = new_web3()
    owner: LocalAccount = Account.from_key(owner_key) if owner_key else Account.create()
    fund(w3, owner.address, owner_ether * ETHER)
    token = client.deploy_token(w3, owner)
    distributor = client.deploy_distributor(w3, token.address, owner)
    if fund_distributor:
        client.mint(token, owner, distributor.address, fund_distributor)
    return EmbeddedChain(w3, owner, token, distributor)
