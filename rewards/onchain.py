"""The configured chain: an in-process EVM by default, or any JSON-RPC node with a signer key.

`current_chain()` returns one handle per app (web3, the signer, the token and distributor
contracts, the confirmation rule), built from the config on first use. The signer's private key is
read from the environment variable the config names — never from a file, never logged. A node that
cannot be reached raises ChainUnavailable (rewards/chain/rpc.py), on connecting and on every call
after; the handle is kept only once connecting succeeded, so the next use tries again.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from flask import Flask, current_app
from web3 import Web3
from web3.contract import Contract

from rewards.chain import client
from rewards.chain.errors import ChainError
from rewards.chain.rpc import http_web3

# The embedded chain's platform wallet starts with this many token units: the on-chain float that
# backs the demo's faucet credits and funds the distributor before each push.
EMBEDDED_FLOAT = 10**15


@dataclass
class ChainHandle:
    w3: Web3
    signer: LocalAccount = field(repr=False)
    token: Contract
    distributor: Contract
    chain_id: int
    confirmations: int | str  # a block count, or "finalized"
    max_fee_per_gas: int
    stuck_seconds: int
    embedded: bool

    @property
    def address(self) -> str:
        return self.signer.address

    def confirmed_block(self) -> int:
        """The highest block number that counts as final under the confirmation rule."""
        if self.confirmations == "finalized":
            return int(self.w3.eth.get_block("finalized")["number"])
        return int(self.w3.eth.block_number) - int(self.confirmations) + 1


_lock = threading.Lock()


def current_chain() -> ChainHandle:
    """The app's chain handle, connected (or started, for the embedded EVM) on first use."""
    return chain_for(current_app._get_current_object())  # type: ignore[attr-defined]


def chain_for(app: Flask) -> ChainHandle:
    with _lock:
        handle = app.extensions.get("fairlabel_chain")
        if handle is None:
            handle = app.extensions["fairlabel_chain"] = _connect(app.config)
        return handle


def _connect(config: dict[str, Any]) -> ChainHandle:
    confirmations = config["CHAIN_CONFIRMATIONS"]
    if confirmations != "finalized" and (isinstance(confirmations, bool) or not isinstance(confirmations, int)
                                         or confirmations < 1):
        raise ChainError("CHAIN_CONFIRMATIONS must be a block count ≥ 1 or 'finalized'.")
    common = dict(confirmations=confirmations, max_fee_per_gas=int(config["CHAIN_MAX_FEE_PER_GAS"]),
                  stuck_seconds=int(config["CHAIN_STUCK_SECONDS"]))
    url = config.get("CHAIN_RPC_URL")
    if not url:
        return _embedded(common)
    w3 = http_web3(url)
    key_env = config["CHAIN_SIGNER_KEY_ENV"]
    key = os.environ.get(key_env)
    if not key:
        raise ChainError(f"Set the payout signer's private key in the environment variable {key_env}.")
    signer: LocalAccount = Account.from_key(key)
    chain_id = int(w3.eth.chain_id)
    if config.get("CHAIN_ID") is not None and int(config["CHAIN_ID"]) != chain_id:
        raise ChainError(f"The node at CHAIN_RPC_URL is chain {chain_id}, not the configured "
                         f"CHAIN_ID {config['CHAIN_ID']}: refusing to sign for it.")
    token_address, distributor_address = config.get("CHAIN_TOKEN_ADDRESS"), config.get("CHAIN_DISTRIBUTOR_ADDRESS")
    if not token_address or not distributor_address:
        raise ChainError("Set CHAIN_TOKEN_ADDRESS and CHAIN_DISTRIBUTOR_ADDRESS (see `flask rewards "
                         "deploy` to deploy the contracts).")
    return ChainHandle(w3, signer, client.contract_at(w3, client.TOKEN, token_address),
                       client.contract_at(w3, client.DISTRIBUTOR, distributor_address), chain_id,
                       embedded=False, **common)


def _embedded(common: dict[str, Any]) -> ChainHandle:
    from rewards.chain.embedded import start_embedded_chain

    chain = start_embedded_chain()
    client.mint(chain.token, chain.owner, chain.owner.address, EMBEDDED_FLOAT)
    # The in-process EVM mines a block per transaction: one confirmation is final there.
    common = {**common, "confirmations": 1}
    return ChainHandle(chain.w3, chain.owner, chain.token, chain.distributor, int(chain.w3.eth.chain_id),
                       embedded=True, **common)


def deploy_contracts(w3: Web3, signer: LocalAccount) -> tuple[Contract, Contract]:
    """Deploy the reward token and a distributor paying in it (for `flask rewards deploy`)."""
    token = client.deploy_token(w3, signer)
    return token, client.deploy_distributor(w3, token.address, signer)
