"""Contribution proofs: what an annotator downloads, and what makes one valid.

A proof is valid only if (1) the salted label opens the label commitment, (2) the leaf rebuilt
from the proof's fields climbs to the proof's root, and (3) that root is the contributions root
posted on chain for the proof's epoch, by the distributor the platform pays from. (1) and (2)
alone prove nothing: anyone can write a one-leaf "tree" whose root is its own leaf. So every
check names where it learned the posted root (`PostedRoot.source`):

- "chain": read from the distributor's `contributionsRoot(epoch)` at the block the confirmation
  rule counts as final;
- "record": this server's record of the confirmed transaction that posted the epoch (used when the
  chain cannot be asked: the node is down, or the configured chain is the in-process demo EVM
  of another process).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address
from hexbytes import HexBytes

from annotation.models import Answer
from app.extensions import db
from app.identity.models import User
from rewards.chain import client, merkle
from rewards.errors import RewardsNotFound
from rewards.models import ChainTx, ContributionLeaf, PayoutEpoch
from rewards.onchain import ChainHandle
from rewards.payouts.epochs import ZERO_ROOT, label_json
from rewards.payouts.transactions import before_chain_call

MAX_EPOCH = 2**31 - 1  # epochs are row ids: anything larger was never posted by us


def contribution_proof(user: User, answer_id: int) -> dict[str, Any]:
    """Everything an annotator needs to prove one contribution against the posted root."""
    leaf = db.session.get(ContributionLeaf, answer_id)
    if leaf is None or leaf.worker_id != user.id:
        raise RewardsNotFound(f"No on-chain record of answer {answer_id} for you yet.")
    epoch = db.session.get(PayoutEpoch, leaf.epoch_id)
    tree = merkle.StandardMerkleTree.load(epoch.contributions_tree)
    answer = db.session.get(Answer, answer_id)
    post = _confirmed_post(epoch.id)
    return {
        "answer_id": leaf.answer_id, "item_id": leaf.item_id, "wallet": leaf.wallet,
        "label": answer.choices, "label_json": label_json(answer.choices), "salt": "0x" + bytes(leaf.salt).hex(),
        "label_commitment": leaf.label_commitment, "reward": leaf.reward, "epoch": epoch.id,
        "leaf": "0x" + tree.leaf(leaf.leaf_index).hex(), "proof": tree.proof_hex(leaf.leaf_index),
        "root": epoch.contributions_root, "chain_id": epoch.chain_id, "distributor": epoch.distributor,
        "post_tx": post.tx_hash if post else None, "types": list(merkle.CONTRIBUTION_TYPES),
    }


# --- (1) and (2): the proof is consistent with its own root ---------------------------------------

def proof_structure_error(proof: dict[str, Any]) -> str | None:
    """Why the proof does not even reach its own root, or None if it does. Says nothing about
    whether that root was ever posted (see `check_contribution_proof`).

    Raises ValueError for something that is not a proof at all."""
    _require_shape(proof)
    salt = bytes(HexBytes(proof["salt"]))
    if "0x" + merkle.label_commitment(salt, proof["label_json"]).hex() != str(proof["label_commitment"]).lower():
        return "the salted label does not open the label commitment"
    leaf = merkle.leaf_hash(merkle.CONTRIBUTION_TYPES, (
        int(proof["answer_id"]), int(proof["item_id"]), proof["wallet"], HexBytes(proof["label_commitment"]),
        int(proof["reward"]), int(proof["epoch"])))
    if not isinstance(proof["proof"], list) or not merkle.verify(proof["root"], leaf, proof["proof"]):
        return "the leaf does not climb to the root"
    return None


_INTEGERS = ("answer_id", "item_id", "reward", "epoch", "chain_id")
_HEX32 = ("salt", "label_commitment", "root")


def _require_shape(proof: Any) -> None:
    """Refuse, with the field named, what is not shaped like a proof we serve."""
    if not isinstance(proof, dict):
        raise ValueError("a proof is a JSON object")
    for name in (*_INTEGERS, *_HEX32, "wallet", "distributor", "label_json", "proof"):
        if name not in proof:
            raise ValueError(f"`{name}` is missing")
    for name in _INTEGERS:
        if isinstance(proof[name], bool) or not isinstance(proof[name], int) or not 0 <= proof[name] < 2**256:
            raise ValueError(f"`{name}` must be a whole number from 0 to 2^256 - 1")
    hex32 = [proof[name] for name in _HEX32] + (proof["proof"] if isinstance(proof["proof"], list) else [None])
    if not all(isinstance(v, str) and len(v) == 66 and v[:2] == "0x" and _is_hex(v[2:]) for v in hex32):
        raise ValueError("`salt`, `label_commitment`, `root` and each `proof` step must be 32-byte 0x-hex")
    if len(proof["proof"]) > 256:
        raise ValueError("`proof` is longer than any tree we build")
    for name in ("wallet", "distributor"):
        if not isinstance(proof[name], str) or not is_address(proof[name]):
            raise ValueError(f"`{name}` must be an address")
    if not isinstance(proof["label_json"], str):
        raise ValueError("`label_json` must be text")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


# --- (3): the root is the one posted --------------------------------------------------------------

@dataclass(frozen=True)
class PostedRoot:
    """The contributions root posted for `epoch` (None: none is), and where that was learned."""

    epoch: int
    root: str | None
    source: str  # "chain" or "record" (see the module docstring)
    chain_id: int
    distributor: str
    block: int | None = None  # chain: the block read at; record: the posting transaction's block
    tx_hash: str | None = None  # record: the posting transaction
    note: str | None = None  # why the record was used rather than the chain

    @property
    def source_text(self) -> str:
        """Where the root came from, in words (the page and the CLI print it)."""
        where = f"distributor {self.distributor} on chain {self.chain_id}"
        if self.source == "chain":
            at = f" at block {self.block}" if self.block is not None else ""
            return f"read from {where}{at}"
        text = f"from this server's record of the posting transaction {self.tx_hash} (block {self.block}) to {where}" \
            if self.tx_hash else f"from this server's records for {where}, which hold no confirmed posting"
        return f"{text}; {self.note}" if self.note else text

    def as_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "root": self.root, "source": self.source, "chain_id": self.chain_id,
                "distributor": self.distributor, "block": self.block, "tx_hash": self.tx_hash,
                "note": self.note, "source_text": self.source_text}


def root_from_chain(chain_id: int, distributor, epoch: int, *, block: int | str) -> PostedRoot:
    """Ask the distributor contract (reads the chain only, with no transaction open)."""
    before_chain_call("root_from_chain")
    if not 1 <= epoch <= MAX_EPOCH:
        return PostedRoot(epoch, None, "chain", chain_id, distributor.address)
    root = client.contributions_root(distributor, epoch, block=block)
    return PostedRoot(epoch, root, "chain", chain_id, distributor.address,
                      block=block if isinstance(block, int) else None)


def root_on_chain(chain: ChainHandle, epoch: int) -> PostedRoot:
    """The configured chain's root for `epoch`, as of the newest block that counts as final
    (a posting a reorg could still take away does not count)."""
    before_chain_call("root_on_chain")
    return root_from_chain(chain.chain_id, chain.distributor, epoch, block=max(0, chain.confirmed_block()))


def root_on_record(chain_id: int | None, distributor: str, epoch: int, *, note: str | None = None) -> PostedRoot:
    """This server's record: the epoch's root if a transaction posting it to this distributor on
    this chain (any chain when `chain_id` is None) is confirmed. Reads the database only."""
    record = PostedRoot(epoch, None, "record", chain_id or 0, distributor, note=note)
    if not 1 <= epoch <= MAX_EPOCH:
        return record
    row = db.session.get(PayoutEpoch, epoch)
    post = _confirmed_post(epoch) if row is not None else None
    if post is None or row.distributor.lower() != distributor.lower() or chain_id not in (None, row.chain_id):
        return record
    chain_id = row.chain_id
    root = None if row.contributions_root == ZERO_ROOT else row.contributions_root
    return PostedRoot(epoch, root, "record", chain_id, row.distributor, block=post.block_number,
                      tx_hash=post.tx_hash, note=note)


def _confirmed_post(epoch_id: int) -> ChainTx | None:
    return db.session.scalar(db.select(ChainTx).where(ChainTx.epoch_id == epoch_id, ChainTx.purpose == "post_epoch",
                                                     ChainTx.status == "confirmed"))


@dataclass(frozen=True)
class ProofCheck:
    ok: bool
    message: str  # "Valid: ..." or "Invalid: ..." (a sentence for people)
    posted: PostedRoot | None = None


def check_contribution_proof(proof: dict[str, Any], posted: PostedRoot) -> ProofCheck:
    """Whether `proof` is valid against the root `posted` for its epoch (see the module docstring).

    Raises ValueError for something that is not a proof at all."""
    problem = proof_structure_error(proof)
    if problem:
        return ProofCheck(False, f"Invalid: {problem}.", posted)
    epoch, chain_id, distributor = proof["epoch"], proof["chain_id"], proof["distributor"]
    if epoch != posted.epoch:
        raise ValueError(f"the posted root given is epoch {posted.epoch}'s, not {epoch}'s")
    if posted.root is None:
        return ProofCheck(False, f"Invalid: root not posted. Epoch {epoch} has no contributions root "
                                 f"({posted.source_text}).", posted)
    if chain_id != posted.chain_id or to_checksum_address(distributor) != to_checksum_address(posted.distributor):
        return ProofCheck(False, f"Invalid: root not posted. The proof names distributor {distributor} on chain "
                                 f"{chain_id}; the root checked is {posted.source_text}.", posted)
    if posted.root.lower() != str(proof["root"]).lower():
        return ProofCheck(False, f"Invalid: root not posted. Epoch {epoch}'s posted root is {posted.root}, not the "
                                 f"proof's {proof['root']} ({posted.source_text}).", posted)
    return ProofCheck(True, f"Valid: answer {proof['answer_id']} (reward {proof['reward']}) is in epoch {epoch}'s "
                            f"root {posted.root}, {posted.source_text}.", posted)
