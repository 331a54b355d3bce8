"""CumulativeMerkleDistributor on the in-process EVM: epochs, claims, pushes, pause, ownership,
and agreement between our Merkle trees and OpenZeppelin's on-chain MerkleProof."""
from __future__ import annotations

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from rewards.chain import client
from rewards.chain.errors import ChainError, TransactionReverted
from rewards.chain.merkle import contributions_tree, earnings_tree, label_commitment

ZERO = bytes(32)


def _post(chain, epoch: int, cumulatives: dict[str, int], contributions_root: bytes = ZERO):
    tree = earnings_tree(cumulatives)
    client.post_epoch(chain.distributor, chain.owner, epoch, tree.root, contributions_root)
    return tree


def _balances(chain, accounts):
    return [client.balance_of(chain.token, a) for a in accounts]


def test_deployment(chain):
    d = chain.distributor
    assert d.functions.token().call() == chain.token.address
    assert d.functions.owner().call() == chain.owner.address
    assert client.current_epoch(d) == 0
    assert d.functions.earningsRoot().call() == ZERO
    assert client.balance_of(chain.token, d.address) == 10**15
    assert chain.token.functions.decimals().call() == 0


def test_post_epoch_stores_roots_and_emits(chain, wallets):
    w = wallets(3)
    earnings = earnings_tree({a: 100 for a in w})
    commitment = label_commitment(bytes(32), '"cat"')
    contributions = contributions_tree([(1, 10, w[0], commitment, 100, 1)])
    receipt = client.post_epoch(chain.distributor, chain.owner, 1, earnings.root, contributions.root)
    (event,) = chain.distributor.events.EpochPosted().process_receipt(receipt)
    assert event["args"] == {"epoch": 1, "earningsRoot": earnings.root,
                             "contributionsRoot": contributions.root}
    assert client.current_epoch(chain.distributor) == 1
    assert chain.distributor.functions.earningsRoot().call() == earnings.root
    assert chain.distributor.functions.contributionsRoot(1).call() == contributions.root
    assert chain.distributor.functions.contributionsRoot(2).call() == ZERO


@pytest.mark.parametrize("epoch", [0, 5])
def test_epochs_strictly_increase(chain, epoch):
    client.post_epoch(chain.distributor, chain.owner, 5, ZERO, ZERO)
    with pytest.raises(TransactionReverted) as info:
        client.post_epoch(chain.distributor, chain.owner, epoch, keccak(b"x"), ZERO)
    assert info.value.error_name == "EpochNotIncreasing"
    assert info.value.error_args == {"epoch": epoch, "currentEpoch": 5}


def test_only_the_owner_posts(chain, new_account):
    stranger = new_account()
    with pytest.raises(TransactionReverted) as info:
        client.post_epoch(chain.distributor, stranger, 1, ZERO, ZERO)
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    assert info.value.error_args == {"account": stranger.address}


def test_claim_pays_the_difference_once(chain, wallets, new_account):
    w = wallets(4)
    relayer = new_account()  # anyone may submit; the account is paid
    tree = _post(chain, 1, {a: 1_000 * (i + 1) for i, a in enumerate(w)})
    receipt = client.claim(chain.distributor, relayer, w[1], 2_000, tree.proof(1))
    assert _balances(chain, w) == [0, 2_000, 0, 0]
    assert client.claimed_of(chain.distributor, w[1]) == 2_000
    (event,) = chain.distributor.events.Claimed().process_receipt(receipt, errors=DISCARD)
    assert event["args"] == {"account": w[1], "amount": 2_000, "cumulative": 2_000}

    with pytest.raises(TransactionReverted, match="NothingToClaim") as info:
        client.claim(chain.distributor, relayer, w[1], 2_000, tree.proof(1))
    assert info.value.error_args == {"account": w[1], "cumulative": 2_000, "alreadyClaimed": 2_000}
    assert _balances(chain, w) == [0, 2_000, 0, 0]

    # next epoch: w[1] earned 500 more; only the difference is paid
    tree2 = _post(chain, 2, {w[0]: 1_000, w[1]: 2_500})
    client.claim(chain.distributor, relayer, w[1], 2_500, tree2.proof(1))
    assert _balances(chain, w) == [0, 2_500, 0, 0]
    assert client.claimed_of(chain.distributor, w[1]) == 2_500
    assert client.balance_of(chain.token, chain.distributor.address) == 10**15 - 2_500


