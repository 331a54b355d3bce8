"""Server-rendered pages for annotators, requesters and admins."""
from flask import Blueprint

web = Blueprint("web", __name__)


@web.app_template_filter("answer_text")
def answer_text(value) -> str:
    """A normalized answer value in words for tables: choices joined, regions counted by label
    (the results page draws them), text and numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, list):
        if not value:
            return "none marked"
        labels: dict[str, int] = {}
        for region in value:
            label = region.get("label") if isinstance(region, dict) else None
            labels[label or "region"] = labels.get(label or "region", 0) + 1
        return ", ".join(f"{n} × {label}" for label, n in labels.items())
    return str(value)

from app.web import admin, annotator, auth, exports, pages, proofs, requester, wallet  # noqa: E402,F401
