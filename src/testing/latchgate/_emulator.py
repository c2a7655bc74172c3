"""The LatchGate emulator: state, routes and the test-facing API (choices: see the package docstring)."""

from __future__ import annotations

import collections
import fnmatch
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ...core.canonical import canonicalize
from ..faults import RecordedRequest
from ..server import BackgroundServer, Message, Receive, Scope, Send
from ._bodies import Rejected, lease_request_problem, parse_execute_body, parse_lease_request
from ._crypto import DPoPError, LeaseError, LeaseSigner, jwk_thumbprint, uuid7, verify_proof
from ._faults import AfterAccept, AnyFault, apply_fault, fault_from_dict
from ._server import UnixBackgroundServer

Decision = Literal["approved", "denied", "expired", "failed"]
BudgetError = Literal["policy_denied", "budget_exhausted"]
VerificationTag = Literal[
    "verified",
    "verification_failed",
    "unverifiable_declared",
    "provider_failed_before_verification",
    "skipped",
]

DEFAULT_PUBLIC_BASE_URL = "http://localhost:3000"  # the server's own default (spec §1.1, §7)
DEFAULT_PRINCIPAL = "dev:anonymous"  # identity provider "none", as `latchgate up` runs
MAX_LEASE_TTL = 3600
REPLAY_TTL = 180
REPLAY_CAPACITY = 100_000
APPROVAL_TTL = 300
BODY_LIMIT = 1_048_576
DEFAULT_MAX_REQUEST_BYTES = 65_536
_CONTROL_PREFIX = "/_emulator/"


