"""Exceptions of the rewards package; app/errors.py maps them to HTTP."""
from __future__ import annotations

from typing import Any


class RewardsError(Exception):
    """Root of every error the rewards services raise on purpose; each class names its stable
    `code` (clients branch on codes, so renaming a class must not change them)."""

    code = "rewards_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnbalancedTransfer(RewardsError, ValueError):
    """Entries that do not sum to zero, or amounts that are not whole token units."""

    code = "unbalanced_transfer"


class TransferConflict(RewardsError):
    """A transfer id reused with different accounts or amounts."""

    code = "transfer_conflict"


class InsufficientFunds(RewardsError):
    """The transfer would take an account below zero where that is forbidden."""

    code = "insufficient_funds"


class InvalidAmount(RewardsError, ValueError):
    """An amount that is not a positive whole number of token units, or a malformed request."""

    code = "invalid_amount"


class BelowPayFloor(RewardsError):
    """A job whose estimated hourly pay is under the platform's floor."""

    code = "below_pay_floor"


class RewardsNotFound(RewardsError, LookupError):
    """The job, answer or account is not there for this user (others' things look missing)."""

    code = "rewards_not_found"


class RewardsConflict(RewardsError):
    """The operation does not fit the current state (e.g. a hold that already ended)."""

    code = "rewards_conflict"
