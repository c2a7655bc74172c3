"""The stateful Lattix emulator (see the package docstring for every behaviour choice)."""

from __future__ import annotations

import collections
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..faults import Fault, RecordedRequest, client_left, drop_connection, faults_from
from ..server import BackgroundServer, Message, Receive, Scope, Send
from . import _responses as responses
from ._misbehaviour import (
    PatchRule,
    add_future_enum_values,
    add_unknown_fields,
    misbehaviour,
    override,
)
from ._responses import DEFAULT_AUTH_CONFIGURATION, DEFAULT_SCOPE, JSON
from ._schema import ENUMS, ROUTES, SDK_PREFIX, InvalidRequest, validate_request

AuthModeName = Literal["bearer_token", "trusted_headers", "bearer_token_or_trusted_headers"]

# The spec's example caller (§11) plus sdk.rewrap, so every operation is allowed by default.
DEFAULT_SCOPES: tuple[str, ...] = ("platform-api.access", "sdk.protect", "sdk.access", "sdk.rewrap")

_DECISION_ROUTES = frozenset({"protection-plan", "policy-resolve", "key-access-plan"})
_CONTROL_PREFIX = "/_lattix/"


@dataclass(frozen=True)
class TokenInfo:
    """What a bearer token stands for. ``expires_at`` is on the emulator's clock; None: never."""

    tenant_id: str
    principal_id: str
    subject: str
    scopes: tuple[str, ...]
    auth_source: str = "bearer_token"
    expires_at: float | None = None
    revoked: bool = False

    def caller(self) -> JSON:
        return {
            "tenant_id": self.tenant_id,
            "principal_id": self.principal_id,
            "subject": self.subject,
            "auth_source": self.auth_source,
            "scopes": list(self.scopes),
        }


@dataclass(frozen=True)
class ClientCredentials:
    """A client allowed to use ``POST /v1/sdk/session``."""

    client_id: str
    client_secret: str
    tenant_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class DenyRule:
    """Denies a decision request whose metadata matches every criterion that is set."""

    rule_id: str
    reason: str
    routes: frozenset[str]
    resource_kind: str | None = None
    label: str | None = None
    operation: str | None = None
    purpose: str | None = None
    application: str | None = None
    resource_id: str | None = None

    def matches(self, route: str, req: Mapping[str, Any]) -> bool:
        return (
            route in self.routes
            and self.resource_kind in (None, req["resource"]["kind"])
            and self.resource_id in (None, req["resource"]["id"])
            and self.application in (None, req["workload"]["application"])
            and self.operation in (None, req["operation"])
            and self.purpose in (None, req.get("purpose"))
            and (self.label is None or self.label in req["labels"])
        )


@dataclass(frozen=True)
class EvidenceRecord:
    """An accepted evidence event with what the emulator knew when it accepted it."""

    event: JSON
    caller: JSON
    idempotency_key: str | None
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AfterProcessing:
    """Process the request normally (side effects happen), then answer with ``fault`` instead."""

    fault: Fault


def after_processing(fault: Fault) -> AfterProcessing:
    """E.g. ``after_processing(drop())``: the event is stored but the response is lost."""
    return AfterProcessing(fault)


InjectedFault = Fault | AfterProcessing


