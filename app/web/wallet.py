"""The wallet page: the linked payout wallet, linking or changing it, and (for admins) deposits
from wallets no requester has linked. The signing itself is static/js/wallet.js + app/api/wallet.py."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required

from app.web import web
from rewards.chain.errors import ChainError


@web.get("/wallet")
@login_required
def wallet():
    from rewards.deposits import unmatched_deposits
    from rewards.onchain import current_chain

    platform_address = None
    if current_user.is_requester:
        try:
            platform_address = current_chain().address  # where deposits go
        except ChainError:
            platform_address = None  # the page still works; the address is just not shown
    unmatched = unmatched_deposits() if current_user.is_admin else []
    return render_template("wallet/index.html", unmatched=unmatched, platform_address=platform_address)
