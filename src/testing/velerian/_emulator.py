"""The Velerian emulator: state, routes and the test-facing API (choices: see the package docstring)."""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import hashlib
import io
import json
import math
import secrets
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..faults import RecordedRequest
from ..server import BackgroundServer, Message, Receive, Scope, Send
from ._faults import AfterAccept, AnyFault, fault_from_dict, send_fault
from ._storage import StorageApp

Behaviour = Literal["allow", "block", "approval", "error"]
NetworkBehaviour = Literal["succeed", "blocked", "failed"]
Decision = Literal["approved", "denied", "expired"]
Delivery = Literal["presigned", "stream"]

API = "/api/v2"
TENANT = "tenant-1"
ALL_SCOPES = ("runs:read", "runs:write", "evidence:read", "audit:read", "read", "write")
FORMATS = {"json": "application/json", "zip": "application/zip"}
TERMINAL_RUN_STATES = frozenset({"succeeded", "failed", "blocked"})
_NETWORK_TERMINAL: dict[str, str] = {
    "succeed": "succeeded",
    "blocked": "blocked",
    "failed": "failed",
}

T = TypeVar("T")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_id() -> str:
    return str(uuid.uuid4())


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """FastAPI's error convention: ``{"detail": ...}``."""
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _invalid(loc: list[Any], msg: str, kind: str, value: Any = None, **ctx: Any) -> JSONResponse:
    """A FastAPI/pydantic 422 body with one error."""
    item: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        item["ctx"] = ctx
    return JSONResponse({"detail": [item]}, status_code=422)


class _Reject(Exception):
    """Raised by a route handler to answer with ``response`` (an error) instead."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _desc_page(rows: list[T], offset: int, limit: int) -> list[T]:
    """Rows kept oldest first, served newest first: one page of the reversed list."""
    end = len(rows) - offset
    if end <= 0:
        return []
    return rows[max(0, end - limit) : end][::-1]


def _parse_time(raw: str, name: str) -> datetime:
    """ISO-8601 timestamp or date, ``Z`` or an offset; naive means UTC. 422 otherwise."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Reject(
            _invalid(["query", name], "Input should be a valid datetime", "datetime_parsing", raw)
        ) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class _Key:
    id: str
    tenant: str
    scopes: frozenset[str]
    user_id: str
    revoked: bool = False
    expires_at: datetime | None = None
    window: tuple[float, int] = (0.0, 0)  # rate limit: (window start, requests in it)

    def allows(self, needed: str) -> bool:
        # coarse "read"/"write" grant every "*:read"/"*:write" scope
        return needed in self.scopes or needed.rpartition(":")[2] in self.scopes


@dataclass
class _Abp:
    id: str
    tenant: str
    behaviour: Behaviour
    state: str
    delivery: Delivery
    name: str


@dataclass
class _Pack:
    id: str
    tenant: str
    abp_id: str
    invocation_id: str
    at: datetime
    row: dict[str, Any]
    document: dict[str, Any]


@dataclass
class _Approval:
    tenant: str
    requested: datetime
    row: dict[str, Any]


@dataclass
class _Export:
    id: str
    tenant: str
    delivery: Delivery
    content: bytes
    media_type: str
    expires_at: datetime


@dataclass
class _Run:
    id: str
    tenant: str
    slug: str
    terminal: str
    row: dict[str, Any]
    polls: int = 0


@dataclass
class _AuditRow:
    tenant: str
    at: datetime
    row: dict[str, Any]


@dataclass
class _Stored:
    """An idempotent POST's first answer, replayed for a repeated ``Idempotency-Key``."""

    fingerprint: tuple[str, str, bytes]
    status: int
    body: bytes


@dataclass
class _Call:
    """One authorised API call, as a route handler sees it."""

    request: Request
    key: _Key
    body: bytes
    resource_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[_Call], Response]


@dataclass(frozen=True)
class _Spec:
    scope: str
    action: str | None  # None: not written to the audit log
    resource_kind: str
    id_param: str | None = None


