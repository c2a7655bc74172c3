"""ContractGate's error classes, each also a member of govflow's error hierarchy.

The names follow SDK 0.4.0 (``BadRequestError`` becomes ``ContractGateBadRequestError``, ...), so
code written against the SDK recognises them; each class also derives from the govflow error of
the same meaning, so retries, adapters and ``except RateLimitError`` treat ContractGate like any
other platform.

Where govflow differs from the SDK's mapping (spec section 4), on purpose:

- 408, 413 and 429 get their own classes (the SDK raises a bare ``HTTPError``, spec 14.4):
  408 is :class:`ContractGateTimeoutError`, an ``UnavailableError``: the gateway's
  ``TimeoutLayer`` gave up before answering, which is a retryable condition, not a broken
  connection (``TransportError`` is for requests that got no HTTP answer at all). 413 is
  :class:`ContractGatePayloadTooLargeError`, a ``RequestValidationError`` saying how to split.
  429 is :class:`ContractGateRateLimitError` with ``retry_after`` from ``retry_after_ms``, else
  ``Retry-After``, else ``X-RateLimit-Reset``; the monthly plan cap is
  :class:`ContractGatePlanLimitError`, whose ``retry_after`` reaches the next month, so it is
  raised at once instead of being retried.
- 415 is a ``ContractGateBadRequestError`` (a malformed request), not a bare HTTP error.
- An idempotency conflict (422 ``idempotency_conflict``) is
  :class:`ContractGateIdempotencyConflictError`, also a ``ConflictError``.
- Network failures are govflow ``TransportError`` (the SDK's ``ConnectionError``).
- No ``response`` attribute: the request it holds carries the API key.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import httpx

from ...errors import (
    AuthenticationError,
    ConflictError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    UnavailableError,
)
from ...transport import parse_retry_after, response_body
from ._models import PLATFORM, RateLimitInfo

MAX_EVENTS_PER_BATCH = 1000
MAX_EVENT_BYTES = 1024 * 1024
MAX_BODY_BYTES = 10 * 1024 * 1024

_MAX_DETAIL_CHARS = 500
_EVENT_INDEX = re.compile(r"index (\d+)")
_SPLIT_HINT = (
    "send at most 1000 events and 10 MB per request, each event under 1 MB: "
    "ContractGateClient.ingest_batches(...) splits a large list for you"
)


class ContractGateError(GovflowError):
    """Base class of every ContractGate-specific error."""


class ContractGateHTTPError(ContractGateError, PlatformError):
    """The gateway answered with a non-2xx status without a more specific class (the SDK's ``HTTPError``)."""

    @property
    def status_code(self) -> int | None:
        """The HTTP status, under the SDK's ``status`` alias."""
        return self.status


class ContractGateBadRequestError(ContractGateHTTPError, RequestValidationError):
    """400 (bad UUID, bad JSON/NDJSON, empty or oversized batch, ...) and 415."""


class ContractGateAuthError(ContractGateHTTPError, AuthenticationError):
    """401: missing or wrong key, or a key not scoped to this contract."""


class ContractGateNotFoundError(ContractGateHTTPError, NotFoundError):
    """404: unknown or deleted contract (or another org's), unknown pinned version."""


class ContractGateConflictError(ContractGateHTTPError, ConflictError):
    """409: no stable version yet, duplicate version, illegal state transition."""


class ContractGateValidationFailedError(ContractGateHTTPError, RequestValidationError):
    """422 that is not an ingest result: bad contract YAML, an idempotency conflict, ..."""


class ContractGateIdempotencyConflictError(ContractGateValidationFailedError, ConflictError):
    """422 ``idempotency_conflict``: this Idempotency-Key was used with a different body."""


class ContractGatePayloadTooLargeError(ContractGateHTTPError, RequestValidationError):
    """413, or a batch govflow refused to send: an event over 1 MB or a body over 10 MB.

    ``event_index`` is the offending event's position when known.
    """

    def __init__(self, message: str, *, event_index: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.event_index = event_index


class ContractGateTimeoutError(ContractGateHTTPError, UnavailableError):
    """408: the gateway's 30 s request timeout fired before it answered; retryable."""


class ContractGateRateLimitError(ContractGateHTTPError, RateLimitError):
    """429: the key's token bucket is empty. ``retry_after`` in seconds, ``rate_limit`` the headers."""

    def __init__(self, message: str, *, rate_limit: RateLimitInfo | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.rate_limit = rate_limit


class ContractGatePlanLimitError(ContractGateRateLimitError):
    """429 ``plan_limit_exceeded``: the org's monthly event cap is reached; upgrade or wait.

    Dry runs do not count against the cap. ``plan``, ``limit``, ``used``, ``period`` and
    ``upgrade_url`` are the gateway's; ``retry_after`` is the time to the next UTC month, so the
    transport does not retry it.
    """

    def __init__(
        self,
        message: str,
        *,
        plan: str | None = None,
        limit: int | None = None,
        used: int | None = None,
        period: str | None = None,
        upgrade_url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.plan = plan
        self.limit = limit
        self.used = used
        self.period = period
        self.upgrade_url = upgrade_url


class ContractGateServerError(ContractGateHTTPError, UnavailableError):
    """Any status >= 500."""


_BY_STATUS: dict[int, type[ContractGateHTTPError]] = {
    400: ContractGateBadRequestError,
    401: ContractGateAuthError,
    404: ContractGateNotFoundError,
    408: ContractGateTimeoutError,
    409: ContractGateConflictError,
    413: ContractGatePayloadTooLargeError,
    415: ContractGateBadRequestError,
    422: ContractGateValidationFailedError,
    429: ContractGateRateLimitError,
}


def error_class(status: int) -> type[ContractGateHTTPError]:
    if status >= 500:
        return ContractGateServerError
    return _BY_STATUS.get(status, ContractGateHTTPError)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "..."


def parse_error_body(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from an error body.

    ``{"error": "Contract not found: ..."}`` is a message; ``{"error": "rate_limit_exceeded",
    "detail": "..."}`` is a code and a message; plain text (axum's extractor errors) is the
    message. The message is the SDK's: the first string among ``error``, ``message``, ``detail``,
    except that a snake_case ``error`` is taken as the code when a sentence follows it.
    """
    if isinstance(body, str):
        return None, _short(body) or None
    if not isinstance(body, dict):
        return None, None
    strings = {
        key: body[key]
        for key in ("error", "message", "detail")
        if isinstance(body.get(key), str) and body[key]
    }
    code: str | None = None
    error = strings.get("error")
    if error is not None and re.fullmatch(r"[a-z0-9_]+", error):
        code = error
        if "message" in strings or "detail" in strings:
            strings.pop("error")
    for key in ("error", "message", "detail"):
        if key in strings:
            return code, _short(strings[key])
    return code, None


def _retry_after(body: Any, headers: httpx.Headers) -> float | None:
    if isinstance(body, dict):
        millis = body.get("retry_after_ms")
        if isinstance(millis, (int, float)) and not isinstance(millis, bool) and millis >= 0:
            return float(millis) / 1000.0
    from_header = parse_retry_after(headers.get("Retry-After"))
    if from_header is not None:
        return from_header
    reset = RateLimitInfo.from_headers(headers)
    if reset is not None and reset.reset is not None:
        wait = reset.reset - datetime.now(timezone.utc).timestamp()
        return max(0.0, wait) if wait < 3600 else None
    return None


def seconds_to_next_month(now: datetime | None = None) -> float:
    now = now or datetime.now(timezone.utc)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return (datetime(year, month, 1, tzinfo=timezone.utc) - now).total_seconds()


def map_error(response: httpx.Response, where: str) -> ContractGateHTTPError:
    """The typed error for a non-2xx answer; ``where`` is ``"POST /v1/ingest/..."``.

    The transport completes it (platform, redaction) and retries what is a
    ``RateLimitError`` or ``UnavailableError`` (429, 408, 5xx) when the request is replayable.
    """
    status = response.status_code
    body = response_body(response)
    code, message = parse_error_body(body)
    summary = message or response.reason_phrase or f"HTTP {status}"
    cls = error_class(status)
    kw: dict[str, Any] = {
        "platform": PLATFORM,
        "status": status,
        "code": code,
        "detail": message,
        "body": body,
    }

    if status == 429:
        info = RateLimitInfo.from_headers(response.headers)
        if code == "plan_limit_exceeded" and isinstance(body, dict):
            return ContractGatePlanLimitError(
                f"{where}: monthly event cap reached ({summary}); dry runs still work",
                plan=_opt_str(body.get("plan")),
                limit=_opt_int(body.get("limit")),
                used=_opt_int(body.get("used")),
                period=_opt_str(body.get("period")),
                upgrade_url=_opt_str(body.get("upgrade_url")),
                rate_limit=info,
                retry_after=seconds_to_next_month(),
                **kw,
            )
        return ContractGateRateLimitError(
            f"{where}: {summary}", rate_limit=info, retry_after=_retry_after(body, response.headers), **kw
        )
    if status == 413:
        found = _EVENT_INDEX.search(message or "")
        return ContractGatePayloadTooLargeError(
            f"{where}: {summary}; {_SPLIT_HINT}",
            event_index=int(found.group(1)) if found else None,
            **kw,
        )
    if status == 408:
        return ContractGateTimeoutError(
            f"{where}: the gateway timed out before answering (30 s); smaller batches answer sooner",
            **kw,
        )
    if status == 422 and code == "idempotency_conflict":
        cls = ContractGateIdempotencyConflictError
    if status == 400 and message and "1000" in message:
        summary = f"{summary}; {_SPLIT_HINT}"
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 503 else None
    return cls(f"{where}: {summary}", retry_after=retry_after, **kw)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS_PER_BATCH",
    "MAX_EVENT_BYTES",
    "ContractGateAuthError",
    "ContractGateBadRequestError",
    "ContractGateConflictError",
    "ContractGateError",
    "ContractGateHTTPError",
    "ContractGateIdempotencyConflictError",
    "ContractGateNotFoundError",
    "ContractGatePayloadTooLargeError",
    "ContractGatePlanLimitError",
    "ContractGateRateLimitError",
    "ContractGateServerError",
    "ContractGateTimeoutError",
    "ContractGateValidationFailedError",
    "error_class",
    "map_error",
    "parse_error_body",
]
