"""Issue #9 §5 / docs/security.md: every route, walked by every role, against another owner's data.

Six callers — anonymous, an annotator who owns nothing here, the annotator whose answer, task
and proof the ids point at, a requester who owns nothing here, the requester who owns the job,
and an admin — call every route of `app.url_map` with every method. Each route must be listed in
WHO_MAY (a new route fails this test until someone says who may use it); then:

- nobody gets a 5xx;
- without a session: 401 `unauthorized` on /api/, a redirect to the login page elsewhere;
- a caller who may not: 403 or 404 (a job or answer of someone else is "not found");
- a caller who may: anything else but 401/403/404 (validation 400s and 409s are fine: the
  request bodies are empty);
- no response to a caller outside the owners carries the owners' data (job title, item text,
  the owning annotator's name).

The table of status codes is printed (`-s`) for docs/security.md.
"""
from __future__ import annotations

import io
import re

import pytest
from eth_account import Account

ROLES = ("anonymous", "annotator", "annotator (owner)", "requester", "requester (owner)", "admin")
TITLE = "Job QX7 of its owner"
ITEM = "item text QX7"
# Who may use each route; the other logged-in roles must be refused (403/404).
EVERYONE = set(ROLES)
USERS = EVERYONE - {"anonymous"}
ANNOTATORS = {"annotator", "annotator (owner)"}
REQUESTERS = {"requester", "requester (owner)", "admin"}  # an admin manages every job
JOB_MANAGERS = {"requester (owner)", "admin"}
WHO_MAY: dict[str, set[str]] = {
    "web.index": EVERYONE, "web.healthz": EVERYONE, "web.login": EVERYONE, "web.signup": EVERYONE,
    "web.verify_proof_page": EVERYONE, "web.posted_root": EVERYONE, "api.siwe_message": EVERYONE, "api.siwe_login": EVERYONE,
    "web.logout": USERS, "web.password": USERS, "web.tokens": USERS,
    "web.wallet": USERS, "api.balance": USERS, "api.link": USERS,
    "web.revoke_token": {"requester (owner)"},  # a token is revoked by its own user alone
    "web.work": ANNOTATORS, "web.earnings": ANNOTATORS, "web.contributions": ANNOTATORS,
    "web.label": ANNOTATORS, "api.next_task": ANNOTATORS,
    "api.answer": {"annotator (owner)"}, "api.skip": {"annotator (owner)"},
    "web.contribution_proof_download": {"annotator (owner)"},
    "web.jobs": REQUESTERS, "web.new_job": REQUESTERS, "web.spending": REQUESTERS,
    "web.faucet": REQUESTERS,  # development and testing only (404 in production)
    # The job form's preview: any requester's own config and row (an item id names one of their
    # own items, tests/app/test_preview.py checks another's is a 404).
    "api.preview": REQUESTERS, "api.preview_answer": REQUESTERS,
    "web.job_detail": JOB_MANAGERS, "web.job_action": JOB_MANAGERS,
    "web.upload_items": {"requester (owner)"},  # an admin may run any job, but adds no items to it
    "web.export": JOB_MANAGERS, "api.spend": JOB_MANAGERS,
    # Money decisions on a job are its requester's alone: an admin neither pays bonuses from
    # someone's escrow nor raises a dispute it would then decide.
    "web.pay_job_bonus": {"requester (owner)"}, "api.bonus": {"requester (owner)"},
    "web.dispute": {"requester (owner)"}, "api.dispute": {"requester (owner)"},
    "web.media": ANNOTATORS | JOB_MANAGERS,  # the files of a published job, to its annotators
    # An export's media link is a capability: whoever holds a validly signed, unexpired link
    # gets that one file (tests/annotation/test_exports.py checks forged and expired links).
    "web.signed_media": EVERYONE,
    "web.disputes": {"admin"}, "web.decide_dispute": {"admin"},
}
# Values for path arguments; `<any(...)>` takes the first harmless choice listed here.
CHOICES = {"action": "recompute", "decision": "dismiss", "fmt": "csv"}