class LattixEmulator:
    """A stateful ``/v1/sdk/*`` server over real HTTP; see the package docstring."""

    def __init__(
        self,
        auth_mode: AuthModeName = "bearer_token_or_trusted_headers",
        *,
        tenant_id: str = "acme-prod",
        user_id: str = "svc-claims",
        subject: str = "spiffe://acme.test/claims-api",
        scopes: Sequence[str] = DEFAULT_SCOPES,
        bearer_token: str | None = None,
        client_id: str = "claims-batch",
        client_secret: str | None = None,
        session_ttl: int = 900,
        session_exchange: bool = True,
        auth_configuration: Mapping[str, Any] | None = None,
        default_required_scopes: Sequence[str] = (DEFAULT_SCOPE,),
        route_scopes: Mapping[str, Sequence[str]] | None = None,
        operation_scopes: bool = True,
        default_artifact_profile: str = "tdf",
        key_transport: str | None = None,
        extra_fields: bool = False,
        future_enums: bool = False,
        strict_requests: bool = False,
        strict_session_headers: bool = True,
        path_prefix: str = "",
    ) -> None:
        if auth_mode not in ENUMS["AuthMode"]:
            raise ValueError(f"auth_mode must be one of {ENUMS['AuthMode']}, not {auth_mode!r}")
        if default_artifact_profile not in ENUMS["ArtifactProfile"]:
            raise ValueError(f"unknown artifact profile {default_artifact_profile!r}")
        self.auth_mode: AuthModeName = auth_mode
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.subject = subject
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.bearer_token = bearer_token or "lx_static_" + secrets.token_urlsafe(24)
        self.client_id = client_id
        self.client_secret = client_secret or "lx_secret_" + secrets.token_urlsafe(24)
        self.session_ttl = int(session_ttl)
        self.session_exchange = session_exchange
        self.auth_configuration: dict[str, Any] = dict(
            DEFAULT_AUTH_CONFIGURATION if auth_configuration is None else auth_configuration
        )
        self.default_required_scopes: tuple[str, ...] = tuple(default_required_scopes)
        self.route_scopes: dict[str, tuple[str, ...]] = {
            _api_path(route): tuple(s) for route, s in (route_scopes or {}).items()
        }
        self.operation_scopes = operation_scopes
        self.default_artifact_profile = default_artifact_profile
        self.key_transport = key_transport  # None: derived per request (see docstring)
        self.extra_fields = extra_fields
        self.future_enums = future_enums
        self.strict_requests = strict_requests
        self.strict_session_headers = strict_session_headers
        self.path_prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""

        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._tokens: dict[str, TokenInfo] = {}
        self._clients: dict[str, ClientCredentials] = {}
        self._session_tokens: list[str] = []
        self._rules: list[DenyRule] = []
        self._patches: list[PatchRule] = []
        self._faults: dict[tuple[str, str], collections.deque[InjectedFault]] = {}
        self._requests: list[RecordedRequest] = []
        self._evidence: list[EvidenceRecord] = []
        self._artifacts: list[JSON] = []
        self._idempotency: dict[tuple[str, str], tuple[str, JSON]] = {}
        self._replays = 0
        self._server: BackgroundServer | None = None

        self._tokens[self.bearer_token] = TokenInfo(tenant_id, user_id, subject, self.scopes)
        self.add_client(self.client_id, self.client_secret)
        self._app = self._build_app()
        self._control = self._build_control_app()

    # --- serving -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port; after a stop, the same port again)."""
        with self._lock:
            if self._server is None:
                self._server = BackgroundServer(self, host=host, port=port)
            server = self._server
        server.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving; the state is kept, and ``start()`` serves it again on the same port."""
        if self._server is not None:
            self._server.stop()

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve for the duration of the block; yields the base URL (with the path prefix)."""
        url = self.start(host, port)
        try:
            yield url
        finally:
            self.stop()

    @property
    def base_url(self) -> str:
        """The URL clients are configured with (the path prefix included)."""
        return self.root_url + self.path_prefix

    @property
    def root_url(self) -> str:
        """The server's URL without the path prefix (where ``/_lattix/*`` lives)."""
        if self._server is None:
            raise RuntimeError("the emulator is not serving; use `with emu.serve() as base_url:`")
        return self._server.url

    @property
    def is_running(self) -> bool:
        return self._server is not None and self._server.is_running

    # --- identities and tokens -----------------------------------------------------------------

    def add_token(
        self,
        *,
        tenant_id: str | None = None,
        subject: str | None = None,
        scopes: Sequence[str] | None = None,
        principal_id: str | None = None,
        expires_in: float | None = None,
        token: str | None = None,
    ) -> str:
        """A new valid bearer token (defaults: the seeded tenant, a fresh subject, the seeded scopes)."""
        value = token or "lx_static_" + secrets.token_urlsafe(24)
        subject = subject or f"svc-{secrets.token_hex(4)}"
        with self._lock:
            expires = None if expires_in is None else self._now() + expires_in
            self._tokens[value] = TokenInfo(
                tenant_id or self.tenant_id,
                principal_id or subject,
                subject,
                tuple(self.scopes if scopes is None else scopes),
                expires_at=expires,
            )
        return value

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        tenant_id: str | None = None,
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Register client credentials for the session exchange."""
        with self._lock:
            self._clients[client_id] = ClientCredentials(
                client_id,
                client_secret,
                tenant_id or self.tenant_id,
                tuple(self.scopes if scopes is None else scopes),
            )

    def expire_tokens(self) -> None:
        """Every token with a lifetime (session tokens, ``add_token(expires_in=...)``) is expired
        from now on (401 ``invalid_token``); tokens without one stay valid (see ``revoke``)."""
        with self._lock:
            past = self._now() - 1.0
            for value, info in list(self._tokens.items()):
                if info.expires_at is not None:
                    self._tokens[value] = replace(info, expires_at=past)

    def revoke(self, token: str) -> None:
        """This token is rejected from now on (401 ``invalid_token``)."""
        with self._lock:
            info = self._tokens.get(token)
            if info is not None:
                self._tokens[token] = replace(info, revoked=True)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock (token expiry) forward without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    @property
    def session_tokens(self) -> list[str]:
        """Every access token issued by ``POST /v1/sdk/session``, in order."""
        with self._lock:
            return list(self._session_tokens)

    # --- policy ----------------------------------------------------------------------------------

    def deny(
        self,
        resource_kind: str | None = None,
        *,
        label: str | None = None,
        operation: str | None = None,
        purpose: str | None = None,
        application: str | None = None,
        resource_id: str | None = None,
        reason: str | None = None,
        routes: Iterable[str] | None = None,
    ) -> str:
        """Deny decision requests matching every given criterion; returns the rule id.

        Applies to protection-plan, policy-resolve and key-access-plan (or ``routes``): HTTP 200
        with ``allow: false`` and the reason in ``warnings``; policy-resolve also answers
        ``required_actions: ["evidence"]`` and ``evidence_expected: ["deny"]``.
        """
        chosen = frozenset(_DECISION_ROUTES if routes is None else routes)
        if not chosen <= _DECISION_ROUTES:
            raise ValueError(f"deny rules apply to {sorted(_DECISION_ROUTES)} only")
        criteria = {
            "resource_kind": resource_kind,
            "label": label,
            "operation": operation,
            "purpose": purpose,
            "application": application,
            "resource_id": resource_id,
        }
        if reason is None:
            if label is not None and purpose is not None:
                reason = f"label '{label}' is not permitted for purpose '{purpose}'"
            else:
                given = [f"{k} '{v}'" for k, v in criteria.items() if v is not None]
                reason = "denied by policy" + (": " + ", ".join(given) if given else "")
        with self._lock:
            rule = DenyRule(f"rule-{len(self._rules) + 1}", reason, chosen, **criteria)
            self._rules.append(rule)
        return rule.rule_id

    def allow(self, rule_id: str | None = None) -> None:
        """Remove one deny rule (or, without an id, all of them)."""
        with self._lock:
            self._rules = [r for r in self._rules if rule_id is not None and r.rule_id != rule_id]

    @property
    def rules(self) -> list[DenyRule]:
        with self._lock:
            return list(self._rules)

    # --- misbehaviour ------------------------------------------------------------------------------

    def misbehave(
        self, *names: str, routes: Iterable[str] | None = None, times: int | None = None
    ) -> None:
        """Break fail-closed checks in 200 responses (see ``MISBEHAVIOURS`` in the docstring).

        ``routes`` limits a misbehaviour to some of its routes; ``times`` to the next N
        responses of those routes (default: until ``behave()``).
        """
        self._add_patches(names, routes, times)

    def _add_patches(
        self, names: Sequence[str], routes: Iterable[str] | None, times: int | None
    ) -> list[PatchRule]:
        chosen = None if routes is None else list(routes)
        rules = [misbehaviour(name, chosen, times) for name in names]
        with self._lock:
            self._patches.extend(rules)
        return rules

    def override(self, route: str, path: str, value: Any, *, times: int | None = None) -> None:
        """Set a response field, e.g. ``override("bootstrap", "supported_operations", ["access"])``;
        ``OMIT`` removes it. ``path`` is dotted; list indexes are numbers."""
        rule = override(route, path, value, times)
        with self._lock:
            self._patches.append(rule)

    def behave(self) -> None:
        """Drop every misbehaviour and override."""
        with self._lock:
            self._patches.clear()

    @contextmanager
    def misbehaving(
        self, *names: str, routes: Iterable[str] | None = None, times: int | None = None
    ) -> Iterator[None]:
        """``misbehave`` for the duration of the block."""
        added = self._add_patches(names, routes, times)
        try:
            yield
        finally:
            with self._lock:
                self._patches = [r for r in self._patches if all(r is not a for a in added)]

    # --- faults ---------------------------------------------------------------------------------

    def inject(self, method: str, path: str, *faults: InjectedFault) -> None:
        """Queue faults for the next requests to ``method path`` (``"*"`` matches any), one per
        request, in order. ``path`` is a route path or a route name (``"evidence"``)."""
        key = (method.upper(), path if path == "*" else _api_path(path))
        with self._lock:
            self._faults.setdefault(key, collections.deque()).extend(faults)

    def pending_faults(self, method: str = "*", path: str = "*") -> int:
        key = (method.upper(), path if path == "*" else _api_path(path))
        with self._lock:
            return len(self._faults.get(key, ()))

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- what happened -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received (paths without the path prefix), faulted ones included."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str = "*", path: str = "*") -> list[RecordedRequest]:
        want = path if path == "*" else _api_path(path)
        with self._lock:
            return [
                r for r in self._requests if method in ("*", r.method) and want in ("*", r.path)
            ]

    def count(self, method: str = "*", path: str = "*") -> int:
        """Raw requests received for ``method path``, e.g. ``count("POST", "evidence")``."""
        return len(self.requests_to(method.upper(), path))

    @property
    def evidence(self) -> list[JSON]:
        """Every accepted evidence event (the request body as sent), exactly once."""
        with self._lock:
            return [json.loads(json.dumps(r.event)) for r in self._evidence]

    @property
    def evidence_records(self) -> list[EvidenceRecord]:
        with self._lock:
            return list(self._evidence)

    @property
    def artifacts(self) -> list[JSON]:
        """Every accepted artifact registration (the request body as sent)."""
        with self._lock:
            return [json.loads(json.dumps(a)) for a in self._artifacts]

    @property
    def idempotent_replays(self) -> int:
        """How many evidence POSTs were answered from the idempotency cache."""
        with self._lock:
            return self._replays

    def reset(self) -> None:
        """Forget requests, evidence, artifacts, idempotency keys, the issued-token list, faults,
        rules and misbehaviours; identities, valid tokens and settings stay."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._evidence.clear()
            self._artifacts.clear()
            self._idempotency.clear()
            self._replays = 0
            self._session_tokens.clear()
            self._rules.clear()
            self._patches.clear()

    # --- ASGI -------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
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
        api_path = self._strip_prefix(path)
        fault = self._record_and_take(scope, path if api_path is None else api_path, bytes(body))

        async def answer(to: Send) -> None:
            if api_path is None:
                # Outside the path prefix: the same 404 as an unknown route.
                missing = _error(404, "not_found", f"no route for {scope['method']} {path}")
                await missing(scope, replay, to)
            else:
                await self._app(dict(scope, path=api_path), replay, to)

        if isinstance(fault, AfterProcessing):
            captured: list[Message] = []

            async def capture(message: Message) -> None:
                captured.append(message)

            await answer(capture)
            await _apply_fault(fault.fault, scope, receive, send, captured)
            return
        if fault is not None and await _apply_fault(fault, scope, receive, send, None):
            return
        await answer(send)

    def _strip_prefix(self, path: str) -> str | None:
        if not self.path_prefix:
            return path
        if path == self.path_prefix or path.startswith(self.path_prefix + "/"):
            return path[len(self.path_prefix) :] or "/"
        return None

    def _record_and_take(self, scope: Scope, path: str, body: bytes) -> InjectedFault | None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        client = scope.get("client")
        record = RecordedRequest(
            method=scope["method"],
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            client=(client[0], int(client[1])) if client else None,
        )
        with self._lock:
            self._requests.append(record)
            for key in ((record.method, path), (record.method, "*"), ("*", path), ("*", "*")):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
        return None

    def _build_app(self) -> Starlette:
        routes = [
            Route(path, self._endpoint(name), methods=[method])
            for name, (method, path) in ROUTES.items()
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})
        app.router.redirect_slashes = False  # a real server answers 404, not a redirect
        return app

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return _error(
                405,
                "method_not_allowed",
                f"method {request.method} is not allowed on {request.url.path}",
                exc.headers,
            )
        return _error(
            exc.status_code, "not_found", f"no route for {request.method} {request.url.path}"
        )

    def _endpoint(self, route: str) -> Any:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            with self._lock:
                return self._dispatch(route, request.headers, raw)

        return endpoint

    # --- request handling (under the lock) -----------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _dispatch(self, route: str, headers: Headers, raw: bytes) -> Response:
        if route == "session":
            return self._session(headers, raw)
        auth = self._authenticate(headers, route)
        if isinstance(auth, Response):
            return auth
        caller, token = auth
        sent: Any = None
        req: dict[str, Any] | None = None
        if ROUTES[route][0] == "POST":
            parsed = self._parse(route, headers, raw)
            if isinstance(parsed, Response):
                return parsed
            sent, req = parsed
        key = headers.get("idempotency-key", "").strip() or None
        if route == "evidence" and key is not None:
            cached = self._idempotency.get((caller["tenant_id"], key))
            if cached is not None:
                if cached[0] != _fingerprint(req):
                    return _error(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request body",
                    )
                self._replays += 1
                return JSONResponse(cached[1], headers={"Idempotent-Replayed": "true"})
        body = self._build(route, caller, token, req)
        for rule in self._patches:
            rule.apply(route, body, req)
        self._patches = [r for r in self._patches if r.remaining != 0]
        if self.future_enums:
            add_future_enum_values(body)
        if self.extra_fields:
            add_unknown_fields(body)
        if route == "evidence" and _accepted(body, "ingestion"):
            self._evidence.append(EvidenceRecord(sent, caller, key))
            if key is not None:
                self._idempotency[(caller["tenant_id"], key)] = (_fingerprint(req), body)
        elif route == "artifact-register" and _accepted(body, "registration"):
            self._artifacts.append(sent)
        return JSONResponse(body)

    def _authenticate(
        self, headers: Headers, route: str
    ) -> tuple[JSON, TokenInfo | None] | Response:
        authorization = headers.get("authorization", "").strip()
        header_tenant = headers.get("x-lattix-tenant-id", "").strip()
        header_user = headers.get("x-lattix-user-id", "").strip()
        trusted_ok = bool(header_tenant and header_user)
        if self.auth_mode == "trusted_headers":
            # Behind a trusted gateway the headers are the identity; Authorization is not looked at.
            if not trusted_ok:
                return _unauthorized(
                    "unauthorized", "x-lattix-tenant-id and x-lattix-user-id headers required"
                )
            return _trusted_caller(header_tenant, header_user), None
        if not authorization:
            if self.auth_mode == "bearer_token_or_trusted_headers" and trusted_ok:
                return _trusted_caller(header_tenant, header_user), None
            if self.auth_mode == "bearer_token":
                return _unauthorized("unauthorized", "bearer token required")
            return _unauthorized(
                "unauthorized",
                "bearer token or x-lattix-tenant-id and x-lattix-user-id headers required",
            )
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            return _unauthorized("invalid_token", "Authorization must be 'Bearer <token>'")
        info = self._tokens.get(value)
        if info is None or info.revoked:
            return _unauthorized("invalid_token", "unknown or revoked bearer token")
        if info.expires_at is not None and self._now() >= info.expires_at:
            return _unauthorized("invalid_token", "bearer token expired")
        if header_tenant and header_tenant != info.tenant_id:
            return _error(
                403,
                "forbidden",
                f"x-lattix-tenant-id '{header_tenant}' does not match the token's tenant",
            )
        needed = [*self.default_required_scopes, *self.route_scopes.get(ROUTES[route][1], ())]
        missing = [s for s in needed if s not in info.scopes]
        if missing:
            return _error(403, "insufficient_scope", f"token lacks required scope '{missing[0]}'")
        return info.caller(), info

    def _parse(
        self, route: str, headers: Headers, raw: bytes
    ) -> tuple[Any, dict[str, Any]] | Response:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _error(415, "unsupported_media_type", "Content-Type must be application/json")
        try:
            sent = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            return _error(400, "invalid_json", f"malformed JSON body: {exc}")
        try:
            req = validate_request(route, sent, strict=self.strict_requests)
        except InvalidRequest as exc:
            return _error(422, "invalid_request", str(exc))
        return sent, req

    def _session(self, headers: Headers, raw: bytes) -> Response:
        if not self.session_exchange:
            return _error(404, "not_found", "no route for POST /v1/sdk/session")
        if self.strict_session_headers:
            leaked = sorted(
                {n for n in headers if n == "authorization" or n.startswith("x-lattix-")}
            )
            if leaked:
                return _error(
                    400,
                    "invalid_request",
                    "the session exchange carries only Content-Type; unexpected header(s): "
                    + ", ".join(leaked),
                )
        parsed = self._parse("session", headers, raw)
        if isinstance(parsed, Response):
            return parsed
        req = parsed[1]
        client = self._clients.get(req["client_id"])
        if (
            client is None
            or not hmac.compare_digest(client.client_secret.encode(), req["client_secret"].encode())
            or client.tenant_id != req["tenant_id"]
        ):
            # One answer for every failure, so the error does not say which part was wrong.
            return _error(401, "invalid_client", "client authentication failed")
        requested = sorted({s.strip() for s in req["requested_scopes"] if s.strip()})
        refused = [s for s in requested if s not in client.scopes]
        if refused:
            return _error(
                403, "invalid_scope", f"scope '{refused[0]}' is not granted to this client"
            )
        granted = requested or list(client.scopes)
        token = "lx_sess_" + secrets.token_hex(16)
        self._tokens[token] = TokenInfo(
            client.tenant_id,
            client.client_id,
            f"sdk:{client.client_id}",
            tuple(granted),
            auth_source="sdk_client_credentials",
            expires_at=self._now() + self.session_ttl,
        )
        self._session_tokens.append(token)
        body = responses.session(
            access_token=token,
            expires_in=self.session_ttl,
            scopes=granted,
            tenant_id=client.tenant_id,
            client_id=client.client_id,
        )
        for rule in self._patches:
            rule.apply("session", body, req)
        self._patches = [r for r in self._patches if r.remaining != 0]
        if self.extra_fields:
            add_unknown_fields(body)
        return JSONResponse(body)

    def _denial(self, route: str, req: Mapping[str, Any], token: TokenInfo | None) -> str | None:
        for rule in self._rules:
            if rule.matches(route, req):
                return rule.reason
        # Operation scopes are checked for token callers; trusted-header callers have no scopes.
        if self.operation_scopes and token is not None and route != "key-access-plan":
            needed = f"sdk.{req['operation']}"
            if needed not in token.scopes:
                return f"caller lacks scope '{needed}'"
        return None

    def _build(
        self, route: str, caller: JSON, token: TokenInfo | None, req: dict[str, Any] | None
    ) -> JSON:
        if route == "capabilities":
            return responses.capabilities(
                auth_mode=self.auth_mode,
                auth_configuration=self.auth_configuration,
                caller=caller,
                default_scopes=self.default_required_scopes,
                route_scopes=self.route_scopes,
            )
        if route == "whoami":
            return responses.whoami(caller=caller)
        if route == "bootstrap":
            return responses.bootstrap(
                auth_mode=self.auth_mode, auth_configuration=self.auth_configuration, caller=caller
            )
        assert req is not None
        if route == "protection-plan":
            return responses.protection_plan(
                req,
                caller=caller,
                denial=self._denial(route, req, token),
                profile=req["preferred_artifact_profile"] or self.default_artifact_profile,
                transport_mode=self.key_transport or "local_provided",
            )
        if route == "policy-resolve":
            return responses.policy_resolve(
                req, caller=caller, denial=self._denial(route, req, token)
            )
        if route == "key-access-plan":
            return responses.key_access_plan(
                req,
                caller=caller,
                denial=self._denial(route, req, token),
                profile=req["artifact_profile"] or self.default_artifact_profile,
                transport_mode=responses.key_transport_mode_for(
                    req["key_reference"], self.key_transport
                ),
            )
        if route == "artifact-register":
            return responses.artifact_register(req, caller=caller)
        return responses.evidence(req, caller=caller)

    # --- control routes (drive a `python -m govflow.testing.lattix` process from a test) -------

    def _build_control_app(self) -> Starlette:
        async def faults(request: Request) -> Response:
            data = await request.json()
            built: list[InjectedFault] = list(faults_from(data.get("faults", [])))
            if data.get("after_processing"):
                built = [AfterProcessing(f) for f in built if isinstance(f, Fault)]
            self.inject(data.get("method", "*"), data.get("path", "*"), *built)
            pending = self.pending_faults(data.get("method", "*"), data.get("path", "*"))
            return JSONResponse({"pending": pending})

        async def deny(request: Request) -> Response:
            return JSONResponse({"rule_id": self.deny(**(await request.json()))})

        async def misbehave(request: Request) -> Response:
            data = await request.json()
            self.misbehave(*data["names"], routes=data.get("routes"), times=data.get("times"))
            return JSONResponse({"ok": True})

        async def token(request: Request) -> Response:
            return JSONResponse({"token": self.add_token(**(await request.json()))})

        async def action(request: Request) -> Response:
            name = request.path_params["name"]
            actions = {
                "reset": self.reset,
                "behave": self.behave,
                "allow": self.allow,
                "expire-tokens": self.expire_tokens,
                "reset-faults": self.reset_faults,
            }
            if name not in actions:
                return _error(404, "not_found", f"no control action {name!r}")
            actions[name]()
            return JSONResponse({"ok": True})

        async def evidence(request: Request) -> Response:
            return JSONResponse(self.evidence)

        async def received(request: Request) -> Response:
            return JSONResponse([r.to_dict() for r in self.requests])

        p = _CONTROL_PREFIX
        return Starlette(
            routes=[
                Route(p + "faults", faults, methods=["POST"]),
                Route(p + "deny", deny, methods=["POST"]),
                Route(p + "misbehave", misbehave, methods=["POST"]),
                Route(p + "tokens", token, methods=["POST"]),
                Route(p + "evidence", evidence, methods=["GET"]),
                Route(p + "requests", received, methods=["GET"]),
                Route(p + "{name}", action, methods=["POST"]),
            ]
        )


