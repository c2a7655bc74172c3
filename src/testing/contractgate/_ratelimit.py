"""The gateway's token bucket (spec section 11.5): per key, starts full, refills at ``rps``."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_RPS = 100
DEFAULT_BURST = 1000
SESSION_RPS = 500
SESSION_BURST = 2000

AUTH_LIMITED = "Rate limit exceeded — too many requests"


@dataclass(frozen=True)
class Outcome:
    """One spend: what the ``X-RateLimit-*`` headers and the v1 429 body report."""

    allowed: bool
    limit: int
    remaining: int
    reset_unix: int
    retry_after_ms: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_unix),
        }


class Bucket:
    """``tokens += elapsed * rate`` (capped at burst); a spend needs one whole token."""

    def __init__(self, rate: int, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.last)
        self.last = now
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)

    def spend(self, now: float, wall: float, *, enforce: bool = True) -> Outcome:
        """Take one token. Unenforced buckets never deny (the emulator's "off"), and bottom
        out at zero, so their headers still look like a real, busy key's."""
        self._refill(now)
        allowed = self.tokens >= 1.0 or not enforce
        if allowed:
            self.tokens = max(0.0, self.tokens - 1.0)
        return self._outcome(allowed, wall)

    def peek(self, now: float, wall: float) -> Outcome:
        self._refill(now)
        return self._outcome(True, wall)

    def _outcome(self, allowed: bool, wall: float) -> Outcome:
        if allowed or self.tokens >= 1.0:
            retry_ms = 0
        else:
            retry_ms = math.ceil((1.0 - self.tokens) / self.rate * 1000.0)
        # Reset = when a token is back: "now" for an allowed request (whole seconds, rounded up).
        reset = int(wall) + retry_ms // 1000 + (1 if retry_ms % 1000 else 0)
        return Outcome(allowed, self.rate, math.floor(self.tokens), reset, retry_ms)


def v1_limited_body(outcome: Outcome) -> dict[str, object]:
    return {
        "error": "rate_limit_exceeded",
        "detail": f"Rate limit of {outcome.limit} req/sec exceeded. "
        f"Retry after {outcome.retry_after_ms}ms.",
        "retry_after_ms": outcome.retry_after_ms,
    }


__all__ = [
    "AUTH_LIMITED",
    "DEFAULT_BURST",
    "DEFAULT_RPS",
    "SESSION_BURST",
    "SESSION_RPS",
    "Bucket",
    "Outcome",
    "v1_limited_body",
]
