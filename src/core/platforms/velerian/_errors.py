"""Velerian's error classes, each also a member of govflow's error hierarchy.

The names are the official SDK's (``VelerianRateLimitError``...), so code written against the
SDK keeps catching what it caught; each class also derives from the govflow error of the same
meaning (``RateLimitError``...), so adapters, retries and ``wait_for_approval`` treat Velerian
like every other platform.

Differences from SDK 0.1.2 (spec section 7), all deliberate:

- ``detail`` keeps the server's JSON value: a FastAPI validation list stays a list (the SDK
  turns it into its Python ``repr``), ``{"detail": null}`` gives None (the SDK gives ``"None"``).
- ``status`` is the HTTP status; ``status_code`` is kept as an alias for SDK code.
- No ``response`` attribute: an ``httpx.Response`` holds its request, and so the API key.
- Network failures are govflow ``TransportError`` (the SDK lets raw httpx exceptions escape).
- ``VelerianRunTimeoutError`` names the last run status ``run_status``, because ``status`` is the
  HTTP status on every govflow error.
"""

from __future__ import annotations

from typing import Any

import httpx

from ...errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    UnavailableError,
)
from ...transport import parse_retry_after, response_body

PLATFORM = "velerian"

_MAX_DETAIL_CHARS = 500


class VelerianError(GovflowError):
    """Base class of every Velerian-specific error."""


class VelerianAPIError(VelerianError, PlatformError):
    """Velerian answered with a non-2xx status (any status without a more specific class)."""

    @property
    def status_code(self) -> int | None:
        """The HTTP status, under the official SDK's name."""
        return self.status


class VelerianAuthError(VelerianAPIError, AuthenticationError):
    """401: the API key is missing, invalid, expired or revoked."""


class VelerianForbiddenError(VelerianAPIError, ForbiddenError):
    """403: a valid key without the scope this route needs (``detail`` names it)."""


class VelerianNotFoundError(VelerianAPIError, NotFoundError):
    """404: not found, or not visible to this key's tenant."""


class VelerianConflictError(VelerianAPIError, ConflictError):
    """409: e.g. the ABP is not ``deployed``."""


class VelerianValidationError(VelerianAPIError, RequestValidationError):
    """422: the request was rejected; ``detail`` is FastAPI's list of ``{loc, msg, type}``."""


class VelerianRateLimitError(VelerianAPIError, RateLimitError):
    """429: ``retry_after`` is the number of seconds Velerian asked for (None if not given)."""


class VelerianServerError(VelerianAPIError, UnavailableError):
    """Any status >= 500 (including gateway 502/504 pages, whose text becomes ``detail``)."""


class VelerianRunTimeoutError(VelerianError):
    """A pack run did not finish within ``run_timeout``; the run goes on (it is not cancelled).

    ``run_id`` lets the caller collect it later with ``await_run``; ``run_status`` is the last
    status seen (None if the row had none); ``waited_s`` the time waited, in seconds.
    """

    def __init__(self, run_id: str, *, run_status: str | None, waited_s: float) -> None:
        status = run_status or "unknown"
        super().__init__(
            f"pack run {run_id} is still {status} after {waited_s:g} s; it was not cancelled: "
            f"collect it later with await_run({run_id!r})",
            platform=PLATFORM,
            code="run_timeout",
            detail={"run_id": run_id, "status": run_status, "waited_s": waited_s},
        )
        self.run_id = run_id
        self.run_status = run_status
        self.waited_s = waited_s


def error_class(status: int) -> type[VelerianAPIError]:
    """The SDK's status mapping (spec section 7): 400 and other 4xx/3xx are the base class."""
    if status >= 500:
        return VelerianServerError
    return _BY_STATUS.get(status, VelerianAPIError)


_BY_STATUS: dict[int, type[VelerianAPIError]] = {
    401: VelerianAuthError,
    403: VelerianForbiddenError,
    404: VelerianNotFoundError,
    409: VelerianConflictError,
    422: VelerianValidationError,
    429: VelerianRateLimitError,
}


def parse_detail(response: httpx.Response) -> tuple[Any, Any]:
    """``(body, detail)`` as the SDK reads them, keeping structured details structured.

    JSON body: ``detail`` is the value of its ``"detail"`` key (None if the body is not an object
    or has no such key). Not JSON (a gateway's HTML 502): ``detail`` is the text, whitespace
    collapsed, or None; ``body`` is that text too (truncated), where the SDK has None.
    """
    parsed = response_body(response)
    if isinstance(parsed, str):
        text = " ".join(parsed.split())
        if len(text) > _MAX_DETAIL_CHARS:
            text = text[:_MAX_DETAIL_CHARS] + "..."
        return parsed, text or None
    if isinstance(parsed, dict):
        return parsed, parsed.get("detail")
    return parsed, None


def summarize_detail(detail: Any) -> str | None:
    """One line for the message: FastAPI's validation list becomes ``query.since: Field required``."""
    if detail is None or detail == "":
        return None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else None
                parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            else:
                parts.append(str(item))
        text = "; ".join(parts)
    else:
        text = str(detail)
    return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "..."


def map_error(response: httpx.Response, where: str) -> VelerianAPIError:
    """The typed error for a non-2xx answer; ``where`` is ``"GET /api/v2/..."``.

    The transport completes it (platform, redaction) and decides on retries: 429 and 5xx are
    ``RateLimitError`` / ``UnavailableError`` subclasses, so they are retried as usual.
    """
    status = response.status_code
    body, detail = parse_detail(response)
    summary = summarize_detail(detail) or response.reason_phrase or "error"
    retry_after = None
    if status == 429 or status == 503:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    cls = error_class(status)
    return cls(
        f"{where}: {summary}",
        platform=PLATFORM,
        status=status,
        detail=detail,
        body=body,
        retry_after=retry_after,
    )


__all__ = [
    "VelerianAPIError",
    "VelerianAuthError",
    "VelerianConflictError",
    "VelerianError",
    "VelerianForbiddenError",
    "VelerianNotFoundError",
    "VelerianRateLimitError",
    "VelerianRunTimeoutError",
    "VelerianServerError",
    "VelerianValidationError",
]
