"""Requester pages: jobs, uploads, lifecycle buttons, results and exports."""
from __future__ import annotations

import functools

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from annotation.errors import AnnotationError, InvalidInput
from annotation.exports import export_job
from annotation.imports import UploadedFile, UploadLimits, import_upload
from annotation.jobs import (
    close_job,
    create_job,
    get_job_for,
    hourly_rate,
    job_progress,
    job_spec,
    list_jobs_for,
    pause_job,
    publish_job,
    render_instructions,
    results_page,
    resume_job,
)
from annotation.results import job_worker_quality, recompute_job
from app.errors import status_for
from app.extensions import db
from app.web import web
from app.web.forms import ActionForm, JobForm, UploadForm
from rewards.accounts import escrow_balance, requester_balance
from rewards.policy import current_policy
from rewards.settlement import budget_for, escrow_needs, publish_cost

ACTIONS = {"publish": publish_job, "pause": pause_job, "resume": resume_job, "close": close_job}


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
            job = create_job(
                current_user, title=form.title.data, instructions=form.instructions.data or "",
                label_config=form.label_config.data, reward=form.reward.data,
                overlap=form.overlap.data, seconds_per_task=form.seconds_per_task.data,
                aggregation=form.aggregation.data,
            )
        except InvalidInput as exc:
            field = getattr(form, exc.details.get("field", ""), None) or form.label_config
            field.errors = [*field.errors, exc.message]
        else:
            db.session.commit()
            flash("Job created as a draft. Upload items, then publish it.", "success")
            return redirect(url_for("web.job_detail", job_id=job.id))
    status = 400 if request.method == "POST" else 200
    return render_template("requester/new_job.html", form=form), status


def _render_job(job, *, upload_error: str | None = None, status: int = 200):
    page = request.args.get("page", 1, type=int)
    rate, measured = hourly_rate(job)
    return render_template(
        "requester/job.html", job=job, spec=job_spec(job), progress=job_progress(job),
        items=results_page(job, page=page), page=page, instructions=render_instructions(job.instructions),
        upload_form=UploadForm(), upload_error=upload_error, rate=rate, rate_measured=measured,
        escrow=escrow_balance(current_policy().token, job.id), budget=budget_for(job),
        needs=escrow_needs(job), publish_cost=publish_cost(job),
        balance=requester_balance(current_policy().token, current_user.id),
        quality=job_worker_quality(job) if request.args.get("quality") else None,
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
    files = [UploadedFile(f.filename or "", f.read()) for f in request.files.getlist(form.files.name)]
    config = current_app.config
    try:
        items = import_upload(
            current_user, job, files, media_root=config["MEDIA_ROOT"],
            limits=UploadLimits(config["MAX_ITEMS_PER_UPLOAD"], config["MAX_ZIP_MEMBERS"],
                                config["MAX_ZIP_UNCOMPRESSED_BYTES"]),
        )
    except AnnotationError as exc:
        db.session.rollback()
        return _render_job(job, upload_error=exc.message, status=status_for(exc))
    db.session.commit()
    flash(f"Imported {len(items)} items.", "success")
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
        ACTIONS[action](current_user, job)
        message = f"Job {job.status.value}."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("web.job_detail", job_id=job.id))


@web.get("/jobs/<int:job_id>/export.<fmt>")
@requester_required
def export(job_id: int, fmt: str):
    job = get_job_for(current_user, job_id, manage=True)
    body, mimetype = export_job(current_user, job, fmt)
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="fairlabel-job-{job.id}.{fmt}"'})