def test_claim_checks_the_current_root(chain, wallets, new_account):
    w = wallets(3)
    claimer = new_account()
    old = _post(chain, 1, {a: 100 for a in w})
    _post(chain, 2, {a: 200 for a in w})
    with pytest.raises(TransactionReverted, match="InvalidProof"):  # a superseded root's proof
        client.claim(chain.distributor, claimer, w[0], 100, old.proof(0))


@pytest.mark.parametrize("forge", ["amount", "account", "proof"])
def test_bad_proofs_revert(chain, wallets, new_account, forge):
    w = wallets(5)
    claimer = new_account()
    tree = _post(chain, 1, {a: 100 for a in w})
    account, amount, proof = w[0], 100, tree.proof(0)
    if forge == "amount":
        amount = 1_000_000
    elif forge == "account":
        account = claimer.address
    else:
        proof = [keccak(b"forged")] + proof[1:]
    with pytest.raises(TransactionReverted) as info:
        client.claim(chain.distributor, claimer, account, amount, proof)
    assert info.value.error_name == "InvalidProof"
    assert client.balance_of(chain.token, account) == 0


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9])
def test_every_leaf_claims_on_chain(chain, wallets, new_account, n):
    """Our trees agree with OpenZeppelin's MerkleProof for small, odd and even sizes."""
    w = wallets(n)
    claimer = new_account()
    cumulatives = {a: 10 * (i + 1) for i, a in enumerate(w)}
    tree = _post(chain, 1, cumulatives)
    for i, (a, c) in enumerate(cumulatives.items()):
        client.claim(chain.distributor, claimer, a, c, tree.proof(i))
    assert _balances(chain, w) == list(cumulatives.values())


def test_ten_thousand_leaf_tree_claims_on_chain(chain, wallets, new_account):
    """A depth-14 proof from a 10,000-wallet tree verifies through MerkleProof.verifyCalldata."""
    cumulatives = {"0x%040x" % (0x1000 + i): 1_000 + i for i in range(10_000)}
    tree = _post(chain, 1, cumulatives)
    index = next(i for i in range(10_000) if len(tree.proof(i)) == 14)
    account, amount = tree.values[index]
    receipt = client.claim(chain.distributor, new_account(), account, amount, tree.proof(index))
    assert client.balance_of(chain.token, account) == amount
    assert receipt["gasUsed"] < 100_000


def test_push_pays_many_and_a_replay_pays_nothing(chain, wallets):
    w = wallets(6)
    amounts = [100, 200, 300, 400, 500, 600]
    receipt = client.push(chain.distributor, chain.owner, w, amounts)
    assert _balances(chain, w) == amounts
    assert client.pushed_events(chain.distributor, receipt) == [{"paidCount": 6, "totalAmount": 2100}]

    replay = client.push(chain.distributor, chain.owner, w, amounts)
    assert _balances(chain, w) == amounts
    assert client.pushed_events(chain.distributor, replay) == [{"paidCount": 0, "totalAmount": 0}]
    assert [client.claimed_of(chain.distributor, a) for a in w] == amounts


def test_push_mixes_new_returning_and_already_paid(chain, wallets, new_account):
    w = wallets(4)
    client.push(chain.distributor, chain.owner, w[:2], [100, 100])  # w0, w1 returning
    tree = _post(chain, 1, {w[2]: 300})
    client.claim(chain.distributor, new_account(), w[2], 300, tree.proof(0))  # w2 claimed itself
    receipt = client.push(chain.distributor, chain.owner, w, [150, 100, 300, 40])
    assert _balances(chain, w) == [150, 100, 300, 40]  # +50 for w0, skip w1 and w2, new w3
    assert client.pushed_events(chain.distributor, receipt) == [{"paidCount": 2, "totalAmount": 90}]
    # a lower cumulative than already paid never takes money back and never pays
    client.push(chain.distributor, chain.owner, [w[0]], [10])
    assert client.claimed_of(chain.distributor, w[0]) == 150


def test_claim_after_push_pays_only_the_rest(chain, wallets, new_account):
    w = wallets(2)
    client.push(chain.distributor, chain.owner, [w[0]], [700])
    tree = _post(chain, 1, {w[0]: 1_000, w[1]: 5})
    client.claim(chain.distributor, new_account(), w[0], 1_000, tree.proof(0))
    assert client.balance_of(chain.token, w[0]) == 1_000


def test_push_rejects_mismatched_lengths_and_strangers(chain, wallets, new_account):
    w = wallets(2)
    with pytest.raises(ChainError, match="differ in length"):
        client.build_push_tx(chain.distributor, chain.owner.address, w, [1])
    fn = chain.distributor.functions.push(w, [1])
    with pytest.raises(TransactionReverted) as info:
        client.transact(fn, chain.owner)
    assert info.value.error_name == "LengthMismatch"
    stranger = new_account()
    with pytest.raises(TransactionReverted) as info:
        client.push(chain.distributor, stranger, w, [1, 1])
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    assert _balances(chain, w) == [0, 0]


