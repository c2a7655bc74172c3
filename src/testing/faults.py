"""A small HTTP server that misbehaves on demand, for testing clients against real faults.

```python
faults = FaultApp()
with serve_asgi(faults) as url:
    faults.inject("/things", rate_limited(retry_after=0), server_error(503))
    ...                                   # the next two requests to /things fail, then it answers
    assert faults.count("/things") == 3
```

Injected faults are consumed one per request to the path (``"*"`` matches any path), in order;
without a fault the request gets the normal answer of its route:

- ``POST /oauth/token`` (form or JSON) and ``POST /v1/sdk/session`` (JSON): client-credentials
  token endpoint issuing tokens valid ``token_ttl`` seconds;
- ``/secure/...`` (any method): needs ``Authorization: Bearer <issued token>``, else 401; echoes;
- ``GET /items?limit=&offset=``: ``item_count`` items ``{"id": i}``, at most ``page_cap`` per
  page, ``{"items", "limit", "offset", "total"}`` (``with_total=false`` and ``echo_limit=false``
  drop the last two hints);
- anything else: echoes the request (method, path, query, headers, JSON body).

Every request (except the ``/_faults`` control routes) is recorded with its headers, body and
client address. The control routes (``POST /_faults/inject``, ``GET /_faults/requests``,
``POST /_faults/reset``, ``POST /_faults/expire-tokens``) drive the app from another process.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .server import Message, Receive, Scope, Send

FaultKind = Literal["respond", "delay", "drop", "truncate", "malformed"]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, applied to one request."""

    kind: FaultKind
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        headers = data.get("headers") or {}
        items = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            kind=data["kind"],
            status=int(data.get("status", 200)),
            headers=tuple((str(k), str(v)) for k, v in items),
            body=data.get("body"),
            seconds=float(data.get("seconds", 0.0)),
        )


