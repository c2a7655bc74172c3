"""The async LatchGate client: every route the SDK calls (specs/latchgate.md) on the core transport."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import httpx

from ...canonical import canonicalize, sha256_hex
from ...errors import CanonicalizationError, ConfigurationError, GovflowError, TransportError
from ...redaction import install_log_redaction
from ...transport import USER_AGENT, RetryPolicy, Transport
from ._dpop import DPoPKey
from ._errors import (
    PLATFORM,
    LatchGateApprovalNotFoundError,
    LatchGateApprovalRequiredError,
    LatchGateError,
    LatchGateIdentifierError,
    LatchGateNotFoundError,
    LatchGateRequestError,
    LatchGateTransportError,
    LatchGateUnavailableError,
    map_error,
)
from ._lease import (
    DEFAULT_RENEW_MARGIN,
    LEASE_EXTENSION,
    LEASE_PATH,
    PINNED_LEASE,
    DPoPAuth,
    Lease,
    LeaseManager,
)
from ._models import (
    ActionInfo,
    ActionResult,
    ActionSummary,
    EgressProfile,
    ExecutionReceipt,
    LatchGateApproval,
    LeaseInfo,
)

logger = logging.getLogger("govflow.latchgate")

# govflow's own variable first (so govflow can be pointed elsewhere than the SDK), then the SDK's.
URL_ENV = ("GOVFLOW_LATCHGATE_URL", "LATCHGATE_URL")
SOCKET_ENV = ("GOVFLOW_LATCHGATE_SOCKET", "LATCHGATE_SOCKET")
# LATCHGATE_PUBLIC_BASE_URL is the gate's own override of its public_base_url: where the client
# shares the gate's environment, it is exactly the value the gate checks htu against.
PUBLIC_BASE_URL_ENV = ("GOVFLOW_LATCHGATE_PUBLIC_BASE_URL", "LATCHGATE_PUBLIC_BASE_URL")
# The gate's default public_base_url: what it checks htu against unless configured otherwise.
DEFAULT_PUBLIC_BASE_URL = "http://localhost:3000"
# httpx sends "Host: localhost" over a Unix socket; the SDK uses the same internal base URL.
UDS_BASE_URL = "http://localhost"

# 503 codes the gate answers before it acts on an execute (section 4.3): the action did not run,
# so sending the execute again (with a new proof) cannot run it twice.
REFUSED_BEFORE_EXECUTION = frozenset(
    {
        "draining",
        "clock_error",
        "replay_cache_unavailable",
        "policy_engine_unavailable",
        "policy_engine_timeout",
        "policy_engine_invalid_response",
        "budget_store_unavailable",
    }
)

# Transport error codes (httpx exception names) of requests that never reached the gate.
_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
_IDENTIFIER = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_MAX_IDENTIFIER = 256
# Approvals whose creating lease is remembered for polling (oldest forgotten first).
_MAX_PINNED_APPROVALS = 1024
# A pinned lease this close to its end is not used: the gate would see it expired.
_PIN_SAFETY_S = 1.0
_JSON = {"Content-Type": "application/json"}
CONNECTION_CHECK_RECEIPT = "govflow-connection-check"

_C = TypeVar("_C", bound="LatchGateClient")


def default_socket_path() -> str:
    """The gate's default socket (section 1.2): ``$XDG_RUNTIME_DIR/latchgate/gate.sock`` or ``/tmp/latchgate-{uid}/gate.sock``."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg:
        return os.path.join(xdg, "latchgate", "gate.sock")
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        raise ConfigurationError(
            "LatchGate listens on a Unix socket by default, which this OS has no default path for: "
            "pass base_url=... or set LATCHGATE_URL",
            platform=PLATFORM,
        )
    return f"/tmp/latchgate-{getuid()}/gate.sock"


