"""The chain side of payouts: contracts, Merkle trees, and small typed functions to deploy, post,
push and claim. Knows nothing of Flask or SQLAlchemy: the payout engine (outbox, nonces) calls it.

- build.py     loads compiled artifacts and refuses a stale build
- merkle.py    OpenZeppelin StandardMerkleTree roots and proofs (earnings, contributions)
- client.py    deploy / post_epoch / build_push_tx / claim ... signed locally, sent raw
- embedded.py  an in-process EVM with both contracts deployed, for the demo and tests
"""
from rewards.chain.errors import ChainError, ContractBuildError, MerkleError, TransactionReverted

__all__ = ["ChainError", "ContractBuildError", "MerkleError", "TransactionReverted"]
