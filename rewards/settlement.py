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
    from annotation.validation import whole_number  # ASCII digits only; one rule everywhere

    return whole_number(amount, name, 1, MAX_AMOUNT, error=InvalidAmount)
