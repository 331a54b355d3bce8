"""The wallet page: the linked payout wallet, linking or changing it, how a requester adds funds
(the deposit address, token, chain and confirmations), and (for admins) deposits from wallets no
requester has linked. The signing itself is static/js/wallet.js + app/api/wallet.py.

The page needs the chain only for the platform's deposit address: when the node cannot be reached
(or the chain is not configured) the page still works and says so instead of showing it.
"""
from __future__ import annotations

import logging

from flask import render_template
from flask_login import current_user, login_required

from app.web import web
from rewards.accounts import requester_balance
from rewards.policy import current_policy
from rewards.chain.errors import ChainError, ChainUnavailable

log = logging.getLogger(__name__)


@web.get("/wallet")
@login_required
def wallet():
    from rewards.deposits import unmatched_deposits
    from rewards.onchain import current_chain

    platform_address, chain_problem, deposit = None, None, None
    if current_user.is_requester:
        try:
            chain = current_chain()
            platform_address = chain.address  # where deposits go
            deposit = {"address": chain.address, "token": chain.token.address, "chain_id": chain.chain_id,
                       "confirmations": chain.confirmations, "embedded": chain.embedded}
        except ChainUnavailable as exc:
            log.warning("wallet page without the deposit address: %s", exc.message)
            chain_problem = "The blockchain node cannot be reached right now, so the deposit address is not shown."
        except ChainError as exc:
            log.warning("wallet page without the deposit address: %s", exc.message)
            chain_problem = "The chain is not configured on this server, so deposits cannot be received."
    unmatched = unmatched_deposits() if current_user.is_admin else []
    balance = (requester_balance(current_policy().token, current_user.id) if current_user.is_requester else None)
    return render_template("wallet/index.html", unmatched=unmatched, platform_address=platform_address,
                           chain_problem=chain_problem, deposit=deposit, balance=balance)
