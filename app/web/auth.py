"""Sign-up, login, logout and password changes, with sessions that the server can end."""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, limiter, utcnow
from app.identity.accounts import authenticate, change_password, create_user
from app.identity.errors import IdentityError
from app.identity.models import User
from app.identity.sessions import end_other_sessions, end_session, start_session, user_for_session
from app.identity.tokens import SCOPES, SCOPES_BY_ROLE, create_api_token, list_api_tokens, revoke_api_token
from app.token_auth import is_token_request
from app.web import web
from app.web.forms import ActionForm, LoginForm, PasswordForm, SignupForm, TokenForm

SESSION_KEY = "sid"


def home_for(user) -> str:
    return url_for("web.jobs") if user.is_requester else url_for("web.work")


def load_session_user(user_id: str) -> User | None:
    """Flask-Login's loader: the cookie's user, only while its server-side session lives."""
    if not user_id.isascii() or not user_id.isdigit() or len(user_id) > 10:
        return None
    if is_token_request():
        return None  # a token request is the token's user alone
    return user_for_session(session.get(SESSION_KEY), int(user_id), now=utcnow())


def log_in(user: User) -> None:
    """Start a server-side session for `user` in this browser (the caller commits)."""
    end_session(session.get(SESSION_KEY))
    session.clear()  # nothing of the anonymous session carries over (session fixation)
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)  # Flask-WTF's token cached for this request
    session[SESSION_KEY] = start_session(user, now=utcnow(), seconds=current_app.config["SESSION_SECONDS"])
    login_user(user)


def safe_next(target: str | None, user: User) -> str:
    """Where to go after logging in: a path of this site, or the user's home page.

    Only same-site paths: an open redirect would hand sessions to phishing pages, and a control
    character (CR/LF) must never reach a response header.
    """
    target = target or ""
    if (not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target) or len(target) > 2000):
        return home_for(user)
    return target


@web.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], methods=["POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.username.data, form.password.data, form.role.data)
        except IdentityError as exc:
            db.session.rollback()
            getattr(form, exc.details.get("field", ""), form.username).errors.append(exc.message)
        else:
            log_in(user)
            db.session.commit()
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
        except IdentityError as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            log_in(user)  # also keeps a password rehash, if argon2's parameters changed
            db.session.commit()
            return redirect(safe_next(request.args.get("next"), user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@web.post("/logout")
@login_required
def logout():
    if ActionForm().validate_on_submit():
        end_session(session.get(SESSION_KEY))
        db.session.commit()
        logout_user()
        session.clear()
    return redirect(url_for("web.index"))


@web.route("/settings/password", methods=["GET", "POST"])
@login_required
def password():
    """Change (or, for a wallet-only account, set) the password; every other session ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            change_password(user, form.current_password.data or "", form.new_password.data)
        except IdentityError as exc:
            db.session.rollback()
            getattr(form, exc.details.get("field", ""), form.new_password).errors.append(exc.message)
        else:
            ended = end_other_sessions(user, keep=session.get(SESSION_KEY))
            db.session.commit()
            flash("Password changed." + (f" {ended} other session(s) were signed out." if ended else ""),
                  "success")
            return redirect(home_for(user))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status


def _token_form(user: User, **kwargs) -> TokenForm:
    """The new-token form, offering the scopes `user`'s role may hold."""
    form = TokenForm(**kwargs)
    form.scopes.choices = [(s, f"{s} — {SCOPES[s]}") for s in SCOPES if s in SCOPES_BY_ROLE.get(user.role, ())]
    return form


@web.route("/settings/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    """Personal API tokens: the list, and a form for a new one whose secret is shown once, in
    this response only (never flashed: the flash lives in the session cookie)."""
    user = current_user._get_current_object()
    form = _token_form(user)
    secret = None
    if form.validate_on_submit():
        try:
            token, secret = create_api_token(user, name=form.name.data, scopes=form.scopes.data,
                                             expires_days=form.expires_days.data, now=utcnow())
        except IdentityError as exc:
            db.session.rollback()
            getattr(form, exc.details.get("field", ""), form.name).errors.append(exc.message)
        else:
            db.session.commit()
            form = _token_form(user, formdata=None)
    status = 400 if request.method == "POST" and secret is None else 200
    return render_template("auth/tokens.html", form=form, secret=secret, tokens=list_api_tokens(user),
                           now=utcnow()), status


@web.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.tokens"))
    token = revoke_api_token(current_user._get_current_object(), token_id, now=utcnow())
    db.session.commit()
    flash(f"Token {token.prefix}… ({token.name}) is revoked; requests with it now get a 401.", "success")
    return redirect(url_for("web.tokens"))


@web.app_context_processor
def inject_forms():
    # formdata=None: the buttons never read the request body (which may be the failed upload).
    return {"action_form": ActionForm(formdata=None), "current_user": current_user}
