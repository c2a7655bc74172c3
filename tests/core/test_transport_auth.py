"""Auth strategies, User-Agent and the no-credentials-to-foreign-hosts rule, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from govflow._version import __version__
from govflow.core.errors import AuthenticationError, ConfigurationError
from govflow.core.transport import (
    ApiKeyAuth,
    BearerAuth,
    ClientCredentialsAuth,
    RetryPolicy,
    Transport,
)
from govflow.testing.faults import FaultApp, expired_token, server_error, slow
from govflow.testing.server import serve_asgi

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)
CLIENT_ID = "govflow-test-client"
CLIENT_SECRET = "test-client-secret-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FaultApp, str]]:
    app = FaultApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with serve_asgi(app) as url:
        yield app, url


@pytest.fixture
def faults(server: tuple[FaultApp, str]) -> FaultApp:
    server[0].reset()
    server[0].token_ttl = 3600.0
    return server[0]


@pytest.fixture
def url(server: tuple[FaultApp, str]) -> str:
    return server[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def credentials(url: str, **kwargs: object) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(f"{url}/oauth/token", CLIENT_ID, CLIENT_SECRET, **kwargs)  # type: ignore[arg-type]


def foreign(url: str) -> str:
    """The same server under another host name: a different origin for the client."""
    return url.replace("127.0.0.1", "localhost")


# --- static credentials ------------------------------------------------------------------------


async def test_bearer_auth(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, auth=BearerAuth(SecretStr("vk_live_abcdef"))) as http:
        echo = await http.request_json("GET", "/whoami")
    assert echo["headers"]["authorization"] == "Bearer vk_live_abcdef"


async def test_api_key_auth_default_and_custom_header(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, auth=ApiKeyAuth("cg-key-123456")) as http:
        echo = await http.request_json("GET", "/whoami")
    assert echo["headers"]["x-api-key"] == "cg-key-123456"
    assert "authorization" not in echo["headers"]

    async with Transport("p", url, auth=ApiKeyAuth("cg-key-123456", header="X-Token")) as http:
        echo = await http.request_json("GET", "/whoami")
    assert echo["headers"]["x-token"] == "cg-key-123456"
    assert "x-api-key" not in echo["headers"]


def test_blank_credentials_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        BearerAuth("  ")
    with pytest.raises(ConfigurationError):
        ApiKeyAuth("")
    with pytest.raises(ConfigurationError):
        ClientCredentialsAuth("https://idp/token", "id", SecretStr(""))


def test_auth_reprs_hide_secrets() -> None:
    for auth in (BearerAuth("vk_live_abcdef"), ApiKeyAuth("cg-key-123456"), credentials("http://x")):
        assert "abcdef" not in repr(auth) and "123456" not in repr(auth)


async def test_user_agent_and_default_headers(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, headers={"X-Tenant": "t-1"}) as http:
        echo = await http.request_json("GET", "/whoami")
        overridden = await http.request_json("GET", "/whoami", headers={"Accept": "text/csv"})
    assert echo["headers"]["user-agent"] == f"govflow/{__version__}"
    assert echo["headers"]["accept"] == "application/json"
    assert echo["headers"]["x-tenant"] == "t-1"
    assert overridden["headers"]["accept"] == "text/csv"


# --- foreign hosts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [BearerAuth("vk_live_abcdef"), ApiKeyAuth("cg-key-123456")],
    ids=["bearer", "api-key"],
)
async def test_no_credentials_to_a_foreign_host(faults: FaultApp, url: str, auth: httpx.Auth) -> None:
    async with Transport("p", url, auth=auth, headers={"X-Tenant": "t-1"}) as http:
        await http.request("GET", f"{url}/same-origin")
        await http.request("GET", f"{foreign(url)}/presigned?X-Amz-Signature=abc")
        await http.request("GET", "/opted-out", authenticated=False)
    [same] = faults.requests("/same-origin")
    [presigned] = faults.requests("/presigned")
    [opted_out] = faults.requests("/opted-out")
    assert same.header("authorization") or same.header("x-api-key")
    assert same.header("x-tenant") == "t-1"
    for request in (presigned, opted_out):
        assert request.header("authorization") is None
        assert request.header("x-api-key") is None
    assert presigned.header("x-tenant") is None  # platform headers stay home too
    assert presigned.header("user-agent") == f"govflow/{__version__}"


async def test_no_token_exchange_for_a_foreign_host(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, auth=credentials(url)) as http:
        await http.request("GET", f"{foreign(url)}/download")
    assert faults.count("/oauth/token") == 0
    assert faults.requests("/download")[0].header("authorization") is None


def test_is_own_origin() -> None:
    http = Transport("p", "https://api.example.com/api/v2/")
    assert http.is_own_origin("things")
    assert http.is_own_origin("https://api.example.com:443/other")
    assert not http.is_own_origin("http://api.example.com/other")
    assert not http.is_own_origin("https://bucket.s3.amazonaws.com/x")
    assert not http.is_own_origin("https://api.example.com:8443/x")


# --- client credentials ------------------------------------------------------------------------


async def test_client_credentials_exchange_is_cached(faults: FaultApp, url: str) -> None:
    auth = credentials(url, scope=["read", "write"])
    async with Transport("p", url, auth=auth, retry=FAST) as http:
        for _ in range(3):
            echo = await http.request_json("GET", "/secure/things")
    [exchange] = faults.requests("/oauth/token")
    form = dict(pair.split("=", 1) for pair in exchange.body.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "scope": "read+write",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert echo["headers"]["authorization"] == f"Bearer {faults.issued_tokens[0]}"
    assert auth.exchanges == 1


async def test_client_credentials_basic_auth_method(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, auth=credentials(url, auth_method="client_secret_basic")) as http:
        await http.request("GET", "/secure/things")
    [exchange] = faults.requests("/oauth/token")
    assert (exchange.header("authorization") or "").startswith("Basic ")
    assert b"client_secret" not in exchange.body


async def test_token_is_refreshed_before_it_expires(faults: FaultApp, url: str) -> None:
    clock = FakeClock()
    auth = credentials(url, refresh_margin=30.0, clock=clock)
    async with Transport("p", url, auth=auth) as http:
        await http.request("GET", "/secure/a")
        clock.now += 3600 - 31  # still outside the margin: reuse
        await http.request("GET", "/secure/b")
        assert faults.count("/oauth/token") == 1
        clock.now += 2  # inside the margin, though the server still accepts the old token
        await http.request("GET", "/secure/c")
    assert faults.count("/oauth/token") == 2
    first, second = faults.issued_tokens
    assert faults.requests("/secure/b")[0].header("authorization") == f"Bearer {first}"
    assert faults.requests("/secure/c")[0].header("authorization") == f"Bearer {second}"
    assert faults.count("/secure/c") == 1  # refreshed up front, no 401 round trip


async def test_short_lived_token_is_reused_for_half_its_life(faults: FaultApp, url: str) -> None:
    faults.token_ttl = 10.0
    clock = FakeClock()
    async with Transport("p", url, auth=credentials(url, refresh_margin=30.0, clock=clock)) as http:
        await http.request("GET", "/secure/a")
        clock.now += 4
        await http.request("GET", "/secure/a")
        assert faults.count("/oauth/token") == 1
        clock.now += 2
        await http.request("GET", "/secure/a")
    assert faults.count("/oauth/token") == 2


async def test_token_is_refreshed_once_on_401(faults: FaultApp, url: str) -> None:
    async with Transport("p", url, auth=credentials(url)) as http:
        await http.request("GET", "/secure/a")
        faults.expire_tokens()  # the platform revoked the token early
        echo = await http.request_json("POST", "/secure/a", json={"n": 1})
    assert faults.count("/oauth/token") == 2
    posts = faults.requests("/secure/a", method="POST")
    assert len(posts) == 2  # the 401, then the retry with the new token
    assert echo["headers"]["authorization"] == f"Bearer {faults.issued_tokens[1]}"


async def test_a_second_401_is_an_authentication_error(faults: FaultApp, url: str) -> None:
    faults.inject("/secure/a", expired_token(), expired_token())
    async with Transport("p", url, auth=credentials(url), retry=FAST) as http:
        with pytest.raises(AuthenticationError) as caught:
            await http.request("GET", "/secure/a")
    assert faults.count("/oauth/token") == 2
    assert faults.count("/secure/a") == 2
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"


async def test_concurrent_requests_share_one_exchange(faults: FaultApp, url: str) -> None:
    faults.inject("/oauth/token", slow(0.2))  # keep the exchange in flight while others queue
    async with Transport("p", url, auth=credentials(url)) as http:
        await asyncio.gather(*(http.request("GET", f"/secure/{i}") for i in range(20)))
        assert faults.count("/oauth/token") == 1
        faults.expire_tokens()
        faults.inject("/oauth/token", slow(0.2))
        await asyncio.gather(*(http.request("GET", f"/secure/{i}") for i in range(20)))
    assert faults.count("/oauth/token") == 2  # twenty 401s, one refresh


async def test_wrong_client_secret_is_an_authentication_error(faults: FaultApp, url: str) -> None:
    auth = ClientCredentialsAuth(f"{url}/oauth/token", CLIENT_ID, "wrong-secret-value", scope="x")
    async with Transport("p", url, auth=auth, retry=FAST) as http:
        with pytest.raises(AuthenticationError) as caught:
            await http.request("GET", "/secure/a")
    assert faults.count("/oauth/token") == 1
    assert faults.count("/secure/a") == 0
    assert caught.value.platform == "p"
    assert caught.value.code == "invalid_client"
    assert "wrong-secret-value" not in f"{caught.value} {caught.value!r} {caught.value.body}"


async def test_token_endpoint_outage_is_retried_even_for_post(faults: FaultApp, url: str) -> None:
    # The exchange failed before the POST was sent, so retrying cannot duplicate the POST.
    faults.inject("/oauth/token", server_error(503))
    async with Transport("p", url, auth=credentials(url), retry=FAST) as http:
        await http.request("POST", "/secure/invoke", json={"run": 1})
    assert faults.count("/oauth/token") == 2
    assert faults.count("/secure/invoke") == 1


class SessionAuth(ClientCredentialsAuth):
    """Lattix-style exchange: JSON to /v1/sdk/session with a tenant, only Content-Type set."""

    def __init__(self, *args: object, tenant_id: str, scopes: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.tenant_id = tenant_id
        self.scopes = scopes

    def build_token_request(self, token_url: httpx.URL) -> httpx.Request:
        body = {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
            "requested_scopes": sorted(set(self.scopes)),
        }
        return httpx.Request(
            "POST",
            token_url,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
        )


async def test_exchange_shape_is_overridable(faults: FaultApp, url: str) -> None:
    auth = SessionAuth("/v1/sdk/session", CLIENT_ID, CLIENT_SECRET, tenant_id="t-1", scopes=["b", "a", "a"])
    async with Transport("lattix", url, auth=auth) as http:
        echo = await http.request_json("GET", "/secure/v1/sdk/whoami")
    [session] = faults.requests("/v1/sdk/session")
    assert session.json() == {
        "tenant_id": "t-1",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "requested_scopes": ["a", "b"],
    }
    assert session.header("authorization") is None
    assert echo["headers"]["authorization"] == f"Bearer {faults.issued_tokens[0]}"