def test_push_beyond_the_funds_reverts_whole_batch(chain, wallets):
    w = wallets(2)
    with pytest.raises(TransactionReverted) as info:
        client.push(chain.distributor, chain.owner, w, [1, 10**15])
    assert info.value.error_name == "ERC20InsufficientBalance"
    assert _balances(chain, w) == [0, 0]
    assert client.claimed_of(chain.distributor, w[0]) == 0


def test_a_mined_revert_is_decoded(chain, wallets, new_account):
    """With gas given, nothing is estimated: the transaction is mined, fails, and the reason is
    recovered by replaying the call."""
    stranger = new_account()
    with pytest.raises(TransactionReverted) as info:
        client.push(chain.distributor, stranger, wallets(1), [1], gas=200_000)
    assert info.value.error_name == "OwnableUnauthorizedAccount"


def test_pause_blocks_claim_and_push(chain, wallets, new_account):
    w = wallets(2)
    claimer = new_account()
    tree = _post(chain, 1, {w[0]: 10, w[1]: 20})
    client.transact(chain.distributor.functions.pause(), chain.owner)
    with pytest.raises(TransactionReverted, match="EnforcedPause"):
        client.claim(chain.distributor, claimer, w[0], 10, tree.proof(0))
    with pytest.raises(TransactionReverted, match="EnforcedPause"):
        client.push(chain.distributor, chain.owner, w, [10, 20])
    client.post_epoch(chain.distributor, chain.owner, 2, tree.root, ZERO)  # posting still works
    with pytest.raises(TransactionReverted, match="OwnableUnauthorizedAccount"):
        client.transact(chain.distributor.functions.unpause(), claimer)
    client.transact(chain.distributor.functions.unpause(), chain.owner)
    client.claim(chain.distributor, claimer, w[0], 10, tree.proof(0))
    client.push(chain.distributor, chain.owner, w, [10, 20])
    assert _balances(chain, w) == [10, 20]


def test_ownership_moves_in_two_steps(chain, wallets, new_account):
    d = chain.distributor
    successor, stranger = new_account(), new_account()
    client.transact(d.functions.transferOwnership(successor.address), chain.owner)
    assert d.functions.owner().call() == chain.owner.address  # nothing moves until accepted
    assert d.functions.pendingOwner().call() == successor.address
    with pytest.raises(TransactionReverted) as info:
        client.transact(d.functions.acceptOwnership(), stranger)
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    client.transact(d.functions.acceptOwnership(), successor)
    assert d.functions.owner().call() == successor.address
    assert d.functions.pendingOwner().call() == "0x" + "0" * 40
    w = wallets(1)
    with pytest.raises(TransactionReverted, match="OwnableUnauthorizedAccount"):
        client.push(d, chain.owner, w, [5])
    client.push(d, successor, w, [5])
    assert client.balance_of(chain.token, w[0]) == 5


def test_ownership_cannot_be_renounced(chain):
    with pytest.raises(TransactionReverted, match="RenounceDisabled"):
        client.transact(chain.distributor.functions.renounceOwnership(), chain.owner)
    assert chain.distributor.functions.owner().call() == chain.owner.address


def test_push_gas_per_wallet(chain, wallets):
    """Guards the gas design: ~50k per first-time wallet, ~16k per returning one."""
    w = wallets(40)
    first = client.push(chain.distributor, chain.owner, w, [1_000] * 40)["gasUsed"]
    again = client.push(chain.distributor, chain.owner, w, [2_000] * 40)["gasUsed"]
    one = client.push(chain.distributor, chain.owner, w[:1], [3_000])["gasUsed"]
    per_first, per_returning = (first - one) / 39, (again - one) / 39
    assert 40_000 < per_first < 55_000, per_first
    assert 10_000 < per_returning < 19_000, per_returning
    assert first <= client.push_gas_limit(40) and one <= client.push_gas_limit(1)


def test_push_with_a_precomputed_gas_limit(chain, wallets):
    w = wallets(3)
    tx = client.build_push_tx(chain.distributor, chain.owner.address, w, [5, 6, 7],
                              gas=client.push_gas_limit(3))
    assert tx["gas"] == client.push_gas_limit(3)
    client.send(chain.w3, chain.owner, tx, abi=chain.distributor.abi)
    assert _balances(chain, w) == [5, 6, 7]
