"""The landing page and media files."""
from __future__ import annotations

from flask import current_app, redirect, render_template, send_file
from flask_login import current_user, login_required

from annotation.errors import NotFound
from annotation.jobs import get_job_for
from annotation.media import media_path
from app.web import web
from app.web.auth import home_for


@web.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("index.html")


@web.get("/media/<int:job_id>/<name>")
@login_required
def media(job_id: int, name: str):
    get_job_for(current_user, job_id)  # NotFound unless the user may see this job
    path = media_path(current_app.config["MEDIA_ROOT"], job_id, name)
    if path is None:
        raise NotFound("No such file.")
    return send_file(path, max_age=3600, conditional=True)


@web.get("/healthz")
def healthz():
    return {"ok": True}


