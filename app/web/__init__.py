"""Server-rendered pages for annotators, requesters and admins."""
from flask import Blueprint

web = Blueprint("web", __name__)

from app.web import admin, annotator, auth, pages, proofs, requester, wallet  # noqa: E402,F401
