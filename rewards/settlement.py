"""What counts as an amount of token units, for every money service.

(What used to live here is split by concern: `rewards.escrow`, `rewards.payfloor`,
`rewards.funding`, `rewards.earnings`, `rewards.holds`, `rewards.bonuses`, `rewards.disputes`;
the payouts' ledger side is `rewards.payouts.accounting`.)
"""
from __future__ import annotations

from typing import Any

from rewards.errors import InvalidAmount

MAX_AMOUNT = 10**15


def _require_amount(amount: Any, name: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        try:
            amount = int(str(amount).strip())
        except (TypeError, ValueError):
            raise InvalidAmount(f"{name} must be a whole number of token units.", field=name) from None
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be between 1 and {MAX_AMOUNT}.", field=name)
    return amount
