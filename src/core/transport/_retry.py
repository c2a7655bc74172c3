"""When to retry, and how long to wait (DESIGN section 3).

Rules, in order:

1. A request that never left the client may be retried whatever its method: connect errors,
   connect and pool timeouts, and failures of the auth flow's own token exchange (the API request
   had not been sent yet). The server cannot have seen it, so a retry cannot duplicate a side effect.
   The same holds for a 429: the server refused the request without acting on it.
2. Anything else that may have reached the server (read timeouts, dropped connections, 5xx)
   is retried only for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) or for a request
   that carries an idempotency key (the same key is re-sent on every attempt). A POST or PATCH
   without a key is sent exactly once: a 502 after the server accepted it must not create a
   duplicate invocation.
3. A response is retryable when it maps to :class:`RateLimitError` or :class:`UnavailableError`
   (by default 429 and every 5xx; a platform's mapping hook can refine this).
4. Wait: the server's ``Retry-After`` (seconds or HTTP-date) when given, else full-jitter
   exponential backoff, ``uniform(0, min(max_delay, base_delay * 2**(attempt-1)))``.
5. A ``Retry-After`` longer than ``retry_after_cap`` is not slept through: the error is raised at
   once with ``retry_after`` set, so the caller (an Airflow retry, a deferral, an outbox) can come
   back later instead of holding a worker, and no attempt is wasted on a request the server
   already said it will refuse.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

# Failures that happen before a single byte of the request reached the server.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Failures worth another attempt (when the method or an idempotency key allows it).
RETRYABLE_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    ``max_attempts`` counts every attempt (1 disables retries). Delays are in seconds.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.retry_after_cap) < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before the retry that follows attempt ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return random.uniform(0.0, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)


def is_idempotent(method: str) -> bool:
    return method.upper() in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Negative values and dates in the past give 0; unparseable, NaN or infinite values give None.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


__all__ = [
    "IDEMPOTENT_METHODS",
    "NOT_SENT_ERRORS",
    "NO_RETRY",
    "RETRYABLE_NETWORK_ERRORS",
    "RetryPolicy",
    "is_idempotent",
    "parse_retry_after",
]
