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


class InvalidAmount(RewardsError, ValueError):
    """An amount that is not a positive whole number of token units, or a malformed request."""


class BelowPayFloor(RewardsError):
    """A job whose estimated hourly pay is under the platform's floor."""


class RewardsNotFound(RewardsError, LookupError):
    """The job, answer or account is not there for this user (others' things look missing)."""


class RewardsConflict(RewardsError):
    """The operation does not fit the current state (e.g. a hold that already ended)."""
