"""Lattix errors: govflow's typed hierarchy, with the official SDK's messages.

Every error the Lattix client raises on purpose is a :class:`LattixError` *and* the matching
govflow error, so code can catch either ``AuthenticationError`` (any platform) or
``LattixError`` (anything from Lattix, like the SDK's single ``LattixBindingError``):

===============================  ===============================  ==================================
status / cause                   class                            also a
===============================  ===============================  ==================================
400, 422                         LattixRequestValidationError     RequestValidationError
401                              LattixAuthenticationError        AuthenticationError
403                              LattixForbiddenError             ForbiddenError
404                              LattixNotFoundError              NotFoundError
409                              LattixConflictError              ConflictError
429                              LattixRateLimitError             RateLimitError (``retry_after``)
5xx                              LattixUnavailableError           UnavailableError
other >= 400                     LattixServerError                PlatformError
2xx, body not JSON / not model   LattixSerializationError         TransportError
fail-closed check violated       LattixFailClosedError            GovernanceError
decision says allow=false        LattixDeniedError                DeniedError
===============================  ===============================  ==================================

An HTTP error's message is the SDK's ``Server error: HTTP <status>: <raw response body>``
(redacted by the transport); ``status``, ``text`` (the raw body), ``json`` (the body parsed, or
None), ``code``/``detail`` (from ``{"error", "message"}`` bodies) and ``route`` are attributes.
"""

from __future__ import annotations

import json as _json
from typing import Any

import httpx

from ...errors import (
    AuthenticationError,
    ConflictError,
    DeniedError,
    ForbiddenError,
    GovernanceError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from ...transport import extract_code_detail, parse_retry_after

PLATFORM = "lattix"

# The SDK puts the whole body in the message; a proxy's multi-megabyte error page should not.
MAX_BODY_CHARS = 4096


class LattixError(GovflowError):
    """Base of the errors that are specific to the Lattix client."""


class LattixServerError(LattixError, PlatformError):
    """The server answered with a status >= 400 (the SDK's ``SdkError::Server``)."""

    text: str | None = None
    json: Any = None
    route: str | None = None

    @property
    def status_code(self) -> int | None:
        return self.status


class LattixRequestValidationError(LattixServerError, RequestValidationError):
    """400/422: the server rejected the request body."""


class LattixAuthenticationError(LattixServerError, AuthenticationError):
    """401: credentials missing, wrong or expired (also a refused session exchange)."""


class LattixForbiddenError(LattixServerError, ForbiddenError):
    """403: scope or tenant mismatch."""


class LattixNotFoundError(LattixServerError, NotFoundError):
    """404: unknown route (a wrong base URL prefix, usually)."""


class LattixConflictError(LattixServerError, ConflictError):
    """409."""


class LattixRateLimitError(LattixServerError, RateLimitError):
    """429; ``retry_after`` holds the server's Retry-After in seconds."""


class LattixUnavailableError(LattixServerError, UnavailableError):
    """5xx."""


class LattixSerializationError(LattixError, TransportError):
    """A 2xx answer whose body is not JSON or does not match the route's model."""


class LattixFailClosedError(LattixError, GovernanceError):
    """A response violates the local-only contract (plaintext allowed, raw keys, ...); ``code`` names the check."""


class LattixDeniedError(LattixError, DeniedError):
    """A decision route answered ``allow: false`` where the flow needs an allow."""


_STATUS_CLASSES: dict[int, type[LattixServerError]] = {
    400: LattixRequestValidationError,
    401: LattixAuthenticationError,
    403: LattixForbiddenError,
    404: LattixNotFoundError,
    409: LattixConflictError,
    422: LattixRequestValidationError,
    429: LattixRateLimitError,
}


def server_error_class(status: int) -> type[LattixServerError]:
    if status >= 500:
        return LattixUnavailableError
    return _STATUS_CLASSES.get(status, LattixServerError)


def server_error(response: httpx.Response) -> LattixServerError:
    """The error for a response with status >= 400 (the transport redacts it afterwards)."""
    status = response.status_code
    try:
        text = response.text
    except httpx.ResponseNotRead:
        text = ""
    try:
        parsed: Any = _json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    code, detail = extract_code_detail(parsed if parsed is not None else text)
    cls = server_error_class(status)
    retry_after = None
    if cls is LattixRateLimitError or status == 503:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    shown = text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "..."
    error = cls(
        f"Server error: HTTP {status}: {shown}",
        platform=PLATFORM,
        status=status,
        code=code,
        detail=detail,
        body=parsed if parsed is not None else (shown or None),
        retry_after=retry_after,
    )
    error.text = shown
    error.json = parsed
    request = response.request
    error.route = f"{request.method} {request.url.path}"
    return error


def serialization_error(detail: str, *, status: int | None = None, route: str | None = None) -> LattixSerializationError:
    """The SDK's ``Serialization error: failed to decode JSON response body: <detail>``."""
    where = f" ({route})" if route else ""
    return LattixSerializationError(
        f"Serialization error: failed to decode JSON response body: {detail}{where}",
        platform=PLATFORM,
        status=status,
        code="serialization",
        detail=detail,
    )


__all__ = [
    "PLATFORM",
    "LattixAuthenticationError",
    "LattixConflictError",
    "LattixDeniedError",
    "LattixError",
    "LattixFailClosedError",
    "LattixForbiddenError",
    "LattixNotFoundError",
    "LattixRateLimitError",
    "LattixRequestValidationError",
    "LattixSerializationError",
    "LattixServerError",
    "LattixUnavailableError",
    "serialization_error",
    "server_error",
    "server_error_class",
]
