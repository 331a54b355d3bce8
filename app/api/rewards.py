"""Money for agents: balances, bonuses, disputes and a job's spend, as JSON.

Same session and CSRF rules as the rest of /api (send the page's token as X-CSRFToken), or an
API token with the scopes each route names (app/token_auth.py); errors come back in the one
error shape of app/errors.py, with the domain error's status.
"""
from __future__ import annotations

from typing import Any

from flask_login import current_user, login_required

from annotation.errors import NotFound, PermissionDenied
from annotation.jobs import get_job_for
from annotation.models import Answer, Job
from annotation.validation import MAX_ID, whole_number
from app.api import api
from app.extensions import db
from app.inputs import json_object
from app.token_auth import token_scopes
from rewards.accounts import requester_balance, worker_balances
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer
from rewards.errors import InvalidAmount
from rewards.policy import current_policy
from rewards.reports import bonus_transfer, job_spend


def _requester():
    if not current_user.is_requester:
        raise PermissionDenied("Only requesters can do this.")
    return current_user._get_current_object()


def _body() -> dict[str, Any]:
    return json_object(error=InvalidAmount)


def _optional_id(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    return whole_number(value, name, 1, MAX_ID, error=InvalidAmount)


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidAmount(f"{name} must be a string.", field=name)
    if required and not value.strip():
        raise InvalidAmount(f"{name} is required.", field=name)
    return value


@api.get("/balance")
@token_scopes("funds:read")
@login_required
def balance():
    """The signed-in user's balances: a requester's spendable balance, a worker's pending,
    available and in-flight earnings (an admin has both)."""
    token = current_policy().token
    body: dict[str, Any] = {"token": token}
    if current_user.is_requester:
        body["requester"] = {"balance": requester_balance(token, current_user.id)}
    if current_user.is_annotator:
        body["worker"] = worker_balances(token, current_user.id)
    return body


@api.post("/jobs/<int:job_id>/bonuses")
@token_scopes("jobs:write", "funds:spend")
@login_required
def bonus(job_id: int):
    """{amount, key, answer_id | worker_id, source: "escrow" | "balance", reason} → 201 with the
    transfer id; the same key again → 200 with the same id (and nothing paid twice)."""
    requester = _requester()
    job = get_job_for(requester, job_id, manage=True)
    body = _body()
    answer_id, worker_id = _optional_id(body, "answer_id"), _optional_id(body, "worker_id")
    if (answer_id is None) == (worker_id is None):
        raise InvalidAmount("Name exactly one of answer_id or worker_id.", field="answer_id")
    key = _text(body, "key", required=True)
    source = _text(body, "source") or "escrow"
    replay = bonus_transfer(requester, key) is not None
    transfer = pay_bonus(requester, job, amount=body.get("amount"), key=key, source=source,
                         reason=_text(body, "reason"), answer_id=answer_id, worker_id=worker_id)
    db.session.commit()
    memo = transfer.memo or {}
    amount = sum(e.amount for e in transfer.entries if e.amount > 0)
    return {"bonus": {"transfer_id": transfer.id, "key": key, "job_id": job.id, "amount": amount,
                      "worker_id": memo.get("worker_id"), "answer_id": memo.get("answer_id"),
                      "replayed": replay}}, (200 if replay else 201)


@api.post("/answers/<int:answer_id>/dispute")
@token_scopes("jobs:write")
@login_required
def dispute(answer_id: int):
    """{reason} → the answer's earnings stay pending until an admin decides."""
    requester = _requester()
    answer = db.session.get(Answer, answer_id)
    if answer is None or db.session.get(Job, answer.job_id).owner_id != requester.id:
        raise NotFound(f"Answer {answer_id} not found.")  # whatever the body says
    holds = dispute_answer(requester, answer, reason=_text(_body(), "reason", required=True))
    db.session.commit()
    return {"dispute": {"answer_id": answer.id, "amount": sum(h.amount for h in holds),
                        "holds": [{"id": h.id, "kind": h.kind, "amount": h.amount} for h in holds]}}


@api.get("/jobs/<int:job_id>/spend")
@token_scopes("jobs:read")
@login_required
def spend(job_id: int):
    job = get_job_for(_requester(), job_id, manage=True)
    return {"token": current_policy().token, "spend": job_spend(job).as_dict()}
