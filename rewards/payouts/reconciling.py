"""Reconciling the ledger with the chain: per wallet, what the ledger paid must equal the
distributor's `claimed`; the distributor must hold what is in flight; the tokens the platform
holds on chain must cover what the ledger owes. Differences are reported, never fixed.

`ledger_side` reads the database, `chain_side` reads the chain, `compare` is pure and
`record_mismatches` writes the alerts (flush); rewards.payouts.cycle.reconcile_chain runs them
with no transaction open across the chain reads.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func

from app.extensions import db
from rewards.chain import client
from rewards.models import LedgerAccount, PayoutItem
from rewards.onchain import ChainHandle
from rewards.payouts.alerts import alert


@dataclass
class ChainReconciliation:
    wallets_checked: int
    ledger_paid: int
    chain_claimed: int
    in_flight: int
    distributor_balance: int
    mismatches: list[str]
    custody: int = 0  # tokens the platform holds on chain: its wallet plus the distributor
    liabilities: int = 0  # what the ledger says users and the platform hold inside it

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def surplus(self) -> int:
        """On-chain custody beyond the ledger's liabilities (the operator's own float, or faucet
        credits not yet backed when negative)."""
        return self.custody - self.liabilities


@dataclass(frozen=True)
class LedgerSide:
    paid: dict[str, int]  # wallet → paid out
    in_flight: int
    wallets: list[str]  # every wallet ever in a payout
    liabilities: int


@dataclass(frozen=True)
class ChainSide:
    claimed: dict[str, int]
    distributor_balance: int
    custody: int


def ledger_side() -> LedgerSide:
    paid = {w: int(a) for w, a in db.session.execute(
        db.select(PayoutItem.wallet, func.sum(PayoutItem.amount))
        .where(PayoutItem.status == "paid").group_by(PayoutItem.wallet)).all()}
    in_flight = int(db.session.scalar(db.select(func.coalesce(func.sum(PayoutItem.amount), 0))
                                      .where(PayoutItem.status == "in_flight")) or 0)
    wallets = sorted(set(paid) | set(db.session.scalars(db.select(PayoutItem.wallet).distinct())))
    liabilities = int(db.session.scalar(db.select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
        ~LedgerAccount.kind.in_(["treasury", "deposits_clearing"]))) or 0)
    return LedgerSide(paid, in_flight, wallets, liabilities)


def chain_side(chain: ChainHandle, wallets: list[str]) -> ChainSide:
    claimed = client.claimed_of_many(chain.w3, chain.distributor, wallets)
    balance = int(chain.token.functions.balanceOf(chain.distributor.address).call())
    custody = balance + int(chain.token.functions.balanceOf(chain.address).call())
    return ChainSide(claimed, balance, custody)


def compare(ledger: LedgerSide, chain: ChainSide) -> ChainReconciliation:
    mismatches = [f"{w}: ledger paid {ledger.paid.get(w, 0)}, distributor claimed {chain.claimed[w]}"
                  for w in ledger.wallets if ledger.paid.get(w, 0) != chain.claimed[w]]
    if chain.distributor_balance < ledger.in_flight:
        mismatches.append(f"distributor holds {chain.distributor_balance} but {ledger.in_flight} is in flight")
    if chain.custody < ledger.liabilities:  # the tokens on chain do not cover what the ledger owes
        mismatches.append(f"the platform holds {chain.custody} on chain but the ledger owes {ledger.liabilities}")
    return ChainReconciliation(len(ledger.wallets), sum(ledger.paid.values()), sum(chain.claimed.values()),
                               ledger.in_flight, chain.distributor_balance, mismatches, chain.custody,
                               ledger.liabilities)


def record_mismatches(result: ChainReconciliation) -> None:
    for problem in result.mismatches:
        alert("reconcile_mismatch", problem)
    db.session.flush()
