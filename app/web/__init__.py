"""Server-rendered pages for annotators, requesters and admins."""
from flask import Blueprint

web = Blueprint("web", __name__)

from app.web import annotator, auth, pages, requester, wallet  # noqa: E402,F401
