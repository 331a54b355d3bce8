"""The ledger's accounts, one set per token, and the codes that name them.

requester balance → job escrow → worker pending → worker available → payout in flight → out;
platform fees take their share from escrow; deposits clearing and the treasury face the outside.
Every account code is built here and nowhere else.
"""
from __future__ import annotations

from collections.abc import Sequence

from rewards.ledger import AccountRef, balance_of, get_account, get_accounts
from rewards.models import LedgerAccount

# A worker's three balances, by the suffix of their code.
WORKER_ACCOUNT_KINDS = {"pending": "worker_pending", "available": "worker_available", "payout": "payout_in_flight"}


def requester_ref(token: str, user_id: int) -> AccountRef:
    return AccountRef(f"{token}:requester:{user_id}", "requester", token, user_id=user_id)


def escrow_ref(token: str, job_id: int) -> AccountRef:
    return AccountRef(f"{token}:escrow:job:{job_id}", "job_escrow", token, job_id=job_id)


def worker_ref(token: str, user_id: int, which: str) -> AccountRef:
    """`which` is "pending", "available" or "payout" (in flight)."""
    return AccountRef(f"{token}:worker:{user_id}:{which}", WORKER_ACCOUNT_KINDS[which], token, user_id=user_id)


def fees_ref(token: str) -> AccountRef:
    return AccountRef(f"{token}:platform:fees", "platform_fees", token)


def clearing_ref(token: str) -> AccountRef:
    return AccountRef(f"{token}:deposits:clearing", "deposits_clearing", token)


def treasury_ref(token: str) -> AccountRef:
    return AccountRef(f"{token}:treasury", "treasury", token)


def _account(ref: AccountRef) -> LedgerAccount:
    return get_account(ref.code, kind=ref.kind, token=ref.token, user_id=ref.user_id, job_id=ref.job_id)


def requester_account(token: str, user_id: int) -> LedgerAccount:
    return _account(requester_ref(token, user_id))


def escrow_account(token: str, job_id: int) -> LedgerAccount:
    return _account(escrow_ref(token, job_id))


def pending_account(token: str, user_id: int) -> LedgerAccount:
    return _account(worker_ref(token, user_id, "pending"))


def available_account(token: str, user_id: int) -> LedgerAccount:
    return _account(worker_ref(token, user_id, "available"))


def fees_account(token: str) -> LedgerAccount:
    return _account(fees_ref(token))


def clearing_account(token: str) -> LedgerAccount:
    return _account(clearing_ref(token))


def treasury_account(token: str) -> LedgerAccount:
    return _account(treasury_ref(token))


def worker_accounts(token: str, user_ids: Sequence[int],
                    which: Sequence[str]) -> dict[tuple[int, str], LedgerAccount]:
    """{(worker id, which): account} for many workers in one query."""
    refs = {(u, w): worker_ref(token, u, w) for u in sorted(set(user_ids)) for w in which}
    found = get_accounts(list(refs.values()))
    return {pair: found[ref.code] for pair, ref in refs.items()}


def settlement_accounts(token: str, job_id: int, worker_ids: list[int]):
    """The escrow, the fees account and each worker's pending account, in one query:
    (escrow, fees, {worker id: pending})."""
    refs = [escrow_ref(token, job_id), fees_ref(token), *(worker_ref(token, w, "pending") for w in worker_ids)]
    found = get_accounts(refs)
    return (found[refs[0].code], found[refs[1].code],
            {w: found[ref.code] for w, ref in zip(worker_ids, refs[2:], strict=True)})


def requester_balance(token: str, user_id: int) -> int:
    return balance_of(requester_ref(token, user_id).code)


def escrow_balance(token: str, job_id: int) -> int:
    return balance_of(escrow_ref(token, job_id).code)


def worker_balances(token: str, user_id: int) -> dict[str, int]:
    """{"pending", "available", "in_flight"} for one worker."""
    return {"pending": balance_of(worker_ref(token, user_id, "pending").code),
            "available": balance_of(worker_ref(token, user_id, "available").code),
            "in_flight": balance_of(worker_ref(token, user_id, "payout").code)}
