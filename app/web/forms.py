"""Server-side forms (Flask-WTF): CSRF on every one, validation messages in the page."""
from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from flask_wtf.form import _Auto
from werkzeug.datastructures import CombinedMultiDict
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from annotation.levels import LEVELS
from app.demo import TEXT_CONFIG
from consensus import AGGREGATORS

EXAMPLE_CONFIG = TEXT_CONFIG  # the demo's sentiment config: a working starting point


class Form(FlaskForm):
    """The pages' forms read form fields and files only. Flask-WTF would also read a JSON body
    as form data, and fails (500) on one that is not an object; a page is never sent JSON."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
                    return None
                if request.files:
                    return CombinedMultiDict((request.files, request.form))
                return request.form
            return formdata


class SignupForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(3, 64)])
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=8, max=256, message="Passwords need at least 8 and at most 256 characters.")])
    role = RadioField("I want to", choices=[SelectChoice("annotator", "label data and earn"),
                                            SelectChoice("requester", "get data labeled")],
                      default="annotator", validators=[DataRequired()])


class PasswordForm(Form):
    current_password = PasswordField("Current password (leave empty if you signed up with a wallet)",
                                     validators=[Optional(), Length(max=256)])
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=8, max=256, message="Passwords need at least 8 and at most 256 characters.")])
    confirm = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ.")])


class LoginForm(Form):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class JobForm(Form):
    title = StringField("Title", validators=[DataRequired(), Length(1, 200)])
    instructions = TextAreaField("Instructions (Markdown)", validators=[Length(max=50_000)])
    label_config = TextAreaField("Labeling config (Label Studio XML)", default=EXAMPLE_CONFIG,
                                 validators=[DataRequired()])
    reward = IntegerField("Reward per accepted answer (token units)", default=10,
                          validators=[NumberRange(min=0, max=10**15)])
    overlap = IntegerField("Answers per item (overlap)", default=3,
                           validators=[NumberRange(min=1, max=50)])
    seconds_per_task = IntegerField("Your estimate of seconds per answer", default=30,
                                    validators=[NumberRange(min=1, max=86_400)])
    aggregation = SelectField("Consensus method", default="auto", choices=[
        SelectChoice(name, AGGREGATORS[name].title)
        for name in sorted(AGGREGATORS, key=lambda n: (n != "auto", n))
    ])
    min_level = SelectField("Minimum level", default=LEVELS[0].name, choices=[
        SelectChoice(level.name, level.title + (
            f" ({level.min_accepted}+ accepted, {level.min_accuracy:.0%}+ accuracy)" if level.min_accepted
            else " (anyone)"))
        for level in LEVELS
    ])
    acceptance = TextAreaField("Acceptance thresholds (JSON, optional)", validators=[Length(max=10_000)],
                               description='e.g. {"boxes": {"min_f1": 0.6, "iou": 0.5}} — per control; '
                                           "empty: each kind's defaults.")


class UploadForm(Form):
    files = MultipleFileField("CSV, JSON or JSONL rows; image or audio files; or a zip of them")


class ActionForm(Form):
    """No fields: just the CSRF token for state-changing buttons."""


class BonusForm(Form):
    """A bonus for one answer or for a worker's work on the job. `key` is a fresh uuid in every
    rendered form, so submitting the same form twice pays once."""

    answer_id = HiddenField()
    worker_id = HiddenField()
    key = HiddenField(validators=[DataRequired(), Length(1, 100)])
    amount = IntegerField("Amount (token units)", validators=[InputRequired(), NumberRange(min=1, max=10**15)])
    source = SelectField("Pay from", default="escrow", choices=[
        SelectChoice("escrow", "the job's budget (what it can spare)"),
        SelectChoice("balance", "my balance"),
    ])
    reason = StringField("Reason (the annotator sees it)", validators=[Optional(), Length(max=500)])


class DisputeForm(Form):
    reason = TextAreaField("Why is this answer wrong?", validators=[DataRequired(), Length(1, 1000)])


class TokenForm(Form):
    """A new personal API token: its name, its scopes (those the user's role may hold) and an
    optional expiry."""

    name = StringField("What it is for", validators=[DataRequired(), Length(max=100)])
    scopes = SelectMultipleField("Scopes", choices=[], widget=widgets.ListWidget(prefix_label=False),
                                 option_widget=widgets.CheckboxInput(),
                                 validators=[DataRequired(message="Pick at least one scope.")])
    expires_days = IntegerField("Expires after (days; empty: never)",
                                validators=[Optional(), NumberRange(min=1, max=3650)])


class FaucetForm(Form):
    """The demo faucet's button; `key` is a fresh uuid per rendered form (one credit per form)."""

    key = HiddenField(validators=[DataRequired(), Length(min=8, max=64)])
