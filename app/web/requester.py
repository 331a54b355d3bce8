"""Requester pages: jobs, uploads, lifecycle buttons, results and exports, money (bonuses,
disputes, spending)."""
from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from annotation.errors import AnnotationError, InvalidInput, NotFound
from annotation.exports import REGISTRY, formats_for
from annotation.imports import UploadedFile, UploadLimits
from annotation.jobs import (
    get_job_for,
    hourly_rate,
    job_progress,
    job_spec,
    list_jobs_for,
    render_instructions,
    results_page,
)
from annotation.levels import LEVELS, level_rank
from annotation.models import Answer, JobStatus
from annotation.preview import example_row, preview_spec
from annotation.results import job_worker_quality, recompute_job
from annotation.validation import MAX_ID, whole_number
from app.errors import status_for
from app.extensions import db, utcnow
from app.inputs import query_int
from app.operations import jobs as lifecycle
from app.web import web
from app.web.exports import export_response
from app.web.forms import ActionForm, BonusForm, DisputeForm, JobForm, UploadForm
from rewards.accounts import escrow_balance, requester_balance
from rewards.bonuses import pay_bonus
from rewards.disputes import dispute_answer
from rewards.errors import InsufficientFunds, RewardsError
from rewards.escrow import budget_for, escrow_needs, publish_cost
from rewards.policy import current_policy
from rewards.reports import job_answers, job_spend, requester_spend


def requester_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_requester:
            abort(403, "This page is for requesters.")
        return view(*args, **kwargs)
    return wrapped


@web.get("/jobs")
@requester_required
def jobs():
    listed = list_jobs_for(current_user)
    progress = {job.id: job_progress(job) for job in listed}
    balance = requester_balance(current_policy().token, current_user.id)
    return render_template("requester/jobs.html", jobs=listed, progress=progress, balance=balance)


@web.route("/jobs/new", methods=["GET", "POST"])
@requester_required
def new_job():
    form = JobForm()
    if form.validate_on_submit():
        try:
            job = lifecycle.create_job(
                current_user, title=form.title.data, instructions=form.instructions.data or "",
                label_config=form.label_config.data, reward=form.reward.data,
                overlap=form.overlap.data, seconds_per_task=form.seconds_per_task.data,
                aggregation=form.aggregation.data, min_level=form.min_level.data,
                acceptance=_acceptance_json(form.acceptance.data),
            )
        except (InvalidInput, RewardsError) as exc:  # RewardsError: BelowPayFloor names "reward"
            db.session.rollback()
            field = getattr(form, exc.details.get("field", ""), None) or form.label_config
            field.errors = [*field.errors, exc.message]
            return render_template("requester/new_job.html", form=form,
                                   preview_row=_example_row(form.label_config.data)), status_for(exc)
        else:
            db.session.commit()
            flash("Job created as a draft. Upload items, then publish it.", "success")
            return redirect(url_for("web.job_detail", job_id=job.id))
    status = 400 if request.method == "POST" else 200
    return render_template("requester/new_job.html", form=form,
                           preview_row=_example_row(form.label_config.data)), status


def _example_row(label_config: str | None) -> str:
    """The preview's starting row: every field the config reads (none if it does not parse)."""
    try:
        row = example_row(preview_spec(label_config or ""))
    except InvalidInput:
        row = {}
    return json.dumps(row, ensure_ascii=False)


def _preview_items(spec, items) -> list[tuple[int, str]]:
    """What the draft page's preview picks from: the items of the results page shown, first
    uploaded first, each named by what the requester knows it by (a file name, or the first
    field the config reads)."""
    first = next(iter(spec.variables), None)
    named = []
    for item in sorted(items, key=lambda i: i.id):
        meta = (item.data.get("_media") or {}).get(first)
        text = meta.get("name") if isinstance(meta, dict) else item.data.get(first)
        named.append((item.id, "" if text is None else str(text)))
    return named


def _bonus_form(job, form: BonusForm | None = None) -> BonusForm:
    """The bonus form, aimed at the answer or worker picked in the page (?bonus_answer=,
    ?bonus_worker=), with a fresh key: the same rendered form submitted twice pays once."""
    if form is not None:
        return form
    form = BonusForm(formdata=None, key=uuid.uuid4().hex)
    form.answer_id.data = str(query_int("bonus_answer", default=None, high=MAX_ID) or "")
    form.worker_id.data = "" if form.answer_id.data else str(
        query_int("bonus_worker", default=None, high=MAX_ID) or "")
    return form