def _iso(moment: float, *, fraction: bool = True) -> str:
    stamp = datetime.fromtimestamp(moment, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ")


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """The server's bare answers (poll auth failures, unknown action detail, unknown routes)."""
    return Response(b"", status_code=status, headers=dict(headers or {}))


def _error(
    status: int, code: str, headers: Mapping[str, str] | None = None, **fields: Any
) -> JSONResponse:
    return JSONResponse({"error": code, **fields}, status_code=status, headers=dict(headers or {}))


# --- state records ---------------------------------------------------------------------------------


@dataclass
class Action:
    """A registered action (a manifest). ``egress`` is the wire value of ``GET /v1/actions/{id}``:
    ``"none"``, ``{"proxy_allowlist": {"allowed_domains": [...]}}`` or None (invalid profile)."""

    action_id: str
    version: str = "1.0.0"
    risk_level: str = "low"
    requires_approval: bool = False
    deny_reason: str | None = None
    egress: Any = "none"
    cost: int = 1
    output: Any = None  # None: echo the request; a callable: output(params); else this value
    verification: VerificationTag = "verified"
    failure: str | None = None  # "provider_error": the provider fails (502)
    request_schema: dict[str, Any] | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    declared_side_effects: list[str] = field(default_factory=list)

    @property
    def provider_module_digest(self) -> str:
        return "sha256:" + hashlib.sha256(f"{self.action_id}@{self.version}".encode()).hexdigest()

    @property
    def allowed_domains(self) -> list[str] | None:
        """The proxy allowlist, or None when the action has no allowlist profile."""
        if isinstance(self.egress, dict) and "proxy_allowlist" in self.egress:
            return list(self.egress["proxy_allowlist"].get("allowed_domains", []))
        return None

    def summary(self) -> dict[str, Any]:
        return {"action_id": self.action_id, "version": self.version, "risk_level": self.risk_level}

    def detail(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "version": self.version,
            "provider_module_digest": self.provider_module_digest,
            "risk_level": self.risk_level,
            "resource_limits": {
                "fuel": 1_000_000_000,
                "memory_mb": 64,
                "timeout_seconds": 30,
                "max_io_calls": 16,
                "max_host_response_bytes": 1_048_576,
            },
            "io": {
                "max_request_bytes": self.max_request_bytes,
                "max_response_bytes": 1_048_576,
                "has_request_schema": self.request_schema is not None,
                "has_response_schema": False,
            },
            "egress": _json_copy(self.egress),
            "declared_side_effects": list(self.declared_side_effects),
        }


@dataclass(frozen=True)
class Lease:
    """A lease the emulator issued (the JWT itself is verified statelessly, as the server does)."""

    lease_jwt: str
    session_id: str
    lease_jti: str
    jkt: str
    jwk: dict[str, str]
    scopes: tuple[str, ...]
    budgets: dict[str, Any] | None
    principal: str
    issued_at: int
    exp: int
    expires_at: str
    fs_root: str | None = None


@dataclass(frozen=True)
class Execution:
    """One execution of an action (its side effect happened once per record)."""

    receipt_id: str
    trace_id: str
    grant_id: str
    action_id: str
    params: Any
    request_hash: str
    session_id: str
    principal: str
    source: Literal["agent", "approval"]
    approval_id: str | None
    succeeded: bool
    at: float


@dataclass
class Approval:
    approval_id: str
    action_id: str
    session_id: str
    principal: str
    params: Any
    request_hash: str
    trace_id: str
    created_at: float
    status: str = "pending"  # pending, approved, denied, expired, failed
    receipt_id: str | None = None
    reason: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        data["decided_at"] = None if self.decided_at is None else _iso(self.decided_at)
        return data


@dataclass
class Budget:
    max_calls: int | None  # None: the server's u64::MAX (budgets without max_calls)
    used: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.max_calls is None else max(0, self.max_calls - self.used)


@dataclass(frozen=True)
class _Auth:
    session_id: str
    principal: str
    scopes: tuple[str, ...]
    lease_jti: str
    jkt: str
    dpop_jti: str


class _AuthFailure(Exception):
    def __init__(self, status: int, code: str, **fields: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = fields

    def response(self) -> Response:
        return _error(self.status, self.code, **self.fields)


@dataclass(frozen=True)
class _Req:
    method: str
    path: str
    params: dict[str, str]
    headers: Headers
    body: bytes


Handler = Callable[[_Req], Response]


# --- the emulator ------------------------------------------------------------------------------------


class LatchGateEmulator:
    """A stateful LatchGate gateway over real HTTP (TCP and/or a Unix socket); see the package docs."""

    def __init__(
        self,
        lease_ttl: int = 300,
        public_base_url: str | None = None,
        *,
        principal: str = DEFAULT_PRINCIPAL,
        max_scopes: Sequence[str] | None = None,
        fs_root_prefixes: Sequence[str] = (),
        dpop_key_cache: bool = False,
        budget_error: BudgetError = "policy_denied",
    ) -> None:
        if lease_ttl < 1:
            raise ValueError("lease_ttl must be >= 1 second")
        self.lease_ttl = min(int(lease_ttl), MAX_LEASE_TTL)
        self._configured_public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.principal = principal
        self.max_scopes = None if max_scopes is None else tuple(max_scopes)
        self.fs_root_prefixes = tuple(os.path.normpath(p) for p in fs_root_prefixes)
        self.dpop_key_cache = dpop_key_cache
        self._lock = threading.RLock()
        self._signer = LeaseSigner()
        self._receipt_key = Ed25519PrivateKey.generate()
        raw = self._receipt_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.receipt_key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.receipt_public_key = raw  # Ed25519, to check ``receipt_signature``
        self.server: BackgroundServer | None = None
        self.unix_server: UnixBackgroundServer | None = None
        self._routes = self._build_routes()
        self._control = self._build_control_app()
        self._default_budget_error: BudgetError = budget_error
        self._seed()

    def _seed(self) -> None:
        self._public_base_url = self._configured_public_base_url
        self._clock_offset = 0.0
        self.draining = False
        self.budget_error: BudgetError = self._default_budget_error
        self.default_budget: int | None = None
        self._actions: dict[str, Action] = {}
        self._leases: dict[str, Lease] = {}  # by lease jti
        self._expired: set[str] = set()
        self._revoked: set[str] = set()
        self._budgets: dict[str, Budget] = {}
        self._replay: dict[str, float] = {}
        self._key_cache: dict[str, Any] = {}
        self._approvals: dict[str, Approval] = {}
        self._executions: list[Execution] = []
        self._receipts: dict[str, dict[str, Any]] = {}
        self._faults: list[tuple[str, str, collections.deque[AnyFault]]] = []
        self._requests: list[RecordedRequest] = []
        self.actions: dict[str, str] = {
            "echo": self.add_action("echo", declared_side_effects=[]),
            "needs_approval": self.add_action(
                "http_post",
                requires_approval=True,
                egress=["httpbin.org"],
                request_schema={"type": "object"},
                declared_side_effects=["network_write"],
            ),
            "denied": self.add_action(
                "shell_exec",
                risk_level="critical",
                deny_reason=f"no ACL entry allows principal '{self.principal}' to call 'shell_exec'",
                declared_side_effects=["process_spawn"],
            ),
            "egress": self.add_action(
                "http_fetch",
                egress=["httpbin.org", "api.example.com"],
                output=_http_fetch_output,
                request_schema={
                    "type": "object",
                    "required": ["url"],
                    "additionalProperties": False,
                    "properties": {
                        "url": {"type": "string", "minLength": 1},
                        "method": {"type": "string", "enum": ["GET", "HEAD"]},
                    },
                },
                declared_side_effects=["network_read"],
            ),
        }

    def reset(self) -> None:
        """Forget leases, sessions, budgets, approvals, executions, receipts, requests, faults,
        the replay store, the clock offset and any ``public_base_url`` set since construction,
        and reseed the actions. The lease-signing key, the constructor's configuration and the
        servers stay: one served emulator for many tests."""
        with self._lock:
            self._seed()

    # --- serving -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over TCP (0: a free port; after a stop, the same port again); the base URL."""
        with self._lock:
            if self.server is None:
                self.server = BackgroundServer(self, host=host, port=port)
            server = self.server
        return server.start()

    def stop(self) -> None:
        """Stop the TCP server; the state is kept and ``start()`` serves it again on that port."""
        if self.server is not None:
            self.server.stop()

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve over TCP for the duration of the block; yields the base URL."""
        url = self.start(host, port)
        try:
            yield url
        finally:
            self.stop()

    def start_unix(self, path: str | os.PathLike[str]) -> str:
        """Serve on a Unix domain socket at ``path``; returns the path."""
        with self._lock:
            if self.unix_server is None or str(self.unix_server.path) != os.fspath(path):
                if self.unix_server is not None:
                    self.unix_server.stop()
                self.unix_server = UnixBackgroundServer(self, path)
            server = self.unix_server
        server.start()
        return str(server.path)

    def stop_unix(self) -> None:
        if self.unix_server is not None:
            self.unix_server.stop()

    @contextmanager
    def serve_unix(self, path: str | os.PathLike[str]) -> Iterator[str]:
        """Serve on a real Unix domain socket for the duration of the block; yields its path."""
        socket_path = self.start_unix(path)
        try:
            yield socket_path
        finally:
            self.stop_unix()

    @property
    def base_url(self) -> str:
        """The TCP base URL (``http://127.0.0.1:<port>``)."""
        if self.server is None or not self.server.port:
            raise RuntimeError(
                "the emulator is not serving TCP; use `with emu.serve() as base_url:`"
            )
        return self.server.url

    @property
    def socket_path(self) -> str | None:
        return None if self.unix_server is None else str(self.unix_server.path)

    @property
    def public_base_url(self) -> str:
        """What DPoP ``htu`` is checked against: the constructor's ``public_base_url``, else the
        TCP base URL once TCP is served (as ``latchgate up --expose-http``), else the server's
        default ``http://localhost:3000``."""
        if self._public_base_url is not None:
            return self._public_base_url
        if self.server is not None and self.server.port:
            return self.server.url
        return DEFAULT_PUBLIC_BASE_URL

    @public_base_url.setter
    def public_base_url(self, value: str | None) -> None:
        self._public_base_url = value.rstrip("/") if value else None

    # --- actions, budgets, approvals -------------------------------------------------------------

    def add_action(
        self,
        action_id: str,
        *,
        requires_approval: bool = False,
        deny_reason: str | None = None,
        egress: Sequence[str] | Literal["none", "invalid"] | None = None,
        cost: int = 1,
        risk_level: str | None = None,
        output: Any = None,
        verification: VerificationTag = "verified",
        failure: str | None = None,
        request_schema: Mapping[str, Any] | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        version: str = "1.0.0",
        declared_side_effects: Sequence[str] = (),
    ) -> str:
        """Register (or replace) an action; returns its id.

        ``requires_approval``: execute answers 202 (risk ``high`` unless given). ``deny_reason``:
        403 ``policy_denied`` with it. ``egress``: None / ``"none"`` (no network), a list of
        domains (``proxy_allowlist``; a request ``url`` outside it is denied) or ``"invalid"``
        (``egress: null``). ``cost``: budget calls debited per execution. ``output``: None echoes
        the request, a callable gets the params, anything else is returned as is.
        ``verification``: the receipt's verification outcome. ``failure="provider_error"``: the
        provider fails (502 ``action_execution_failed``, a failed receipt is still written).
        """
        if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$", action_id) or len(action_id) > 256:
            raise ValueError(f"invalid action id {action_id!r}")
        if cost < 0:
            raise ValueError("cost must be >= 0")
        wire: Any
        if egress is None or egress == "none":
            wire = "none"
        elif egress == "invalid":
            wire = None
        elif isinstance(egress, str):
            raise ValueError("egress must be a list of domains, 'none' or 'invalid'")
        else:
            wire = {"proxy_allowlist": {"allowed_domains": [str(d) for d in egress]}}
        action = Action(
            action_id=action_id,
            version=version,
            risk_level=risk_level or ("high" if requires_approval else "low"),
            requires_approval=requires_approval,
            deny_reason=deny_reason,
            egress=wire,
            cost=int(cost),
            output=output,
            verification=verification,
            failure=failure,
            request_schema=None if request_schema is None else _json_copy(dict(request_schema)),
            max_request_bytes=max_request_bytes,
            declared_side_effects=list(declared_side_effects),
        )
        with self._lock:
            self._actions[action_id] = action
        return action_id

    def remove_action(self, action_id: str) -> None:
        with self._lock:
            self._actions.pop(action_id, None)

    def action(self, action_id: str) -> Action:
        with self._lock:
            return self._actions[action_id]

    def set_budget(
        self,
        max_calls: int | None,
        *,
        session_id: str | None = None,
        error: BudgetError | None = None,
    ) -> None:
        """Make "budget exhausted" reachable.

        With ``session_id`` (e.g. the SDK's ``client.session_id``): that session gets a fresh
        counter of ``max_calls`` (None: unlimited). Without: every lease issued from now on that
        asks for no budget gets ``max_calls`` (None: no default budget). ``error`` picks the
        answer once a budget is used up: ``"policy_denied"`` (the real server's usual 403, SDK
        ``LatchGateDenied``) or ``"budget_exhausted"`` (the debit race, SDK
        ``LatchGateBudgetExhausted``).
        """
        if error is not None:
            if error not in ("policy_denied", "budget_exhausted"):
                raise ValueError("error must be 'policy_denied' or 'budget_exhausted'")
            self.budget_error = error
        with self._lock:
            if session_id is None:
                self.default_budget = max_calls
            else:
                self._budgets[session_id] = Budget(max_calls)

    @property
    def budgets(self) -> dict[str, dict[str, int | None]]:
        """Per-session counters: ``{session_id: {"max_calls", "used", "remaining"}}``."""
        with self._lock:
            return {
                sid: {"max_calls": b.max_calls, "used": b.used, "remaining": b.remaining}
                for sid, b in self._budgets.items()
            }

    def decide_approval(
        self,
        approval_id: str,
        decision: Decision,
        *,
        by: str = "reviewer",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Decide a pending approval, as an operator would (KeyError: unknown; ValueError: not
        pending or a bad decision). ``approved`` executes the stored request under the approval
        (one execution, one receipt, whose id the poll then shows); ``denied`` records the
        reason; ``expired`` makes it vanish (the poll answers 404, as after the server's TTL);
        ``failed`` records ``reason`` as the error code."""
        if decision not in ("approved", "denied", "expired", "failed"):
            raise ValueError(
                f"decision must be approved, denied, expired or failed, not {decision!r}"
            )
        with self._lock:
            self._expire_approvals()
            approval = self._approvals[approval_id]
            if approval.status != "pending":
                raise ValueError(f"approval {approval_id} is already {approval.status}")
            approval.decided_by, approval.decided_at = by, self._now()
            if decision == "approved":
                action = self._actions.get(approval.action_id)
                if action is None:
                    approval.status, approval.reason = "failed", "action_not_found"
                else:
                    body, execution = self._execute(
                        action,
                        approval.params,
                        approval.request_hash,
                        approval.session_id,
                        approval.principal,
                        trace_id=approval.trace_id,
                        approval=approval,
                    )
                    if execution.succeeded:
                        approval.status, approval.receipt_id = "approved", execution.receipt_id
                    else:
                        approval.status, approval.reason = "failed", "action_execution_failed"
                    result = approval.to_dict()
                    result["execution"] = body
                    return result
            elif decision == "denied":
                approval.status, approval.reason = "denied", reason
            elif decision == "failed":
                approval.status, approval.reason = "failed", reason
            else:
                approval.status = "expired"
            return approval.to_dict()

    def approval(self, approval_id: str) -> Approval:
        with self._lock:
            self._expire_approvals()
            return self._approvals[approval_id]

    @property
    def approvals(self) -> dict[str, Approval]:
        with self._lock:
            self._expire_approvals()
            return dict(self._approvals)

    # --- leases, clock, drain ----------------------------------------------------------------------

    @property
    def leases(self) -> list[Lease]:
        """Every lease issued, oldest first."""
        with self._lock:
            return list(self._leases.values())

    def expire_leases(self) -> None:
        """Every lease issued so far is expired from now on (401 ``lease_expired``)."""
        with self._lock:
            self._expired.update(self._leases)

    def revoke_leases(self) -> None:
        """Every lease issued so far is revoked (401 ``invalid_lease``), as ``revoke-all`` does."""
        with self._lock:
            self._revoked.update(self._leases)

    def restart(self) -> None:
        """A server restart: a new lease-signing key (every lease fails as ``invalid_lease``,
        unknown kid), an empty replay store and key cache. Everything else stays."""
        with self._lock:
            self._signer = LeaseSigner()
            self._replay.clear()
            self._key_cache.clear()

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward (lease expiry, approval TTL, the proof iat window)."""
        with self._lock:
            self._clock_offset += seconds

    def drain(self, draining: bool = True) -> None:
        """While draining, leases and executes answer 503 ``draining``."""
        self.draining = draining

    @property
    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [dict(self._signer.jwk)]}

    # --- faults and records --------------------------------------------------------------------------

    def inject(self, method: str, path: str, *faults: AnyFault) -> None:
        """The next requests matching ``method`` (``"*"``: any) and ``path`` (exact or an fnmatch
        pattern such as ``/v1/actions/*/execute``) get these faults, one each, in order."""
        with self._lock:
            for entry in self._faults:
                if entry[0] == method.upper() and entry[1] == path:
                    entry[2].extend(faults)
                    return
            self._faults.append((method.upper(), path, collections.deque(faults)))

    def pending_faults(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                len(queue)
                for m, p, queue in self._faults
                if (method is None or m == method.upper()) and (path is None or p == path)
            )

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (method, path, headers incl. DPoP, body), oldest first; not
        the ``/_emulator/`` control routes. ``client`` is None over the Unix socket."""
        with self._lock:
            return list(self._requests)

    def requests_to(
        self, method: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and path (exact or fnmatch pattern)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(r.path, path))
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def executions(self) -> list[Execution]:
        """Every execution (agent and approval), oldest first: assert nothing ran twice here."""
        with self._lock:
            return list(self._executions)

    @property
    def receipts(self) -> dict[str, dict[str, Any]]:
        """Every receipt by id, as ``GET /v1/receipts/{id}`` serves it."""
        with self._lock:
            return {rid: _json_copy(r) for rid, r in self._receipts.items()}

    # --- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan and websockets: nothing to do
        body = bytearray()
        too_large = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not too_large:
                body.extend(message.get("body", b""))
                too_large = len(body) > BODY_LIMIT
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        path: str = scope["path"]
        if path.startswith(_CONTROL_PREFIX):
            await self._control(scope, replay, send)
            return
        fault = self._record_and_take(scope, bytes(body))

        def answer() -> Response:
            if too_large:
                # axum's DefaultBodyLimit rejection (plain text)
                return PlainTextResponse(
                    "Failed to buffer the request body: length limit exceeded", 413
                )
            return self._dispatch(scope, bytes(body))

        if isinstance(fault, AfterAccept):
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await answer()(scope, replay, capture)
            await apply_fault(fault.fault, scope, receive, send, captured)
            return
        if fault is not None and await apply_fault(fault, scope, receive, send, None):
            return
        await answer()(scope, replay, send)

    def _record_and_take(self, scope: Scope, body: bytes) -> AnyFault | None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        client = scope.get("client")
        record = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            client=(client[0], int(client[1])) if client else None,
        )
        with self._lock:
            self._requests.append(record)
            for method, pattern, queue in self._faults:
                if (
                    queue
                    and method in ("*", record.method)
                    and (pattern == record.path or fnmatch.fnmatchcase(record.path, pattern))
                ):
                    return queue.popleft()
        return None

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        seg = r"(?P<{}>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/leases", self._issue_lease),
            ("POST", f"/v1/actions/{seg.format('action_id')}/execute", self._execute_route),
            ("GET", f"/v1/receipts/{seg.format('receipt_id')}", self._receipt_route),
            ("GET", f"/v1/approvals/{seg.format('approval_id')}/poll", self._poll_route),
            ("GET", "/v1/actions", self._list_actions),
            ("GET", f"/v1/actions/{seg.format('action_id')}", self._action_detail),
            ("GET", f"/v1/actions/{seg.format('action_id')}/schema/request", self._action_schema),
            ("GET", "/healthz", self._healthz),
            ("GET", "/readyz", self._readyz),
            ("GET", "/.well-known/jwks.json", self._jwks_route),
        ]
        return [(method, re.compile(f"^{path}$"), handler) for method, path, handler in table]

    def _dispatch(self, scope: Scope, body: bytes) -> Response:
        path: str = scope["path"]
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != scope["method"]:
                allowed.append(method)
                continue
            request = _Req(method, path, match.groupdict(), Headers(scope=scope), body)
            with self._lock:
                return handler(request)
        if allowed:
            return _empty(405, {"allow": ", ".join(sorted(set(allowed)))})
        return _empty(404)  # axum's fallback: no body

    # --- request handling (under the lock) --------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self._clock_offset

    def _issue_lease(self, req: _Req) -> Response:
        try:
            lease_req = parse_lease_request(req.headers.get("content-type", ""), req.body)
        except Rejected as exc:
            return PlainTextResponse(exc.text, exc.status)
        if self.draining:
            return _error(503, "draining")
        if self.max_scopes is not None and not set(lease_req.scopes) <= set(self.max_scopes):
            return _error(403, "scope_not_permitted")
        fs_root: str | None = None
        if lease_req.fs_root is not None:
            if not os.path.isabs(lease_req.fs_root):
                return _error(400, "invalid_fs_root", message="fs_root must be an absolute path")
            fs_root = os.path.normpath(lease_req.fs_root)
            if not any(
                fs_root == p or fs_root.startswith(p.rstrip("/") + "/")
                for p in self.fs_root_prefixes
            ):
                return _error(
                    403,
                    "fs_root_denied",
                    message=f"fs_root '{fs_root}' is not under an allowed prefix",
                )
        problem = lease_request_problem(lease_req)
        if problem is not None:
            return _error(400, "invalid_request", message=problem)
        now = int(self._now())
        session_id, lease_jti = uuid7(), uuid7()
        jkt = jwk_thumbprint(lease_req.jwk["x"], lease_req.jwk["y"])
        exp = now + self.lease_ttl
        claims: dict[str, Any] = {
            "iss": "latchgate",
            "sub": self.principal,
            "aud": "latchgate",
            "exp": exp,
            "nbf": now,
            "iat": now,
            "jti": lease_jti,
            "session_id": session_id,
            "scope": list(lease_req.scopes),
            "cnf": {"jkt": jkt},
        }
        budgets = lease_req.budgets
        if budgets is not None:
            claims["budgets"] = {"max_calls": budgets.get("max_calls")}
            self._budgets[session_id] = Budget(budgets.get("max_calls"))
        elif self.default_budget is not None:
            self._budgets[session_id] = Budget(self.default_budget)
        token = self._signer.sign(claims)
        expires_at = _iso(exp, fraction=False)
        self._leases[lease_jti] = Lease(
            lease_jwt=token,
            session_id=session_id,
            lease_jti=lease_jti,
            jkt=jkt,
            jwk=dict(lease_req.jwk),
            scopes=tuple(lease_req.scopes),
            budgets=None if budgets is None else dict(budgets),
            principal=self.principal,
            issued_at=now,
            exp=exp,
            expires_at=expires_at,
            fs_root=fs_root,
        )
        body: dict[str, Any] = {
            "lease_jwt": token,
            "session_id": session_id,
            "lease_jti": lease_jti,
            "expires_at": expires_at,
        }
        if fs_root is not None:
            body["fs_root"] = fs_root
        return JSONResponse(body)

    def _authenticate(self, req: _Req, route_path: str) -> _Auth:
        """Lease + DPoP + replay, in the server's order (spec §3.1); raises :class:`_AuthFailure`."""
        authorization = req.headers.get("authorization")
        if authorization is None:
            raise _AuthFailure(401, "missing_auth_header")
        if not authorization.startswith("DPoP ") or not authorization[5:]:
            raise _AuthFailure(401, "invalid_lease")
        token = authorization[5:]
        proof = req.headers.get("dpop")
        if proof is None:
            raise _AuthFailure(401, "missing_auth_header")
        now = self._now()
        try:
            claims = self._signer.verify(token, now)
        except LeaseError as exc:
            raise _AuthFailure(401, exc.code) from None
        jti = str(claims["jti"])
        if jti in self._revoked:
            raise _AuthFailure(401, "invalid_lease")
        if jti in self._expired:
            raise _AuthFailure(401, "lease_expired")
        cnf = claims.get("cnf")
        if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
            raise _AuthFailure(401, "invalid_lease")
        try:
            proof_claims = verify_proof(
                proof,
                htm=req.method,
                htu=self.public_base_url + route_path,
                lease_jwt=token,
                cnf_jkt=cnf["jkt"],
                now=now,
                key_cache=self._key_cache if self.dpop_key_cache else None,
            )
        except DPoPError as exc:
            raise _AuthFailure(401, "invalid_dpop", deny_reason=exc.reason) from None
        # The jti space is global; the jti is consumed even if a later step denies.
        # Insertion order is expiry order (constant TTL, a clock that only moves forward).
        while self._replay:
            oldest = next(iter(self._replay))
            if self._replay[oldest] > now:
                break
            del self._replay[oldest]
        if proof_claims.jti in self._replay:
            raise _AuthFailure(401, "replay_detected")
        if len(self._replay) >= REPLAY_CAPACITY:
            raise _AuthFailure(503, "replay_cache_unavailable")
        self._replay[proof_claims.jti] = now + REPLAY_TTL
        return _Auth(
            session_id=str(claims.get("session_id", "")),
            principal=str(claims["sub"]),
            scopes=tuple(claims.get("scope") or ()),
            lease_jti=jti,
            jkt=cnf["jkt"],
            dpop_jti=proof_claims.jti,
        )

    def _policy_denied(self, auth: _Auth, action_id: str, reason: str) -> Response:
        return _error(
            403,
            "policy_denied",
            deny_reason=reason,
            principal=auth.principal,
            action_id=action_id,
            remediation=f"Run: latchgate policy grant {auth.principal} {action_id}",
        )

    def _execute_route(self, req: _Req) -> Response:
        action_id = req.params["action_id"]
        if self.draining:
            return _error(503, "draining")
        try:
            auth = self._authenticate(req, f"/v1/actions/{action_id}/execute")
        except _AuthFailure as failure:
            return failure.response()
        action = self._actions.get(action_id)
        if action is None:
            return _error(404, "action_not_found")
        try:
            params, digest = parse_execute_body(
                req.body, max_request_bytes=action.max_request_bytes, schema=action.request_schema
            )
        except Rejected as exc:
            return JSONResponse(exc.body, status_code=exc.status)
        trace_id = uuid7()
        if "tools:call" not in auth.scopes:
            return self._policy_denied(auth, action_id, "lease scopes do not include 'tools:call'")
        if action.deny_reason is not None:
            return self._policy_denied(auth, action_id, action.deny_reason)
        domains = action.allowed_domains
        if domains is not None and isinstance(params, dict) and isinstance(params.get("url"), str):
            host = (urlsplit(params["url"]).hostname or "").lower()
            if host not in {d.lower() for d in domains}:
                return self._policy_denied(
                    auth, action_id, f"egress to '{host}' is not in the allowlist of '{action_id}'"
                )
        budget = self._budgets.get(auth.session_id)
        exhausted = (
            budget is not None and budget.remaining is not None and budget.remaining < action.cost
        )
        if exhausted and self.budget_error == "policy_denied":
            return self._policy_denied(auth, action_id, "budget exhausted: no calls remaining")
        if action.requires_approval:
            approval = Approval(
                approval_id=uuid7(),
                action_id=action_id,
                session_id=auth.session_id,
                principal=auth.principal,
                params=params,
                request_hash=digest,
                trace_id=trace_id,
                created_at=self._now(),
            )
            self._approvals[approval.approval_id] = approval
            return JSONResponse(
                {
                    "decision": "pending_approval",
                    "approval_id": approval.approval_id,
                    "request_hash": digest,
                    "trace_id": trace_id,
                },
                status_code=202,
            )
        if exhausted:
            return _error(403, "budget_exhausted")  # the atomic debit failed
        if budget is not None:
            budget.used += action.cost
        body, execution = self._execute(
            action, params, digest, auth.session_id, auth.principal, trace_id=trace_id
        )
        if not execution.succeeded:
            return _error(502, "action_execution_failed")
        return JSONResponse(body)

    def _execute(
        self,
        action: Action,
        params: Any,
        digest: str,
        session_id: str,
        principal: str,
        *,
        trace_id: str,
        approval: Approval | None = None,
    ) -> tuple[dict[str, Any], Execution]:
        """Run the action once: record the execution and its receipt; the 200 body."""
        started = self._now()
        receipt_id, grant_id = uuid7(), uuid7()
        succeeded = action.failure is None
        if not succeeded:
            output: Any = {
                "ok": False,
                "error": {"code": action.failure, "message": "provider failed"},
            }
        elif action.output is None:
            output = {"ok": True, "echo": _json_copy(params)}
        elif callable(action.output):
            output = action.output(_json_copy(params))
        else:
            output = _json_copy(action.output)
        tag: str = action.verification if succeeded else "provider_failed_before_verification"
        finished = max(self._now(), started + 0.001)
        receipt = self._receipt(
            action, receipt_id, grant_id, output, tag, succeeded, started, finished, digest
        )
        self._receipts[receipt_id] = receipt
        execution = Execution(
            receipt_id=receipt_id,
            trace_id=trace_id,
            grant_id=grant_id,
            action_id=action.action_id,
            params=_json_copy(params),
            request_hash=digest,
            session_id=session_id,
            principal=principal,
            source="agent" if approval is None else "approval",
            approval_id=None if approval is None else approval.approval_id,
            succeeded=succeeded,
            at=started,
        )
        self._executions.append(execution)
        body: dict[str, Any] = {
            "decision": "executed",
            "trace_id": trace_id,
            "action_id": action.action_id,
            "grant_id": grant_id,
            "receipt_id": receipt_id,
            "output": output,
            "verification_outcome": tag,
            "verification": {"outcome": tag, "is_fully_successful": _fully_successful(receipt)},
            "runtime": {
                "duration_ms": int((finished - started) * 1000),
                "exit_code": 0 if succeeded else 1,
                "fuel_consumed": 10_000 + len(json.dumps(params)),
            },
        }
        if approval is not None:
            body["approval"] = {
                "decision": "approved",
                "approval_id": approval.approval_id,
                "approved_by": approval.decided_by,
                "approval_hash": None,
                "operator_authn_method": "emulator",
            }
        return body, execution

    def _receipt(
        self,
        action: Action,
        receipt_id: str,
        grant_id: str,
        output: Any,
        tag: str,
        succeeded: bool,
        started: float,
        finished: float,
        digest: str,
    ) -> dict[str, Any]:
        normalized: dict[str, Any] = (
            {"kind": "success", "summary": f"{action.action_id} completed"}
            if succeeded
            else {"kind": "provider_failure", "reason": "provider returned an error"}
        )
        outcome: dict[str, Any] = {"status": tag}
        if tag == "verified":
            outcome["evidence"] = {"verifier": "emulator", "request_hash": digest}
        elif tag == "verification_failed":
            outcome["reason"] = "postcondition not met"
        failure_class = None
        if not succeeded:
            failure_class = "provider_error"
        elif tag == "verification_failed":
            failure_class = "verification_failed"
        core: dict[str, Any] = {
            "receipt_id": receipt_id,
            "grant_id": grant_id,
            "provider_module_digest": action.provider_module_digest,
            "provider_receipt": output,
            "normalized_result": normalized,
            "verification_outcome": outcome,
            "effect_evidence": [],
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "failure_class": failure_class,
        }
        result_hash = hashlib.sha256(canonicalize(core)).hexdigest()
        return {
            **core,
            "result_hash": result_hash,
            "receipt_signature": self._receipt_key.sign(result_hash.encode()).hex(),
            "signing_key_id": self.receipt_key_id,
            "signature_status": "valid",
        }

    def _receipt_route(self, req: _Req) -> Response:
        receipt_id = req.params["receipt_id"]
        try:
            self._authenticate(req, f"/v1/receipts/{receipt_id}")
        except _AuthFailure as failure:
            return failure.response()
        receipt = self._receipts.get(receipt_id)
        if receipt is None:
            return _error(404, "not_found")
        return JSONResponse(receipt)

    def _expire_approvals(self) -> None:
        deadline = self._now() - APPROVAL_TTL
        for approval in self._approvals.values():
            if approval.status == "pending" and approval.created_at <= deadline:
                approval.status = "expired"

    def _poll_route(self, req: _Req) -> Response:
        approval_id = req.params["approval_id"]
        try:
            auth = self._authenticate(req, f"/v1/approvals/{approval_id}/poll")
        except _AuthFailure as failure:
            # This route answers every auth failure with a bare status (spec §3.1, §5.3).
            return _empty(503 if failure.status == 503 else 401)
        self._expire_approvals()
        approval = self._approvals.get(approval_id)
        if (
            approval is None
            or approval.status == "expired"
            or approval.session_id != auth.session_id
        ):
            return _empty(404)
        body: dict[str, Any] = {"status": approval.status}
        if approval.status == "pending":
            body["retry_after_seconds"] = 2
        elif approval.status == "approved":
            body["receipt_id"] = approval.receipt_id
        elif approval.status == "denied":
            body["reason"] = approval.reason or "no reason provided"
        elif approval.status == "failed":
            body["reason"] = approval.reason or "execution_failed"
        return JSONResponse(body)

    def _list_actions(self, req: _Req) -> Response:
        return JSONResponse({"actions": [a.summary() for a in self._actions.values()]})

    def _action_detail(self, req: _Req) -> Response:
        action = self._actions.get(req.params["action_id"])
        return _empty(404) if action is None else JSONResponse(action.detail())

    def _action_schema(self, req: _Req) -> Response:
        action = self._actions.get(req.params["action_id"])
        if action is None or action.request_schema is None:
            return _empty(404)
        return JSONResponse(action.request_schema)

    def _healthz(self, req: _Req) -> Response:
        return JSONResponse({"status": "ok"})

    def _readyz(self, req: _Req) -> Response:
        body = {
            "status": "not_ready" if self.draining else "ready",
            "redis": False,
            "opa": True,
            "ledger": True,
            "approval_store": True,
            "egress_proxy": None,
            "actions_registered": len(self._actions),
        }
        return JSONResponse(body, status_code=503 if self.draining else 200)

    def _jwks_route(self, req: _Req) -> Response:
        return JSONResponse({"keys": [dict(self._signer.jwk)]})

    # --- control routes (drive a `python -m govflow.testing.latchgate` process) -----------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._expire_approvals()
            return {
                "public_base_url": self.public_base_url,
                "socket_path": self.socket_path,
                "actions": dict(self.actions),
                "registered": sorted(self._actions),
                "draining": self.draining,
                "budget_error": self.budget_error,
                "default_budget": self.default_budget,
                "budgets": self.budgets,
                "leases": [
                    {
                        "session_id": lease.session_id,
                        "lease_jti": lease.lease_jti,
                        "expires_at": lease.expires_at,
                    }
                    for lease in self._leases.values()
                ],
                "approvals": [a.to_dict() for a in self._approvals.values()],
                "executions": len(self._executions),
                "receipts": len(self._receipts),
                "requests": len(self._requests),
            }

    def _build_control_app(self) -> Starlette:
        async def decide(request: Request) -> Response:
            data = await request.json()
            try:
                result = self.decide_approval(
                    request.path_params["approval_id"],
                    data.get("decision"),
                    by=data.get("by", "reviewer"),
                    reason=data.get("reason"),
                )
            except KeyError:
                return _error(404, "not_found")
            except ValueError as exc:
                status = 422 if "decision must be" in str(exc) else 409
                return _error(
                    status, "invalid_decision" if status == 422 else "conflict", message=str(exc)
                )
            return JSONResponse(result)

        async def inject(request: Request) -> Response:
            data = await request.json()
            built = [fault_from_dict(spec) for spec in data.get("faults", [])]
            self.inject(data.get("method", "*"), data.get("path", "*"), *built)
            return JSONResponse(
                {"pending": self.pending_faults(data.get("method", "*"), data.get("path", "*"))}
            )

        async def add_action(request: Request) -> Response:
            data = dict(await request.json())
            action_id = self.add_action(data.pop("action_id"), **data)
            return JSONResponse(self.action(action_id).detail())

        async def budget(request: Request) -> Response:
            data = await request.json()
            self.set_budget(
                data.get("max_calls"), session_id=data.get("session_id"), error=data.get("error")
            )
            return JSONResponse(self.budgets)

        async def drain(request: Request) -> Response:
            data = await request.json() if await request.body() else {}
            self.drain(bool(data.get("draining", True)))
            return JSONResponse({"draining": self.draining})

        async def advance(request: Request) -> Response:
            self.advance_clock(float((await request.json())["seconds"]))
            return JSONResponse({"ok": True})

        async def simple(request: Request) -> Response:
            actions: dict[str, Callable[[], None]] = {
                "reset": self.reset,
                "reset-faults": self.reset_faults,
                "expire-leases": self.expire_leases,
                "revoke-leases": self.revoke_leases,
                "restart": self.restart,
                "clear-requests": self.clear_requests,
            }
            name = request.path_params["name"]
            if name not in actions:
                return _error(404, "not_found")
            actions[name]()
            return JSONResponse(self.state())

        async def get_state(request: Request) -> Response:
            return JSONResponse(self.state())

        async def requests(request: Request) -> Response:
            return JSONResponse([r.to_dict() for r in self.requests])

        async def executions(request: Request) -> Response:
            return JSONResponse([asdict(e) for e in self.executions])

        async def receipts(request: Request) -> Response:
            return JSONResponse(self.receipts)

        p = _CONTROL_PREFIX
        return Starlette(
            routes=[
                Route(p + "approvals/{approval_id}/decide", decide, methods=["POST"]),
                Route(p + "inject", inject, methods=["POST"]),
                Route(p + "actions", add_action, methods=["POST"]),
                Route(p + "budget", budget, methods=["POST"]),
                Route(p + "drain", drain, methods=["POST"]),
                Route(p + "clock/advance", advance, methods=["POST"]),
                Route(p + "state", get_state, methods=["GET"]),
                Route(p + "requests", requests, methods=["GET"]),
                Route(p + "executions", executions, methods=["GET"]),
                Route(p + "receipts", receipts, methods=["GET"]),
                Route(p + "{name}", simple, methods=["POST"]),
            ]
        )


def _fully_successful(receipt: Mapping[str, Any]) -> bool:
    """The server's (and SDK's) rule: success and verified or unverifiable_declared."""
    return receipt["normalized_result"].get("kind") == "success" and receipt[
        "verification_outcome"
    ].get("status") in ("verified", "unverifiable_declared")


def _http_fetch_output(params: Any) -> dict[str, Any]:
    """The builtin http_api provider's output shape (spec §1.5)."""
    url = params.get("url", "") if isinstance(params, dict) else ""
    return {
        "ok": True,
        "data": {
            "status_code": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"url": url, "emulated": True}),
            "url": url,
        },
    }


__all__ = [
    "APPROVAL_TTL",
    "BODY_LIMIT",
    "DEFAULT_PRINCIPAL",
    "DEFAULT_PUBLIC_BASE_URL",
    "MAX_LEASE_TTL",
    "REPLAY_TTL",
    "Action",
    "Approval",
    "Budget",
    "Execution",
    "LatchGateEmulator",
    "Lease",
]
