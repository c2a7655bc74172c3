"""Leases and the DPoP auth flow (specs/latchgate.md sections 2 and 3).

A lease is a short-lived JWT the gate binds to one ephemeral P-256 key (``cnf.jkt``); every
authenticated request then carries ``Authorization: DPoP <lease>`` and a fresh proof signed
with that key. :class:`DPoPAuth` is the ``httpx.Auth`` that does this on every attempt the
transport makes, so a retried request is never a resent proof:

- **Lazy connect.** The first authenticated request posts ``/v1/leases`` itself (inside the
  auth flow, so it shares the request's connection slot and cannot deadlock the pool).
- **Renewal before expiry.** A lease is replaced once less than ``renew_margin`` seconds
  (default 60, the SDK's) or half its lifetime, whichever is shorter, remain. Lifetimes are
  measured against the gate's ``Date`` header when it sends one, so a skewed local clock does
  not make every lease look expired (or eternal).
- **Re-lease on expiry, once.** A 401 ``lease_expired`` or ``invalid_lease`` (the gate restarted
  with a new signing key) means the gate refused the request before acting on it; the flow takes
  a new lease and resends the request once, with a new proof.
- **One lease for concurrent calls.** An asyncio lock makes concurrent requests wait for the
  one lease being issued instead of each posting their own.
- **Same scopes and budgets on renewal.** Unlike the SDK (which renews with the default scope
  and no budget), a renewal asks for what the first lease asked for. The gate keeps budgets per
  lease session, so a renewed lease starts a fresh call budget: that is the gate's rule.

The lease body is exactly ``scopes``, ``dpop_jwk`` and (when a budget is set) ``budgets``: the
gate rejects any other key (``deny_unknown_fields``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from ...errors import ConfigurationError
from ...transport import AuthStrategy, response_body
from ._dpop import DPoPKey, access_token_hash
from ._errors import (
    PLATFORM,
    RELEASE_CODES,
    LatchGateTransportError,
    map_error,
    route_of,
)
from ._models import LeaseInfo, parse_timestamp

logger = logging.getLogger("govflow.latchgate")

DEFAULT_SCOPES: tuple[str, ...] = ("tools:call",)
BUILTIN_SCOPES = frozenset({"tools:call", "audit:read"})
# The SDK renews a lease once less than this many seconds remain.
DEFAULT_RENEW_MARGIN = 60.0
LEASE_PATH = "/v1/leases"

_SCOPE = re.compile(r"^[a-z][a-z0-9:_-]{3,63}$")

# Set by the client around one request to sign it with a given lease (an approval's poll must
# use the lease session that created the approval), instead of the current lease.
PINNED_LEASE: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("latchgate_pinned_lease", default=None)

# The lease a request was signed with, left on the request for the client to read.
LEASE_EXTENSION = "govflow.latchgate.lease"


def validate_scopes(scopes: Iterable[str] | None) -> tuple[str, ...]:
    """The scopes to ask for, checked like the gate checks them (so a typo fails before any I/O)."""
    if scopes is None:
        return DEFAULT_SCOPES
    if isinstance(scopes, str):
        scopes = [scopes]
    values = tuple(dict.fromkeys(s.strip() for s in scopes))
    if not values or any(not s for s in values):
        raise ConfigurationError("LatchGate scopes must be a non-empty list of non-empty strings", platform=PLATFORM)
    for scope in values:
        if scope in BUILTIN_SCOPES:
            continue
        if not (_SCOPE.match(scope) and ":" in scope and not scope.endswith(":")):
            raise ConfigurationError(
                f"LatchGate scope {scope!r} is invalid: use tools:call, audit:read or a "
                "namespace:name scope (4-64 characters of a-z, 0-9, ':', '_', '-', starting with a letter)",
                platform=PLATFORM,
            )
    return values


def budgets_body(max_calls: int | None, max_cost_usd_cents: int | None) -> dict[str, int] | None:
    """The SDK's ``budgets``: only the members that are set, and no key at all when none is."""
    budgets: dict[str, int] = {}
    for name, value in (("max_calls", max_calls), ("max_cost_usd_cents", max_cost_usd_cents)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be a non-negative integer, not {value!r}", platform=PLATFORM)
        budgets[name] = value
    return budgets or None


@dataclass(frozen=True, eq=False, repr=False)
class Lease:
    """One lease: its key, its JWT (a secret) and when it must be renewed."""

    key: DPoPKey
    jwt: SecretStr
    expires_at: datetime
    issued_at: float  # monotonic
    expires_at_monotonic: float
    session_id: str | None = None
    lease_jti: str | None = None
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    budgets: dict[str, int] | None = None
    fs_root: str | None = None
    authorization: str = field(default="", repr=False)
    ath: str = ""

    @property
    def lifetime(self) -> float:
        return self.expires_at_monotonic - self.issued_at

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at_monotonic - (time.monotonic() if now is None else now)

    def is_expired(self, now: float | None = None) -> bool:
        return self.remaining(now) <= 0

    def info(self) -> LeaseInfo:
        return LeaseInfo(
            session_id=self.session_id,
            lease_jti=self.lease_jti,
            expires_at=self.expires_at,
            scopes=list(self.scopes),
            budgets=dict(self.budgets) if self.budgets else None,
            jkt=self.key.thumbprint,
            fs_root=self.fs_root,
        )

    def __repr__(self) -> str:
        return f"Lease(session_id={self.session_id!r}, lease_jti={self.lease_jti!r}, expires_at={self.expires_at.isoformat()!r})"


class LeaseManager:
    """What the client asks a lease for, the current lease, and the lock that serialises issuing."""

    def __init__(
        self,
        *,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
        renew_margin: float = DEFAULT_RENEW_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if renew_margin < 0:
            raise ConfigurationError(f"renew_margin ({renew_margin}) must be zero or more seconds", platform=PLATFORM)
        self.scopes = validate_scopes(scopes)
        self.budgets = budgets_body(max_calls, max_cost_usd_cents)
        self.renew_margin = renew_margin
        self.clock = clock
        self.current: Lease | None = None
        self.issued = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._on_issue: list[Callable[[Lease], None]] = []

    def configure(
        self,
        *,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
    ) -> None:
        """New scopes/budgets for the next lease and every renewal after it (an explicit ``connect``)."""
        if scopes is not None:
            self.scopes = validate_scopes(scopes)
        if max_calls is not None or max_cost_usd_cents is not None:
            self.budgets = budgets_body(max_calls, max_cost_usd_cents)

    def on_issue(self, callback: Callable[[Lease], None]) -> None:
        self._on_issue.append(callback)

    # --- state ---------------------------------------------------------------------------------

    def needs_renewal(self, lease: Lease) -> bool:
        margin = min(self.renew_margin, max(lease.lifetime, 0.0) / 2)
        return lease.remaining(self.clock()) <= margin

    def usable(self) -> Lease | None:
        """The current lease unless it is missing or due for renewal."""
        lease = self.current
        if lease is None or self.needs_renewal(lease):
            return None
        return lease

    def invalidate(self, lease: Lease | None = None) -> None:
        """Forget the current lease (only if it is still ``lease``, when given)."""
        if lease is None or self.current is lease:
            self.current = None

    def lock(self) -> asyncio.Lock:
        # asyncio locks belong to one loop; a client reused under a new loop gets a new lock.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is None or self._lock_loop() is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = weakref.ref(loop)
        return self._lock

    # --- the exchange --------------------------------------------------------------------------

    def request_body(self, key: DPoPKey) -> dict[str, Any]:
        """Exactly the fields the gate accepts (it rejects unknown ones)."""
        body: dict[str, Any] = {"scopes": list(self.scopes), "dpop_jwk": dict(key.jwk)}
        if self.budgets:
            body["budgets"] = dict(self.budgets)
        return body

    def request_content(self, key: DPoPKey) -> bytes:
        return json.dumps(self.request_body(key), separators=(",", ":")).encode("ascii")

    def accept(self, response: httpx.Response, key: DPoPKey, *, base_path: str = "") -> Lease:
        """Adopt the lease of a ``POST /v1/leases`` answer (raise the mapped error for a non-2xx)."""
        if not response.is_success:
            raise map_error(response, base_path=base_path)
        body = response_body(response)
        where = f"POST {LEASE_PATH}"
        if not isinstance(body, dict):
            raise LatchGateTransportError(
                f"{where}: expected a JSON object in the lease response, got {type(body).__name__}",
                status=response.status_code,
                code="unexpected_response",
                action_id=None,
            )
        jwt = body.get("lease_jwt")
        expires_text = body.get("expires_at")
        expires_at = parse_timestamp(expires_text) if isinstance(expires_text, str) else None
        if not isinstance(jwt, str) or not jwt or expires_at is None:
            missing = "lease_jwt" if not isinstance(jwt, str) or not jwt else "a valid expires_at"
            raise LatchGateTransportError(
                f"{where}: the lease response has no {missing}",
                status=response.status_code,
                code="unexpected_response",
            )
        now = self.clock()
        lifetime = _lifetime(expires_at, _server_date(response))
        lease = Lease(
            key=key,
            jwt=SecretStr(jwt),
            expires_at=expires_at,
            issued_at=now,
            expires_at_monotonic=now + lifetime,
            session_id=_str_or_none(body.get("session_id")),
            lease_jti=_str_or_none(body.get("lease_jti")),
            scopes=self.scopes,
            budgets=dict(self.budgets) if self.budgets else None,
            fs_root=_str_or_none(body.get("fs_root")),
            authorization=f"DPoP {jwt}",
            ath=access_token_hash(jwt),
        )
        self.current = lease
        self.issued += 1
        for callback in self._on_issue:
            callback(lease)
        logger.debug(
            "lease %s (session %s) issued for %s, valid %.0f s",
            lease.lease_jti,
            lease.session_id,
            ", ".join(lease.scopes),
            lifetime,
        )
        return lease


class DPoPAuth(AuthStrategy):
    """``Authorization: DPoP <lease>`` plus a fresh ``DPoP`` proof on every request attempt.

    ``public_base_url`` is what the gate checks ``htu`` against; ``base_path`` is a path prefix
    of the transport's base URL (e.g. behind a reverse proxy), dropped from the route path the
    proof names. ``relase_on_401`` enables the one re-lease after ``lease_expired`` /
    ``invalid_lease`` (or a bare 401 from the poll route).
    """

    def __init__(
        self,
        leases: LeaseManager,
        *,
        lease_url: httpx.URL | str,
        public_base_url: str,
        base_path: str = "",
        user_agent: str | None = None,
        relase_on_401: bool = True,
    ) -> None:
        super().__init__()
        self.leases = leases
        self.lease_url = httpx.URL(lease_url)
        self.public_base_url = public_base_url
        self.base_path = base_path
        self.user_agent = user_agent
        self.relase_on_401 = relase_on_401
        leases.on_issue(lambda lease: self._register(lease.jwt))

    def secrets(self) -> list[SecretStr]:
        lease = self.leases.current
        return [lease.jwt] if lease is not None else []

    def sign(self, request: httpx.Request, lease: Lease) -> None:
        """Put the lease and a new proof (new ``jti``, current ``iat``) on ``request``."""
        path = route_of(request, self.base_path)
        request.headers["Authorization"] = lease.authorization
        request.headers["DPoP"] = lease.key.proof_for(request.method, self.public_base_url, path, ath=lease.ath)
        request.extensions[LEASE_EXTENSION] = lease

    def lease_request(self, key: DPoPKey, api_request: httpx.Request | None = None) -> httpx.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        request = httpx.Request("POST", self.lease_url, content=self.leases.request_content(key), headers=headers)
        if api_request is not None and "timeout" in api_request.extensions:
            request.extensions["timeout"] = api_request.extensions["timeout"]
        return request

    def accept(self, response: httpx.Response, key: DPoPKey) -> Lease:
        return self.leases.accept(response, key, base_path=self.base_path)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        pinned = PINNED_LEASE.get()
        if pinned is not None:
            # An approval poll on the session that created it: no renewal, no re-lease.
            self.sign(request, pinned)
            yield request
            return
        lease = self.leases.usable()
        if lease is None:
            async with self.leases.lock():
                lease = self.leases.usable()  # another request may have renewed meanwhile
                if lease is None:
                    key = DPoPKey.generate()
                    lease_response = yield self.lease_request(key, request)
                    await lease_response.aread()
                    lease = self.accept(lease_response, key)
        self.sign(request, lease)
        response = yield request

        if response.status_code != 401 or not self.relase_on_401:
            return
        await response.aread()
        if not _lease_refused(response):
            return
        logger.info(
            "%s %s: the gate refused lease %s (%s); taking a new lease and sending once more",
            request.method,
            request.url.path,
            lease.lease_jti,
            _code(response) or "bare 401",
        )
        async with self.leases.lock():
            renewed = self.leases.current
            if renewed is None or renewed is lease or self.leases.needs_renewal(renewed):
                self.leases.invalidate(lease)
                key = DPoPKey.generate()
                lease_response = yield self.lease_request(key, request)
                await lease_response.aread()
                renewed = self.accept(lease_response, key)
        self.sign(request, renewed)
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("DPoPAuth needs the async client; use LatchGateSyncClient from blocking code")


def _code(response: httpx.Response) -> str | None:
    body = response_body(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def _lease_refused(response: httpx.Response) -> bool:
    """Whether a 401 rejects the lease itself (so a new one may succeed), not the proof."""
    code = _code(response)
    if code is not None:
        return code in RELEASE_CODES
    # The poll route answers a bare 401 to any failure; after a gate restart that is the lease.
    return not response.content.strip()


def _lifetime(expires_at: datetime, server_date: datetime | None) -> float:
    """Seconds the lease has left, as well as the two clocks tell.

    The gate's ``Date`` has one-second granularity (and servers cache it for a second), so
    while it agrees with the local clock within 2 s the tighter local figure is used; beyond
    that the clocks disagree, and the gate's clock is the one that decides expiry.
    """
    local = (expires_at - datetime.now(timezone.utc)).total_seconds()
    if server_date is None:
        return local
    by_date = (expires_at - server_date).total_seconds()
    return min(local, by_date) if abs(local - by_date) <= 2.0 else by_date


def _server_date(response: httpx.Response) -> datetime | None:
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


__all__ = [
    "BUILTIN_SCOPES",
    "DEFAULT_RENEW_MARGIN",
    "DEFAULT_SCOPES",
    "LEASE_EXTENSION",
    "LEASE_PATH",
    "PINNED_LEASE",
    "DPoPAuth",
    "Lease",
    "LeaseManager",
    "budgets_body",
    "validate_scopes",
]