def _form_id(value: object) -> int | None:
    """A hidden id field as an id, or None when it is empty or not one (the form then asks for
    a target instead of failing)."""
    try:
        return whole_number(value, "id", 1, MAX_ID) if value else None
    except InvalidInput:
        return None


def _bonus_target(job, form: BonusForm) -> dict | None:
    """What the bonus form pays: {"answer": Answer} or {"worker_id": id}; None when unset."""
    answer_id, worker_id = _form_id(form.answer_id.data), _form_id(form.worker_id.data)
    if answer_id is not None:
        answer = db.session.get(Answer, answer_id)
        if answer is not None and answer.job_id == job.id:
            return {"answer": answer, "worker_id": answer.worker_id}
    if worker_id is not None:
        return {"answer": None, "worker_id": worker_id}
    return None


def export_choices(spec, job_id: int) -> list[dict[str, Any]]:
    """The export formats that fit the job's config, for the job page: key, name, and whether a
    "with the files" download is offered (formats that can carry the job's images or audio)."""
    has_media = bool(spec.media_variables)
    return [{"key": key, "name": name, "with_media": has_media and REGISTRY[key].holds_media}
            for key, name, _ in formats_for(spec, job_id)]


def _render_job(job, *, upload_error: str | None = None, status: int = 200,
                bonus_form: BonusForm | None = None, money_error: str | None = None,
                money_error_code: str | None = None):
    page, answers_page = query_int("page"), query_int("answers_page")
    rate, measured = hourly_rate(job)
    policy = current_policy()
    bonus_form = _bonus_form(job, bonus_form)
    fee = policy.fee_for(job.reward)
    slots = job.overlap * job.n_items
    items = results_page(job, page=page)
    spec = job_spec(job)
    return render_template(
        "requester/job.html", job=job, spec=spec, progress=job_progress(job),
        items=items, page=page, export_formats=export_choices(spec, job.id),
        preview_items=_preview_items(spec, items) if job.status is JobStatus.DRAFT else [],
        preview_row=json.dumps(example_row(spec), ensure_ascii=False),
        instructions=render_instructions(job.instructions),
        upload_form=UploadForm(), upload_error=upload_error, rate=rate, rate_measured=measured,
        escrow=escrow_balance(policy.token, job.id), budget=budget_for(job),
        needs=escrow_needs(job), publish_cost=publish_cost(job),
        cost_parts={"rewards": job.reward * slots, "fees": fee * slots, "fee": fee, "slots": slots},
        balance=requester_balance(policy.token, current_user.id),
        quality=job_worker_quality(job) if request.args.get("quality") else None,
        policy=policy, spend=job_spend(job), answers=job_answers(job, page=answers_page),
        answers_page=answers_page, now=utcnow(), bonus_form=bonus_form,
        bonus_target=_bonus_target(job, bonus_form), dispute_form=DisputeForm(formdata=None),
        money_error=money_error, money_error_code=money_error_code, min_level_title=LEVELS[level_rank(job.min_level)].title,
    ), status


@web.get("/jobs/<int:job_id>")
@requester_required
def job_detail(job_id: int):
    return _render_job(get_job_for(current_user, job_id, manage=True))


@web.post("/jobs/<int:job_id>/items")
@requester_required
def upload_items(job_id: int):
    job = get_job_for(current_user, job_id, manage=True)
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_job(job, upload_error="The form expired; reload and try again.", status=400)
    # The files as Werkzeug spooled them (to disk beyond 500 KB), not copied into memory.
    files = [UploadedFile(f.filename or "", f.stream) for f in request.files.getlist(form.files.name)]
    config = current_app.config
    try:
        added = lifecycle.add_items(
            current_user, job, files, media_root=config["MEDIA_ROOT"],
            limits=UploadLimits(max_items=config["MAX_ITEMS_PER_UPLOAD"],
                                max_zip_members=config["MAX_ZIP_MEMBERS"],
                                max_inflated_bytes=config["MAX_UPLOAD_INFLATED_BYTES"]),
        )
    except AnnotationError as exc:
        db.session.rollback()
        return _render_job(job, upload_error=exc.message, status=status_for(exc))
    db.session.commit()
    flash(f"Imported {added} items.", "success")
    return redirect(url_for("web.job_detail", job_id=job.id))