@dataclass(frozen=True)
class Endpoint:
    """Where requests go (``base_url``, over ``socket_path`` if set) and what proofs name (``public_base_url``)."""

    base_url: str
    public_base_url: str
    socket_path: str | None = None
    source: str = "base_url"
    public_source: str = "public_base_url"

    @property
    def is_uds(self) -> bool:
        return self.socket_path is not None


def _env(names: Iterable[str], environ: Mapping[str, str]) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _check_url(value: str, what: str) -> str:
    text = value.strip()
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{what} {value!r} is not a URL ({exc})", platform=PLATFORM) from None
    if url.scheme not in ("http", "https") or not url.host or "://" not in text:
        raise ConfigurationError(
            f"{what} {value!r} must be an absolute http(s) URL such as {DEFAULT_PUBLIC_BASE_URL}",
            platform=PLATFORM,
        )
    if url.query or url.fragment or "?" in text or "#" in text:
        raise ConfigurationError(f"{what} {value!r} must not carry a query or a fragment", platform=PLATFORM)
    return text.rstrip("/")


def resolve_endpoint(
    *,
    socket: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    public_base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """Where the client talks to, in the SDK's order (section 1.1), with its traps closed.

    1. ``base_url`` -> TCP;
    2. ``socket`` -> that Unix socket (the SDK ignores an explicit socket when ``LATCHGATE_URL``
       is set; here an explicit argument beats the environment);
    3. ``GOVFLOW_LATCHGATE_URL`` or ``LATCHGATE_URL`` -> TCP (a blank value counts as unset; the
       SDK makes a client with an empty base URL of it);
    4. ``GOVFLOW_LATCHGATE_SOCKET`` or ``LATCHGATE_SOCKET`` (what the emulator prints) -> that socket;
    5. the default socket path (:func:`default_socket_path`).

    ``public_base_url`` (the base of every DPoP ``htu``): the argument, else
    ``GOVFLOW_LATCHGATE_PUBLIC_BASE_URL``, else ``LATCHGATE_PUBLIC_BASE_URL`` (the gate's own
    setting), else the TCP base URL, else (Unix socket) the gate's default
    ``http://localhost:3000``. The SDK signs UDS proofs for ``http://localhost``, which no gate
    checks against, so every call fails with ``invalid_dpop``.
    """
    env = os.environ if environ is None else environ
    if base_url is not None and socket is not None:
        raise ConfigurationError(
            "pass either base_url= (TCP) or socket= (a Unix socket), not both", platform=PLATFORM
        )
    socket_path: str | None = None
    if base_url is not None and base_url.strip():
        url, source = _check_url(base_url, "base_url"), "base_url"
    elif base_url is not None:
        raise ConfigurationError(
            "base_url is empty: omit it to use LATCHGATE_URL or the gate's Unix socket", platform=PLATFORM
        )
    elif socket is not None:
        socket_path, source, url = os.fspath(socket), "socket", UDS_BASE_URL
        if not socket_path:
            raise ConfigurationError("socket is empty: omit it to use the default socket path", platform=PLATFORM)
    elif (found := _env(URL_ENV, env)) is not None:
        source, value = found
        url = _check_url(value, source)
    elif (found := _env(SOCKET_ENV, env)) is not None:
        (source, socket_path), url = found, UDS_BASE_URL
    else:
        socket_path, source, url = default_socket_path(), "the default socket path", UDS_BASE_URL

    if public_base_url is not None:
        public, public_source = _check_url(public_base_url, "public_base_url"), "public_base_url"
    elif (found := _env(PUBLIC_BASE_URL_ENV, env)) is not None:
        public_source, value = found
        public = _check_url(value, public_source)
    elif socket_path is None:
        public, public_source = url, source
    else:
        public, public_source = DEFAULT_PUBLIC_BASE_URL, "the gate's default public_base_url"
    return Endpoint(
        base_url=url, public_base_url=public, socket_path=socket_path, source=source, public_source=public_source
    )


def validate_identifier(value: str, label: str) -> str:
    """An action, receipt or approval id safe in a URL path (the SDK's rule); else LatchGateIdentifierError."""
    if not isinstance(value, str) or not value:
        raise LatchGateIdentifierError(f"{label} must be a non-empty string", platform=PLATFORM)
    if len(value) > _MAX_IDENTIFIER:
        raise LatchGateIdentifierError(f"{label} exceeds {_MAX_IDENTIFIER} characters", platform=PLATFORM)
    if not _IDENTIFIER.match(value):
        raise LatchGateIdentifierError(
            f"{label} {value[:40]!r} contains characters other than letters, digits, '.', '_', '-' "
            "(or does not start with a letter or digit)",
            platform=PLATFORM,
        )
    return value


def encode_params(params: Mapping[str, Any] | None, action_id: str) -> tuple[bytes, str | None]:
    """The execute body and its request hash ``"sha256:" + hex(SHA-256(JCS(params)))`` (section 6).

    An absent body is ``{}``, as for the gate. The hash is None for params JCS cannot represent
    exactly (an integer beyond 2**53); the body is still sent (the gate may accept it).
    """
    value: Any = {} if params is None else params
    if not isinstance(value, Mapping):
        raise LatchGateRequestError(
            f"params for action {action_id!r} must be a JSON object (a dict), not {type(value).__name__}",
            platform=PLATFORM,
            action_id=action_id,
        )
    try:
        content = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise LatchGateRequestError(
            f"params for action {action_id!r} are not JSON: {exc}", platform=PLATFORM, action_id=action_id
        ) from None
    try:
        hashed: str | None = request_hash(value)
    except CanonicalizationError:
        hashed = None
    return content, hashed


def request_hash(value: Any) -> str:
    """``"sha256:" + hex(SHA-256(JCS(value)))``: the gate's request hash, with govflow's RFC 8785 encoder."""
    return "sha256:" + sha256_hex(canonicalize(value))


@dataclass(frozen=True)
class PendingApproval:
    """An approval this client was answered with a 202 for: what was asked, and under which lease."""

    approval_id: str
    action_id: str
    request_hash: str | None
    trace_id: str | None
    lease: Lease | None = field(default=None, repr=False)


class LatchGateClient:
    """Async client of the LatchGate agent action gateway; use it with ``async with``.

    ```python
    async with LatchGateClient(base_url="http://localhost:3000") as gate:
        result = await gate.execute("http_fetch", {"url": "https://example.com"})
        receipt = await gate.get_receipt(result.receipt_id)
    ```

    The keyword-only constructor is the SDK's (``socket``, ``base_url``, ``public_base_url``,
    ``timeout``, ``agent_id``) plus what the lease asks for (``scopes``, ``max_calls``,
    ``max_cost_usd_cents``), ``retry``, ``renew_margin``, ``transport`` (an httpx transport,
    e.g. for tests) and ``user_agent``. :func:`resolve_endpoint` documents where requests go and
    which ``public_base_url`` the DPoP proofs name; a proof the gate refuses for its ``htu``
    raises :class:`LatchGateHtuMismatchError` (a ConfigurationError) naming the URL to pass.

    **Leases.** No ``connect()`` needed: the first call takes a lease, and it is renewed before
    it expires (see ``_lease``); ``agent_id`` is kept for the SDK's signature but is not
    required (the SDK refuses to connect lazily without it, and never sends it).

    **Retries.** Reads (receipts, approval polls, action details) are retried on 429, 5xx and
    network failures, each attempt with a new DPoP proof. An **execute** is never sent twice
    when the gate may have acted on it: it is resent only after a 429, a 401 that refused the
    lease (with a new lease), a 503 whose code says the gate refused before executing
    (``draining``, ``policy_engine_timeout``, ...), or a connection that was never made. Any
    other failure (500, 502, other 503s, a timeout or a dropped connection after sending) is
    raised with a note that the action may have run.

    **Approvals.** A 202 raises :class:`LatchGateApprovalRequiredError` (as the SDK does) with
    ``approval_id``; :meth:`get_approval_status` polls it with the lease session that created it
    (the gate lets no other session see it) for as long as that lease lives.
    """

    def __init__(
        self,
        *,
        socket: str | os.PathLike[str] | None = None,
        base_url: str | None = None,
        public_base_url: str | None = None,
        timeout: float = 30.0,
        agent_id: str | None = None,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
        retry: RetryPolicy | None = None,
        renew_margin: float = DEFAULT_RENEW_MARGIN,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(socket=socket, base_url=base_url, public_base_url=public_base_url)
        self.agent_id = agent_id
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._leases = LeaseManager(
            scopes=scopes, max_calls=max_calls, max_cost_usd_cents=max_cost_usd_cents, renew_margin=renew_margin
        )
        self._base_path = httpx.URL(self.endpoint.base_url).raw_path.decode("ascii").rstrip("/")
        self._approvals: collections.OrderedDict[str, PendingApproval] = collections.OrderedDict()
        agent = user_agent or f"{USER_AGENT} (latchgate)"
        self._auth = DPoPAuth(
            self._leases,
            lease_url=self.endpoint.base_url + LEASE_PATH,
            public_base_url=self.endpoint.public_base_url,
            base_path=self._base_path,
            user_agent=agent,
        )
        if transport is None and self.endpoint.socket_path is not None:
            transport = httpx.AsyncHTTPTransport(uds=self.endpoint.socket_path)
        install_log_redaction(logger.name)
        self._http = Transport(
            PLATFORM,
            self.endpoint.base_url + "/",
            auth=self._auth,
            timeout=timeout,
            retry=self.retry,
            error_mapper=self._map_error,
            transport=transport,
            user_agent=agent,
        )

    # --- configuration -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where requests go (``http://localhost`` over a Unix socket, as in the SDK)."""
        return self.endpoint.base_url

    @property
    def public_base_url(self) -> str:
        return self.endpoint.public_base_url

    @property
    def gate_url(self) -> str:
        """The SDK's name for :attr:`public_base_url`."""
        return self.endpoint.public_base_url

    @property
    def socket_path(self) -> str | None:
        return self.endpoint.socket_path

    @property
    def transport(self) -> Transport:
        """The core transport (auth, retries, redaction) this client sends through."""
        return self._http

    @property
    def http_transport(self) -> httpx.AsyncClient:
        """The httpx client (the SDK's name); it carries no lease of its own."""
        return self._http.client

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    @property
    def lease(self) -> LeaseInfo | None:
        """The current lease (without its JWT), None before the first call."""
        lease = self._leases.current
        return lease.info() if lease is not None else None

    @property
    def session_id(self) -> str | None:
        lease = self._leases.current
        return lease.session_id if lease is not None else None

    @property
    def lease_jti(self) -> str | None:
        lease = self._leases.current
        return lease.lease_jti if lease is not None else None

    @property
    def leases_issued(self) -> int:
        """How many leases this client has taken (lazy connects, renewals, re-leases)."""
        return self._leases.issued

    def __repr__(self) -> str:
        where = f"socket={self.socket_path!r}" if self.socket_path else f"base_url={self.base_url!r}"
        return f"LatchGateClient({where}, public_base_url={self.public_base_url!r})"

    # --- leases --------------------------------------------------------------------------------

    async def connect(
        self,
        *,
        agent_id: str | None = None,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
    ) -> LeaseInfo:
        """Take a new lease now (``POST /v1/leases``) with a new key; returns it (without its JWT).

        Scopes and budgets given here replace the constructor's, for this lease and every
        renewal. Not needed before other calls: they take a lease when there is none.
        """
        if agent_id:
            self.agent_id = agent_id
        self._leases.configure(scopes=scopes, max_calls=max_calls, max_cost_usd_cents=max_cost_usd_cents)
        key = DPoPKey.generate()
        # No lease lock around the I/O: requests waiting on the lock hold transport slots, and
        # this request needs one. A concurrent lazy lease is harmless (the last one wins).
        response = await self._send(
            "POST", LEASE_PATH, content=self._leases.request_content(key), headers=_JSON, authenticated=False
        )
        return self._leases.accept(response, key, base_path=self._base_path).info()

    async def check_connection(self) -> LeaseInfo:
        """Prove the whole setup works: a lease, a DPoP proof the gate accepts, the right ``htu``.

        Looks up a receipt that does not exist (an authenticated read with no side effect);
        the gate's 404 means every check passed. Raises what a real call would raise
        (:class:`LatchGateHtuMismatchError` for a wrong ``public_base_url``).
        """
        path = f"/v1/receipts/{CONNECTION_CHECK_RECEIPT}"
        with contextlib.suppress(LatchGateNotFoundError):
            await self._send("GET", path)
        lease = self._leases.current
        assert lease is not None  # an authenticated request took one
        return lease.info()

    # --- actions -------------------------------------------------------------------------------

    async def execute(self, action_id: str, params: Mapping[str, Any] | None = None) -> ActionResult:
        """Execute an action (``POST /v1/actions/{id}/execute``) with ``params`` as its JSON body.

        200: the :class:`ActionResult` (output, receipt id, trace id, grant id, verification,
        and govflow's ``request_hash``). 202: raises :class:`LatchGateApprovalRequiredError`
        with ``approval_id`` (the SDK's behaviour); poll it with :meth:`get_approval_status`.
        An approved action is executed by the operator's approval itself: read its receipt,
        do not execute it again.
        """
        action_id = validate_identifier(action_id, "action_id")
        content, request_hash = encode_params(params, action_id)
        path = f"/v1/actions/{action_id}/execute"
        response = await self._execute_post(path, content, action_id)
        where = f"POST {path}"
        if response.status_code == 202:
            data = _json_object(response, f"{where} (approval)")
            self._approval_required(response, data, action_id, request_hash)
        data = _json_object(response, where, executed=True)
        return ActionResult.from_body(data, where=where, request_hash=request_hash)

    def _approval_required(
        self, response: httpx.Response, data: dict[str, Any], action_id: str, request_hash: str | None
    ) -> NoReturn:
        approval_id = data.get("approval_id")
        if not isinstance(approval_id, str) or not _IDENTIFIER.match(approval_id):
            raise LatchGateTransportError(
                f"POST /v1/actions/{action_id}/execute: a 202 without a usable approval_id",
                status=202,
                code="unexpected_response",
                action_id=action_id,
                body=data,
            )
        server_hash = data.get("request_hash") if isinstance(data.get("request_hash"), str) else None
        trace_id = data.get("trace_id") if isinstance(data.get("trace_id"), str) else None
        lease = response.request.extensions.get(LEASE_EXTENSION)
        self._remember(
            PendingApproval(
                approval_id=approval_id,
                action_id=action_id,
                request_hash=request_hash,
                trace_id=trace_id,
                lease=lease if isinstance(lease, Lease) else None,
            )
        )
        if server_hash and request_hash and server_hash != request_hash:
            # The gate hashed other bytes than govflow sent (or canonicalises differently).
            logger.warning(
                "action %s: the gate's request_hash %s differs from govflow's %s",
                action_id,
                server_hash,
                request_hash,
            )
        raise LatchGateApprovalRequiredError(
            f"action {action_id!r} requires approval: poll approval_id={approval_id!r}",
            platform=PLATFORM,
            status=202,
            code=str(data.get("decision") or "pending_approval"),
            body=data,
            action_id=action_id,
            approval_id=approval_id,
            request_hash=server_hash or request_hash,
            trace_id=trace_id,
        )

    async def _execute_post(self, path: str, content: bytes, action_id: str) -> httpx.Response:
        """Send an execute; resend it only when the gate provably did not act (class docstring)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send("POST", path, content=content, headers=_JSON)
            except LatchGateUnavailableError as exc:
                refused = exc.status == 503 and exc.code in REFUSED_BEFORE_EXECUTION
                policy = self.retry
                if refused and attempt < policy.max_attempts and (
                    exc.retry_after is None or exc.retry_after <= policy.retry_after_cap
                ):
                    delay = exc.retry_after if exc.retry_after is not None else policy.backoff(attempt)
                    logger.debug("%s refused before executing (%s); again in %.3f s", path, exc.code, delay)
                    await asyncio.sleep(delay)
                    continue
                if not refused:
                    _note_ambiguous(exc, action_id)
                raise
            except LatchGateTransportError as exc:
                if exc.code not in _NOT_SENT:
                    _note_ambiguous(exc, action_id)
                raise

    async def get_action(self, action_id: str) -> ActionInfo:
        """An action's registration (``GET /v1/actions/{id}``): risk level, limits, egress profile.

        Sent without lease or proof: the gate does not authenticate this route (the SDK takes a
        lease for it anyway).
        """
        action_id = validate_identifier(action_id, "action_id")
        path = f"/v1/actions/{action_id}"
        response = await self._send("GET", path, authenticated=False)
        return ActionInfo.from_body(_json_object(response, f"GET {path}"), where=f"GET {path}")

    async def get_action_egress(self, action_id: str) -> EgressProfile:
        """Where an action may connect: ``none``, or ``proxy_allowlist`` with its domains."""
        return (await self.get_action(action_id)).egress_profile

    async def list_actions(self) -> list[ActionSummary]:
        """Every registered action (``GET /v1/actions``, unauthenticated)."""
        response = await self._send("GET", "/v1/actions", authenticated=False)
        body = _json_object(response, "GET /v1/actions")
        rows = body.get("actions")
        if not isinstance(rows, list):
            raise LatchGateTransportError(
                "GET /v1/actions: the answer has no actions list", code="unexpected_response", body=body
            )
        return [ActionSummary.from_body(row, where="GET /v1/actions") for row in rows]

    # --- receipts and approvals ------------------------------------------------------------------

    async def get_receipt(self, receipt_id: str) -> ExecutionReceipt:
        """An execution's durable receipt (``GET /v1/receipts/{id}``); unknown id: LatchGateNotFoundError."""
        receipt_id = validate_identifier(receipt_id, "receipt_id")
        path = f"/v1/receipts/{receipt_id}"
        response = await self._send("GET", path)
        return ExecutionReceipt.from_body(_json_object(response, f"GET {path}"), where=f"GET {path}")

    async def get_approval_status(self, approval_id: str) -> LatchGateApproval:
        """One poll of an approval (``GET /v1/approvals/{id}/poll``).

        Signed with the lease that received the 202 while it lives (the gate shows an approval
        only to the session that created it). A 404 raises
        :class:`LatchGateApprovalNotFoundError`, whose ``session_alive`` tells "gone" (True)
        from "no longer visible to us" (False) and "not ours" (None).
        """
        approval_id = validate_identifier(approval_id, "approval_id")
        path = f"/v1/approvals/{approval_id}/poll"
        pending = self._approvals.get(approval_id)
        pinned = pending.lease if pending is not None else None
        usable = pinned if pinned is not None and pinned.remaining(self._leases.clock()) > _PIN_SAFETY_S else None
        try:
            response = await self._send("GET", path, pin=usable)
        except LatchGateApprovalNotFoundError as exc:
            if usable is not None:
                exc.session_alive = True
            elif pinned is not None:
                exc.session_alive = False
                exc.message = (
                    f"GET {path}: approval {approval_id!r} can no longer be polled: the lease session "
                    f"that created it ({pinned.session_id}) ended at {pinned.expires_at.isoformat()}, "
                    "and LatchGate shows an approval only to its own session. It may still be decided "
                    "(an approval executes the action): check the gate's audit before executing it again"
                )
                exc.args = (exc.message,)
            raise
        data = _json_object(response, f"GET {path}")
        # The gate sends neither id: the path has one, the 202 this client received the other.
        known = {"approval_id": approval_id, "action_id": pending.action_id if pending else ""}
        return LatchGateApproval.from_body({**known, **data}, where=f"GET {path}")

    def pending_approval(self, approval_id: str) -> PendingApproval | None:
        """What this client knows of an approval it received a 202 for (None if not one of its own)."""
        return self._approvals.get(approval_id)

    def _remember(self, pending: PendingApproval) -> None:
        approvals = self._approvals
        approvals[pending.approval_id] = pending
        approvals.move_to_end(pending.approval_id)
        while len(approvals) > _MAX_PINNED_APPROVALS:
            approvals.popitem(last=False)

    # --- plumbing ------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        pin: Lease | None = None,
    ) -> httpx.Response:
        token = PINNED_LEASE.set(pin) if pin is not None else None
        try:
            return await self._http.request(
                method, path.lstrip("/"), content=content, headers=headers, authenticated=authenticated
            )
        except LatchGateError:
            raise
        except TransportError as exc:
            raise self._transport_error(exc) from exc
        finally:
            if token is not None:
                PINNED_LEASE.reset(token)

    def _transport_error(self, exc: TransportError) -> LatchGateTransportError:
        message = exc.message
        socket_path = self.endpoint.socket_path
        if socket_path is not None and not Path(socket_path).exists():
            message += (
                f"; there is no LatchGate socket at {socket_path} ({self.endpoint.source}): start the "
                "gate, pass socket= or base_url=, or set LATCHGATE_URL"
            )
        return LatchGateTransportError(
            message,
            platform=PLATFORM,
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
            body=exc.body,
        )

    def _map_error(self, response: httpx.Response) -> GovflowError:
        return map_error(response, base_path=self._base_path, public_base_url=self.endpoint.public_base_url)

    # --- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool; idempotent. The lease keys are dropped with the client."""
        await self._http.aclose()
        self._leases.invalidate()
        self._approvals.clear()

    async def close(self) -> None:
        """The SDK's name for :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _json_object(response: httpx.Response, where: str, *, executed: bool = False) -> dict[str, Any]:
    """The 2xx body as a JSON object, else a transport error (like the SDK's ``_json_body``)."""
    try:
        data = json.loads(response.content)
    except ValueError:
        data = _INVALID
    if isinstance(data, dict):
        return data
    what = "invalid JSON" if data is _INVALID else f"a JSON {type(data).__name__}, not an object,"
    note = "; the action did run: do not execute it again, look up its receipt" if executed else ""
    raise LatchGateTransportError(
        f"{where}: {what} in the gate's {response.status_code} answer{note}",
        platform=PLATFORM,
        status=response.status_code,
        code="malformed_json",
    )


_INVALID = object()


def _note_ambiguous(error: GovflowError, action_id: str) -> None:
    error.message += (
        f"; action {action_id!r} may have been executed: check the gate's receipts/audit before "
        "executing it again (govflow does not resend an execute the gate may have acted on)"
    )
    error.args = (error.message, *error.args[1:])


__all__ = [
    "CONNECTION_CHECK_RECEIPT",
    "DEFAULT_PUBLIC_BASE_URL",
    "PUBLIC_BASE_URL_ENV",
    "REFUSED_BEFORE_EXECUTION",
    "SOCKET_ENV",
    "UDS_BASE_URL",
    "URL_ENV",
    "Endpoint",
    "LatchGateClient",
    "PendingApproval",
    "default_socket_path",
    "encode_params",
    "request_hash",
    "resolve_endpoint",
    "validate_identifier",
]
