"""API errors as the simulator sends them: an HTTP status plus FoxAPI's JSON error body.

FoxAPI's documented body is ``{"error": {"message": ..., "type": ...}}`` with an optional
``code``; the simulator adds ``param`` on validation errors so a client can point at the
offending field (extra keys are harmless to a tolerant parser).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_json"]

# The error ``type`` for each HTTP status, from SPEC §5b (403 and 413 are not in FoxAPI's
# table; 403 is used for the documented "storage full" upload case, 413 for an upload over the
# file-size limit, with the type FoxAPI's OpenAPI lists for it).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found",
    413: "file_too_large_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable_error",
}


class ApiError(Exception):
    """An error response: ``status`` and the parts of the JSON body."""

    # Not a frozen dataclass: Starlette assigns ``__traceback__`` on exceptions it handles.
    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    @property
    def type(self) -> str:
        """The ``error.type`` string that goes with ``status``."""
        fallback = "server_error" if self.status >= 500 else "invalid_request_error"
        return _TYPES.get(self.status, fallback)

    def body(self) -> dict[str, Any]:
        """The JSON body, e.g. ``{"error": {"message": ..., "type": ..., "code": ...}}``."""
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


# What an error of each type says, for errors sent with an HTTP 200 (the ``error_200`` fault).
_MESSAGES = {
    "invalid_request_error": "Invalid request: the upstream channel refused the parameters.",
    "authentication_error": "Invalid API key; check the key and try again.",
    "insufficient_quota": "Insufficient balance; top up and retry.",
    "not_found": "Task not found.",
    "rate_limit_error": "Rate limit exceeded; retry later.",
    "server_error": "Internal server error; retry later.",
    "service_unavailable_error": "No available channel for this model right now; retry later.",
}


def error_json(error_type: str) -> dict[str, Any]:
    """An ``{"error": {"message", "type"}}`` body of ``error_type`` with a fitting message.

    >>> error_json("rate_limit_error")["error"]["type"]
    'rate_limit_error'
    """
    message = _MESSAGES.get(error_type, f"The request failed ({error_type}).")
    return {"error": {"message": message, "type": error_type}}