@web.post("/jobs/<int:job_id>/<any(publish, pause, resume, close, recompute):action>")
@requester_required
def job_action(job_id: int, action: str):
    job = get_job_for(current_user, job_id, manage=True)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; reload and try again.")
    if action == "recompute":  # labels and confidences refresh; decisions already paid stand
        message = f"Consensus recomputed with {job.aggregation} for {recompute_job(job)} items."
    else:
        try:
            lifecycle.LIFECYCLE[action](current_user, job)
        except InsufficientFunds as exc:  # the job page, saying what is missing and where to add it
            db.session.rollback()
            return _render_job(job, money_error=exc.message, money_error_code=exc.code, status=402)
        message = f"Job {job.status.value}."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("web.job_detail", job_id=job.id))


def _acceptance_json(text: str | None) -> Any:
    """The form's acceptance thresholds: JSON text, or None when left empty."""
    if not (text or "").strip():
        return None
    from annotation.validation import loads_bounded

    try:
        return loads_bounded(text)
    except InvalidInput as exc:
        raise InvalidInput(f"Acceptance thresholds are not valid JSON: {exc.message}", field="acceptance") from None


@web.get("/jobs/<int:job_id>/export.<fmt>")
@requester_required
def export(job_id: int, fmt: str):
    job = get_job_for(current_user, job_id, manage=True)
    return export_response(current_user, job, fmt, request.args)  # streamed; ?media=1, ?manifest=1


@web.post("/jobs/<int:job_id>/bonuses")
@requester_required
def pay_job_bonus(job_id: int):
    job = get_job_for(current_user, job_id, manage=True)
    form = BonusForm()
    if not form.validate_on_submit():
        return _render_job(job, bonus_form=form, status=400)
    target = _bonus_target(job, form)
    if target is None:
        return _render_job(job, bonus_form=form, status=400,
                           money_error="Choose an answer or an annotator to give the bonus to.")
    try:
        transfer = pay_bonus(
            current_user, job, amount=form.amount.data, key=form.key.data, source=form.source.data,
            reason=form.reason.data or "",
            **({"answer_id": target["answer"].id} if target["answer"] else {"worker_id": target["worker_id"]}))
    except RewardsError as exc:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, exc.message]
        return _render_job(job, bonus_form=form, status=status_for(exc))
    db.session.commit()
    flash(f"Bonus of {form.amount.data} {current_policy().token} to annotator #{target['worker_id']} "
          f"recorded (transfer #{transfer.id}); it is held like any earning.", "success")
    return redirect(url_for("web.job_detail", job_id=job.id) + "#money")


@web.post("/jobs/<int:job_id>/answers/<int:answer_id>/dispute")
@requester_required
def dispute(job_id: int, answer_id: int):
    job = get_job_for(current_user, job_id, manage=True)
    answer = db.session.get(Answer, answer_id)
    if answer is None or answer.job_id != job.id:
        raise NotFound(f"Answer {answer_id} not found.")
    form = DisputeForm()
    if not form.validate_on_submit():
        message = "; ".join(e for errors in form.errors.values() for e in errors)
        return _render_job(job, money_error=f"Dispute not recorded: {message}", status=400)
    try:
        dispute_answer(current_user, answer, reason=form.reason.data)
    except RewardsError as exc:
        db.session.rollback()
        return _render_job(job, money_error=exc.message, status=status_for(exc))
    db.session.commit()
    flash(f"Answer #{answer.id} disputed: its earnings stay pending until an admin decides.", "success")
    return redirect(url_for("web.job_detail", job_id=job.id) + "#answers")


@web.get("/spending")
@requester_required
def spending():
    report = requester_spend(current_user)
    chart = {
        "labels": [f"#{job.id} {job.title[:30]}" for job, _ in report.rows],
        "series": [
            {"key": key, "label": label, "data": [getattr(spend, key) for _, spend in report.rows]}
            for key, label in (("rewards", "Rewards"), ("fees", "Fees"), ("topups", "Pay-floor top-ups"),
                               ("bonuses", "Bonuses"), ("refunds", "Refunded"), ("escrow_left", "Left in budget"))
        ],
        "token": current_policy().token,
    }
    return render_template("requester/spending.html", report=report, chart=chart)

