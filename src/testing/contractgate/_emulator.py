"""The ContractGate emulator: state, the test-facing API and the HTTP plumbing (auth, rate
limits, body limits, faults). Routes live in ``_ingest``, ``_quarantine`` and ``_routes``;
every choice is listed in the package docstring."""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..faults import RecordedRequest
from ..server import BackgroundServer, Message, Receive, Scope, Send
from . import _ingest, _quarantine, _routes
from ._call import Call, Settings
from ._faults import AfterProcessing, AnyFault, fault_from_dict, send_fault
from ._http import ApiError, json_response, plain
from ._ratelimit import AUTH_LIMITED
from ._store import (
    RESOLUTIONS,
    STATES,
    Clock,
    Contract,
    Credential,
    World,
    key_hash,
    new_api_key,
)

Handler = Callable[[Call], Response]

V1_BODY_LIMIT = 10 * 1024 * 1024
BODY_LIMIT = 1024 * 1024
UNAUTHORIZED = "Unauthorized: missing or invalid API key"
CONTROL = "/_emulator/"

# name in ``emu.contracts`` -> the example contract files (package data) seeded under it.
SEEDED: dict[str, tuple[str, ...]] = {
    "user_events": ("api_user_events.yaml",),
    "hero_events": ("hero_events_v1.0.0.yaml", "hero_events_v1.1.0.yaml"),
    "order_events": ("order_events_nested.yaml",),
    "user_events_pii": ("user_events_pii_transform.yaml",),
}


def example_contract(filename: str) -> str:
    """The text of one example contract shipped with the emulator (``contracts/*.yaml``)."""
    return resources.files(__package__).joinpath("contracts").joinpath(filename).read_text("utf-8")


def _domain(call: Callable[[], Any]) -> Any:
    """Run a domain operation for the test-facing API: its HTTP errors become ValueError."""
    try:
        return call()
    except ApiError as exc:
        raise ValueError(exc.message) from None