def body_for(endpoint: str, role: str, world) -> dict:
    """A well-formed request for the route, so a refusal is the authorization speaking and not
    the validation of an empty body."""
    from conftest import choices_result

    answer = world["values"]["answer_id"]
    key = f"{endpoint}-{role}"
    bodies = {
        "api.dispute": {"json": {"reason": "looks wrong"}},
        "api.bonus": {"json": {"amount": 1, "key": key, "answer_id": answer, "source": "escrow", "reason": "thanks"}},
        "api.answer": {"json": {"result": choices_result("positive")}},
        "api.siwe_message": {"json": {"address": world["address"], "purpose": "login"}},
        "api.siwe_login": {"json": {"message": "not issued", "signature": "0x00"}},
        "api.link": {"json": {"message": "not issued", "signature": "0x00"}},
        "web.dispute": {"data": {"reason": "looks wrong"}},
        "web.pay_job_bonus": {"data": {"amount": "1", "key": key, "answer_id": str(answer), "source": "escrow",
                                       "reason": "thanks"}},
        "web.upload_items": {"data": {"files": (io.BytesIO(b'{"text": "one more"}\n'), "more.jsonl")}},
        "web.login": {"data": {"username": "nobody", "password": "not the password"}},
    }
    return bodies.get(endpoint) or ({"json": {}} if endpoint.startswith("api.") else {"data": {}})


@pytest.fixture
def world(db, app, make_user, make_job, login):
    """The owners' data: a published job with an answer (disputed by its requester), a leased
    task, a published image job with one file, and a proof of another answer paid on chain."""
    from annotation.exports.media import sign_media_token
    from annotation.imports import UploadedFile
    from annotation.models import Item
    from annotation.tasks import next_task_for
    from app.demo import IMAGE_CONFIG, shape_png
    from app.operations.jobs import add_items, create_job, publish_job
    from app.operations.tasks import submit_answer
    from app.worker import run_cycle
    from rewards.disputes import dispute_answer
    from rewards.escrow import publish_cost
    from rewards.funding import credit_requester

    from conftest import choices_result

    owner, worker = make_user("requester", "req_qx7_owner"), make_user("annotator", "ann_qx7_owner")
    users = {"annotator": make_user(), "annotator (owner)": worker, "requester": make_user("requester"),
             "requester (owner)": owner, "admin": make_user("admin")}

    # A proof: an answer paid out on chain at once (no hold), before the job whose answer is disputed.
    hold = app.config["PAYOUT_HOLD_SECONDS"]
    app.config.update(PAYOUT_HOLD_SECONDS=0, MIN_PAYOUT=1)
    worker.wallet_address = Account.create().address
    paid_job = make_job(owner, title=TITLE, n_items=1, overlap=1, rows=[{"text": f"{ITEM} paid"}])
    paid = submit_answer(worker, next_task_for(worker, paid_job).id, choices_result("positive"))
    db.session.commit()
    run_cycle(app)
    run_cycle(app)
    app.config["PAYOUT_HOLD_SECONDS"] = hold

    job = make_job(owner, title=TITLE, overlap=1, rows=[{"text": f"{ITEM} {n}"} for n in range(3)])
    answer = submit_answer(worker, next_task_for(worker, job).id, choices_result("positive"))
    dispute_answer(owner, answer, reason="looks wrong")
    lease = next_task_for(worker, job)
    images = create_job(owner, title=TITLE, label_config=IMAGE_CONFIG, reward=10, overlap=1)
    add_items(owner, images, [UploadedFile("a.png", shape_png("circle", 1, size=128))],
              media_root=app.config["MEDIA_ROOT"])
    credit_requester(owner, publish_cost(images), key="fund-images")
    publish_job(owner, images)
    db.session.flush()
    media = db.session.scalars(db.select(Item).where(Item.job_id == images.id)).one().data["image"]
    from app.extensions import utcnow
    from app.identity.tokens import create_api_token

    api_token, _ = create_api_token(owner, name="route table", scopes=["jobs:read"], now=utcnow())
    values = {"job_id": job.id, "answer_id": answer.id, "assignment_id": lease.id,
              "name": media.rsplit("/", 1)[1], "token_id": api_token.id}
    token = sign_media_token(app.config["SECRET_KEY"], images.id, values["name"])
    overrides = {"web.media": {"job_id": images.id}, "web.contribution_proof_download": {"answer_id": paid.id},
                 "web.signed_media": {"token": token}}
    markers = {TITLE, ITEM, worker.username}
    db.session.commit()
    return {"users": users, "values": values, "overrides": overrides, "markers": markers,
            "address": Account.create().address}


