"""`flask <noun> <verb>` commands. Each calls services, then commits once."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from annotation.errors import AnnotationError
from annotation.exports import FORMATS
from annotation.models import Job
from app.extensions import db
from app.identity.accounts import create_user
from app.identity.models import Role
from rewards.errors import RewardsError

annotation_cli = AppGroup("annotation", help="Jobs, items and exports.")
users_cli = AppGroup("users", help="Accounts.")
demo_cli = AppGroup("demo", help="The demo data set.")


def _fail(exc: AnnotationError | RewardsError) -> None:
    raise click.ClickException(exc.message)


@annotation_cli.command("export")
@click.argument("job_id", type=int)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="json, json-min, csv, hf (Hugging Face), coco, yolo, yolo-seg, voc, conll, asr; "
                   "what fits depends on the job's config.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@click.option("--media", is_flag=True, help="Put the images or audio into the archive (coco, yolo, yolo-seg, "
              "voc, hf, asr); other formats carry signed links to them.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, writable=True),
              help="Also write the on-chain manifest (roots covering the labels) to this file.")
def export_command(job_id: int, fmt: str, out: str | None, media: bool, manifest_path: str | None) -> None:
    """Export JOB_ID's consensus labels, confidences and raw answers, streamed as they are read."""
    from flask import current_app

    from app.web.exports import build_export

    job = db.session.get(Job, job_id)
    if job is None:
        raise click.ClickException(f"Job {job_id} not found.")
    try:
        export = build_export(current_app, job.owner, job, fmt, media=media)
    except AnnotationError as exc:
        _fail(exc)
    if manifest_path:
        import json

        from rewards.traceability import job_manifest

        with open(manifest_path, "w", encoding="utf-8") as handle:
            json.dump(job_manifest(job.owner, job), handle, indent=2)
        db.session.rollback()  # the export reads in transactions of its own; hold none meanwhile
    if out is None and export.mimetype == "application/zip" and sys.stdout.isatty():
        raise click.ClickException(f"{fmt} is a zip archive: write it with --out FILE (or redirect stdout).")
    try:
        if out:
            with open(out, "wb") as handle:
                for chunk in export.chunks:
                    handle.write(chunk)
            click.echo(f"Wrote job {job_id} as {fmt} to {out}.", err=True)
        else:
            sys.stdout.flush()
            stream = sys.stdout.buffer
            for chunk in export.chunks:
                stream.write(chunk)
            stream.flush()
    except AnnotationError as exc:
        _fail(exc)


@annotation_cli.command("replay-decisions")
@click.option("--job", "job_id", type=click.IntRange(min=1), default=None, help="Only this job.")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="Also refit every stored worker-model version from its recorded inputs.")
def replay_decisions_command(job_id: int | None, refit: bool) -> None:
    """Re-derive every decision from the database and report any difference (exit 1)."""
    from annotation.decisions import replay_decisions

    report = replay_decisions(job_id, refit=refit)
    db.session.rollback()
    click.echo(f"{report.n_decisions} decisions, {report.n_answers} answers, {report.n_models} model "
               f"versions{' refitted' if refit else ''}; {len(report.differences)} differences.")
    if report.n_unrecorded:
        click.echo(f"{report.n_unrecorded} items were decided before decisions were recorded (not replayable).")
    for difference in report.differences:
        click.echo(f"job {difference.job_id} {difference.what}: {difference.problem}", err=True)
    if not report.ok:
        sys.exit(1)


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.password_option()
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a user (an admin, typically)."""
    try:
        user = create_user(username, password, role)
    except AnnotationError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.username} (id {user.id}).")


@demo_cli.command("load")
def demo_load_command() -> None:
    """Load the demo: one requester, three annotators, three published jobs. Safe to re-run.

    Development only: its accounts share a published password and its wallets' keys can be
    derived by anyone from the usernames."""
    from flask import current_app

    from app.demo import load_demo

    if current_app.config["ENV"] != "development":
        raise click.ClickException(
            "The demo is for development only (ENV = \"development\"): its accounts share a "
            "published password and anyone can derive its wallets' keys.")

    created = load_demo()
    db.session.commit()
    if created:
        click.echo("Demo loaded.")
    else:
        click.echo("Demo already loaded; nothing changed.")
    from app.demo import DEMO_PASSWORD, DEMO_USERS

    click.echo("Log in at http://127.0.0.1:5000 with any of these (password: "
               f"{DEMO_PASSWORD}):")
    for username, role in DEMO_USERS:
        click.echo(f"  {role:<10} {username}")


def register(app: Flask) -> None:
    from app.cli_chain import chain_group
    from app.cli_consensus import consensus_group
    from app.cli_rewards import rewards_group
    from app.cli_tokens import tokens_group

    for group in (annotation_cli, users_cli, rewards_group, chain_group, demo_cli, consensus_group, tokens_group):
        app.cli.add_command(group)
