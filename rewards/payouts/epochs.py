"""Building an epoch: who is paid, the two trees, and the outbox of transactions to send.

`build_epoch` is one unit of work: every worker with a wallet and at least MIN_PAYOUT available
has it moved available → payout in flight; the epoch's trees (wallet → cumulative paid, and the
accepted contributions behind them) are built; and the transactions that post the roots, fund the
distributor and push the payments are queued. It flushes; the caller commits, and nothing is
sent before that commit.
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from eth_utils import to_checksum_address
from flask import current_app
from hexbytes import HexBytes
from sqlalchemy import func

from annotation.models import Answer, AnswerStatus
from app.extensions import db
from app.identity.models import User
from rewards.chain import gas, merkle
from rewards.models import (
    ChainTx,
    ContributionLeaf,
    Hold,
    HoldStatus,
    LedgerAccount,
    PayoutEpoch,
    PayoutItem,
)
from rewards.onchain import ChainHandle
from rewards.payouts.accounting import PayoutRef, reserve_payouts
from rewards.payouts.transactions import before_chain_call
from rewards.policy import current_policy

ZERO_ROOT = "0x" + "00" * 32


def open_epoch() -> PayoutEpoch | None:
    """The epoch still being paid, if any (one at a time keeps nonces and roots in order)."""
    return db.session.scalar(db.select(PayoutEpoch).where(PayoutEpoch.status != "paid")
                             .order_by(PayoutEpoch.id.desc()).limit(1))


def paid_cumulatives() -> dict[str, int]:
    """Per wallet, everything ever recorded for it that did not fail: the cumulative the next
    root carries."""
    rows = db.session.execute(
        db.select(PayoutItem.wallet, func.sum(PayoutItem.amount))
        .where(PayoutItem.status != "failed").group_by(PayoutItem.wallet)).all()
    return {wallet: int(total) for wallet, total in rows}


def read_distributor_balance(chain: ChainHandle) -> int:
    """The distributor's token balance: what an epoch need not fund. Reads the chain, so it
    runs with no transaction open (see rewards.payouts.transactions)."""
    before_chain_call("read_distributor_balance")
    return int(chain.token.functions.balanceOf(chain.distributor.address).call())


def build_epoch(chain: ChainHandle, *, min_payout: int | None = None, batch_size: int | None = None,
                distributor_balance: int | None = None) -> PayoutEpoch | None:
    """Record the next epoch and its outbox; None when an epoch is still open or nobody is due.

    Flushes; the caller commits. Without `distributor_balance` it is read from the chain first,
    before anything is written (refused if the session already holds uncommitted writes)."""
    config = current_app.config
    min_payout = int(config["MIN_PAYOUT"] if min_payout is None else min_payout)
    batch_size = int(config["PAYOUT_BATCH_SIZE"] if batch_size is None else batch_size)
    if not 1 <= batch_size <= gas.MAX_PUSH_BATCH:
        raise ValueError(f"batch_size must be 1 to {gas.MAX_PUSH_BATCH}: a larger push passes the "
                         f"{gas.MAX_TX_GAS:,} gas per-transaction cap.")
    if distributor_balance is None:
        distributor_balance = read_distributor_balance(chain)
    if open_epoch() is not None:
        return None
    policy = current_policy()
    due = db.session.execute(
        db.select(User.id, User.wallet_address, func.coalesce(_available_balance(policy.token), 0))
        .where(User.wallet_address.is_not(None))
    ).all()
    due = [(uid, wallet, int(amount)) for uid, wallet, amount in due if int(amount or 0) >= min_payout]
    leaves = _contribution_rows()
    if not due and not leaves:
        return None
    epoch_no = (db.session.scalar(db.select(func.max(PayoutEpoch.id))) or 0) + 1
    cumulative = paid_cumulatives()
    items = []
    for user_id, wallet, amount in sorted(due):
        wallet = to_checksum_address(wallet)
        cumulative[wallet] = cumulative.get(wallet, 0) + amount
        items.append(PayoutItem(epoch_id=epoch_no, user_id=user_id, wallet=wallet, amount=amount,
                                cumulative=cumulative[wallet], ledger_key=f"epoch:{epoch_no}:user:{user_id}"))
    earnings = merkle.earnings_tree({w: c for w, c in cumulative.items() if c > 0}) if cumulative else None
    contribution_values = [(a_id, item_id, wallet, commitment, reward, epoch_no)
                           for a_id, item_id, _worker, wallet, _salt, commitment, reward in leaves]
    contributions = merkle.contributions_tree(contribution_values) if leaves else None
    total = sum(item.amount for item in items)
    epoch = PayoutEpoch(
        id=epoch_no, token=policy.token, chain_id=chain.chain_id, distributor=chain.distributor.address,
        earnings_root=earnings.root_hex if earnings else ZERO_ROOT,
        contributions_root=contributions.root_hex if contributions else ZERO_ROOT,
        earnings_tree=earnings.dump() if earnings else {},
        contributions_tree=contributions.dump() if contributions else {},
        n_wallets=len(items), n_contributions=len(leaves), total_amount=total, status="built")
    db.session.add(epoch)
    db.session.flush()
    reserve_payouts([PayoutRef(i.user_id, i.amount, i.ledger_key) for i in items], policy)
    index_of = {v[0]: i for i, v in enumerate(contributions.values)} if contributions else {}
    db.session.add_all(ContributionLeaf(
        answer_id=a_id, epoch_id=epoch_no, item_id=item_id, worker_id=worker, wallet=wallet, salt=salt,
        label_commitment=commitment, reward=reward, leaf_index=index_of[a_id])
        for a_id, item_id, worker, wallet, salt, commitment, reward in leaves)
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    for batch_no, batch in enumerate(batches, start=1):
        for item in batch:
            item.batch_no = batch_no
    db.session.add_all(items)
    _queue(chain, epoch, "post_epoch", 0, chain.distributor.encode_abi(
        "postEpoch", [epoch_no, HexBytes(epoch.earnings_root), HexBytes(epoch.contributions_root)]),
        gas.POST_EPOCH_GAS, chain.distributor.address)
    shortfall = total - distributor_balance
    if shortfall > 0:
        _queue(chain, epoch, "fund", 0, chain.token.encode_abi(
            "transfer", [chain.distributor.address, shortfall]), gas.FUND_GAS, chain.token.address)
    for batch_no, batch in enumerate(batches, start=1):
        _queue(chain, epoch, "push", batch_no, chain.distributor.encode_abi(
            "push", [[i.wallet for i in batch], [i.cumulative for i in batch]]),
            gas.push_gas_limit(len(batch)), chain.distributor.address)
    db.session.flush()
    return epoch


def _available_balance(token: str):
    """The worker's available balance, correlated to User.id (the account is found by owner and
    kind, not by rebuilding its code in SQL)."""
    return (db.select(LedgerAccount.balance)
            .where(LedgerAccount.user_id == User.id, LedgerAccount.kind == "worker_available",
                   LedgerAccount.token == token)
            .scalar_subquery())


def _contribution_rows(limit: int = 200_000) -> list[tuple]:
    """Accepted answers whose reward was released, by workers with a wallet, not yet recorded:
    (answer id, item id, worker id, wallet, salt, label commitment, reward)."""
    released = (db.select(Hold.answer_id, func.sum(Hold.amount).label("paid"))
                .where(Hold.status == HoldStatus.RELEASED, Hold.answer_id.is_not(None))
                .group_by(Hold.answer_id).subquery())
    rows = db.session.execute(
        db.select(Answer.id, Answer.item_id, Answer.worker_id, User.wallet_address, Answer.choices, released.c.paid)
        .join(released, released.c.answer_id == Answer.id)
        .join(User, User.id == Answer.worker_id)
        .where(Answer.status == AnswerStatus.ACCEPTED, User.wallet_address.is_not(None),
               ~db.select(ContributionLeaf.answer_id).where(ContributionLeaf.answer_id == Answer.id).exists())
        .order_by(Answer.id).limit(limit)).all()
    out = []
    for answer_id, item_id, worker_id, wallet, choices, paid in rows:
        salt = secrets.token_bytes(32)
        commitment = "0x" + merkle.label_commitment(salt, label_json(choices)).hex()
        out.append((answer_id, item_id, worker_id, to_checksum_address(wallet), salt, commitment, int(paid)))
    return out


def label_json(choices: dict[str, Any]) -> str:
    """The canonical text a label commitment covers (sorted keys, no spaces)."""
    return json.dumps(choices, sort_keys=True, separators=(",", ":"))


def _queue(chain: ChainHandle, epoch: PayoutEpoch, purpose: str, batch_no: int, data: str, gas_limit: int,
           to: str) -> None:
    db.session.add(ChainTx(chain_id=chain.chain_id, purpose=purpose, epoch_id=epoch.id, batch_no=batch_no,
                           attempt=0, sender=chain.address, to=to, data=HexBytes(data), gas=gas_limit,
                           status="queued"))
