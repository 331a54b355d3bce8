"""Admin pages: disputes waiting for a decision."""
from __future__ import annotations

import functools

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from annotation.errors import NotFound
from annotation.models import Answer
from app.extensions import db
from app.web import web
from app.web.forms import ActionForm
from rewards.disputes import resolve_dispute
from rewards.reports import open_disputes


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, "This page is for admins.")
        return view(*args, **kwargs)
    return wrapped


@web.get("/admin/disputes")
@admin_required
def disputes():
    return render_template("admin/disputes.html", disputes=open_disputes())


@web.post("/admin/disputes/<int:answer_id>/<any(uphold, dismiss):decision>")
@admin_required
def decide_dispute(answer_id: int, decision: str):
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; reload and try again.")
    answer = db.session.get(Answer, answer_id)
    if answer is None:
        raise NotFound(f"Answer {answer_id} not found.")
    resolve_dispute(current_user, answer, uphold=decision == "uphold")
    db.session.commit()
    flash(f"Dispute over answer #{answer_id} "
          + ("upheld: the answer is rejected and its earnings went back to the job's budget."
             if decision == "uphold" else "dismissed: the annotator's earnings are released."),
          "success")
    return redirect(url_for("web.disputes"))
