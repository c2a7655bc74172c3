"""Turning HTTP answers and network failures into govflow's typed errors, without secrets."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from ..errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from ..redaction import Redactor
from ._retry import parse_retry_after

ErrorMapper = Callable[[httpx.Response], "GovflowError | None"]
"""A platform's own mapping of a non-2xx response; None falls back to :func:`default_error`."""

MAX_BODY_CHARS = 4096
MAX_DETAIL_CHARS = 500

_STATUS_ERRORS: dict[int, type[PlatformError]] = {
    400: RequestValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: RequestValidationError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[PlatformError]:
    if status >= 500:
        return UnavailableError
    return _STATUS_ERRORS.get(status, PlatformError)


def response_body(response: httpx.Response) -> Any:
    """The parsed JSON body, else the text (truncated), else None; never raises."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        text = response.text
        return text if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS] + "..."


def _short(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= MAX_DETAIL_CHARS else value[:MAX_DETAIL_CHARS] + "..."


def extract_code_detail(body: Any) -> tuple[str | None, Any]:
    """The platform's error code and detail from the usual JSON error shapes.

    Handles FastAPI (``{"detail": ...}``), OAuth2 (``{"error", "error_description"}``), and
    ``{"code", "message"}`` or ``{"error": {"code", "message"}}`` envelopes.
    """
    if isinstance(body, str):
        return None, _short(body) or None
    if not isinstance(body, dict):
        return None, None
    if isinstance(body.get("error"), dict):
        return extract_code_detail(body["error"])
    code: Any = body.get("code")
    error = body.get("error")
    detail: Any = None
    for key in ("detail", "message", "error_description", "reason", "msg"):
        if body.get(key) not in (None, ""):
            detail = body[key]
            break
    if isinstance(error, str):
        # A short identifier is a code ("invalid_token"); a sentence is the detail.
        if code is None and " " not in error.strip():
            code = error
        elif detail is None:
            detail = error
    if detail is None and isinstance(error, str):
        detail = error
    return (str(code) if code is not None else None), detail


def describe(method: str, url: httpx.URL, base_url: httpx.URL) -> str:
    """``GET /v1/things`` for the platform's own host, the URL without its query otherwise."""
    if (url.scheme, url.host, url.port) == (base_url.scheme, base_url.host, base_url.port):
        return f"{method} {url.path}"
    return f"{method} {url.copy_with(query=None, fragment=None)}"


def default_error(response: httpx.Response, *, platform: str, base_url: httpx.URL) -> GovflowError:
    """The status-based mapping (400/422, 401, 403, 404, 409, 429, 5xx, other)."""
    status = response.status_code
    body = response_body(response)
    code, detail = extract_code_detail(body)
    summary = detail if isinstance(detail, str) and detail else response.reason_phrase or "error"
    where = describe(response.request.method, response.request.url, base_url)
    cls = error_class_for(status)
    retry_after = None
    if cls is RateLimitError or status == 503:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return cls(
        f"{where}: {_short(str(summary))}",
        platform=platform,
        status=status,
        code=code,
        detail=detail,
        body=body,
        retry_after=retry_after,
    )


def sanitize_error(error: GovflowError, redactor: Redactor) -> GovflowError:
    """Redact every textual field of ``error`` in place (message, args, detail, body, code)."""
    error.message = redactor.redact(error.message)
    error.args = tuple(redactor.redact_value(arg) for arg in error.args)
    error.detail = redactor.redact_value(error.detail)
    error.body = redactor.redact_value(error.body)
    if error.code is not None:
        error.code = redactor.redact(error.code)
    for name, value in list(vars(error).items()):
        # Subclass extras (reason, decision_id, ...).
        if name not in {"message", "detail", "body", "code"} and isinstance(value, (str, dict, list)):
            setattr(error, name, redactor.redact_value(value))
    return error


def complete_error(
    error: GovflowError,
    response: httpx.Response,
    *,
    platform: str,
    redactor: Redactor,
) -> GovflowError:
    """Fill what a platform hook left out (platform, status, body, retry_after), then redact."""
    if error.platform is None:
        error.platform = platform
    if error.status is None:
        error.status = response.status_code
    if error.body is None:
        error.body = response_body(response)
    # Retry-After means something on 429 and 503 (RFC 9110 10.2.3), not on other statuses.
    if error.retry_after is None and (isinstance(error, RateLimitError) or response.status_code == 503):
        error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return sanitize_error(error, redactor)


def safe_cause(exc: BaseException, redactor: Redactor) -> BaseException:
    """A copy of an httpx exception with a redacted message and no request attached.

    httpx exceptions carry the request (its URL and headers, so the credentials); the copy keeps
    the type and the traceback for debugging but nothing to leak.
    """
    message = redactor.redact(str(exc))
    try:
        copy = type(exc)(message)
    except Exception:
        copy = TransportErrorCause(f"{type(exc).__name__}: {message}")
    copy.__traceback__ = exc.__traceback__
    copy.__cause__ = None
    copy.__context__ = None
    copy.__suppress_context__ = True
    return copy


class TransportErrorCause(Exception):
    """Stands in for a network exception that cannot be rebuilt from its message."""


def network_error(
    exc: Exception,
    *,
    where: str,
    platform: str,
    attempts: int,
    redactor: Redactor,
) -> TransportError:
    kind = type(exc).__name__
    text = redactor.redact(str(exc)).strip()
    reason = f"{kind}: {text}" if text else kind
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    error = TransportError(f"{where}: {reason}{tries}", platform=platform, code=kind, detail=text or None)
    return error


__all__ = [
    "ErrorMapper",
    "complete_error",
    "default_error",
    "error_class_for",
    "extract_code_detail",
    "network_error",
    "response_body",
    "safe_cause",
    "sanitize_error",
]
