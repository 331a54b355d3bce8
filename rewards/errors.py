"""Exceptions of the rewards package; app/errors.py maps them to HTTP."""
from __future__ import annotations

from typing import Any


class RewardsError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnbalancedTransfer(RewardsError, ValueError):
    """Entries that do not sum to zero, or amounts that are not whole token units."""


class TransferConflict(RewardsError):
    """A transfer id reused with different accounts or amounts."""


class InsufficientFunds(RewardsError):
    """The transfer would take an account below zero where that is forbidden."""
