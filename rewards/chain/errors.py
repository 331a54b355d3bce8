"""Exceptions of rewards.chain. One root, `ChainError`; each subclass also refines the builtin it
means (a stale build is a RuntimeError, a bad Merkle input a ValueError, an unreachable node a
ConnectionError), so callers that know nothing of chains still catch them sensibly. Each class
names its stable `code`."""
from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Root of everything rewards.chain raises. `details` carries structured context for logs."""

    code = "chain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ContractBuildError(ChainError, RuntimeError):
    """The compiled contracts are missing or do not match their sources: run `make contracts`."""

    code = "contract_build"


class MerkleError(ChainError, ValueError):
    """A Merkle tree that cannot be built (no leaves, a value that does not fit its type)."""

    code = "invalid_merkle"


class TransactionReverted(ChainError):
    """A call or transaction reverted. `error_name` and `error_args` decode the contract's custom
    error when the ABI knows it (e.g. `NothingToClaim`), so callers branch on names, not bytes."""

    code = "transaction_reverted"

    def __init__(self, message: str, *, error_name: str | None = None,
                 error_args: dict[str, Any] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.error_name = error_name
        self.error_args = error_args or {}


class ChainUnavailable(ChainError, ConnectionError):
    """The node could not be asked: refused or dropped connection, timeout, an HTTP error status
    (429, 5xx) or an answer that is not JSON-RPC. Nothing is known about what the node did with
    the request (a broadcast may have reached it); the caller retries later."""

    code = "chain_unavailable"