def forbidden_markers(role: str, endpoint: str, markers: set[str]) -> set[str]:
    """What `role` must never see: everything of the owners when it is no owner (an annotator
    may see a published job's title and items, never the owning annotator's name)."""
    if role in ("annotator (owner)", "requester (owner)", "admin"):
        return set()
    if role == "annotator":
        return {m for m in markers if m.startswith("ann_")}
    return markers


def path_for(rule, world) -> str:
    values = {**world["values"], **world["overrides"].get(rule.endpoint, {})}

    def fill(match: re.Match) -> str:
        name = match.group(1)
        return str(CHOICES.get(name) or values[name])

    return re.sub(r"<(?:[^:<>]+:)?(\w+)>", fill, rule.rule)


def verdict(status: int, location: str, api: bool) -> str:
    if status >= 500:
        return "5xx"
    if (api and status == 401) or (not api and status == 302 and "/login" in location):
        return "login"
    if status in (401, 403, 404):
        return "refused"
    return "served"


def test_every_route_for_every_role(app, world, login, db):
    """Each role calls each route; the codes are checked against WHO_MAY and printed."""
    rules = sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"), key=lambda r: r.rule)
    unlisted = sorted({r.endpoint for r in rules} - set(WHO_MAY))
    assert unlisted == [], f"say who may use these routes in WHO_MAY: {unlisted}"

    table: list[tuple[str, list[str]]] = []
    problems: list[str] = []
    seen: dict[str, set[str]] = {role: set() for role in ROLES}
    # The owners go last: their successful posts (skip, dismiss) change what the ids point at.
    order = ("anonymous", "annotator", "requester", "admin", "annotator (owner)", "requester (owner)")
    for rule in rules:
        path = path_for(rule, world)
        api = rule.rule.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cells: dict[str, str] = {}
            for role in order:
                client = app.test_client() if role == "anonymous" else login(world["users"][role])
                kwargs = body_for(rule.endpoint, role, world) if method == "POST" else {}
                with client.open(path, method=method, **kwargs) as response:
                    status, body = response.status_code, response.get_data().decode("utf-8", "replace")
                    location = response.headers.get("Location", "")
                db.session.commit()  # end the test thread's read before the next request's login
                got = verdict(status, location, api)
                may = role in WHO_MAY[rule.endpoint]
                cells[role] = f"{status}" + (" → login" if got == "login" and status == 302 else "")
                want = ("served",) if may else ("login",) if role == "anonymous" else ("refused",)
                if got not in want:
                    problems.append(f"{role} {method} {path}: {status} ({got}), expected {want[0]}")
                if api and got in ("login", "refused") and status != 302:
                    code = (response.get_json(silent=True) or {}).get("error", {}).get("code")
                    if not code:
                        problems.append(f"{role} {method} {path}: {status} without an error code")
                seen[role] |= {m for m in world["markers"] if m in body}
                leaked = sorted(m for m in forbidden_markers(role, rule.endpoint, world["markers"]) if m in body)
                if leaked:
                    problems.append(f"{role} {method} {path}: {status} shows {leaked}")
            table.append((f"`{method} {rule.rule}`", [cells[role] for role in ROLES]))

    print("\n| route | " + " | ".join(ROLES) + " |")
    print("|---|" + "---|" * len(ROLES))
    for route, cells in table:
        print(f"| {route} | " + " | ".join(cells) + " |")
    print(f"\n{len(table)} route/method pairs × {len(ROLES)} roles = {len(table) * len(ROLES)} requests")
    assert problems == []
    # The leak check looks for something real: the owners do see their data.
    assert seen["requester (owner)"] == {TITLE, ITEM}  # annotators are shown by number, not name
    assert "ann_qx7_owner" in seen["annotator (owner)"]
    assert seen["annotator"] == {TITLE, ITEM}  # a published job's title and items, nothing more
