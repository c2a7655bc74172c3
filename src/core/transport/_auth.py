"""Auth strategies: ``httpx.Auth`` subclasses that also tell the redactor what to hide.

The transport applies an auth strategy only to requests for the platform's own host (see
``Transport.request``), so none of these ever sends a credential to a presigned URL.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote_plus

import httpx
from pydantic import SecretStr

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    GovflowError,
    RateLimitError,
    TransportError,
)
from ..redaction import Redactor
from ._errors import error_class_for, extract_code_detail, response_body
from ._retry import parse_retry_after

logger = logging.getLogger("govflow.transport")


def _secret(value: str | SecretStr, what: str) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    if not secret.get_secret_value().strip():
        raise ConfigurationError(f"{what} is empty")
    return secret


class AuthStrategy(httpx.Auth):
    """Base class of govflow's auth strategies.

    Subclasses report their secrets through :meth:`secrets`; the transport binds its redactor with
    :meth:`bind_redactor`, and secrets learnt later (a refreshed access token) are registered
    through :meth:`_register`.
    """

    def __init__(self) -> None:
        self._redactors: list[Redactor] = []

    def secrets(self) -> list[SecretStr]:
        return []

    def bind_redactor(self, redactor: Redactor) -> None:
        redactor.add(*self.secrets())
        if all(r is not redactor for r in self._redactors):
            self._redactors.append(redactor)

    def _register(self, *secrets: str | SecretStr) -> None:
        for redactor in self._redactors:
            redactor.add(*secrets)

    def __repr__(self) -> str:
        # Never print a secret, even by accident in a debugger or a log line.
        return f"{type(self).__name__}(***)"


class BearerAuth(AuthStrategy):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str | SecretStr, *, scheme: str = "Bearer") -> None:
        super().__init__()
        self.token = _secret(token, "bearer token")
        self.scheme = scheme

    def secrets(self) -> list[SecretStr]:
        return [self.token]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"{self.scheme} {self.token.get_secret_value()}"
        yield request


class ApiKeyAuth(AuthStrategy):
    """An API key in a header, ``x-api-key`` by default (ContractGate)."""

    def __init__(self, key: str | SecretStr, header: str = "x-api-key", *, prefix: str | None = None) -> None:
        super().__init__()
        self.key = _secret(key, "API key")
        self.header = header
        self.prefix = prefix

    def secrets(self) -> list[SecretStr]:
        return [self.key]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        value = self.key.get_secret_value()
        request.headers[self.header] = f"{self.prefix} {value}" if self.prefix else value
        yield request


@dataclass(frozen=True)
class AccessToken:
    """An access token from a credentials exchange. ``expires_in`` is in seconds, None if unknown."""

    value: SecretStr
    expires_in: float | None = None
    token_type: str = "Bearer"
    scope: str | None = None


class ClientCredentialsAuth(AuthStrategy):
    """OAuth2 client credentials: exchange ``client_id``/``client_secret`` for an access token.

    - The exchange is a form POST to ``token_url`` (``grant_type=client_credentials``, optional
      ``scope`` and ``extra_params``); credentials go in the body (``client_secret_post``) or a
      Basic header (``client_secret_basic``). A relative ``token_url`` is resolved against the
      URL of the API request being authenticated.
    - The token is cached and refreshed ``refresh_margin`` seconds before it expires (a token that
      lives no longer than the margin is reused for half its lifetime).
    - A 401 from the API triggers one refresh and one retry of the request.
    - An asyncio lock makes concurrent requests share one exchange.

    Platforms with another exchange shape (Lattix posts JSON to ``/v1/sdk/session``) override
    :meth:`build_token_request` and, if needed, :meth:`parse_token_response`.
    """

    def __init__(
        self,
        token_url: str | httpx.URL,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        scope: str | Sequence[str] | None = None,
        refresh_margin: float = 30.0,
        refresh_on_401: bool = True,
        auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post",
        extra_params: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if not client_id or not client_id.strip():
            raise ConfigurationError("client_id is empty")
        self.token_url = httpx.URL(token_url)
        self.client_id = client_id
        self.client_secret = _secret(client_secret, "client secret")
        self.scope = scope if scope is None or isinstance(scope, str) else " ".join(scope)
        self.refresh_margin = refresh_margin
        self.refresh_on_401 = refresh_on_401
        self.auth_method = auth_method
        self.extra_params = dict(extra_params or {})
        self.clock = clock
        self._token: AccessToken | None = None
        self._refresh_at: float | None = None
        self._exchanges = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    # --- what subclasses may override ------------------------------------------------------

    def build_token_request(self, token_url: httpx.URL) -> httpx.Request:
        """The exchange request (without timeout; the flow copies the API request's)."""
        data: dict[str, str] = {"grant_type": "client_credentials", **self.extra_params}
        if self.scope:
            data["scope"] = self.scope
        headers = {"Accept": "application/json"}
        secret = self.client_secret.get_secret_value()
        if self.auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: form-encode both parts before base64.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            data["client_id"] = self.client_id
            data["client_secret"] = secret
        return httpx.Request("POST", token_url, data=data, headers=headers)

    def parse_token_response(self, response: httpx.Response) -> AccessToken:
        """Read ``access_token``, ``expires_in``, ``token_type`` and ``scope``; raise a typed error otherwise."""
        if not response.is_success:
            raise self._exchange_error(response)
        try:
            data: Any = response.json()
        except ValueError:
            raise TransportError(
                "token endpoint returned a body that is not JSON", status=response.status_code
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) or not data["access_token"]:
            raise TransportError(
                "token endpoint answer has no access_token", status=response.status_code
            )
        expires_in = data.get("expires_in")
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        return AccessToken(
            value=SecretStr(data["access_token"]),
            expires_in=lifetime,
            token_type=str(data.get("token_type") or "Bearer"),
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
        )

    def authorization_header(self, token: AccessToken) -> tuple[str, str]:
        # Some servers answer token_type "bearer"; the scheme we send is always "Bearer".
        return "Authorization", f"Bearer {token.value.get_secret_value()}"

    # --- state -----------------------------------------------------------------------------

    @property
    def exchanges(self) -> int:
        """How many exchanges this auth has done (for diagnostics)."""
        return self._exchanges

    @property
    def token(self) -> AccessToken | None:
        return self._token

    def invalidate(self) -> None:
        """Forget the cached token: the next request exchanges again."""
        self._token = None
        self._refresh_at = None

    def secrets(self) -> list[SecretStr]:
        values = [self.client_secret]
        if self._token is not None:
            values.append(self._token.value)
        return values

    def _needs_exchange(self) -> bool:
        if self._token is None:
            return True
        return self._refresh_at is not None and self.clock() >= self._refresh_at

    def _accept(self, token: AccessToken) -> None:
        self._register(token.value)
        self._exchanges += 1
        self._token = token
        if token.expires_in is None:
            self._refresh_at = None
        else:
            margin = self.refresh_margin
            reuse = token.expires_in - margin if token.expires_in > margin else token.expires_in / 2
            self._refresh_at = self.clock() + max(0.0, reuse)

    def _get_lock(self) -> asyncio.Lock:
        # asyncio locks belong to one loop; a client reused under a new loop gets a new lock.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is None or self._lock_loop() is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = weakref.ref(loop)
        return self._lock

    def _exchange_error(self, response: httpx.Response) -> GovflowError:
        body = response_body(response)
        code, detail = extract_code_detail(body)
        status = response.status_code
        cls = error_class_for(status)
        if status in (400, 401, 403):
            # OAuth2 answers 400 invalid_client / invalid_grant for bad credentials.
            cls = AuthenticationError
        summary = detail if isinstance(detail, str) and detail else response.reason_phrase
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if cls is RateLimitError else None
        return cls(
            f"credentials exchange at {response.request.url.copy_with(query=None)} failed: {summary}",
            status=status,
            code=code,
            detail=detail,
            body=body,
            retry_after=retry_after,
        )

    # --- the httpx flow --------------------------------------------------------------------

    def _exchange_request(self, api_request: httpx.Request) -> httpx.Request:
        token_url = api_request.url.join(self.token_url)
        exchange = self.build_token_request(token_url)
        if "timeout" in api_request.extensions:
            exchange.extensions["timeout"] = api_request.extensions["timeout"]
        return exchange

    def _accept_response(self, response: httpx.Response) -> None:
        token = self.parse_token_response(response)
        self._accept(token)
        logger.debug(
            "credentials exchange %s -> %s (token expires in %s s)",
            response.request.url.copy_with(query=None),
            response.status_code,
            token.expires_in,
        )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        lock = self._get_lock()
        async with lock:
            if self._needs_exchange():
                exchange_response = yield self._exchange_request(request)
                await exchange_response.aread()
                self._accept_response(exchange_response)
            token = self._token
        assert token is not None
        name, value = self.authorization_header(token)
        request.headers[name] = value
        response = yield request

        if response.status_code != 401 or not self.refresh_on_401:
            return
        async with lock:
            # Another request may have refreshed already while this one was in flight.
            if self._token is token:
                exchange_response = yield self._exchange_request(request)
                await exchange_response.aread()
                self._accept_response(exchange_response)
            token = self._token
        assert token is not None
        name, value = self.authorization_header(token)
        request.headers[name] = value
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(
            "ClientCredentialsAuth needs the async client; use govflow.core.sync for blocking code"
        )


__all__ = ["AccessToken", "ApiKeyAuth", "AuthStrategy", "BearerAuth", "ClientCredentialsAuth"]
