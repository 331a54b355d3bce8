"""FairlabelToken: owner-only minting, two-step ownership and EIP-2612 permit."""
from __future__ import annotations

import pytest
from eth_account import Account

from rewards.chain import client
from rewards.chain.errors import TransactionReverted


def test_only_the_owner_mints(chain, new_account):
    holder = new_account()
    client.mint(chain.token, chain.owner, holder.address, 1_234)
    assert client.balance_of(chain.token, holder.address) == 1_234
    with pytest.raises(TransactionReverted) as info:
        client.mint(chain.token, holder, holder.address, 1)
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    assert chain.token.functions.symbol().call() == "FLT"


def test_token_ownership_is_two_step(chain, new_account):
    successor = new_account()
    client.transact(chain.token.functions.transferOwnership(successor.address), chain.owner)
    client.mint(chain.token, chain.owner, successor.address, 1)  # still the owner until accepted
    client.transact(chain.token.functions.acceptOwnership(), successor)
    assert chain.token.functions.owner().call() == successor.address


def _permit_signature(chain, holder, spender: str, value: int, deadline: int):
    token = chain.token
    nonce = token.functions.nonces(holder.address).call()
    signed = Account.sign_typed_data(
        holder.key,
        domain_data={"name": "Fairlabel Token", "version": "1",
                     "chainId": chain.w3.eth.chain_id, "verifyingContract": token.address},
        message_types={"Permit": [
            {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"}]},
        message_data={"owner": holder.address, "spender": spender, "value": value,
                      "nonce": nonce, "deadline": deadline},
    )
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def test_permit_approves_without_a_transaction_from_the_holder(chain, new_account):
    holder = Account.create()  # never pays gas: the spender submits the permit
    spender = new_account()
    client.mint(chain.token, chain.owner, holder.address, 10_000)
    deadline = chain.w3.eth.get_block("latest")["timestamp"] + 3600
    v, r, s = _permit_signature(chain, holder, spender.address, 4_000, deadline)
    permit = chain.token.functions.permit(holder.address, spender.address, 4_000, deadline, v, r, s)
    client.transact(permit, spender)
    assert chain.token.functions.allowance(holder.address, spender.address).call() == 4_000
    assert chain.token.functions.nonces(holder.address).call() == 1
    with pytest.raises(TransactionReverted) as info:  # the same signature cannot be replayed
        client.transact(permit, spender)
    assert info.value.error_name == "ERC2612InvalidSigner"
    pull = chain.token.functions.transferFrom(holder.address, spender.address, 4_000)
    client.transact(pull, spender)
    assert client.balance_of(chain.token, spender.address) == 4_000


def test_expired_permit_reverts(chain, new_account):
    holder, spender = Account.create(), new_account()
    deadline = chain.w3.eth.get_block("latest")["timestamp"] - 1
    v, r, s = _permit_signature(chain, holder, spender.address, 1, deadline)
    with pytest.raises(TransactionReverted) as info:
        client.transact(chain.token.functions.permit(
            holder.address, spender.address, 1, deadline, v, r, s), spender)
    assert info.value.error_name == "ERC2612ExpiredSignature"
