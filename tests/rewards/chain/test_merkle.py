"""StandardMerkleTree: OpenZeppelin's vectors, proofs for every leaf, and input validation.
On-chain agreement with OpenZeppelin's MerkleProof is in test_distributor.py."""
from __future__ import annotations

import random
import time

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.chain.errors import MerkleError
from rewards.chain.merkle import (
    CONTRIBUTION_TYPES,
    EARNINGS_TYPES,
    StandardMerkleTree,
    build_tree,
    contributions_tree,
    earnings_tree,
    encode_values,
    hash_pair,
    label_commitment,
    leaf_hash,
    verify,
)

# @openzeppelin/merkle-tree README: StandardMerkleTree.of(values, ["address", "uint256"]).dump().tree
OZ_VALUES = [("0x1111111111111111111111111111111111111111", 5000000000000000000),
             ("0x2222222222222222222222222222222222222222", 2500000000000000000)]
OZ_TREE = ["0xd4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77",
           "0xeb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283",
           "0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc"]

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(min_value=0, max_value=2**256 - 1)


def test_openzeppelin_readme_vector():
    tree = build_tree(OZ_VALUES, EARNINGS_TYPES)
    assert ["0x" + h.hex() for h in tree.tree] == OZ_TREE
    assert tree.root_hex == OZ_TREE[0]
    assert tree.proof_hex(0) == [OZ_TREE[2]]  # the README's proof for 0x1111...
    assert tree.dump()["values"][0] == {
        "value": ["0x1111111111111111111111111111111111111111", "5000000000000000000"],
        "treeIndex": 1,
    }


def test_leaf_is_double_hash_of_abi_encoding():
    account, amount = OZ_VALUES[0]
    expected = keccak(keccak(abi_encode(["address", "uint256"], [account, amount])))
    assert leaf_hash(EARNINGS_TYPES, (account, amount)) == expected


def test_one_leaf_tree_is_its_leaf_with_an_empty_proof():
    tree = build_tree([OZ_VALUES[0]], EARNINGS_TYPES)
    assert tree.root == tree.leaf(0) == leaf_hash(EARNINGS_TYPES, OZ_VALUES[0])
    assert tree.proof(0) == []
    assert verify(tree.root, tree.leaf(0), [])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_proof_verifies_and_a_changed_amount_does_not(n):
    rnd = random.Random(n)
    cumulatives = {"0x" + rnd.randbytes(20).hex(): rnd.randint(1, 10**12) for _ in range(n)}
    tree = earnings_tree(cumulatives)
    assert len(tree) == n and len(tree.tree) == 2 * n - 1
    for i, (account, amount) in enumerate(cumulatives.items()):
        assert tree.values[i] == (account, amount)
        assert tree.verify(i)
        assert verify(tree.root_hex, tree.leaf(i), tree.proof_hex(i))  # hex in, same answer
        forged = leaf_hash(EARNINGS_TYPES, (account, amount + 1))
        assert not verify(tree.root, forged, tree.proof(i))


def test_tampered_proof_fails():
    tree = earnings_tree({a: 10 * (i + 1) for i, a in enumerate(
        "0x" + bytes([i + 1]).hex() * 20 for i in range(6))})
    proof = tree.proof(2)
    proof[0] = bytes(32)
    assert not tree.verify(2, proof)
    assert not tree.verify(2, tree.proof(2)[:-1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(addresses, uint256), min_size=1, max_size=40), st.randoms())
def test_root_ignores_input_order_and_all_proofs_verify(values, rnd):
    tree = build_tree(values, EARNINGS_TYPES)
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert build_tree(shuffled, EARNINGS_TYPES).root == tree.root  # leaves are sorted
    for i in range(len(values)):
        assert tree.verify(i)
    assert StandardMerkleTree.load(tree.dump()).root == tree.root


