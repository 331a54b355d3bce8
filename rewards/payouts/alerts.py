"""Chain alerts: what the payout engine could not decide alone (a revert, a fee above the cap, a
nonce used elsewhere, a reconciliation mismatch), logged and recorded for a person to look at."""
from __future__ import annotations

import logging
from typing import Any

from app.extensions import db
from rewards.models import ChainAlert

log = logging.getLogger("rewards.payouts")


def alert(kind: str, message: str, **details: Any) -> ChainAlert:
    """Record an alert in the session (the caller's transaction commits it) and log it."""
    log.warning("chain alert %s: %s", kind, message)
    row = ChainAlert(kind=kind, message=message, details=details or None)
    db.session.add(row)
    return row
