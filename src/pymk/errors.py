"""The error root of pymk.

Every error a user can cause is a ``PymkError`` subclass that knows how each transport reports it:
``http_status`` for the HTTP API, ``grpc_code`` (a ``grpc.StatusCode`` name) for gRPC, and ``exit_code``
for the CLI. Entry points translate them once, in one handler per transport.
"""

from __future__ import annotations


class PymkError(Exception):
    """Base of every error pymk raises on purpose."""

    http_status: int = 500
    grpc_code: str = "INTERNAL"
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        """JSON-ready body: ``{"error": <class name>, "message": <text>}``."""
        return {"error": type(self).__name__, "message": self.message}


class ConfigError(PymkError):
    """Settings are missing, malformed or unsafe."""

    exit_code = 2


class InvalidInput(PymkError):
    """A request, record or file the caller gave is malformed."""

    http_status = 422
    grpc_code = "INVALID_ARGUMENT"
    exit_code = 2


class InvalidRecord(InvalidInput):
    """One input record (an event, a line of a file) failed validation.

    ``reason`` is a stable machine-readable code (see ``pymk.events.validation.Reason``); ``detail`` is the
    human sentence; ``source`` and ``line`` locate it in a file when there is one.
    """

    def __init__(self, reason: str, detail: str, *, source: str | None = None, line: int | None = None):
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{detail} [{reason}]")
        self.reason = reason
        self.detail = detail
        self.source = source
        self.line = line


class NotFound(PymkError):
    """A named thing (user, model version, file) does not exist."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class PayloadTooLarge(InvalidInput):
    """A request carries more items than allowed."""

    http_status = 413
    grpc_code = "RESOURCE_EXHAUSTED"


class ServiceUnavailable(PymkError):
    """A backing service (Redis, PostgreSQL, Kafka) cannot be reached."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
    exit_code = 3


class BundleError(PymkError):
    """A saved model bundle is missing, corrupt, or was written by an incompatible pymk.

    Reported as an internal error (HTTP 500) by the API: the caller did nothing wrong.
    """