# --- helpers --------------------------------------------------------------------------------------


def _api_path(path: str) -> str:
    """A route path from a route name (``"evidence"``) or a path (returned as is)."""
    if path in ROUTES:
        return ROUTES[path][1]
    return path if path.startswith("/") else SDK_PREFIX + path


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message, "status": status},
        status_code=status,
        headers=dict(headers or {}),
    )


def _unauthorized(code: str, message: str) -> JSONResponse:
    challenge = 'Bearer realm="lattix-platform-api"'
    if code == "invalid_token":
        challenge += ', error="invalid_token"'
    return _error(401, code, message, {"WWW-Authenticate": challenge})


def _trusted_caller(tenant_id: str, user_id: str) -> JSON:
    return {
        "tenant_id": tenant_id,
        "principal_id": user_id,
        "subject": user_id,
        "auth_source": "trusted_headers",
        "scopes": [],
    }


def _accepted(body: JSON, section: str) -> bool:
    plan = body.get(section)
    return isinstance(plan, dict) and plan.get("accepted") is True


def _fingerprint(req: Any) -> str:
    return json.dumps(req, sort_keys=True, separators=(",", ":"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_MALFORMED = b'{"service":"lattix-platform-api","status":"ready","caller":{"tenant_id":'


async def _apply_fault(
    fault: Fault, scope: Scope, receive: Receive, send: Send, captured: list[Message] | None
) -> bool:
    """Answer with ``fault``; False means "go on with the normal answer" (a delay before it).

    ``captured`` is the normal answer when the request was processed first (AfterProcessing).
    """
    if fault.kind == "delay":
        if await client_left(receive, fault.seconds):
            return True
        if captured is None:
            return False
        for message in captured:
            await send(message)
        return True
    if fault.kind in ("drop", "truncate"):
        await drop_connection(send, receive, truncated=fault.kind == "truncate")
        return True
    response: Response
    if fault.kind == "malformed":
        response = Response(_MALFORMED, status_code=fault.status, media_type="application/json")
    else:
        response = JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))
    await response(scope, receive, send)
    return True


__all__ = [
    "DEFAULT_SCOPES",
    "AfterProcessing",
    "AuthModeName",
    "ClientCredentials",
    "DenyRule",
    "EvidenceRecord",
    "LattixEmulator",
    "TokenInfo",
    "after_processing",
]
