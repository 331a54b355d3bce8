"""The platform's money settings, read once per use from the app config.

Kept as one frozen value so services take it explicitly in tests and read the configured one
otherwise; rewards code never reads `current_app.config` anywhere else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app, has_app_context


@dataclass(frozen=True)
class PayPolicy:
    token: str = "FLT"
    # Platform fee charged to the requester on every accepted answer, in basis points of the reward
    # (an upper bound: see fee_for).
    fee_bps: int = 500
    # The hourly pay floor in a reference currency, and how many token units one unit of it is worth.
    floor_per_hour: Decimal = Decimal("12")
    floor_currency: str = "USD"
    token_units_per_currency: Decimal = Decimal("100")
    # Answers needed before the measured median replaces the requester's stated time.
    floor_min_answers: int = 10
    # Seconds an accepted credit waits in "pending" before it can be paid out (dispute window).
    hold_seconds: int = 72 * 3600

    @property
    def floor_units_per_hour(self) -> int:
        """The floor in token units per hour (rounded up: the floor is a minimum)."""
        return math.ceil(self.floor_per_hour * self.token_units_per_currency)

    def fee_for(self, reward: int) -> int:
        """The platform fee on one accepted answer of `reward` units: `fee_bps` of it, rounded
        down to whole units, so the fee charged never exceeds the advertised rate. The platform
        absorbs the fraction: a reward under 10,000 / fee_bps units (20 at 5%) pays no fee."""
        return reward * self.fee_bps // 10_000

    def floor_reward(self, seconds_per_answer: float) -> int:
        """The least an answer taking this long may pay to meet the hourly floor."""
        return math.ceil(self.floor_units_per_hour * Decimal(str(seconds_per_answer)) / 3600)

    def to_currency(self, units: int | float) -> Decimal:
        return (Decimal(str(units)) / self.token_units_per_currency).quantize(Decimal("0.01"))


def current_policy() -> PayPolicy:
    """The configured policy (defaults outside an app context, e.g. in pure unit tests)."""
    if not has_app_context():
        return PayPolicy()
    config = current_app.config
    return PayPolicy(
        token=config["TOKEN_SYMBOL"],
        fee_bps=int(config["PLATFORM_FEE_BPS"]),
        floor_per_hour=Decimal(str(config["PAY_FLOOR_PER_HOUR"])),
        floor_currency=config["PAY_FLOOR_CURRENCY"],
        token_units_per_currency=Decimal(str(config["TOKEN_UNITS_PER_CURRENCY"])),
        floor_min_answers=int(config["PAY_FLOOR_MIN_ANSWERS"]),
        hold_seconds=int(config["PAYOUT_HOLD_SECONDS"]),
    )