class ContractGateEmulator:
    """A stateful ContractGate gateway on real loopback HTTP; see the package docstring."""

    def __init__(
        self,
        batch_limit: int = 1000,
        rate_limit_rps: int | None = None,
        rate_limit_burst: int | None = None,
        *,
        api_key: str | None = None,
        monthly_event_cap: int | None = None,
        plan: str = "free",
    ) -> None:
        if batch_limit < 1:
            raise ValueError("batch_limit must be at least 1")
        self.batch_limit = batch_limit
        self.rate_limit_rps = rate_limit_rps
        self.rate_limit_burst = rate_limit_burst
        self.monthly_event_cap = monthly_event_cap
        self.plan = plan
        self.api_key = api_key or new_api_key()
        if not self.api_key.startswith("cg_") or len(self.api_key) < 12:
            raise ValueError("an API key starts with 'cg_' and has at least 12 characters")
        self.org_id = str(uuid.uuid4())
        self.user_id = str(uuid.uuid4())
        self.database_down = False
        self.clock = Clock()
        self._lock = threading.RLock()
        # Seeded ids and salts survive reset(), so a session-wide emulator keeps its contract ids.
        self._seed_ids = {name: str(uuid.uuid4()) for name in SEEDED}
        self._seed_salts: dict[str, bytes] = {}
        self.contracts: dict[str, str] = {}
        self._faults: list[tuple[str, str, collections.deque[AnyFault]]] = []
        self._requests: list[RecordedRequest] = []
        self.world = World(self.clock)
        self.server: BackgroundServer | None = None
        self.base_url: str | None = None
        self._app = self._build_app()
        self._control = self._build_control()
        self._seed()

    # --- seeding -----------------------------------------------------------------------------

    def _seed(self) -> None:
        self.clock = Clock()
        self.world = World(self.clock)
        self._add_key(
            self.api_key,
            org_id=self.org_id,
            rate_limit_rps=self.rate_limit_rps,
            rate_limit_burst=self.rate_limit_burst,
        )
        world = self.world
        self.contracts = {}
        for name, files in SEEDED.items():
            first, *later = [example_contract(f) for f in files]
            meta = world.parse(first)
            contract = world.create_contract(
                self.org_id,
                name=meta.name,
                description=meta.description,
                yaml_content=first,
                contract_id=self._seed_ids[name],
            )
            if name in self._seed_salts:
                contract.pii_salt = self._seed_salts[name]
            self._seed_salts[name] = contract.pii_salt
            for text in later:
                world.add_version(contract, world.parse(text).version_label, text)
            # Spec 10.B: every version promoted in order, so the last one is the latest stable.
            for version in list(contract.versions):
                world.promote(contract, version)
            self.contracts[name] = contract.id

    def reset(self) -> None:
        """Back to the seeded state: the seeded key, org and contract ids stay; extra keys,
        contracts, rows, idempotency records, faults, requests and the clock offset go."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self.database_down = False
            self._seed()

    # --- the test-facing API -------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return Settings(self.batch_limit, self.monthly_event_cap, self.plan)

    def _contract(self, contract_id: str) -> Contract:
        found = self.world.contracts.get(contract_id)
        if found is None:
            raise ValueError(f"Contract not found: {contract_id}")
        return found

    def add_contract(
        self,
        yaml_text: str,
        *,
        state: str = "stable",
        name: str | None = None,
        description: str | None = None,
        multi_stable_resolution: str = "strict",
        version: str = "1.0.0",
        store_event_payloads: bool = True,
        org_id: str | None = None,
    ) -> str:
        """Create a contract as ``POST /contracts`` does (row ``1.0.0``, or ``version``), in
        ``state`` (draft, stable or deprecated). ``name`` defaults to the YAML's. Returns its id."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        if multi_stable_resolution not in RESOLUTIONS:
            raise ValueError(f"multi_stable_resolution must be one of {RESOLUTIONS}")
        with self._lock:
            world = self.world
            meta = _domain(lambda: world.parse(yaml_text))
            contract: Contract = _domain(
                lambda: world.create_contract(
                    org_id or self.org_id,
                    name=name or meta.name,
                    description=description if description is not None else meta.description,
                    yaml_content=yaml_text,
                    multi_stable_resolution=multi_stable_resolution,
                    first_version=version,
                    store_event_payloads=store_event_payloads,
                )
            )
            self._move(contract, version, state)
            return contract.id

    def add_version(
        self, contract_id: str, yaml_text: str, *, state: str = "draft", version: str | None = None
    ) -> str:
        """Add a version (default: the YAML's ``version`` label) in ``state``; returns it."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        with self._lock:
            world = self.world
            contract = self._contract(contract_id)
            label = version or _domain(lambda: world.parse(yaml_text)).version_label
            _domain(lambda: world.add_version(contract, label, yaml_text))
            self._move(contract, label, state)
            return str(label)

    def _move(self, contract: Contract, version: str, state: str) -> None:
        if state in ("stable", "deprecated"):
            _domain(lambda: self.world.promote(contract, version))
        if state == "deprecated":
            _domain(lambda: self.world.deprecate(contract, version))

    def promote(self, contract_id: str, version: str) -> dict[str, Any]:
        """draft -> stable (``promoted_at`` now: it becomes the latest stable)."""
        with self._lock:
            contract = self._contract(contract_id)
            return dict(_domain(lambda: self.world.promote(contract, version)).response())

    def deprecate(self, contract_id: str, version: str) -> dict[str, Any]:
        """stable -> deprecated."""
        with self._lock:
            contract = self._contract(contract_id)
            return dict(_domain(lambda: self.world.deprecate(contract, version)).response())

    def set_resolution(self, contract_id: str, multi_stable_resolution: str) -> None:
        """``strict`` or ``fallback`` (what ``PATCH /contracts/{id}`` sets)."""
        if multi_stable_resolution not in RESOLUTIONS:
            raise ValueError(f"multi_stable_resolution must be one of {RESOLUTIONS}")
        with self._lock:
            self._contract(contract_id).multi_stable_resolution = multi_stable_resolution

    def set_store_payloads(self, contract_id: str, store: bool) -> None:
        """Off: audit ``raw_event`` is ``{}``, quarantine payloads NULL (replay: ``redacted``)."""
        with self._lock:
            self._contract(contract_id).store_event_payloads = store

    def version(self, contract_id: str, version: str) -> dict[str, Any]:
        with self._lock:
            contract = self._contract(contract_id)
            return dict(_domain(lambda: contract.version(version)).response())

    def _add_key(
        self,
        raw: str,
        *,
        org_id: str,
        allowed_contract_ids: Iterable[str] | None = None,
        rate_limit_rps: int | None = None,
        rate_limit_burst: int | None = None,
    ) -> None:
        cred = Credential(
            id=str(uuid.uuid4()),
            org_id=org_id,
            user_id=self.user_id,
            kind="api_key",
            key_hash=key_hash(raw),
            allowed_contract_ids=None
            if allowed_contract_ids is None
            else frozenset(allowed_contract_ids),
            rate_limit_rps=rate_limit_rps,
            rate_limit_burst=rate_limit_burst,
            enforce_rate_limit=rate_limit_rps is not None or rate_limit_burst is not None,
        )
        self.world.add_credential(raw, cred)

    def add_api_key(
        self,
        *,
        allowed_contract_ids: Iterable[str] | None = None,
        rate_limit_rps: int | None = None,
        rate_limit_burst: int | None = None,
        org_id: str | None = None,
    ) -> str:
        """A new ``cg_live_`` key: scoped to ``allowed_contract_ids`` (others: 401), with its own
        rate limits (either one set turns limiting on for it), in another org if ``org_id``."""
        raw = new_api_key()
        with self._lock:
            self._add_key(
                raw,
                org_id=org_id or self.org_id,
                allowed_contract_ids=allowed_contract_ids,
                rate_limit_rps=rate_limit_rps,
                rate_limit_burst=rate_limit_burst,
            )
        return raw

    def add_session_token(self, *, org_id: str | None = None, rate_limited: bool = False) -> str:
        """An opaque ``Authorization: Bearer`` token standing in for a dashboard JWT (500 rps,
        burst 2000; enforced only with ``rate_limited=True``)."""
        token = "cg_session_" + uuid.uuid4().hex
        with self._lock:
            self.world.add_credential(
                token,
                Credential(
                    id=str(uuid.uuid4()),
                    org_id=org_id or self.org_id,
                    user_id=self.user_id,
                    kind="session",
                    key_hash="",
                    enforce_rate_limit=rate_limited,
                ),
            )
        return token

    def revoke_key(self, key: str) -> None:
        """The key is rejected (401) from now on (the gateway may take up to 60 s: its cache)."""
        with self._lock:
            cred = self.world.authenticate_key(key) or self.world.authenticate_session(key)
            if cred is not None:
                cred.revoked = True

    def set_quarantine_status(self, quarantine_id: str, status: str) -> None:
        """``reviewed`` / ``purged`` (no public route sets them; replay reports ``purged``)."""
        with self._lock:
            row = self.world.quarantine.get(quarantine_id)
            if row is None:
                raise ValueError(f"no quarantine row {quarantine_id}")
            _domain(lambda: _quarantine.set_status(row, status))

    def advance_time(self, seconds: float) -> None:
        """Move the clock: rate-limit refill, idempotency expiry (24 h), timestamps."""
        with self._lock:
            self.clock.offset += seconds

    @property
    def quarantine(self) -> list[dict[str, Any]]:
        """Every quarantine row (sources and failed replays), oldest first, all fields."""
        with self._lock:
            return [row.record() for row in self.world.quarantine.values()]

    @property
    def accepted(self) -> list[Any]:
        """Every event stored as accepted (forwarded), as stored (transformed), oldest first."""
        with self._lock:
            return [row.payload for row in self.world.forwarded]

    @property
    def forwarded(self) -> list[dict[str, Any]]:
        """The forward rows behind ``accepted``, with contract, version and replay source."""
        with self._lock:
            return [row.record() for row in self.world.forwarded]

    @property
    def audit(self) -> list[dict[str, Any]]:
        """Every audit row of every org, oldest first (``GET /audit`` serves newest first)."""
        with self._lock:
            return [row.record() for row in self.world.audit]

    @property
    def idempotency_keys(self) -> dict[str, dict[str, Any]]:
        """Stored idempotency records by key: contract_id, body_hash, status, body."""
        with self._lock:
            return {
                k: {
                    "contract_id": r.contract_id,
                    "body_hash": r.body_hash,
                    "status": r.status,
                    "body": r.body,
                }
                for k, r in self.world.idempotency.items()
            }

    @property
    def events_used(self) -> int:
        """Events metered this month for the seeded org (against ``monthly_event_cap``)."""
        with self._lock:
            return self.world.usage.get(self.org_id, 0)

    # --- faults and the request log --------------------------------------------------------------

    def inject(self, method: str, path: str, *faults: AnyFault) -> None:
        """The next requests matching ``method`` (``"*"``: any) and ``path`` (exact or an
        fnmatch pattern such as ``/v1/ingest/*``) get these faults, one each, in order."""
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
        """Every request received (not the ``/_emulator/`` control routes), oldest first."""
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

    # --- serving ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def serve(
        self, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: Any
    ) -> Iterator[str]:
        """Serve for the duration of the block; yields the base URL."""
        server = BackgroundServer(
            self, host=host, port=port, **{"log_level": "warning", **uvicorn_options}
        )
        self.base_url = server.start()
        self.server = server
        try:
            yield self.base_url
        finally:
            server.stop()
            self.server = None

    # --- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL):
            await (self._control if scope["type"] == "http" else self._app)(scope, receive, send)
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
        if isinstance(fault, AfterProcessing):
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
                    and (pattern in ("*", record.path) or fnmatch.fnmatchcase(record.path, pattern))
                ):
                    return queue.popleft()
        return None

    def _build_app(self) -> Starlette:
        def api(path: str, handler: Handler, method: str = "GET", limit: int = BODY_LIMIT) -> Route:
            return Route(path, self._endpoint(handler, limit), methods=[method])

        v1 = V1_BODY_LIMIT
        routes = [
            Route("/health", lambda request: _routes.health(), methods=["GET"]),
            Route("/ready", lambda request: _routes.ready(not self.database_down), methods=["GET"]),
            api("/v1/ingest/{contract_id}", _ingest.v1_ingest, "POST", v1),
            api("/v1/contracts/{contract_id}/version", _routes.v1_contract_version, "GET", v1),
            api("/ingest/{raw_id}/stats", _routes_contract_stats, "GET"),
            api("/ingest/{raw_id}", _ingest.legacy_ingest, "POST"),
            api("/egress/{raw_id}", _ingest.egress, "POST"),
            api("/playground/validate", _ingest.playground, "POST"),
            api("/audit", _routes.audit),
            api("/stats", _routes.stats),
            api("/contracts", _routes.list_contracts),
            api("/contracts", _routes.create_contract, "POST"),
            api("/contracts/deploy", _routes.deploy, "POST"),
            api("/contracts/{contract_id}", _routes.get_contract),
            api("/contracts/{contract_id}", _routes.patch_contract, "PATCH"),
            api("/contracts/{contract_id}", _routes.delete_contract, "DELETE"),
            api("/contracts/{contract_id}/name-history", _routes.name_history),
            api("/contracts/{contract_id}/versions", _routes.list_versions),
            api("/contracts/{contract_id}/versions", _routes.create_version, "POST"),
            api("/contracts/{contract_id}/versions/latest-stable", _routes.latest_stable),
            api("/contracts/{contract_id}/versions/{version}", _routes.get_version),
            api("/contracts/{contract_id}/versions/{version}", _routes.patch_version, "PATCH"),
            api("/contracts/{contract_id}/versions/{version}", _routes.delete_version, "DELETE"),
            api("/contracts/{contract_id}/versions/{version}/promote", _routes.promote, "POST"),
            api("/contracts/{contract_id}/versions/{version}/deprecate", _routes.deprecate, "POST"),
            api("/contracts/{contract_id}/quarantine/replay", _quarantine.contract_replay, "POST"),
            api(
                "/contracts/{contract_id}/quarantine/{quarantine_id}/replay-history",
                _quarantine.replay_history,
            ),
            api("/quarantine", _quarantine.list_quarantine),
            api("/quarantine/replay", _quarantine.global_replay, "POST"),
            api("/quarantine/replay-history", _quarantine.replay_attempts),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            # axum's own 404 / 405: no body (405 with Allow).
            assert isinstance(exc, HTTPException)
            return Response(status_code=exc.status_code, headers=dict(exc.headers or {}))

        app = Starlette(
            routes=_merge_methods(routes), exception_handlers={HTTPException: http_error}
        )
        app.router.redirect_slashes = False
        return app

    def _endpoint(self, handler: Handler, limit: int) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            if len(body) > limit:
                # tower-http's RequestBodyLimit: plain text, before anything else runs.
                return plain(413, "length limit exceeded")
            with self._lock:
                return self._handle(handler, request, body)

        return endpoint

    def _handle(self, handler: Handler, request: Request, body: bytes) -> Response:
        world = self.world
        cred = self._authenticate(request.headers)
        if cred is None:
            return json_response({"error": UNAUTHORIZED, "status": 401}, 401)
        # The auth middleware spends one token on every authenticated request.
        bucket = world.bucket(cred)
        spent = bucket.spend(self.clock.mono(), self.clock.now(), enforce=cred.enforce_rate_limit)
        if not spent.allowed:
            return json_response({"error": AUTH_LIMITED, "status": 429}, 429)
        if self.database_down:
            return json_response({"error": "Database error", "status": 500}, 500)
        call = Call(
            world=world,
            cred=cred,
            settings=self.settings,
            path_params={k: str(v) for k, v in request.path_params.items()},
            query=dict(request.query_params),
            headers=request.headers,
            body=body,
        )
        try:
            response = handler(call)
        except ApiError as exc:
            response = exc.response()
        if request.url.path.startswith("/v1/"):
            outcome = call.rate or bucket.peek(self.clock.mono(), self.clock.now())
            response.headers.update(outcome.headers())
        return response

    def _authenticate(self, headers: Headers) -> Credential | None:
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer":
                # A session token takes precedence over any x-api-key; a bad one is a 401.
                return self.world.authenticate_session(token.strip())
        key = headers.get("x-api-key")
        return None if key is None else self.world.authenticate_key(key)

    # --- control routes (drive a `python -m` emulator from another process) ----------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "base_url": self.base_url,
                "api_key": self.api_key,
                "org_id": self.org_id,
                "contracts": dict(self.contracts),
                "audit_rows": len(self.world.audit),
                "quarantine_rows": len(self.world.quarantine),
                "accepted": len(self.world.forwarded),
            }

    def _build_control(self) -> Starlette:
        async def payload(request: Request) -> dict[str, Any]:
            raw = await request.body()
            if not raw:
                return {}
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("a JSON object is required")
            return data

        def guarded(action: Callable[[Request], Any]) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                try:
                    result = await action(request)
                except (ValueError, KeyError, TypeError) as exc:
                    return JSONResponse({"error": str(exc), "status": 422}, status_code=422)
                return JSONResponse(result)

            return endpoint

        async def state(request: Request) -> Any:
            return self.state()

        async def reset(request: Request) -> Any:
            self.reset()
            return self.state()

        async def inject(request: Request) -> Any:
            data = await payload(request)
            faults = [fault_from_dict(f) for f in data.get("faults", [])]
            if data.get("after_processing"):
                faults = [
                    f if isinstance(f, AfterProcessing) else AfterProcessing(f) for f in faults
                ]
            self.inject(data.get("method", "*"), data.get("path", "*"), *faults)
            return {"pending": self.pending_faults()}

        async def reset_faults(request: Request) -> Any:
            self.reset_faults()
            return {"pending": 0}

        async def contracts(request: Request) -> Any:
            data = await payload(request)
            text = data.pop("yaml_content")
            return {"id": self.add_contract(text, **data)}

        async def versions(request: Request) -> Any:
            data = await payload(request)
            text = data.pop("yaml_content")
            return {"version": self.add_version(request.path_params["contract_id"], text, **data)}

        async def transition(request: Request) -> Any:
            contract_id = request.path_params["contract_id"]
            version = request.path_params["version"]
            if request.path_params["action"] == "promote":
                return self.promote(contract_id, version)
            if request.path_params["action"] == "deprecate":
                return self.deprecate(contract_id, version)
            raise ValueError("action must be promote or deprecate")

        async def keys(request: Request) -> Any:
            return {"api_key": self.add_api_key(**(await payload(request)))}

        async def advance(request: Request) -> Any:
            self.advance_time(float((await payload(request))["seconds"]))
            return {"offset": self.clock.offset}

        async def database(request: Request) -> Any:
            self.database_down = not bool((await payload(request)).get("up", True))
            return {"database_down": self.database_down}

        async def rows(request: Request) -> Any:
            kind = request.path_params["kind"]
            views: dict[str, Callable[[], Any]] = {
                "quarantine": lambda: self.quarantine,
                "accepted": lambda: self.accepted,
                "audit": lambda: self.audit,
                "requests": lambda: [r.to_dict() for r in self.requests],
            }
            if kind not in views:
                raise ValueError(f"unknown view {kind!r}")
            return views[kind]()

        p = CONTROL
        return Starlette(
            routes=[
                Route(p + "state", guarded(state), methods=["GET"]),
                Route(p + "reset", guarded(reset), methods=["POST"]),
                Route(p + "inject", guarded(inject), methods=["POST"]),
                Route(p + "reset-faults", guarded(reset_faults), methods=["POST"]),
                Route(p + "contracts", guarded(contracts), methods=["POST"]),
                Route(p + "contracts/{contract_id}/versions", guarded(versions), methods=["POST"]),
                Route(
                    p + "contracts/{contract_id}/versions/{version}/{action}",
                    guarded(transition),
                    methods=["POST"],
                ),
                Route(p + "keys", guarded(keys), methods=["POST"]),
                Route(p + "clock/advance", guarded(advance), methods=["POST"]),
                Route(p + "database", guarded(database), methods=["POST"]),
                Route(p + "{kind}", guarded(rows), methods=["GET"]),
            ]
        )


def _routes_contract_stats(call: Call) -> Response:
    """``GET /ingest/{id}/stats`` shares its path prefix with legacy ingest's ``{raw_id}``."""
    call.path_params = {"contract_id": call.path_params["raw_id"]}
    return _routes.contract_stats(call)


def _merge_methods(routes: list[Route]) -> list[Route]:
    """One Route per path with every method, so a wrong method is 405 rather than 404."""
    merged: dict[str, list[Route]] = {}
    for route in routes:
        merged.setdefault(route.path, []).append(route)
    out: list[Route] = []
    for path, group in merged.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        by_method = {m: r.endpoint for r in group for m in (r.methods or ()) if m != "HEAD"}

        async def dispatch(request: Request, _by: dict[str, Any] = by_method) -> Response:
            endpoint = _by.get(request.method)
            if endpoint is None:
                raise HTTPException(405, headers={"Allow": ", ".join(sorted(_by))})
            result: Response = await endpoint(request)
            return result

        out.append(Route(path, dispatch, methods=sorted(by_method)))
    return out


__all__ = ["SEEDED", "ContractGateEmulator", "example_contract"]
