"""Business rules. Views, the API and the CLI call these; they never hold rules themselves."""


class ServiceError(Exception):
    """A rule refused an action. `message` is Chinese and safe to show; `status` is the HTTP code."""

    status = 400

    def __init__(self, message: str, problems: list[str] | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        if status is not None:
            self.status = status


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """The record changed since the page was loaded (optimistic locking)."""

    status = 409


class Invalid(ServiceError):
    status = 422
