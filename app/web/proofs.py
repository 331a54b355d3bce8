"""Contribution proofs: an annotator's on-chain records, downloadable, and verified in the browser."""
from __future__ import annotations

import json

from flask import Response, abort, render_template
from flask_login import current_user, login_required

from app.extensions import db
from app.web import web
from rewards.models import ContributionLeaf, PayoutEpoch
from rewards.payouts import contribution_proof


@web.get("/me/contributions")
@login_required
def contributions():
    if not current_user.is_annotator:
        abort(403, "This page is for annotators.")
    rows = db.session.execute(
        db.select(ContributionLeaf, PayoutEpoch).join(PayoutEpoch, PayoutEpoch.id == ContributionLeaf.epoch_id)
        .where(ContributionLeaf.worker_id == current_user.id)
        .order_by(ContributionLeaf.answer_id.desc()).limit(500)).all()
    return render_template("proofs/contributions.html", rows=rows)


@web.get("/me/contributions/<int:answer_id>/proof.json")
@login_required
def contribution_proof_download(answer_id: int):
    proof = contribution_proof(current_user, answer_id)
    return Response(json.dumps(proof, indent=2), mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="fairlabel-proof-{answer_id}.json"'})


@web.get("/verify")
def verify_proof_page():
    """Anyone can check a proof here: the work happens in the browser, nothing is uploaded."""
    return render_template("proofs/verify.html")
