"""The ledger's accounts, one set per token, and the codes that name them.

requester balance → job escrow → worker pending → worker available → payout in flight → out;
platform fees take their share from escrow; deposits clearing and the treasury face the outside.
"""
from __future__ import annotations

from rewards.ledger import balance_of, get_account
from rewards.models import LedgerAccount


def requester_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:requester:{user_id}", kind="requester", token=token, user_id=user_id)


def escrow_account(token: str, job_id: int) -> LedgerAccount:
    return get_account(f"{token}:escrow:job:{job_id}", kind="job_escrow", token=token, job_id=job_id)


def pending_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:worker:{user_id}:pending", kind="worker_pending", token=token,
                       user_id=user_id)


def available_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:worker:{user_id}:available", kind="worker_available", token=token,
                       user_id=user_id)


def in_flight_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:worker:{user_id}:payout", kind="payout_in_flight", token=token,
                       user_id=user_id)


def fees_account(token: str) -> LedgerAccount:
    return get_account(f"{token}:platform:fees", kind="platform_fees", token=token)


def clearing_account(token: str) -> LedgerAccount:
    return get_account(f"{token}:deposits:clearing", kind="deposits_clearing", token=token)


def treasury_account(token: str) -> LedgerAccount:
    return get_account(f"{token}:treasury", kind="treasury", token=token)


def requester_balance(token: str, user_id: int) -> int:
    return balance_of(f"{token}:requester:{user_id}")


def escrow_balance(token: str, job_id: int) -> int:
    return balance_of(f"{token}:escrow:job:{job_id}")


def worker_balances(token: str, user_id: int) -> dict[str, int]:
    """{"pending", "available", "in_flight"} for one worker."""
    return {"pending": balance_of(f"{token}:worker:{user_id}:pending"),
            "available": balance_of(f"{token}:worker:{user_id}:available"),
            "in_flight": balance_of(f"{token}:worker:{user_id}:payout")}
