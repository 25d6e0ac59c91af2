"""Domain errors. Services raise these; the API and CLI turn them into responses and messages.

Every error says what was wrong and how to fix it.
"""

from __future__ import annotations


class TraceReplayError(Exception):
    """Base of every error a user may see. `status` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(TraceReplayError):
    status = 400
    code = "invalid_input"


class Unprocessable(TraceReplayError):
    status = 422
    code = "unprocessable"


class NotFound(TraceReplayError):
    status = 404
    code = "not_found"


class Unauthorized(TraceReplayError):
    status = 401
    code = "unauthorized"


class Forbidden(TraceReplayError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(TraceReplayError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(TraceReplayError):
    status = 415
    code = "unsupported_media_type"


class Conflict(TraceReplayError):
    status = 409
    code = "conflict"


class ServiceUnavailable(TraceReplayError):
    status = 503
    code = "unavailable"


class StartupError(TraceReplayError):
    """The server cannot start (database unreachable, migration failed…)."""

    status = 500
    code = "startup"
