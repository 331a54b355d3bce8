"""The ledger's accounts, one set per token, and the codes that name them.

requester balance → job escrow → worker pending → worker available → payout in flight → out;
platform fees take their share from escrow; deposits clearing and the treasury face the outside.
"""
from __future__ import annotations

from rewards.ledger import AccountRef, balance_of, get_account, get_accounts
from rewards.models import LedgerAccount


def requester_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:requester:{user_id}", kind="requester", token=token, user_id=user_id)


def escrow_ref(token: str, job_id: int) -> AccountRef:
    return AccountRef(f"{token}:escrow:job:{job_id}", "job_escrow", token, job_id=job_id)


def pending_ref(token: str, user_id: int) -> AccountRef:
    return AccountRef(f"{token}:worker:{user_id}:pending", "worker_pending", token, user_id=user_id)


def fees_ref(token: str) -> AccountRef:
    return AccountRef(f"{token}:platform:fees", "platform_fees", token)


def escrow_account(token: str, job_id: int) -> LedgerAccount:
    return get_accounts([escrow_ref(token, job_id)])[escrow_ref(token, job_id).code]


def pending_account(token: str, user_id: int) -> LedgerAccount:
    ref = pending_ref(token, user_id)
    return get_accounts([ref])[ref.code]


def settlement_accounts(token: str, job_id: int, worker_ids: list[int]):
    """The escrow, the fees account and each worker's pending account, in one query:
    (escrow, fees, {worker id: pending})."""
    refs = [escrow_ref(token, job_id), fees_ref(token), *(pending_ref(token, w) for w in worker_ids)]
    found = get_accounts(refs)
    return (found[refs[0].code], found[refs[1].code],
            {w: found[pending_ref(token, w).code] for w in worker_ids})


def available_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:worker:{user_id}:available", kind="worker_available", token=token,
                       user_id=user_id)


def in_flight_account(token: str, user_id: int) -> LedgerAccount:
    return get_account(f"{token}:worker:{user_id}:payout", kind="payout_in_flight", token=token,
                       user_id=user_id)


def fees_account(token: str) -> LedgerAccount:
    ref = fees_ref(token)
    return get_accounts([ref])[ref.code]


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
