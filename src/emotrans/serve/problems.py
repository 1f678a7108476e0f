"""The service's refusals: each is an HTTP status with a message a user can act on."""

from __future__ import annotations

from emotrans.errors import EmotransError, MediaError


class RequestError(EmotransError):
    """A request the service refuses: answered ``status`` with ``{"detail": message}``.

    Parameters
    ----------
    status : the HTTP status (4xx, or 503 when busy)
    message : one line naming the problem
    headers : extra response headers (Retry-After for 503)
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def __reduce__(self):  # picklable across the worker processes
        return (type(self), (self.status, self.message, self.headers))


class ClipTooLong(MediaError):
    """A clip longer than the service's ``max_seconds`` (answered 413)."""
