"""Refusals a service raises. Pages show them as a message (and the list of problems), the JSON
API as ``{"error": {code, message, fields}}``, the CLI as its error line: one error, three renderings."""
from __future__ import annotations


class ServiceError(Exception):
    """A rule refused an action. ``message`` is Chinese and safe to show; ``status`` is the HTTP code.

    ``problems`` lists every problem found (so a person fixes them all at once); ``fields`` names
    the input each problem belongs to, for clients that point at the field (the JSON API); ``code``
    overrides the API's error code where clients branch on the kind of refusal.
    """

    status = 400

    def __init__(self, message: str, problems: list[str] | None = None, status: int | None = None,
                 fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])
        self.fields = dict(fields or {})
        self.code = code  # a machine-readable kind for API clients (e.g. "missing_materials")
        if status is not None:
            self.status = status


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The record changed since the page was loaded (optimistic locking), or a duplicate."""

    status = 409


class Invalid(ServiceError):
    status = 422


NOT_FOUND = "记录不存在或您无权查看。"
