"""Exports over HTTP: the streamed download, and media links that open without logging in.

An export's JSON, JSON-min and CSV carry each uploaded file as an absolute link signed to expire
(annotation/exports/media.py), so the dataset is usable outside Fairlabel; `/media/signed/<token>`
serves the file for a valid, unexpired signature to anyone holding the link (404 for a link we
did not sign, 403 once it has expired).
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, send_file, stream_with_context

from annotation.exports import Export, export_job
from annotation.exports.media import (
    MediaLinkExpired,
    MediaLinkInvalid,
    MediaSigner,
    read_media_token,
)
from annotation.media import media_path
from annotation.models import Job
from app.extensions import db
from app.identity.models import User
from app.web import web

SIGNED_MEDIA_PATH = "/media/signed"


def media_signer(app: Flask) -> MediaSigner:
    """Links under the site's public URL, signed with its secret key."""
    config = app.config
    return MediaSigner(config["SECRET_KEY"], config["PUBLIC_URL"] + SIGNED_MEDIA_PATH,
                       expires_in=int(config.get("EXPORT_MEDIA_LINK_SECONDS") or 7 * 24 * 3600))


def build_export(app: Flask, user: User, job: Job, fmt: str, *, media: bool = False,
                 manifest: bool = False) -> Export:
    """The export as the route and the CLI make it: signed media links, the media root, and the
    on-chain manifest (rewards/traceability.py) inside the archive when asked for. Its chunks are
    read in short transactions of their own; the session's read ends here, before streaming."""
    extra: dict[str, bytes] = {}
    if manifest:
        import json

        from rewards.traceability import job_manifest

        extra["manifest.json"] = json.dumps(job_manifest(user, job), indent=2).encode("utf-8")
    export = export_job(user, job, fmt, media=media, media_root=app.config["MEDIA_ROOT"],
                        signer=media_signer(app), extra_files=extra, own_transactions=True)
    db.session.rollback()  # nothing was written; a slow download must not hold this transaction
    return export


def export_response(user: User, job: Job, fmt: str, args: Any) -> Response:
    """The export streamed as a download; `?media=1` and `?manifest=1` as in build_export."""
    export = build_export(current_app._get_current_object(), user, job, fmt,
                          media=args.get("media") in ("1", "true", "yes"),
                          manifest=args.get("manifest") in ("1", "true", "yes"))
    return Response(stream_with_context(export.chunks), mimetype=export.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{export.filename}"'})


@web.get(f"{SIGNED_MEDIA_PATH}/<token>")
def signed_media(token: str):
    try:
        job_id, name = read_media_token(current_app.config["SECRET_KEY"], token)
    except MediaLinkExpired:
        abort(403, "This media link has expired; export the job again for a fresh one.")
    except MediaLinkInvalid:
        abort(404)
    path = media_path(current_app.config["MEDIA_ROOT"], job_id, name)
    if path is None:
        abort(404)
    return send_file(path, max_age=0, conditional=True)