@settings(max_examples=100, deadline=None)
@given(st.tuples(uint256, uint256, addresses, st.binary(min_size=32, max_size=32), uint256, uint256))
def test_fast_encoding_equals_eth_abi(row):
    assert encode_values(CONTRIBUTION_TYPES, row) == abi_encode(list(CONTRIBUTION_TYPES), list(row))


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=-(2**127), max_value=2**127 - 1), st.booleans(), st.binary(min_size=4, max_size=4))
def test_fast_encoding_of_other_static_types(i, b, raw):
    types = ("int128", "bool", "bytes4", "uint8")
    assert encode_values(types, (i, b, raw, 255)) == abi_encode(list(types), [i, b, raw, 255])


def test_dynamic_types_fall_back_to_eth_abi():
    tree = build_tree([("hello", [1, 2]), ("world", [])], ("string", "uint256[]"))
    assert tree.leaf(0) == keccak(keccak(abi_encode(["string", "uint256[]"], ["hello", [1, 2]])))


def test_contribution_tree_with_label_commitments():
    wallet = "0x" + "ab" * 20
    salt = bytes(range(32))
    commitment = label_commitment(salt, '{"sentiment":"positive"}')
    rows = [(answer, 7, wallet, commitment, 250_000, 3) for answer in range(1, 6)]
    tree = contributions_tree(rows)
    assert all(tree.verify(i) for i in range(5))
    assert commitment == keccak(salt + b'{"sentiment":"positive"}')  # abi.encodePacked(salt, label)
    assert label_commitment(bytes(32), '"a"') != label_commitment(b"\1" + bytes(31), '"a"')  # salted
    with pytest.raises(MerkleError, match="32 bytes"):
        label_commitment(b"short", "{}")


def test_dump_load_round_trip_and_corruption_detected():
    tree = earnings_tree(dict(OZ_VALUES))
    dumped = tree.dump()
    again = StandardMerkleTree.load(dumped)
    assert again.root == tree.root and again.proof(1) == tree.proof(1)
    dumped["values"][0]["value"][1] = "1"
    with pytest.raises(MerkleError, match="Leaf 0"):
        StandardMerkleTree.load(dumped)


@pytest.mark.parametrize(("values", "types", "match"), [
    ([], EARNINGS_TYPES, "at least one leaf"),
    ([("0x1234", 1)], EARNINGS_TYPES, "Not an address"),
    ([("0x" + "11" * 20, -1)], EARNINGS_TYPES, "does not fit uint256"),
    ([("0x" + "11" * 20, 2**256)], EARNINGS_TYPES, "does not fit uint256"),
    ([("0x" + "11" * 20, 1.5)], EARNINGS_TYPES, "does not fit uint256"),
    ([("0x" + "11" * 20,)], EARNINGS_TYPES, "Expected 2 fields"),
    ([(1, 2, "0x" + "11" * 20, b"x", 3, 4)], CONTRIBUTION_TYPES, "bytes32 needs 32 bytes"),
])
def test_bad_values_raise(values, types, match):
    with pytest.raises(MerkleError, match=match) as info:
        build_tree(values, types)
    assert isinstance(info.value, ValueError)


def test_bad_checksum_is_rejected_but_one_case_is_fine():
    good = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 example
    assert encode_values(("address",), (good,)) == encode_values(("address",), (good.lower(),))
    with pytest.raises(MerkleError, match="Not an address"):
        encode_values(("address",), ("0x52908400098527886E0F7030069857D2E4169Ee7",))


def test_a_wallet_appears_once_in_earnings():
    with pytest.raises(MerkleError, match="once"):
        earnings_tree([("0x" + "ab" * 20, 1), ("0x" + "AB" * 20, 2)])


def test_hash_pair_is_commutative():
    a, b = keccak(b"a"), keccak(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


def test_ten_thousand_leaves_are_fast():
    values = {"0x%040x" % (i + 1): 1_000_000 * (i + 1) for i in range(10_000)}
    start = time.perf_counter()
    tree = earnings_tree(values)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"10,000 leaves took {elapsed:.2f}s"
    assert max(len(tree.proof(i)) for i in range(0, 10_000, 97)) == 14
    assert all(tree.verify(i) for i in range(0, 10_000, 97))
