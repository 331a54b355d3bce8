"""Sign-up, login and logout."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from annotation.accounts import authenticate, create_user
from annotation.errors import InvalidCredentials
from app.extensions import db, limiter
from app.web import web
from app.web.forms import ActionForm, LoginForm, SignupForm


def home_for(user) -> str:
    return url_for("web.jobs") if user.is_requester else url_for("web.work")


@web.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.username.data, form.password.data, form.role.data)
        except InvalidCredentials as exc:
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            login_user(user)
            flash(f"Welcome, {user.username}!", "success")
            return redirect(home_for(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/signup.html", form=form), status


@web.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data, form.password.data)
        except InvalidCredentials as exc:
            form.form_errors.append(exc.message)
        else:
            db.session.commit()  # a password rehash, if argon2's parameters changed
            login_user(user)
            target = request.args.get("next", "")
            # Only same-site paths: an open redirect would hand sessions to phishing pages.
            if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
                target = home_for(user)
            return redirect(target)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@web.post("/logout")
@login_required
def logout():
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("web.index"))


@web.app_context_processor
def inject_forms():
    # formdata=None: the buttons never read the request body (which may be the failed upload).
    return {"action_form": ActionForm(formdata=None), "current_user": current_user}
