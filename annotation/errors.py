"""Exceptions of the annotation package; app/errors.py maps them to HTTP in one place."""
from __future__ import annotations

from typing import Any


class AnnotationError(Exception):
    """Root of every error the annotation services raise on purpose.

    `details` carries structured context (e.g. the row and field of a bad upload) for the API;
    each class names its stable `code` (clients branch on codes, so renaming a class must not
    change them).
    """

    code = "annotation_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(AnnotationError, LookupError):
    """The thing does not exist, or the acting user may not know that it does."""

    code = "not_found"


class PermissionDenied(AnnotationError, PermissionError):
    """The acting user may see the thing but not do this to it."""

    code = "permission_denied"


class InvalidInput(AnnotationError, ValueError):
    """Input that can never succeed as given."""

    code = "invalid_input"


class InvalidConfig(InvalidInput):
    """A labeling config that Label Studio's language rejects, or that we cannot serve yet."""

    code = "invalid_config"


class InvalidUpload(InvalidInput):
    """An upload that cannot be imported whole; nothing of it was imported."""

    code = "invalid_upload"


class InvalidAnswer(InvalidInput):
    """An answer that does not fit the job's labeling config."""

    code = "invalid_answer"


class Conflict(AnnotationError):
    """The request is valid but the current state forbids it (e.g. publishing a closed job)."""

    code = "conflict"


class LeaseExpired(Conflict):
    """The task was held too long and went back to the pool."""

    code = "lease_expired"
