"""JSON endpoints. This version serves the labeling page; the public REST API grows here."""
from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api")

from app.api import preview, rewards, tasks, wallet  # noqa: E402,F401