def respond(status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> Fault:
    """Answer with this status, JSON ``body`` and headers instead of the route's answer."""
    return Fault("respond", status=status, body=body, headers=tuple((headers or {}).items()))


def rate_limited(retry_after: float | str | None = 0, body: Any = None) -> Fault:
    """429, with ``Retry-After`` in seconds (a number) or verbatim (a string such as an HTTP-date)."""
    headers = {} if retry_after is None else {"Retry-After": _retry_after(retry_after)}
    return respond(429, body if body is not None else {"detail": "rate limit exceeded"}, headers)


def server_error(status: int = 503, body: Any = None, retry_after: float | str | None = None) -> Fault:
    headers = {} if retry_after is None else {"Retry-After": _retry_after(retry_after)}
    return respond(status, body if body is not None else {"detail": f"server error {status}"}, headers)


def expired_token() -> Fault:
    """The 401 an OAuth2 resource server gives for an expired access token."""
    return respond(
        401,
        {"error": "invalid_token", "error_description": "The access token expired"},
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def slow(seconds: float) -> Fault:
    """Wait ``seconds`` (or until the client gives up) before the route's normal answer."""
    return Fault("delay", seconds=seconds)


def drop() -> Fault:
    """Close the connection without sending any response."""
    return Fault("drop")


def truncate() -> Fault:
    """Send the status line, headers and part of the body, then close the connection."""
    return Fault("truncate")


def malformed_json(status: int = 200) -> Fault:
    """A ``application/json`` response whose body is not valid JSON."""
    return Fault("malformed", status=status)


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (RFC 9110) ``seconds_from_now`` seconds away, for ``Retry-After``."""
    return formatdate(time.time() + seconds_from_now, usegmt=True)


def _retry_after(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] | None
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = self.body.decode("utf-8", errors="replace")
        return data


class FaultApp:
    """The fault-injection ASGI app (see the module docstring)."""

    def __init__(
        self,
        *,
        client_id: str = "govflow-test-client",
        client_secret: str = "test-client-secret-0123456789",
        token_ttl: float = 3600.0,
        item_count: int = 250,
        page_cap: int = 50,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.item_count = item_count
        self.page_cap = page_cap
        self._lock = threading.Lock()
        self._faults: dict[str, collections.deque[Fault]] = {}
        self._requests: list[RecordedRequest] = []
        self._tokens: dict[str, float] = {}
        self._issued: list[str] = []
        self._app = Starlette(
            routes=[
                Route("/_faults/inject", self._control_inject, methods=["POST"]),
                Route("/_faults/requests", self._control_requests, methods=["GET"]),
                Route("/_faults/reset", self._control_reset, methods=["POST"]),
                Route("/_faults/expire-tokens", self._control_expire, methods=["POST"]),
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/v1/sdk/session", self._token, methods=["POST"]),
                Route("/items", self._items, methods=["GET"]),
                Route("/secure/{rest:path}", self._secure, methods=_ALL_METHODS),
                Route("/{rest:path}", self._echo, methods=_ALL_METHODS),
            ]
        )

    # --- the test-facing API (thread-safe) -------------------------------------------------

    def inject(self, path: str, *faults: Fault) -> None:
        """Queue faults for the next requests to ``path`` (``"*"``: any path), one per request."""
        with self._lock:
            self._faults.setdefault(path, collections.deque()).extend(faults)

    def pending(self, path: str) -> int:
        """How many injected faults for ``path`` have not been used yet."""
        with self._lock:
            return len(self._faults.get(path, ()))

    def requests(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r
                for r in self._requests
                if (path is None or r.path == path) and (method is None or r.method == method.upper())
            ]

    def count(self, path: str | None = None, method: str | None = None) -> int:
        return len(self.requests(path, method))

    def reset(self) -> None:
        """Forget faults, recorded requests and tokens."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._tokens.clear()
            self._issued.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far is rejected from now on (401 ``invalid_token``)."""
        with self._lock:
            self._tokens.clear()

    @property
    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    # --- ASGI ------------------------------------------------------------------------------

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
        path: str = scope["path"]
        fault = None
        if not path.startswith("/_faults/"):
            fault = self._record_and_take(scope, bytes(body))

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        if fault is not None:
            if fault.kind == "delay":
                if await client_left(receive, fault.seconds):
                    return
            elif fault.kind in ("drop", "truncate"):
                await drop_connection(send, receive, truncated=fault.kind == "truncate")
                return
            elif fault.kind == "malformed":
                response: Response = Response(
                    b'{"items": [1, 2,', status_code=fault.status, media_type="application/json"
                )
                await response(scope, replay, send)
                return
            else:
                response = JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))
                await response(scope, replay, send)
                return
        await self._app(scope, replay, send)

    def _record_and_take(self, scope: Scope, body: bytes) -> Fault | None:
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
            for key in (record.path, "*"):
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
        return None

    # --- routes ----------------------------------------------------------------------------

    async def _echo(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload: Any = json.loads(body) if body else None
            text = None
        except ValueError:
            payload, text = None, body.decode("utf-8", errors="replace")
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "json": payload,
                "body": text,
            }
        )

    async def _token(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if not isinstance(data, dict):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
        else:
            data = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
            if data.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        client_id, client_secret = data.get("client_id"), data.get("client_secret")
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                pair = base64.b64decode(authorization[6:]).decode("utf-8")
                raw_id, _, raw_secret = pair.partition(":")
                client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            except ValueError:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
        if client_id != self.client_id or client_secret != self.client_secret:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "unknown client or wrong secret"},
                status_code=401,
            )
        token = "at-" + secrets.token_urlsafe(18)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
            self._issued.append(token)
        scope_value = data.get("scope")
        if scope_value is None and isinstance(data.get("requested_scopes"), list):
            scope_value = " ".join(data["requested_scopes"])
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": scope_value or "default",
            }
        )

    async def _secure(self, request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or time.monotonic() >= expires:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "missing, unknown or expired token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return await self._echo(request)

    async def _items(self, request: Request) -> Response:
        query = request.query_params
        try:
            limit = int(query.get("limit", "100"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            return JSONResponse({"detail": "limit and offset must be integers"}, status_code=422)
        if limit < 1 or offset < 0:
            return JSONResponse({"detail": "limit must be >= 1 and offset >= 0"}, status_code=422)
        limit = min(limit, self.page_cap)
        end = min(offset + limit, self.item_count)
        page: dict[str, Any] = {"items": [{"id": i} for i in range(offset, end)], "offset": offset}
        if query.get("echo_limit", "true") != "false":
            page["limit"] = limit
        if query.get("with_total", "true") != "false":
            page["total"] = self.item_count
        return JSONResponse(page)

    # --- control routes ------------------------------------------------------------------------

    async def _control_inject(self, request: Request) -> Response:
        data = await request.json()
        self.inject(data["path"], *(Fault.from_dict(f) for f in data.get("faults", [])))
        return JSONResponse({"pending": self.pending(data["path"])})

    async def _control_requests(self, request: Request) -> Response:
        found = self.requests(request.query_params.get("path"), request.query_params.get("method"))
        return JSONResponse([r.to_dict() for r in found])

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    async def _control_expire(self, request: Request) -> Response:
        self.expire_tokens()
        return JSONResponse({"expired": True})


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def client_left(receive: Receive, seconds: float) -> bool:
    """Sleep ``seconds`` unless the client disconnects first (then return True)."""
    try:
        await asyncio.wait_for(_wait_disconnect(receive), seconds)
    except asyncio.TimeoutError:
        return False
    return True


async def drop_connection(send: Send, receive: Receive, *, truncated: bool) -> None:
    """Close the connection under the request, optionally after a partial response.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the asyncio transport;
    closing it is the only way to hang up without any HTTP response.
    """
    if truncated:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        # Another server: an exception after the response started makes it close the connection.
        raise ConnectionAbortedError("fault injection: dropping the connection")
    transport.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_wait_disconnect(receive), 5.0)


def faults_from(specs: Iterable[Mapping[str, Any]]) -> list[Fault]:
    """Faults from their JSON form (what ``POST /_faults/inject`` accepts)."""
    return [Fault.from_dict(spec) for spec in specs]


__all__ = [
    "Fault",
    "FaultApp",
    "RecordedRequest",
    "client_left",
    "drop",
    "drop_connection",
    "expired_token",
    "faults_from",
    "http_date",
    "malformed_json",
    "rate_limited",
    "respond",
    "server_error",
    "slow",
    "truncate",
]
