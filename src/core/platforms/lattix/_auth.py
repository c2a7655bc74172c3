"""The client-credentials session exchange of specs/lattix.md section 2.4 (``POST /v1/sdk/session``).

Built on the core :class:`ClientCredentialsAuth` (one exchange at a time under a lock, the token
registered with the redactor, the exchange copied the API request's timeout) with Lattix's
shape and lifetime rules:

- the body is JSON ``{tenant_id, client_id, client_secret, requested_scopes}`` and the request
  carries only ``Content-Type: application/json`` (no Authorization, no ``x-lattix-*``, no extra
  headers);
- the session is reused while ``now < fetched_at + (expires_in - 60 s)`` (1 s when
  ``expires_in <= 60``) and exchanged again *before* the next call after that, exactly like the SDK;
- unlike the SDK, a 401 from an API route also triggers one new exchange and one retry of the
  request, so a session revoked or expired early on the server does not fail the step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from ...transport import AccessToken, ClientCredentialsAuth
from ._errors import serialization_error, server_error
from ._models import SdkSessionExchangeRequest, SdkSessionExchangeResponse

# The SDK stops reusing a session this long before it expires (section 2.4).
REFRESH_MARGIN_S = 60.0
# ... and reuses a session that lives no longer than the margin for only this long.
SHORT_SESSION_REUSE_S = 1.0


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """Trimmed, blanks dropped, sorted, de-duplicated (what the SDK sends)."""
    return sorted({scope.strip() for scope in scopes if scope and scope.strip()})


def describe_validation_error(error: ValidationError) -> str:
    """Field paths and messages only: the input values may hold a token."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


class LattixSessionAuth(ClientCredentialsAuth):
    """Exchanges SDK client credentials for a short-lived session token, and keeps it fresh."""

    def __init__(
        self,
        exchange_url: str | httpx.URL,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | SecretStr,
        requested_scopes: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            exchange_url,
            client_id,
            client_secret,
            refresh_margin=REFRESH_MARGIN_S,
            refresh_on_401=True,
            clock=clock,
        )
        self.tenant_id = tenant_id
        self.requested_scopes = normalize_scopes(requested_scopes)
        self.session: SdkSessionExchangeResponse | None = None
        """The last session the server granted (``access_token`` is a SecretStr)."""

    def exchange_body(self) -> bytes:
        """The compact JSON body of the exchange (carries the client secret: never log it)."""
        body = SdkSessionExchangeRequest(
            tenant_id=self.tenant_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            requested_scopes=self.requested_scopes,
        ).to_wire()
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    def build_token_request(self, token_url: httpx.URL) -> httpx.Request:
        return httpx.Request(
            "POST", token_url, content=self.exchange_body(), headers={"Content-Type": "application/json"}
        )

    def parse_token_response(self, response: httpx.Response) -> AccessToken:
        if not response.is_success:
            raise server_error(response)
        route = f"{response.request.method} {response.request.url.path}"
        try:
            data: Any = json.loads(response.text)
        except ValueError as exc:
            raise serialization_error(
                getattr(exc, "msg", type(exc).__name__), status=response.status_code, route=route
            ) from None
        try:
            session = SdkSessionExchangeResponse.model_validate(data)
        except ValidationError as exc:
            raise serialization_error(
                describe_validation_error(exc), status=response.status_code, route=route
            ) from None
        # Keep the token out of raw_json: it is the one place a session answer could leak from.
        session._raw_json = {**data, "access_token": "***"} if isinstance(data, dict) else None
        self.session = session
        # The core reuses a token for (expires_in - refresh_margin) seconds; report the lifetime
        # that makes that equal to the SDK's reuse window (1 s for sessions of 60 s or less).
        lifetime = float(session.expires_in)
        reuse = lifetime - REFRESH_MARGIN_S if lifetime > REFRESH_MARGIN_S else SHORT_SESSION_REUSE_S
        return AccessToken(
            value=session.access_token,
            expires_in=reuse + REFRESH_MARGIN_S,
            token_type=session.token_type,
            scope=session.scope,
        )

    async def exchange(
        self, send: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> SdkSessionExchangeResponse:
        """Exchange now (``exchange_session()``), under the same lock as the automatic exchanges.

        ``send`` delivers the exchange request and returns the response; the new session
        replaces the cached one. (Uses the core class's lock and acceptance, so a concurrent
        automatic exchange waits for this one.)
        """
        async with self._get_lock():
            response = await send(self.build_token_request(self.token_url))
            self._accept_response(response)
        assert self.session is not None
        return self.session


__all__ = ["LattixSessionAuth", "describe_validation_error", "normalize_scopes"]
