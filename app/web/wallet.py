"""The wallet page: the linked payout wallet, linking or changing it, how a requester adds funds
(the deposit address, token, chain and confirmations), and (for admins) deposits from wallets no
requester has linked. The signing itself is static/js/wallet.js + app/api/wallet.py.

The page needs the chain only for the platform's deposit address: when the node cannot be reached
(or the chain is not configured) the page still works and says so instead of showing it.
"""
from __future__ import annotations

import logging
import uuid

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.web import web
from app.web.forms import FaucetForm
from rewards.accounts import requester_balance
from rewards.chain.errors import ChainError, ChainUnavailable
from rewards.policy import current_policy

log = logging.getLogger(__name__)


@web.get("/wallet")
@login_required
def wallet():
    from rewards.deposits import unmatched_deposits
    from rewards.onchain import current_chain

    chain_problem, deposit = None, None
    if current_user.is_requester:
        try:
            chain = current_chain()
            deposit = {"address": chain.address, "token": chain.token.address, "chain_id": chain.chain_id,
                       "confirmations": chain.confirmations, "embedded": chain.embedded}  # address: where deposits go
        except ChainUnavailable as exc:
            log.warning("wallet page without the deposit address: %s", exc.message)
            chain_problem = "The blockchain node cannot be reached right now, so the deposit address is not shown."
        except ChainError as exc:
            log.warning("wallet page without the deposit address: %s", exc.message)
            chain_problem = "The chain is not configured on this server, so deposits cannot be received."
    unmatched = unmatched_deposits() if current_user.is_admin else []
    balance = (requester_balance(current_policy().token, current_user.id) if current_user.is_requester else None)
    faucet = None
    if current_user.is_requester and faucet_open():
        faucet = FaucetForm(formdata=None, key=uuid.uuid4().hex)
    return render_template("wallet/index.html", unmatched=unmatched, chain_problem=chain_problem, deposit=deposit,
                           balance=balance, faucet=faucet, faucet_amount=FAUCET_AMOUNT, faucet_cap=FAUCET_CAP)


FAUCET_AMOUNT = 1_000
FAUCET_CAP = 10_000  # no more once the balance holds this much


def faucet_open() -> bool:
    """The demo faucet exists outside production only: it credits from the treasury, for free."""
    return current_app.config["ENV"] != "production"


@web.post("/wallet/faucet")
@login_required
def faucet():
    """Development and testing: credit the requester FAUCET_AMOUNT from the treasury, so a new
    requester can fund, create and publish without the CLI. Each rendered form has its own key:
    the same form submitted twice credits once."""
    from rewards.funding import credit_requester

    if not faucet_open():
        abort(404)
    if not current_user.is_requester:
        abort(403, "Only requesters hold a balance to fund.")
    form = FaucetForm()
    if not form.validate_on_submit():
        abort(400, "The form expired or is incomplete; reload the wallet page and try again.")
    balance = requester_balance(current_policy().token, current_user.id)
    if balance >= FAUCET_CAP:
        flash(f"The demo faucet tops up balances below {FAUCET_CAP}; yours is {balance}.", "error")
        return redirect(url_for("web.wallet", _anchor="deposit"))
    credit_requester(current_user._get_current_object(), FAUCET_AMOUNT, key=f"faucet:{current_user.id}:{form.key.data}")
    db.session.commit()
    flash(f"{FAUCET_AMOUNT} {current_policy().token} from the demo faucet added to your balance.", "success")
    return redirect(url_for("web.wallet", _anchor="deposit"))
