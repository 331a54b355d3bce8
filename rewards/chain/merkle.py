"""OpenZeppelin StandardMerkleTree in Python: the roots the distributor checks claims against.

A faithful port of `@openzeppelin/merkle-tree`'s StandardMerkleTree (format "standard-v1"), the
scheme OpenZeppelin's `MerkleProof` verifies on chain:

- leaf   = keccak256(keccak256(abi.encode(value...)))   (double hash: a leaf can never pass as an
           inner node, which blocks second-preimage proofs);
- leaves sorted by hash, placed at the end of a flat array `tree` (root at index 0,
  children of i at 2i+1 and 2i+2), inner node = keccak256(sorted(a, b)) so proofs need no
  left/right flags;
- proof  = the siblings from the leaf up to the root.

Why not a library: the Python ports on PyPI (`multiproof`, `murky-tree`) are small single-maintainer
forks, one of which said of itself "not well tested"; the algorithm is short, and what matters —
agreeing with OpenZeppelin — is tested against OpenZeppelin's known vector and on chain through
`MerkleProof` (tests/rewards/chain). `dump()`/`load()` read and write OpenZeppelin's JSON, so a
tree can be published and checked with the JavaScript library too.

Speed: static types (address, uintN, intN, bytesN, bool) are ABI-encoded with a fast path (each is
one 32-byte word) and hashed with pysha3's C keccak when installed; 10,000 leaves take ~0.1 s.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import (
    is_address,
    is_checksum_address,
    to_bytes,
    to_canonical_address,
    to_checksum_address,
)

from rewards.chain.errors import MerkleError

try:  # pysha3's C keccak, where someone installed it (we do not require it), is ~7x faster than
    from sha3 import keccak_256 as _keccak_256  # eth-hash's pycryptodome backend per call

    def keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()
except ImportError:  # pragma: no cover - same result, just slower
    from eth_hash.auto import keccak

EARNINGS_TYPES: tuple[str, ...] = ("address", "uint256")
CONTRIBUTION_TYPES: tuple[str, ...] = (
    "uint256",  # answer id
    "uint256",  # item id
    "address",  # worker wallet
    "bytes32",  # salted commitment to the label (label_commitment)
    "uint256",  # reward, in the token's smallest unit
    "uint256",  # epoch
)


# --- ABI encoding -----------------------------------------------------------------------------

def _word(typ: str, value: Any) -> bytes:
    """One static ABI type as its 32-byte word, validated like eth_abi would."""
    if typ == "address":
        if isinstance(value, bytes) and len(value) == 20:
            return b"\0" * 12 + value
        if isinstance(value, str) and len(value) == 42 and value[:2] in ("0x", "0X"):
            digits = value[2:]
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                raw = None
            # all one case carries no checksum; mixed case must be EIP-55 (as ethers requires)
            if raw is not None and (digits.islower() or digits.isupper() or digits.isdigit()
                                    or _eip55(digits.lower()) == digits):
                return b"\0" * 12 + raw
        if not is_address(value) or not is_checksum_address(value):
            raise MerkleError(f"Not an address: {value!r}", type=typ, value=value)
        return b"\0" * 12 + to_canonical_address(value)
    if typ.startswith("uint"):
        bits = int(typ[4:] or 256)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise MerkleError(f"{value!r} does not fit {typ}", type=typ, value=value)
        return value.to_bytes(32, "big")
    if typ.startswith("int"):
        bits = int(typ[3:] or 256)
        if isinstance(value, bool) or not isinstance(value, int) or not -(1 << bits - 1) <= value < 1 << bits - 1:
            raise MerkleError(f"{value!r} does not fit {typ}", type=typ, value=value)
        return (value % (1 << 256)).to_bytes(32, "big")
    if typ == "bool":
        if not isinstance(value, bool):
            raise MerkleError(f"Not a bool: {value!r}", type=typ, value=value)
        return int(value).to_bytes(32, "big")
    # bytes1..bytes32: left-aligned, right-padded
    size = int(typ[5:])
    raw = to_bytes(hexstr=value) if isinstance(value, str) else bytes(value)
    if len(raw) != size:
        raise MerkleError(f"{typ} needs {size} bytes, got {len(raw)}", type=typ, value=value)
    return raw + b"\0" * (32 - size)


def _eip55(lower_hex: str) -> str:
    """EIP-55 mixed-case form of 40 lowercase hex digits (eth_utils' is ~10x slower per call)."""
    h = keccak(lower_hex.encode("ascii")).hex()
    return "".join(c.upper() if h[i] in "89abcdef" else c for i, c in enumerate(lower_hex))


def _is_static(typ: str) -> bool:
    if typ in ("address", "bool"):
        return True
    for prefix in ("uint", "int"):
        if typ.startswith(prefix) and (typ == prefix or typ[len(prefix):].isdigit()):
            return typ == prefix or (int(typ[len(prefix):]) % 8 == 0 and 8 <= int(typ[len(prefix):]) <= 256)
    return typ.startswith("bytes") and typ[5:].isdigit() and 1 <= int(typ[5:]) <= 32


def encode_values(types: Sequence[str], value: Sequence[Any]) -> bytes:
    """`abi.encode(value...)` for `types`: a fast path for static types, eth_abi otherwise."""
    if len(value) != len(types):
        raise MerkleError(f"Expected {len(types)} fields, got {len(value)}", value=value)
    if all(_is_static(t) for t in types):
        return b"".join(_word(t, v) for t, v in zip(types, value, strict=True))
    try:
        return abi_encode(list(types), list(value))
    except Exception as exc:  # eth_abi raises several unrelated types for bad input
        raise MerkleError(f"Cannot ABI-encode {value!r} as {types}: {exc}") from exc


# --- hashing ----------------------------------------------------------------------------------

def leaf_hash(types: Sequence[str], value: Sequence[Any]) -> bytes:
    """StandardMerkleTree leaf: keccak256(bytes.concat(keccak256(abi.encode(value...))))."""
    return keccak(keccak(encode_values(types, value)))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative inner node, as OpenZeppelin's MerkleProof: keccak256 of the sorted pair."""
    return keccak(a + b if a < b else b + a)


def verify(root: bytes | str, leaf: bytes | str, proof: Iterable[bytes | str]) -> bool:
    """True when `proof` leads from `leaf` (a leaf hash) to `root` — MerkleProof.verify."""
    node = _b32(leaf)
    for sibling in proof:
        node = hash_pair(node, _b32(sibling))
    return node == _b32(root)


def label_commitment(salt: bytes, label_json: str) -> bytes:
    """A hiding, binding commitment to a label: keccak256(salt ‖ utf8(label_json)).

    The contribution leaf records this instead of the label, so a public root reveals nothing of
    the (valuable) labels; revealing `salt` and the label later proves what was paid for. `salt`
    must be 32 random bytes per answer (`secrets.token_bytes(32)`), or equal labels would give
    equal commitments. Pass the label as canonical JSON (sorted keys, no spaces) so the same
    label always commits the same way. In Solidity: keccak256(abi.encodePacked(salt, label))."""
    if not isinstance(salt, bytes) or len(salt) != 32:
        raise MerkleError("The label salt must be exactly 32 bytes.")
    return keccak(salt + label_json.encode("utf-8"))


def _b32(x: bytes | str) -> bytes:
    raw = to_bytes(hexstr=x) if isinstance(x, str) else bytes(x)
    if len(raw) != 32:
        raise MerkleError(f"Expected 32 bytes, got {len(raw)}")
    return raw


# --- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class StandardMerkleTree:
    """A built tree. `values[i]` is the i-th value as given; `tree_index[i]` its slot in `tree`."""

    types: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    tree: tuple[bytes, ...]
    tree_index: tuple[int, ...]

    @property
    def root(self) -> bytes:
        return self.tree[0]

    @property
    def root_hex(self) -> str:
        return "0x" + self.root.hex()

    def __len__(self) -> int:
        return len(self.values)

    def leaf(self, index: int) -> bytes:
        """The leaf hash of `values[index]`."""
        return self.tree[self.tree_index[index]]

    def proof(self, index: int) -> list[bytes]:
        """Siblings from `values[index]`'s leaf up to the root (empty for a one-leaf tree)."""
        i = self.tree_index[index]
        out = []
        while i > 0:
            out.append(self.tree[i - 1 if i % 2 == 0 else i + 1])
            i = (i - 1) // 2
        return out

    def proof_hex(self, index: int) -> list[str]:
        return ["0x" + p.hex() for p in self.proof(index)]

    def verify(self, index: int, proof: Iterable[bytes | str] | None = None) -> bool:
        return verify(self.root, self.leaf(index), self.proof(index) if proof is None else proof)

    def dump(self) -> dict[str, Any]:
        """OpenZeppelin's "standard-v1" JSON shape (big integers as decimal strings)."""
        def js(t: str, v: Any) -> Any:
            if t == "address":
                return to_checksum_address(v)
            if isinstance(v, bytes):
                return "0x" + v.hex()
            if isinstance(v, int) and not isinstance(v, bool):
                return str(v)
            return v

        return {
            "format": "standard-v1",
            "leafEncoding": list(self.types),
            "tree": ["0x" + h.hex() for h in self.tree],
            "values": [
                {"value": [js(t, x) for t, x in zip(self.types, v, strict=True)], "treeIndex": ti}
                for v, ti in zip(self.values, self.tree_index, strict=True)
            ],
        }

    @classmethod
    def load(cls, data: dict[str, Any] | str) -> StandardMerkleTree:
        """Read a dump (ours or @openzeppelin/merkle-tree's) and check it is consistent."""
        data = json.loads(data) if isinstance(data, str) else data
        if data.get("format") != "standard-v1":
            raise MerkleError(f"Unknown Merkle tree format {data.get('format')!r}")
        types = tuple(data["leafEncoding"])

        def py(t: str, v: Any) -> Any:
            if t.startswith(("uint", "int")):
                return int(v)
            if t.startswith("bytes") and t != "bytes":
                return to_bytes(hexstr=v)
            return v

        values = tuple(tuple(py(t, x) for t, x in zip(types, e["value"], strict=True))
                       for e in data["values"])
        tree = cls(types, values, tuple(_b32(h) for h in data["tree"]),
                   tuple(int(e["treeIndex"]) for e in data["values"]))
        tree.validate()
        return tree

    def validate(self) -> None:
        """Recompute every leaf and inner node; raise MerkleError on any mismatch."""
        for i, v in enumerate(self.values):
            if self.leaf(i) != leaf_hash(self.types, v):
                raise MerkleError(f"Leaf {i} does not match its value")
        n = len(self.tree)
        for i in range(n - 1 - len(self.values), -1, -1):
            if self.tree[i] != hash_pair(self.tree[2 * i + 1], self.tree[2 * i + 2]):
                raise MerkleError(f"Node {i} does not hash its children")


def build_tree(leaf_values: Iterable[Sequence[Any]], types: Sequence[str]) -> StandardMerkleTree:
    """Build the StandardMerkleTree of `leaf_values` ABI-encoded as `types`.

    Same root and proofs as `StandardMerkleTree.of(values, types)` in @openzeppelin/merkle-tree.
    Duplicate values are allowed (they become separate leaves), as there."""
    types = tuple(types)
    values = tuple(tuple(v) for v in leaf_values)
    if not values:
        raise MerkleError("A Merkle tree needs at least one leaf.")
    hashes = [leaf_hash(types, v) for v in values]
    order = sorted(range(len(values)), key=hashes.__getitem__)
    n = len(values)
    size = 2 * n - 1
    tree: list[bytes] = [b""] * size
    tree_index = [0] * n
    for pos, vi in enumerate(order):  # leaves fill the array's tail, sorted, from the end
        ti = size - 1 - pos
        tree[ti] = hashes[vi]
        tree_index[vi] = ti
    for i in range(size - 1 - n, -1, -1):
        a, b = tree[2 * i + 1], tree[2 * i + 2]
        tree[i] = keccak(a + b if a < b else b + a)
    return StandardMerkleTree(types, values, tuple(tree), tuple(tree_index))


def earnings_tree(cumulatives: dict[str, int] | Iterable[tuple[str, int]]) -> StandardMerkleTree:
    """The tree of (wallet, cumulative earned) the distributor's claim() checks."""
    items = list(cumulatives.items() if isinstance(cumulatives, dict) else cumulatives)
    wallets = {a.lower() if isinstance(a, str) else "0x" + bytes(a).hex() for a, _ in items}
    if len(wallets) != len(items):  # two leaves for one wallet would let it claim the larger
        raise MerkleError("Each wallet may appear once in an earnings tree.")
    return build_tree(items, EARNINGS_TYPES)


def contributions_tree(rows: Iterable[Sequence[Any]]) -> StandardMerkleTree:
    """The tree of accepted contributions: (answer id, item id, wallet, label commitment,
    reward, epoch) per row — see CONTRIBUTION_TYPES."""
    return build_tree(rows, CONTRIBUTION_TYPES)
