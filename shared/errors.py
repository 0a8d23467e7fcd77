"""A small error hierarchy with stable codes, shared by every service.

Adapters translate vendor exceptions into these at the boundary; entrypoints
turn them into a wire error ``{"code", "message", "field"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from marshmallow import ValidationError


class LienThongError(Exception):
    code = "error"
    http_status = 500

    def __init__(self, message: str, field: str | None = None):
        # args hold both, so nameko can rebuild the error on the RPC caller's side.
        super().__init__(message, field)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationFailed(LienThongError):
    """Input broke a schema rule; ``field`` names the offending field."""

    code = "validation_failed"
    http_status = 400

    def __init__(self, message: str, field: str | None = None,
                 errors: dict[str, Any] | None = None):
        super().__init__(message, field)
        self.errors = errors or {}
        self.args = (message, field)

    @classmethod
    def from_marshmallow(cls, err: ValidationError, prefix: str = "") -> Self:
        messages = err.normalized_messages()
        field, text = _first_error(messages)
        full = f"{prefix}{field}" if field else None
        return cls(f"{full or 'request'}: {text}", field=full, errors=messages)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "errors": self.errors}


def _first_error(messages, path=""):
    if isinstance(messages, dict):
        for key, value in messages.items():
            sub = f"{path}.{key}" if path else str(key)
            if key == "_schema":
                sub = path
            return _first_error(value, sub)
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], (dict, list)):
            return _first_error(messages[0], path)
        return path, str(messages[0])
    return path, str(messages)


class Unauthenticated(LienThongError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(LienThongError):
    code = "forbidden"
    http_status = 403


class NotFound(LienThongError):
    code = "not_found"
    http_status = 404


class Conflict(LienThongError):
    code = "conflict"
    http_status = 409


class ConcurrencyConflict(Conflict):
    """The stream's version was not the one the writer expected."""

    code = "concurrency_conflict"

    def __init__(self, stream_id: str, expected: int, actual: int | None):
        found = "moved on" if actual is None else f"is at version {actual}"
        super().__init__(f"stream {stream_id!r} {found}, expected version {expected}",
                         field="expected_version")
        self.stream_id, self.expected, self.actual = stream_id, expected, actual


class PayloadTooLarge(LienThongError):
    code = "payload_too_large"
    http_status = 413


class TooManyRequests(LienThongError):
    """Refused for now: try again after ``retry_after`` seconds (``Retry-After``)."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, field: str | None = None, retry_after: float = 1):
        super().__init__(message, field)
        self.retry_after = max(1, int(retry_after))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class UnsupportedMediaType(LienThongError):
    code = "unsupported_media_type"
    http_status = 415


class ServiceUnavailable(LienThongError):
    """A server or service this request needs is down, busy or too slow: the
    request changed nothing and may be retried after ``retry_after`` seconds."""

    code = "service_unavailable"
    http_status = 503

    RETRY_AFTER = 5  # seconds, sent as Retry-After

    def __init__(self, message: str, field: str | None = None,
                 retry_after: float = RETRY_AFTER):
        super().__init__(message, field)
        self.retry_after = max(1, int(retry_after))
        self.args = (message, field, self.retry_after)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class StorageError(ServiceUnavailable):
    """The object store failed: a 503 like any server that is down."""

    code = "storage_error"