class VelerianEmulator:
    """A stateful Velerian API (ASGI app) plus its presigned-URL storage; see the package docs."""

    def __init__(
        self,
        *,
        page_cap: int = 500,
        api_key: str | None = None,
        export_ttl: int = 900,
        approval_ttl: float | None = None,
        run_steps: int = 1,
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        if page_cap < 1:
            raise ValueError("page_cap must be >= 1")
        self.page_cap = page_cap
        self.export_ttl = export_ttl
        self.approval_ttl = approval_ttl
        self.run_steps = max(1, run_steps)
        self.rate_limit = rate_limit
        self._lock = threading.RLock()
        self.storage = StorageApp(self._now)
        self.base_url: str | None = None
        self.server: BackgroundServer | None = None
        self.storage_server: BackgroundServer | None = None
        self._seed(api_key)
        self._app = self._build_app()

    def _seed(self, api_key: str | None) -> None:
        """Empty state, then the seeded key, ABPs and networks."""
        self._clock_offset = timedelta()
        self._last_stamp = datetime.min.replace(tzinfo=timezone.utc)
        self._keys: dict[str, _Key] = {}  # by SHA-256 of the secret, as the real server stores them
        self._abps: dict[str, _Abp] = {}
        self._networks: dict[tuple[str, str], NetworkBehaviour] = {}
        self._invocations: dict[str, dict[str, Any]] = {}
        self._invocation_list: list[dict[str, Any]] = []
        self._packs: dict[str, _Pack] = {}
        self._packs_by_tenant: dict[str, list[_Pack]] = collections.defaultdict(list)
        self._chain_head: dict[str, str] = {}
        self._approvals: dict[str, _Approval] = {}
        self._approvals_by_tenant: dict[str, list[_Approval]] = collections.defaultdict(list)
        self._exports: dict[str, _Export] = {}
        self._runs: dict[str, _Run] = {}
        self._runs_by_tenant: dict[str, list[_Run]] = collections.defaultdict(list)
        self._audit: list[_AuditRow] = []
        self._audit_by_tenant: dict[str, list[_AuditRow]] = collections.defaultdict(list)
        self._outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self._users_seen: dict[str, set[str]] = collections.defaultdict(set)
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._faults: list[tuple[str, str, collections.deque[AnyFault]]] = []
        self._requests: list[RecordedRequest] = []
        self.storage.clear()

        self.api_key = self.add_key(ALL_SCOPES, user_id="u-owner", secret=api_key)
        self.abps: dict[str, str] = {
            "allow": self.add_abp(behaviour="allow", name="Filing summarizer"),
            "block": self.add_abp(behaviour="block", name="Restricted data export"),
            "approval": self.add_abp(behaviour="approval", name="High-value decision"),
            "error": self.add_abp(behaviour="error", name="Flaky model"),
            "draft": self.add_abp(behaviour="allow", state="draft", name="Work in progress"),
            "stream": self.add_abp(behaviour="allow", delivery="stream", name="Streamed evidence"),
        }
        self.networks: dict[str, str] = {
            "succeed": self.add_network("loan-review", behaviour="succeed"),
            "blocked": self.add_network("restricted-review", behaviour="blocked"),
            "failed": self.add_network("flaky-review", behaviour="failed"),
        }

    def reset(self) -> None:
        """Forget everything (state, faults, requests, clock offset) and seed afresh, keeping
        ``api_key``, the configuration and the servers: one served emulator for many tests."""
        with self._lock:
            self._seed(self.api_key)

    # --- test-facing API (thread-safe) ---------------------------------------------------------

    def add_key(
        self,
        scopes: Iterable[str],
        *,
        tenant: str = TENANT,
        revoked: bool = False,
        user_id: str | None = None,
        expires_in: float | None = None,
        secret: str | None = None,
    ) -> str:
        """Mint a ``vk_live_`` key with these scopes; returns the secret (shown once, as for real)."""
        secret = secret or "vk_live_" + secrets.token_urlsafe(24)
        with self._lock:
            expires = (
                self._now() + timedelta(seconds=expires_in) if expires_in is not None else None
            )
            self._keys[_hash_key(secret)] = _Key(
                id="key_" + secrets.token_hex(6),
                tenant=tenant,
                scopes=frozenset(scopes),
                user_id=user_id or "u-" + secrets.token_hex(4),
                revoked=revoked,
                expires_at=expires,
            )
        return secret

    def revoke_key(self, key: str) -> None:
        """Every later request with ``key`` gets 401."""
        with self._lock:
            self._keys[_hash_key(key)].revoked = True

    def key_id(self, key: str) -> str:
        """The key's id, as audit rows show it (``api_key_id``)."""
        with self._lock:
            return self._keys[_hash_key(key)].id

    def add_abp(
        self,
        *,
        behaviour: Behaviour = "allow",
        state: str = "deployed",
        tenant: str = TENANT,
        delivery: Delivery = "presigned",
        name: str | None = None,
    ) -> str:
        """A new ABP; only ``state="deployed"`` ones can be invoked (else 409)."""
        abp_id = _new_id()
        with self._lock:
            self._abps[abp_id] = _Abp(abp_id, tenant, behaviour, state, delivery, name or behaviour)
        return abp_id

    def set_abp_state(self, abp_id: str, state: str) -> None:
        with self._lock:
            self._abps[abp_id].state = state

    def add_network(
        self, slug: str, *, behaviour: NetworkBehaviour = "succeed", tenant: str = TENANT
    ) -> str:
        with self._lock:
            self._networks[(tenant, slug)] = behaviour
        return slug

    def decide_approval(
        self,
        approval_id: str,
        decision: Decision,
        *,
        by: str = "u-reviewer",
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Move a pending approval to ``decision``; KeyError if unknown, ValueError if not pending."""
        if decision not in ("approved", "denied", "expired"):
            raise ValueError(f"decision must be approved, denied or expired, not {decision!r}")
        with self._lock:
            self._expire_due()
            approval = self._approvals[approval_id]
            if approval.row["status"] != "pending":
                raise ValueError(f"approval {approval_id} is already {approval.row['status']}")
            self._decide(approval, decision, by, reason)
            return dict(approval.row)

    def inject(self, method: str, path: str, *faults: AnyFault) -> None:
        """The next requests matching ``method`` (``"*"``: any) and ``path`` (exact or an
        fnmatch pattern such as ``/api/v2/abps/*/invoke``) get these faults, one each, in order."""
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

    def advance_time(self, seconds: float) -> None:
        """Move the emulator's clock forward (export expiry, key expiry, approval TTL)."""
        with self._lock:
            self._clock_offset += timedelta(seconds=seconds)

    @property
    def invocations(self) -> list[dict[str, Any]]:
        """Every invocation created, oldest first (all tenants)."""
        with self._lock:
            return list(self._invocation_list)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (method, path, query, headers, body), oldest first; not the
        ``/_emulator/`` control routes."""
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
            self.storage.requests.clear()

    @property
    def storage_requests(self) -> list[RecordedRequest]:
        """Requests the presigned-URL storage server received (check for leaked keys here)."""
        return list(self.storage.requests)

    @property
    def audit(self) -> list[dict[str, Any]]:
        """Audit rows of every tenant, oldest first (R5 serves one tenant's, newest first)."""
        with self._lock:
            return [entry.row for entry in self._audit]

    @property
    def approvals(self) -> list[dict[str, Any]]:
        with self._lock:
            self._expire_due()
            return [dict(a.row) for a in self._approvals.values()]

    def approval(self, approval_id: str) -> dict[str, Any]:
        with self._lock:
            self._expire_due()
            return dict(self._approvals[approval_id].row)

    @property
    def evidence_packs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p.row) for p in self._packs.values()]

    # --- serving ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        storage_host: str | None = None,
        storage_port: int = 0,
        **uvicorn_options: Any,
    ) -> Iterator[str]:
        """Serve the API (and its storage, on another host or port); yields the API origin."""
        options: dict[str, Any] = {"log_level": "warning", **uvicorn_options}
        storage = BackgroundServer(
            self.storage, host=storage_host or _storage_host(host), port=storage_port, **options
        )
        api = BackgroundServer(self, host=host, port=port, **options)
        self.storage.url = storage.start()
        try:
            self.base_url = api.start()
            self.server, self.storage_server = api, storage
            yield self.base_url
        finally:
            api.stop()
            storage.stop()
            self.server = self.storage_server = None

    # --- ASGI: request log and faults, then the routes ------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        fault = self._record_and_take(scope, body)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if fault is None:
            await self._app(scope, replay, send)
            return
        if isinstance(fault, AfterAccept):
            # the request takes effect; its answer is kept back and the fault sent instead
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self._app(scope, replay, hold)

            async def release() -> None:
                for message in held:
                    await send(message)

            await send_fault(fault.fault, scope, receive, send, release)
            return

        async def route() -> None:
            await self._app(scope, replay, send)

        await send_fault(fault, scope, receive, send, route)

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

    def _build_app(self) -> Starlette:
        def api(path: str, handler: Handler, spec: _Spec, method: str = "GET") -> Route:
            return Route(path, self._endpoint(handler, spec), methods=[method])

        routes = [
            api(
                f"{API}/abps/{{abp_id}}/invoke",
                self._invoke,
                _Spec("runs:write", "abp.invoke", "abp", "abp_id"),
                "POST",
            ),
            api(
                f"{API}/abps/{{abp_id}}/invocations/{{invocation_id}}/evidence",
                self._invocation_evidence,
                _Spec("evidence:read", "evidence.export", "invocation", "invocation_id"),
            ),
            api(
                f"{API}/abps/{{abp_id}}/evidence-package",
                self._evidence_package,
                _Spec("evidence:read", "evidence.package_export", "abp", "abp_id"),
            ),
            api(
                f"{API}/usage/summary",
                self._usage_summary,
                _Spec("runs:read", "usage.read", "tenant"),
            ),
            # reads of the audit log are not audited: each would shift the next page's offsets
            api(f"{API}/audit-log", self._audit_log, _Spec("audit:read", None, "audit_log")),
            api(
                "/api/agenticx/networks/{slug}/invoke",
                self._network_invoke,
                _Spec("runs:write", "network.invoke", "network", "slug"),
                "POST",
            ),
            api(
                f"{API}/pack-runs", self._list_runs, _Spec("runs:read", "pack_run.list", "pack_run")
            ),
            api(
                f"{API}/pack-runs/{{run_id}}",
                self._get_run,
                _Spec("runs:read", "pack_run.read", "pack_run", "run_id"),
            ),
            api(
                f"{API}/approvals",
                self._list_approvals,
                _Spec("runs:read", "approval.list", "approval"),
            ),
            api(
                f"{API}/approvals/{{approval_id}}",
                self._get_approval,
                _Spec("runs:read", "approval.read", "approval", "approval_id"),
            ),
            api(
                f"{API}/exports/{{export_id}}/content",
                self._export_content,
                _Spec("evidence:read", "export.download", "export", "export_id"),
            ),
            Route(
                "/_emulator/approvals/{approval_id}/decide", self._admin_decide, methods=["POST"]
            ),
            Route("/_emulator/inject", self._admin_inject, methods=["POST"]),
            Route("/_emulator/reset-faults", self._admin_reset_faults, methods=["POST"]),
            Route("/_emulator/keys", self._admin_add_key, methods=["POST"]),
            Route("/_emulator/clock/advance", self._admin_advance, methods=["POST"]),
            Route("/_emulator/state", self._admin_state, methods=["GET"]),
            Route("/_emulator/reset", self._admin_reset, methods=["POST"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return _error(exc.status_code, exc.detail, dict(exc.headers or {}))

        app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
        app.router.redirect_slashes = False  # a redirect is a non-2xx the SDK raises on (spec 6)
        return app

    # --- the API's common path: auth, rate limit, scope, idempotency, audit ----------------------

    def _endpoint(self, handler: Handler, spec: _Spec) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                key = self._authenticate(request)
                if isinstance(key, Response):
                    return key
                limited = self._rate_limited(key)
                if limited is not None:
                    return limited
                if spec.id_param:
                    resource_id: str | None = str(request.path_params[spec.id_param])
                else:
                    resource_id = key.tenant if spec.resource_kind == "tenant" else None
                call = _Call(request, key, body, resource_id)
                if not key.allows(spec.scope):
                    # the scope is checked before the resource is looked up: 403 before 404
                    response: Response = _error(403, f"API key lacks required scope: {spec.scope}")
                else:
                    response = self._run_handler(handler, call)
                self._users_seen[key.tenant].add(key.user_id)
                if spec.action is not None:
                    self._write_audit(
                        key.tenant,
                        spec.action,
                        spec.resource_kind,
                        call.resource_id,
                        key.user_id,
                        key.id,
                        {**call.metadata, "status_code": response.status_code},
                    )
                return response

        return endpoint

    def _run_handler(self, handler: Handler, call: _Call) -> Response:
        request = call.request
        idempotency_key = (
            request.headers.get("idempotency-key") if request.method == "POST" else None
        )
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 255:
                return _error(400, "Idempotency-Key must be 1 to 255 characters")
            fingerprint = (request.method, request.url.path, _fingerprint(call.body))
            stored = self._idempotency.get((call.key.tenant, idempotency_key))
            call.metadata["idempotency_key"] = idempotency_key
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return _error(422, "Idempotency-Key was already used with a different request")
                call.metadata["idempotent_replay"] = True
                return Response(
                    stored.body,
                    status_code=stored.status,
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
        try:
            response = handler(call)
        except _Reject as rejected:
            call.metadata["detail"] = _detail_of(rejected.response)
            return rejected.response
        if idempotency_key is not None and 200 <= response.status_code < 300:
            self._idempotency[(call.key.tenant, idempotency_key)] = _Stored(
                fingerprint, response.status_code, bytes(response.body)
            )
        return response

    def _authenticate(self, request: Request) -> _Key | Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "Not authenticated", challenge)
        key = self._keys.get(_hash_key(token.strip()))
        if (
            key is None
            or key.revoked
            or (key.expires_at is not None and self._now() >= key.expires_at)
        ):
            return _error(401, "Invalid or expired API key", challenge)
        return key

    def _rate_limited(self, key: _Key) -> Response | None:
        if self.rate_limit is None:
            return None
        allowed, window = self.rate_limit
        now = time.monotonic()
        started, count = key.window
        if now - started >= window:
            started, count = now, 0
        if count >= allowed:
            wait = max(1, math.ceil(started + window - now))  # always an integer (spec 12.7)
            return _error(429, "Rate limit exceeded", {"Retry-After": str(wait)})
        key.window = (started, count + 1)
        return None

    # --- state helpers (called with the lock held) ----------------------------------------------

    def _now(self) -> datetime:
        return datetime.now(timezone.utc) + self._clock_offset

    def _stamp(self) -> datetime:
        """A creation time, strictly increasing, so that creation order is time order."""
        moment = self._now()
        if moment <= self._last_stamp:
            moment = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = moment
        return moment

    def _write_audit(
        self,
        tenant: str,
        action: str,
        resource_kind: str,
        resource_id: str | None,
        actor: str | None,
        key_id: str | None,
        metadata: dict[str, Any],
    ) -> None:
        at = self._stamp()
        entry = _AuditRow(
            tenant,
            at,
            {
                "id": _new_id(),
                "created_at": _iso(at),
                "tenant_id": tenant,
                "action": action,
                "resource_kind": resource_kind,
                "resource_id": resource_id,
                "actor_user_id": actor,
                "api_key_id": key_id,
                "metadata": metadata,
            },
        )
        self._audit.append(entry)
        self._audit_by_tenant[tenant].append(entry)

    def _abp(self, call: _Call) -> _Abp:
        abp = self._abps.get(call.param("abp_id"))
        if abp is None or abp.tenant != call.key.tenant:  # another tenant's ABP is not visible
            raise _Reject(_error(404, "ABP not found"))
        return abp

    def _page(
        self, call: _Call, limit_name: str = "limit", offset_name: str = "offset", default: int = 50
    ) -> tuple[int, int]:
        """(limit, offset) from the query; limit capped at ``page_cap``; 422 when invalid."""
        query = call.request.query_params
        values = []
        for name, fallback, minimum in ((limit_name, default, 1), (offset_name, 0, 0)):
            raw = query.get(name)
            if raw is None:
                values.append(fallback)
                continue
            try:
                value = int(raw)
            except ValueError:
                raise _Reject(
                    _invalid(
                        ["query", name],
                        "Input should be a valid integer, unable to parse string as an integer",
                        "int_parsing",
                        raw,
                    )
                ) from None
            if value < minimum:
                raise _Reject(
                    _invalid(
                        ["query", name],
                        f"Input should be greater than or equal to {minimum}",
                        "greater_than_equal",
                        raw,
                        ge=minimum,
                    )
                )
            values.append(value)
        return min(values[0], self.page_cap), values[1]

    def _record_pack(
        self, tenant: str, abp: _Abp, invocation_id: str, outcome: str, payload: Any, output: Any
    ) -> _Pack:
        at = self._stamp()
        pack_id = _new_id()
        prev = self._chain_head.get(tenant, "0" * 64)
        document = {
            "evidence_pack_id": pack_id,
            "tenant_id": tenant,
            "abp_id": abp.id,
            "invocation_id": invocation_id,
            "outcome": outcome,
            "created_at": _iso(at),
            "payload_sha256": hashlib.sha256(_json_bytes(payload)).hexdigest(),
            "output_sha256": hashlib.sha256(_json_bytes(output)).hexdigest(),
            "prev_chain_hash": prev,
        }
        chain_hash = hashlib.sha256(prev.encode() + _json_bytes(document)).hexdigest()
        document["chain_hash"] = chain_hash
        self._chain_head[tenant] = chain_hash
        row = {
            "id": pack_id,
            "abp_id": abp.id,
            "invocation_id": invocation_id,
            "created_at": _iso(at),
            "chain_hash": chain_hash,
            "s3_key": f"tenants/{tenant}/evidence/{at:%Y/%m/%d}/{pack_id}.json",
        }
        pack = _Pack(pack_id, tenant, abp.id, invocation_id, at, row, document)
        self._packs[pack_id] = pack
        self._packs_by_tenant[tenant].append(pack)
        return pack

    def _make_export(
        self, tenant: str, kind: str, fmt: str, delivery: Delivery, document: dict[str, Any]
    ) -> dict[str, Any]:
        export_id = _new_id()
        now = self._now()
        expires = now + timedelta(seconds=self.export_ttl)
        s3_key = f"tenants/{tenant}/exports/{export_id}.{fmt}"
        document = {"export_id": export_id, "artifact_kind": kind, **document}
        if fmt == "zip":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("manifest.json", json.dumps(document, indent=2))
            content = buffer.getvalue()
        else:
            content = json.dumps(document, indent=2).encode()
        media_type = FORMATS[fmt]
        self._exports[export_id] = _Export(
            export_id, tenant, delivery, content, media_type, expires
        )
        if delivery == "presigned":
            self.storage.put(s3_key, content, media_type)
            url = self.storage.presign(s3_key, self.export_ttl, now)
        else:
            url = f"{API}/exports/{export_id}/content"
        return {
            "export_id": export_id,
            "artifact_kind": kind,
            "format": fmt,
            "s3_key": s3_key,
            "download_url": url,
            "expires_at": _iso(expires),
            "delivery": delivery,
        }

    def _decide(
        self, approval: _Approval, decision: str, by: str | None, reason: str | None
    ) -> None:
        at = self._stamp()
        approval.row.update(status=decision, decided_at=_iso(at), decided_by=by, reason=reason)
        self._write_audit(
            approval.tenant,
            f"approval.{decision}",
            "approval",
            approval.row["id"],
            by,
            None,
            {
                "invocation_id": approval.row["invocation_id"],
                "abp_id": approval.row["abp_id"],
                "reason": reason,
            },
        )

    def _expire_due(self) -> None:
        """Pending approvals older than ``approval_ttl`` expire (lazily, when looked at)."""
        if self.approval_ttl is None:
            return
        cutoff = self._now() - timedelta(seconds=self.approval_ttl)
        for approval in self._approvals.values():
            if approval.row["status"] == "pending" and approval.requested <= cutoff:
                self._decide(approval, "expired", None, "no decision within the approval TTL")

    def _advance_run(self, run: _Run) -> None:
        """One poll of a run: queued, then running, then its terminal state (run_steps each)."""
        if run.row["status"] in TERMINAL_RUN_STATES:
            return
        step = run.polls // self.run_steps
        run.polls += 1
        if step == 0:
            return
        if step == 1:
            if run.row["started_at"] is None:
                run.row.update(status="running", started_at=_iso(self._stamp()))
            return
        self._finish_run(run)

    def _finish_run(self, run: _Run) -> None:
        at = self._stamp()
        row = run.row
        row.update(status=run.terminal, finished_at=_iso(at))
        row["started_at"] = row["started_at"] or row["finished_at"]
        if run.terminal == "succeeded":
            row.update(
                output_text="Recommend approval: the application meets every criterion.",
                governance_pass=True,
                governance_reasons=[],
            )
        elif run.terminal == "blocked":
            row.update(
                governance_pass=False,
                governance_reasons=["policy: restricted data class in the prompt"],
            )
        else:
            row.update(governance_pass=False, error="upstream model timeout after 60s")
        if run.terminal != "failed":
            export = self._make_export(
                run.tenant, "run_evidence", "json", "stream", {"run": dict(row)}
            )
            row["evidence_download_url"] = export["download_url"]

    # --- routes ----------------------------------------------------------------------------------

    def _invoke(self, call: _Call) -> Response:
        """R1: POST /api/v2/abps/{abp_id}/invoke."""
        abp = self._abp(call)
        if abp.state != "deployed":
            raise _Reject(_error(409, f"ABP {abp.id} is not deployed (status: {abp.state})"))
        payload = _json_body(call.body).get("payload", _MISSING)
        if payload is _MISSING:
            raise _Reject(_invalid(["body", "payload"], "Field required", "missing", None))
        if not isinstance(payload, dict):
            raise _Reject(
                _invalid(
                    ["body", "payload"], "Input should be a valid dictionary", "dict_type", payload
                )
            )
        tenant = call.key.tenant
        invocation_id = _new_id()
        result: dict[str, Any] = {
            "invocation_id": invocation_id,
            "outcome": None,
            "is_allowed": False,
            "requires_human": False,
            "withheld": True,
            "constraint_count": 1,
            "aggregated_conditions": [],
            "output": None,
            "approval_id": None,
            "evidence_pack_id": None,
            "evidence_pack_s3_key": None,
            "evidence_pack_chain_hash": None,
            "model_error": None,
        }
        if abp.behaviour == "allow":
            result.update(
                outcome="allowed",
                is_allowed=True,
                withheld=False,
                constraint_count=2,
                aggregated_conditions=[
                    {"constraint_id": "pii-redaction", "effect": "redact", "satisfied": True},
                    {"constraint_id": "citation-required", "effect": "annotate", "satisfied": True},
                ],
                output={
                    "text": f"Governed answer from {abp.name}.",
                    "model_id": "emu-model-1",
                    "echo": payload,
                },
            )
        elif abp.behaviour == "block":
            result.update(
                outcome="blocked",
                aggregated_conditions=[
                    {"constraint_id": "restricted-data", "effect": "block", "satisfied": False}
                ],
            )
        elif abp.behaviour == "approval":
            result.update(
                outcome="requires_approval",
                requires_human=True,
                aggregated_conditions=[
                    {"constraint_id": "high-value-decision", "effect": "require_human"}
                ],
            )
        else:
            result.update(
                outcome="error",
                withheld=False,
                constraint_count=0,
                model_error="upstream model timeout after 60s",
            )
        if abp.behaviour != "error":  # a model failure seals no evidence pack
            pack = self._record_pack(
                tenant, abp, invocation_id, result["outcome"], payload, result["output"]
            )
            result.update(
                evidence_pack_id=pack.id,
                evidence_pack_s3_key=pack.row["s3_key"],
                evidence_pack_chain_hash=pack.row["chain_hash"],
            )
        created = self._stamp()
        if abp.behaviour == "approval":
            approval_id = _new_id()
            approval = _Approval(
                tenant,
                created,
                {
                    "id": approval_id,
                    "status": "pending",
                    "abp_id": abp.id,
                    "invocation_id": invocation_id,
                    "evidence_pack_id": result["evidence_pack_id"],
                    "requested_at": _iso(created),
                    "requested_by": call.key.user_id,
                    "decided_at": None,
                    "decided_by": None,
                    "reason": None,
                },
            )
            self._approvals[approval_id] = approval
            self._approvals_by_tenant[tenant].append(approval)
            result["approval_id"] = approval_id
            self._write_audit(
                tenant,
                "approval.requested",
                "approval",
                approval_id,
                call.key.user_id,
                call.key.id,
                {"abp_id": abp.id, "invocation_id": invocation_id},
            )
        invocation = {
            "invocation_id": invocation_id,
            "abp_id": abp.id,
            "tenant_id": tenant,
            "payload": payload,
            "outcome": result["outcome"],
            "approval_id": result["approval_id"],
            "evidence_pack_id": result["evidence_pack_id"],
            "created_at": _iso(created),
            "api_key_id": call.key.id,
            "idempotency_key": call.request.headers.get("idempotency-key"),
        }
        self._invocations[invocation_id] = invocation
        self._invocation_list.append(invocation)
        self._outcomes[tenant][result["outcome"]] += 1
        call.metadata.update(invocation_id=invocation_id, outcome=result["outcome"])
        return JSONResponse(result)

    def _export_format(self, call: _Call) -> str:
        fmt = call.request.query_params.get("format", "json")
        if fmt not in FORMATS:
            raise _Reject(
                _invalid(
                    ["query", "format"],
                    "Input should be 'json' or 'zip'",
                    "enum",
                    fmt,
                    expected="'json' or 'zip'",
                )
            )
        return fmt

    def _invocation_evidence(self, call: _Call) -> Response:
        """R2: GET /api/v2/abps/{abp_id}/invocations/{invocation_id}/evidence."""
        abp = self._abp(call)
        fmt = self._export_format(call)
        invocation = self._invocations.get(call.param("invocation_id"))
        if invocation is None or invocation["abp_id"] != abp.id:
            raise _Reject(_error(404, "Invocation not found"))
        pack_id = invocation["evidence_pack_id"]
        if pack_id is None:
            raise _Reject(_error(404, "No evidence pack was recorded for this invocation"))
        export = self._make_export(
            call.key.tenant,
            "invocation_evidence",
            fmt,
            abp.delivery,
            {"evidence_pack": self._packs[pack_id].document},
        )
        call.metadata.update(
            abp_id=abp.id, export_id=export["export_id"], format=fmt, delivery=abp.delivery
        )
        return JSONResponse(export)

    def _evidence_package(self, call: _Call) -> Response:
        """R3: GET /api/v2/abps/{abp_id}/evidence-package?since=...; packs at or after ``since``."""
        abp = self._abp(call)
        raw_since = call.request.query_params.get("since")
        if raw_since is None:
            raise _Reject(_invalid(["query", "since"], "Field required", "missing", None))
        since = _parse_time(raw_since, "since")
        fmt = self._export_format(call)
        packs = [
            p.document
            for p in self._packs_by_tenant[abp.tenant]
            if p.abp_id == abp.id and p.at >= since
        ]
        export = self._make_export(
            call.key.tenant,
            "evidence_package",
            fmt,
            abp.delivery,
            {"abp_id": abp.id, "since": raw_since, "evidence_packs": packs},
        )
        call.metadata.update(
            export_id=export["export_id"], format=fmt, delivery=abp.delivery, pack_count=len(packs)
        )
        return JSONResponse(export)

    def _export_content(self, call: _Call) -> Response:
        """R10: GET /api/v2/exports/{export_id}/content, for exports delivered as ``stream``."""
        export = self._exports.get(call.param("export_id"))
        if (
            export is None
            or export.tenant != call.key.tenant
            or export.delivery != "stream"
            or self._now() >= export.expires_at
        ):
            raise _Reject(_error(404, "Export not found or expired"))
        filename = f"{export.id}.{'zip' if export.media_type == FORMATS['zip'] else 'json'}"
        return Response(
            export.content,
            media_type=export.media_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def _usage_summary(self, call: _Call) -> Response:
        """R4: GET /api/v2/usage/summary; ``evidence_packs`` is a list paged by evidence_limit/offset."""
        limit, offset = self._page(call, "evidence_limit", "evidence_offset")
        tenant = call.key.tenant
        outcomes = self._outcomes[tenant]
        packs = self._packs_by_tenant[tenant]
        body = {
            "tenant_id": tenant,
            "as_of": _iso(self._now()),
            "governed_runs": {
                "total": sum(outcomes.values()),
                "allowed": outcomes["allowed"],
                "blocked": outcomes["blocked"],
                "held_for_approval": outcomes["requires_approval"],
                "errored": outcomes["error"],
                "window_days": 30,
            },
            "evidence_packs": [dict(p.row) for p in _desc_page(packs, offset, limit)],
            "evidence_limit": limit,
            "evidence_offset": offset,
            "evidence_total": len(packs),
            "adoption": {
                "active_abps": sum(
                    1 for a in self._abps.values() if a.tenant == tenant and a.state == "deployed"
                ),
                "active_api_keys": sum(
                    1 for k in self._keys.values() if k.tenant == tenant and not k.revoked
                ),
                "active_users_30d": len(self._users_seen[tenant]),
            },
        }
        return JSONResponse(body)

    def _audit_log(self, call: _Call) -> Response:
        """R5: GET /api/v2/audit-log, newest first (created_at desc, then id desc)."""
        limit, offset = self._page(call)
        query = call.request.query_params
        rows = self._audit_by_tenant[call.key.tenant]
        exact = {
            name: query[name]
            for name in ("action", "resource_kind", "resource_id", "actor_user_id")
            if name in query
        }
        since = _parse_time(query["since"], "since") if "since" in query else None
        until = _parse_time(query["until"], "until") if "until" in query else None
        if exact or since or until:
            rows = [
                entry
                for entry in rows
                if all(entry.row[name] == value for name, value in exact.items())
                and (since is None or entry.at >= since)
                and (until is None or entry.at < until)
            ]
        page = [entry.row for entry in _desc_page(rows, offset, limit)]
        return JSONResponse({"items": page, "limit": limit, "offset": offset, "total": len(rows)})

    def _list_approvals(self, call: _Call) -> Response:
        """R8: GET /api/v2/approvals?status=&abp_id=&invocation_id=, newest request first."""
        limit, offset = self._page(call)
        self._expire_due()
        query = call.request.query_params
        approvals = self._approvals_by_tenant[call.key.tenant]
        filters = {
            name: query[name] for name in ("status", "abp_id", "invocation_id") if name in query
        }
        if filters:
            approvals = [
                a for a in approvals if all(a.row[name] == value for name, value in filters.items())
            ]
        page = [dict(a.row) for a in _desc_page(approvals, offset, limit)]
        return JSONResponse(
            {"items": page, "limit": limit, "offset": offset, "total": len(approvals)}
        )

    def _get_approval(self, call: _Call) -> Response:
        """GET /api/v2/approvals/{approval_id}: an emulator addition (one approval's status)."""
        self._expire_due()
        approval = self._approvals.get(call.param("approval_id"))
        if approval is None or approval.tenant != call.key.tenant:
            raise _Reject(_error(404, "Approval not found"))
        return JSONResponse(dict(approval.row))

    def _network_invoke(self, call: _Call) -> Response:
        """R6: POST /api/agenticx/networks/{slug}/invoke[?async=true]."""
        slug = call.param("slug")
        tenant = call.key.tenant
        behaviour = self._networks.get((tenant, slug))
        if behaviour is None:
            raise _Reject(_error(404, "Network not found"))
        raw_async = call.request.query_params.get("async", "false").lower()
        if raw_async not in _BOOLS:
            raise _Reject(
                _invalid(
                    ["query", "async"], "Input should be a valid boolean", "bool_parsing", raw_async
                )
            )
        body = _json_body(call.body)
        prompt = body.get("prompt_text", _MISSING)
        if prompt is _MISSING:
            raise _Reject(_invalid(["body", "prompt_text"], "Field required", "missing", None))
        if not isinstance(prompt, str):
            raise _Reject(
                _invalid(
                    ["body", "prompt_text"], "Input should be a valid string", "string_type", prompt
                )
            )
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _Reject(
                _invalid(
                    ["body", "metadata"],
                    "Input should be a valid dictionary",
                    "dict_type",
                    metadata,
                )
            )
        attachments = body.get("attachment_ids") or []
        if not isinstance(attachments, list) or not all(isinstance(a, str) for a in attachments):
            raise _Reject(
                _invalid(
                    ["body", "attachment_ids"],
                    "Input should be a valid list",
                    "list_type",
                    attachments,
                )
            )
        created = self._stamp()
        run_id = _new_id()
        run_url = f"{str(call.request.base_url).rstrip('/')}/runs/{run_id}"
        row: dict[str, Any] = {
            "id": run_id,
            "status": "queued",
            "model_id": "emu-network-model",
            "output_text": None,
            "governance_pass": None,
            "governance_reasons": [],
            "evidence_download_url": None,
            "metadata": metadata or {},
            "attachment_ids": attachments,
            "created_at": _iso(created),
            "started_at": None,
            "finished_at": None,
        }
        run = _Run(run_id, tenant, slug, _NETWORK_TERMINAL[behaviour], row)
        self._runs[run_id] = run
        self._runs_by_tenant[tenant].append(run)
        call.metadata.update(run_id=run_id, queued=raw_async in _TRUE)
        if raw_async in _TRUE:
            return JSONResponse(
                {"run_id": run_id, "run_url": run_url, "status": "queued"}, status_code=202
            )
        self._finish_run(run)  # the synchronous form answers once the run is over
        return JSONResponse(
            {
                "slug": slug,
                "run_id": run_id,
                "run_url": run_url,
                "prompt_id": run_id,
                "output_text": row["output_text"],
                "model_id_used": row["model_id"],
                "governance_pass": row["governance_pass"],
                "governance_reasons": row["governance_reasons"],
                "evidence_download_url": row["evidence_download_url"],
            }
        )

    def _get_run(self, call: _Call) -> Response:
        """R7: GET /api/v2/pack-runs/{run_id}; each GET moves a queued run one step on."""
        run = self._runs.get(call.param("run_id"))
        if run is None or run.tenant != call.key.tenant:
            raise _Reject(_error(404, "Pack run not found"))
        self._advance_run(run)
        call.metadata["status"] = run.row["status"]
        return JSONResponse(dict(run.row))

    def _list_runs(self, call: _Call) -> Response:
        """R9: GET /api/v2/pack-runs?status=; listing does not move runs on."""
        limit, offset = self._page(call)
        runs = self._runs_by_tenant[call.key.tenant]
        status = call.request.query_params.get("status")
        if status is not None:
            runs = [r for r in runs if r.row["status"] == status]
        page = [dict(r.row) for r in _desc_page(runs, offset, limit)]
        return JSONResponse({"items": page, "limit": limit, "offset": offset, "total": len(runs)})

    # --- control routes (outside /api/v2, no auth) ------------------------------------------------

    async def _admin_decide(self, request: Request) -> Response:
        data = await _admin_json(request)
        decision = data.get("decision")
        if decision not in ("approved", "denied", "expired"):
            return _invalid(
                ["body", "decision"],
                "Input should be 'approved', 'denied' or 'expired'",
                "enum",
                decision,
            )
        try:
            row = self.decide_approval(
                request.path_params["approval_id"],
                decision,
                by=data.get("by") or "u-reviewer",
                reason=data.get("reason"),
            )
        except KeyError:
            return _error(404, "Approval not found")
        except ValueError as exc:
            return _error(409, str(exc))
        return JSONResponse(row)

    async def _admin_inject(self, request: Request) -> Response:
        data = await _admin_json(request)
        method, path = data.get("method", "*"), data["path"]
        self.inject(method, path, *(fault_from_dict(spec) for spec in data.get("faults", [])))
        return JSONResponse({"pending": self.pending_faults(method, path)})

    async def _admin_reset_faults(self, request: Request) -> Response:
        self.reset_faults()
        return JSONResponse({"reset": True})

    async def _admin_add_key(self, request: Request) -> Response:
        data = await _admin_json(request)
        key = self.add_key(
            data.get("scopes", ALL_SCOPES),
            tenant=data.get("tenant", TENANT),
            revoked=bool(data.get("revoked", False)),
        )
        return JSONResponse({"api_key": key}, status_code=201)

    async def _admin_advance(self, request: Request) -> Response:
        data = await _admin_json(request)
        self.advance_time(float(data.get("seconds", 0)))
        return JSONResponse({"now": _iso(self._now())})

    async def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return await self._admin_state(request)

    async def _admin_state(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse(
                {
                    "api_key": self.api_key,
                    "abps": self.abps,
                    "networks": self.networks,
                    "storage_url": self.storage.url,
                    "counts": {
                        "requests": len(self._requests),
                        "invocations": len(self._invocation_list),
                        "audit": len(self._audit),
                        "approvals": len(self._approvals),
                        "pending_faults": sum(len(q) for _, _, q in self._faults),
                    },
                }
            )


_MISSING: Any = object()
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_BOOLS = _TRUE | {"false", "0", "no", "off", "f", "n"}


def _json_body(body: bytes) -> dict[str, Any]:
    """The JSON object body, or a FastAPI-style 422."""
    try:
        data = json.loads(body) if body else _MISSING
    except ValueError as exc:
        raise _Reject(
            _invalid(["body", 0], "JSON decode error", "json_invalid", {}, error=str(exc))
        ) from None
    if data is _MISSING:
        raise _Reject(_invalid(["body"], "Field required", "missing", None))
    if not isinstance(data, dict):
        raise _Reject(_invalid(["body"], "Input should be a valid dictionary", "dict_type", data))
    return data


def _fingerprint(body: bytes) -> bytes:
    """Same JSON, same request: key order and whitespace do not matter."""
    try:
        return hashlib.sha256(_json_bytes(json.loads(body))).digest() if body else b""
    except ValueError:
        return hashlib.sha256(body).digest()


def _detail_of(response: Response) -> Any:
    try:
        return json.loads(bytes(response.body)).get("detail")
    except (ValueError, AttributeError):
        return None


async def _admin_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    data = json.loads(body) if body else {}
    return data if isinstance(data, dict) else {}


def _storage_host(api_host: str) -> str:
    """Another loopback address for storage when the OS allows one (Linux does), so a presigned
    URL has a different host from the API; else the same host (and a different port)."""
    if api_host != "127.0.0.1":
        return api_host
    with contextlib.suppress(OSError), socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    return api_host


__all__ = ["ALL_SCOPES", "TENANT", "VelerianEmulator"]
