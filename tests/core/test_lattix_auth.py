"""Lattix configuration and the three auth modes (specs/lattix.md section 2), over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from govflow.core.errors import AuthenticationError, ConfigurationError
from govflow.core.platforms.lattix import (
    LattixAuthenticationError,
    LattixClient,
    LattixForbiddenError,
    LattixNotFoundError,
    LattixSessionAuth,
    normalize_scopes,
)
from govflow.core.transport import RetryPolicy, Transport
from govflow.testing.faults import respond
from govflow.testing.lattix import LattixEmulator

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)
ONCE = RetryPolicy(max_attempts=1)
ENV = (
    "LATTIX_BASE_URL",
    "LATTIX_BEARER_TOKEN",
    "LATTIX_TENANT_ID",
    "LATTIX_USER_ID",
    "LATTIX_CLIENT_ID",
    "LATTIX_CLIENT_SECRET",
)


@pytest.fixture(autouse=True)
def _no_lattix_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def served() -> Iterator[LattixEmulator]:
    emulator = LattixEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def emu(served: LattixEmulator) -> LattixEmulator:
    served.reset()
    served.session_ttl = 900
    served.auth_mode = "bearer_token_or_trusted_headers"
    return served


def credentials(emu: LattixEmulator, **kwargs: object) -> LattixClient:
    options: dict[str, object] = {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "tenant_id": emu.tenant_id,
        "retry": FAST,
    }
    options.update(kwargs)
    return LattixClient(emu.base_url, **options)  # type: ignore[arg-type]


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "base_url cannot be empty"),
        ({"base_url": "   /// "}, "base_url cannot be empty"),
        ({"base_url": "lattix.example"}, "must be an http:// or https:// URL"),
        ({"base_url": "https://x", "client_id": "c"}, "client_id and client_secret must be provided together"),
        ({"base_url": "https://x", "client_secret": "s"}, "client_id and client_secret must be provided together"),
        ({"base_url": "https://x", "client_id": " ", "client_secret": "s"}, "cannot be blank"),
        ({"base_url": "https://x", "client_id": "c", "client_secret": SecretStr("  ")}, "cannot be blank"),
        (
            {"base_url": "https://x", "client_id": "c", "client_secret": "s"},
            "tenant_id is required when sdk client credentials are configured",
        ),
        (
            {"base_url": "https://x", "client_id": "c", "client_secret": "s", "tenant_id": "  "},
            "tenant_id is required when sdk client credentials are configured",
        ),
        (
            {"base_url": "https://x", "client_id": "c", "client_secret": "s", "tenant_id": "t", "token_exchange_path": " "},
            "token_exchange_path cannot be empty",
        ),
    ],
)
def test_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        LattixClient(**kwargs)  # type: ignore[arg-type]
    assert caught.value.platform == "lattix"


def test_auth_kind_follows_the_sdk_precedence() -> None:
    assert LattixClient("https://x", bearer_token="t").auth_kind == "bearer_token"
    # The bearer token wins over client credentials; tenant_id is then not required.
    assert LattixClient("https://x", bearer_token="t", client_id="c", client_secret="s").auth_kind == "bearer_token"
    # A blank token means no Authorization header at all.
    assert LattixClient("https://x", bearer_token="  ", tenant_id="t", user_id="u").auth_kind == "trusted_headers"
    assert LattixClient("https://x", client_id="c", client_secret="s", tenant_id="t").auth_kind == "client_credentials"
    assert LattixClient("https://x").auth_kind == "none"


async def test_environment_fallbacks(emu: LattixEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATTIX_BASE_URL", emu.base_url)
    monkeypatch.setenv("LATTIX_BEARER_TOKEN", emu.bearer_token)
    monkeypatch.setenv("LATTIX_TENANT_ID", emu.tenant_id)
    monkeypatch.setenv("LATTIX_USER_ID", "someone")
    async with LattixClient() as lattix:
        assert lattix.auth_kind == "bearer_token"
        assert (await lattix.whoami()).caller.principal_id == emu.user_id
    request = emu.requests[-1]
    assert request.header("x-lattix-user-id") == "someone"
    assert request.header("x-lattix-tenant-id") == emu.tenant_id

    # Explicit credentials replace the environment's as a set: no stray LATTIX_BEARER_TOKEN.
    monkeypatch.setenv("LATTIX_CLIENT_ID", "ignored")
    async with LattixClient(client_id=emu.client_id, client_secret=emu.client_secret) as lattix:
        assert lattix.auth_kind == "client_credentials"
        assert (await lattix.whoami()).caller.auth_source == "sdk_client_credentials"

    monkeypatch.delenv("LATTIX_BEARER_TOKEN")
    monkeypatch.setenv("LATTIX_CLIENT_ID", emu.client_id)
    monkeypatch.setenv("LATTIX_CLIENT_SECRET", emu.client_secret)
    async with LattixClient() as lattix:
        assert lattix.auth_kind == "client_credentials"
        await lattix.bootstrap()
    # An explicit argument beats the environment.
    assert LattixClient("https://elsewhere", tenant_id="explicit").tenant_id == "explicit"


# --- headers (section 2.1) -------------------------------------------------------------------------


async def test_header_precedence(emu: LattixEmulator) -> None:
    extra = {
        "X-Request-Source": "govflow-tests",
        "X-Lattix-Tenant-Id": "from-extra-headers",
        "Authorization": "Bearer from-extra-headers",
    }
    async with LattixClient(
        emu.base_url, bearer_token=f"  {emu.bearer_token}\n", tenant_id=f" {emu.tenant_id} ", headers=extra
    ) as lattix:
        await lattix.whoami()
    request = emu.requests[-1]
    assert request.header("x-request-source") == "govflow-tests"
    assert request.header("x-lattix-tenant-id") == emu.tenant_id  # overwrites the extra header
    assert request.header("authorization") == f"Bearer {emu.bearer_token}"  # applied last
    assert request.header("x-lattix-user-id") is None  # not configured: not sent


async def test_blank_values_send_no_header(emu: LattixEmulator) -> None:
    async with LattixClient(emu.base_url, bearer_token=" ", tenant_id=" ", user_id="", retry=ONCE) as lattix:
        with pytest.raises(AuthenticationError):
            await lattix.whoami()
    request = emu.requests[-1]
    assert request.header("authorization") is None
    assert request.header("x-lattix-tenant-id") is None
    assert request.header("x-lattix-user-id") is None


# --- bearer and trusted headers ----------------------------------------------------------------------


async def test_bearer_token_mode() -> None:
    emulator = LattixEmulator(auth_mode="bearer_token")
    with emulator.serve() as base_url:
        async with LattixClient(base_url, bearer_token=SecretStr(emulator.bearer_token)) as lattix:
            whoami = await lattix.whoami()
        assert whoami.caller.auth_source == "bearer_token"
        # Headers alone are not enough in this mode.
        async with LattixClient(base_url, tenant_id="acme-dev", user_id="alice", retry=ONCE) as lattix:
            with pytest.raises(LattixAuthenticationError, match="bearer token required"):
                await lattix.whoami()
        # A token the server issued with a lifetime, and a different tenant in the header.
        token = emulator.add_token(tenant_id="acme-other")
        async with LattixClient(base_url, bearer_token=token, tenant_id="acme-prod", retry=ONCE) as lattix:
            with pytest.raises(LattixForbiddenError):
                await lattix.whoami()


async def test_trusted_headers_mode() -> None:
    emulator = LattixEmulator(auth_mode="trusted_headers")
    with emulator.serve() as base_url:
        async with LattixClient(base_url, tenant_id="acme-dev", user_id="alice") as lattix:
            whoami = await lattix.whoami()
            plan = await lattix.protection_plan(
                operation="protect", workload={"application": "a"}, resource={"kind": "document"}
            )
        assert whoami.caller.tenant_id == "acme-dev"
        assert whoami.caller.principal_id == "alice"
        assert whoami.caller.auth_source == "trusted_headers"
        assert plan.decision.allow
        assert all(r.header("authorization") is None for r in emulator.requests)


# --- client credentials (section 2.4) -----------------------------------------------------------------


def test_scopes_are_normalized() -> None:
    assert normalize_scopes([" sdk.protect ", "", "  ", "platform-api.access", "sdk.protect"]) == [
        "platform-api.access",
        "sdk.protect",
    ]


async def test_client_credentials_exchange(emu: LattixEmulator) -> None:
    scopes = [" sdk.protect ", "", "platform-api.access", "sdk.protect"]
    async with credentials(emu, requested_scopes=scopes, headers={"X-Extra": "1"}, user_id="ops") as lattix:
        whoami = await lattix.whoami()
        await lattix.bootstrap()
        await lattix.policy_resolve(operation="protect", workload={"application": "a"}, resource={"kind": "d"})
        assert lattix.session_exchanges == 1  # reused while fresh
        session = lattix.session
    assert session is not None
    assert session.subject == f"sdk:{emu.client_id}"
    assert session.scope == "platform-api.access sdk.protect"
    assert session.expires_in == 900
    assert whoami.caller.principal_id == emu.client_id
    assert whoami.caller.auth_source == "sdk_client_credentials"

    exchange = emu.requests_to("POST", "session")
    assert len(exchange) == 1
    assert json.loads(exchange[0].body) == {
        "tenant_id": emu.tenant_id,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "requested_scopes": ["platform-api.access", "sdk.protect"],
    }
    # Only Content-Type: no Authorization, no x-lattix-*, no extra headers.
    headers = exchange[0].headers
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert not [name for name in headers if name.startswith("x-")]
    token = session.access_token.get_secret_value()
    for request in emu.requests_to("*", "*")[1:]:
        assert request.header("authorization") == f"Bearer {token}"
        assert request.header("x-lattix-tenant-id") == emu.tenant_id
        assert request.header("x-lattix-user-id") == "ops"
        assert request.header("x-extra") == "1"


async def test_explicit_exchange_session(emu: LattixEmulator) -> None:
    async with credentials(emu, headers={"X-Extra": "1"}, user_id="ops") as lattix:
        first = await lattix.exchange_session()
        await lattix.whoami()  # reuses the session exchanged explicitly
        assert lattix.session_exchanges == 1
        second = await lattix.exchange_session()
        assert lattix.session_exchanges == 2
        await lattix.whoami()
    assert first.access_token.get_secret_value() != second.access_token.get_secret_value()
    assert emu.requests_to("GET", "whoami")[-1].header("authorization") == f"Bearer {second.access_token.get_secret_value()}"
    for exchange in emu.requests_to("POST", "session"):
        assert "authorization" not in exchange.headers
        assert not [name for name in exchange.headers if name.startswith("x-")]

    async with LattixClient(emu.base_url, bearer_token=emu.bearer_token) as lattix:
        with pytest.raises(ConfigurationError, match="needs client credentials"):
            await lattix.exchange_session()


async def test_session_refreshed_before_expiry(emu: LattixEmulator) -> None:
    # expires_in <= 60: the SDK reuses a session for 1 s only, then exchanges before the call.
    emu.session_ttl = 30
    async with credentials(emu) as lattix:
        await lattix.whoami()
        await lattix.whoami()
        assert lattix.session_exchanges == 1
        await asyncio.sleep(1.1)
        await lattix.whoami()
        assert lattix.session_exchanges == 2
    assert all(r.path != "/v1/sdk/whoami" or r.header("authorization") for r in emu.requests)
    assert emu.count("GET", "whoami") == 3  # no call needed a 401 to notice


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_session_reuse_window_is_expires_in_minus_60(emu: LattixEmulator) -> None:
    clock = FakeClock()
    auth = LattixSessionAuth(
        f"{emu.base_url}/v1/sdk/session",
        tenant_id=emu.tenant_id,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        clock=clock,
    )
    async with Transport("lattix", emu.base_url, auth=auth) as http:
        await http.request("GET", "/v1/sdk/whoami")
        clock.now += 900 - 60 - 0.5  # still inside now < fetched_at + (expires_in - 60)
        await http.request("GET", "/v1/sdk/whoami")
        assert auth.exchanges == 1
        clock.now += 0.5
        await http.request("GET", "/v1/sdk/whoami")
        assert auth.exchanges == 2


async def test_session_refreshed_once_on_401(emu: LattixEmulator) -> None:
    # Unlike the SDK, a 401 (a session revoked or expired early) gets one new exchange and one retry.
    async with credentials(emu) as lattix:
        await lattix.whoami()
        emu.expire_tokens()
        whoami = await lattix.whoami()
        assert lattix.session_exchanges == 2
        assert whoami.caller.principal_id == emu.client_id
    statuses = [r.path for r in emu.requests]
    assert statuses == [
        "/v1/sdk/session",
        "/v1/sdk/whoami",
        "/v1/sdk/whoami",  # 401: expired
        "/v1/sdk/session",
        "/v1/sdk/whoami",
    ]


async def test_wrong_client_secret(emu: LattixEmulator) -> None:
    async with credentials(emu, client_secret="wrong-secret-value") as lattix:
        with pytest.raises(LattixAuthenticationError) as caught:
            await lattix.whoami()
    error = caught.value
    assert error.code == "invalid_client"
    assert error.message == f"Server error: HTTP 401: {error.text}"
    assert "wrong-secret-value" not in str(error)
    assert emu.count("GET", "whoami") == 0  # the API call was never sent


async def test_exchange_failure_on_5xx_is_retried(emu: LattixEmulator) -> None:
    emu.inject("POST", "session", respond(503, {"error": "unavailable", "message": "later", "status": 503}))
    async with credentials(emu) as lattix:
        await lattix.whoami()
    assert emu.count("POST", "session") == 2


async def test_token_exchange_path_relative_and_absolute() -> None:
    emulator = LattixEmulator(path_prefix="/gw")
    with emulator.serve() as base_url:
        options = {
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "tenant_id": emulator.tenant_id,
        }
        # Relative: appended to the base URL, prefix included.
        async with LattixClient(base_url, **options) as lattix:  # type: ignore[arg-type]
            assert (await lattix.whoami()).caller.principal_id == emulator.client_id
        # Absolute: used as it is.
        async with LattixClient(
            "https://unused.invalid", token_exchange_path=f"{base_url}/v1/sdk/session", **options  # type: ignore[arg-type]
        ) as lattix:
            assert (await lattix.exchange_session()).client_id == emulator.client_id
        # A server without the route (later cores dropped it).
        emulator.session_exchange = False
        async with LattixClient(base_url, retry=ONCE, **options) as lattix:  # type: ignore[arg-type]
            with pytest.raises(LattixNotFoundError):
                await lattix.whoami()
