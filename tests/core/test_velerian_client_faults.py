"""VelerianClient under faults: typed errors, retries, no duplicate invocations, no leaked key.

Every fault is injected into the emulator over real HTTP (govflow.testing.velerian).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from govflow.core.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from govflow.core.platforms.velerian import (
    VelerianAPIError,
    VelerianAuthError,
    VelerianClient,
    VelerianConflictError,
    VelerianForbiddenError,
    VelerianNotFoundError,
    VelerianRateLimitError,
    VelerianServerError,
    VelerianValidationError,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import drop, malformed_json, rate_limited, respond, server_error, slow
from govflow.testing.velerian import VelerianEmulator, after_accept, gateway_error

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
INVOKE = "/api/v2/abps/*/invoke"
NETWORK = "/api/agenticx/networks/*/invoke"
SUMMARY = "/api/v2/usage/summary"


@pytest.fixture
def emu() -> VelerianEmulator:
    return VelerianEmulator()


@pytest.fixture
def base_url(emu: VelerianEmulator) -> Iterator[str]:
    with emu.serve() as url:
        yield url


@pytest.fixture
async def client(emu: VelerianEmulator, base_url: str) -> AsyncIterator[VelerianClient]:
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST, timeout=10.0) as velerian:
        yield velerian


# --- the error classes -------------------------------------------------------------------------


async def test_401_unknown_key(emu: VelerianEmulator, base_url: str) -> None:
    async with VelerianClient("vk_live_unknown_key_000000", base_url=base_url, retry=FAST) as velerian:
        with pytest.raises(VelerianAuthError) as caught:
            await velerian.usage_summary()
    error = caught.value
    assert isinstance(error, AuthenticationError) and isinstance(error, VelerianAPIError)
    assert error.status == error.status_code == 401
    assert error.detail == "Invalid or expired API key"
    assert error.body == {"detail": "Invalid or expired API key"}
    assert error.platform == "velerian"
    assert str(error) == "[velerian] GET /api/v2/usage/summary: Invalid or expired API key (HTTP 401)"
    assert len(emu.requests) == 1  # a 401 is not retried


async def test_401_revoked_key(emu: VelerianEmulator, base_url: str) -> None:
    key = emu.add_key(["read", "write"])
    async with VelerianClient(key, base_url=base_url, retry=FAST) as velerian:
        await velerian.usage_summary()
        emu.revoke_key(key)
        with pytest.raises(VelerianAuthError, match="Invalid or expired API key"):
            await velerian.usage_summary()


async def test_403_missing_scope(emu: VelerianEmulator, base_url: str) -> None:
    key = emu.add_key(["evidence:read"])
    async with VelerianClient(key, base_url=base_url, retry=FAST) as velerian:
        with pytest.raises(VelerianForbiddenError) as caught:
            await velerian.invoke_abp(emu.abps["allow"], {})
        with pytest.raises(ForbiddenError, match="audit:read"):
            await velerian.list_audit_log()
    assert caught.value.status == 403
    assert caught.value.detail == "API key lacks required scope: runs:write"
    assert emu.invocations == []


async def test_coarse_scopes(emu: VelerianEmulator, base_url: str) -> None:
    key = emu.add_key(["read"])
    async with VelerianClient(key, base_url=base_url, retry=FAST) as velerian:
        await velerian.list_audit_log()
        await velerian.usage_summary()
        with pytest.raises(VelerianForbiddenError):
            await velerian.invoke_abp(emu.abps["allow"], {})


async def test_404_and_other_tenants_resources(emu: VelerianEmulator, client: VelerianClient) -> None:
    with pytest.raises(VelerianNotFoundError) as caught:
        await client.invoke_abp("5b1e0c8a-0000-0000-0000-000000000000", {})
    assert isinstance(caught.value, NotFoundError)
    assert (caught.value.status, caught.value.detail) == (404, "ABP not found")
    foreign = emu.add_abp(tenant="tenant-2")
    with pytest.raises(NotFoundError):
        await client.invoke_abp(foreign, {})
    with pytest.raises(NotFoundError, match="Approval not found"):
        await client.get_approval("nope")


async def test_409_abp_not_deployed(emu: VelerianEmulator, client: VelerianClient) -> None:
    with pytest.raises(VelerianConflictError) as caught:
        await client.invoke_abp(emu.abps["draft"], {})
    assert isinstance(caught.value, ConflictError)
    assert caught.value.status == 409
    assert "is not deployed (status: draft)" in caught.value.detail
    assert len(emu.requests_to("POST")) == 1 and emu.invocations == []


async def test_422_keeps_fastapis_list(emu: VelerianEmulator, client: VelerianClient) -> None:
    with pytest.raises(VelerianValidationError) as caught:
        await client.get(f"abps/{emu.abps['allow']}/evidence-package")  # no since
    error = caught.value
    assert isinstance(error, RequestValidationError)
    assert error.status == 422
    assert isinstance(error.detail, list)  # not the SDK's Python repr of the list
    assert error.detail[0]["loc"] == ["query", "since"]
    assert error.detail[0]["msg"] == "Field required"
    assert "query.since: Field required" in str(error)
    assert "[{" not in str(error)


async def test_429_exhausted(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, *[rate_limited(retry_after=0, body={"detail": "Rate limit exceeded"})] * 4)
    with pytest.raises(VelerianRateLimitError) as caught:
        await client.usage_summary()
    error = caught.value
    assert isinstance(error, RateLimitError)
    assert (error.status, error.retry_after, error.detail) == (429, 0.0, "Rate limit exceeded")
    assert len(emu.requests_to("GET", SUMMARY)) == 4


async def test_a_retry_after_beyond_the_cap_is_raised_at_once(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("GET", SUMMARY, rate_limited(retry_after=120))
    with pytest.raises(VelerianRateLimitError) as caught:
        await client.usage_summary()
    assert caught.value.retry_after == 120.0
    assert "exceeds" in str(caught.value)
    assert len(emu.requests_to("GET", SUMMARY)) == 1


@pytest.mark.parametrize("retry_after", ["nan", "inf", "soon"])
async def test_unusable_retry_after_values(emu: VelerianEmulator, client: VelerianClient, retry_after: str) -> None:
    emu.inject("GET", SUMMARY, *[rate_limited(retry_after=retry_after)] * 4)
    with pytest.raises(VelerianRateLimitError) as caught:
        await client.usage_summary()
    assert caught.value.retry_after is None


async def test_5xx_exhausted(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, *[server_error(503, {"detail": "Service temporarily unavailable"})] * 4)
    with pytest.raises(VelerianServerError) as caught:
        await client.usage_summary()
    assert isinstance(caught.value, UnavailableError)
    assert caught.value.status == 503 and caught.value.detail == "Service temporarily unavailable"
    assert "after 4 attempts" in str(caught.value)


@pytest.mark.parametrize("status", [501, 599])
async def test_every_status_from_500_is_a_server_error(
    emu: VelerianEmulator, client: VelerianClient, status: int
) -> None:
    emu.inject("GET", SUMMARY, *[server_error(status)] * 4)
    with pytest.raises(VelerianServerError):
        await client.usage_summary()


async def test_a_gateway_html_page(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, *[gateway_error(502)] * 4)
    with pytest.raises(VelerianServerError) as caught:
        await client.usage_summary()
    error = caught.value
    assert error.status == 502
    assert isinstance(error.detail, str) and "502 Bad Gateway" in error.detail
    assert "\r" not in error.detail and "\n" not in error.detail


@pytest.mark.parametrize("status", [400, 402, 410, 302])
async def test_other_statuses_are_the_base_class(
    emu: VelerianEmulator, client: VelerianClient, status: int
) -> None:
    emu.inject("GET", SUMMARY, respond(status, {"error": "something"}))
    with pytest.raises(VelerianAPIError) as caught:
        await client.usage_summary()
    error = caught.value
    assert type(error) is VelerianAPIError and isinstance(error, PlatformError)
    assert error.status == status
    assert error.detail is None  # only "detail" is read, as in the SDK
    assert error.body == {"error": "something"}


async def test_a_null_detail_stays_none(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, respond(404, {"detail": None}))
    with pytest.raises(VelerianNotFoundError) as caught:
        await client.usage_summary()
    assert caught.value.detail is None  # the SDK gives the string "None"


async def test_errors_survive_pickling(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, *[rate_limited(retry_after=1)] * 4)
    with pytest.raises(VelerianRateLimitError) as caught:
        await client.usage_summary()
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is VelerianRateLimitError
    assert (copy.status, copy.retry_after, copy.detail) == (429, 1.0, "rate limit exceeded")


async def test_a_malformed_body_is_a_transport_error(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, malformed_json())
    with pytest.raises(TransportError) as caught:
        await client.usage_summary()
    assert caught.value.code == "malformed_json"


async def test_network_errors_are_wrapped(emu: VelerianEmulator) -> None:
    async with VelerianClient(emu.api_key, base_url="http://127.0.0.1:9", retry=FAST) as velerian:
        with pytest.raises(TransportError) as caught:
            await velerian.usage_summary()
    assert caught.value.platform == "velerian" and caught.value.code == "ConnectError"


# --- retries -----------------------------------------------------------------------------------


async def test_429_on_a_get_is_retried(emu: VelerianEmulator, client: VelerianClient) -> None:
    emu.inject("GET", SUMMARY, rate_limited(retry_after=0), rate_limited(retry_after="1"))
    summary = await client.usage_summary()
    assert summary.tenant_id == "tenant-1"
    assert len(emu.requests_to("GET", SUMMARY)) == 3


async def test_5xx_and_dropped_connections_on_a_get_are_retried(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("GET", SUMMARY, server_error(500), gateway_error(504), drop())
    assert (await client.usage_summary()).tenant_id == "tenant-1"
    assert len(emu.requests_to("GET", SUMMARY)) == 4


async def test_a_429_on_invoke_is_retried_without_a_duplicate(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("POST", INVOKE, rate_limited(retry_after=0))
    result = await client.invoke_abp(emu.abps["allow"], {"x": 1})
    posts = emu.requests_to("POST", INVOKE)
    assert len(posts) == 2
    assert posts[0].header("idempotency-key") == posts[1].header("idempotency-key")
    assert [i["invocation_id"] for i in emu.invocations] == [result.invocation_id]


async def test_a_502_after_accept_does_not_create_a_duplicate_invocation(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    emu.inject("POST", INVOKE, after_accept(server_error(502)))
    with pytest.raises(VelerianServerError) as caught:
        await client.invoke_abp(emu.abps["allow"], {"x": 1})
    assert len(emu.invocations) == 1
    assert len(emu.requests_to("POST", INVOKE)) == 1  # not retried: the server may have acted
    key = emu.invocations[0]["idempotency_key"]
    assert key and key in str(caught.value) and "audit log" in str(caught.value)


async def test_a_502_after_accept_is_retried_safely_when_the_key_is_trusted(
    emu: VelerianEmulator, base_url: str
) -> None:
    emu.inject("POST", INVOKE, after_accept(server_error(502)), after_accept(drop()))
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST, retry_invokes=True) as velerian:
        result = await velerian.invoke_abp(emu.abps["allow"], {"x": 1})
    posts = emu.requests_to("POST", INVOKE)
    assert len(posts) == 3
    assert len({p.header("idempotency-key") for p in posts}) == 1
    assert [i["invocation_id"] for i in emu.invocations] == [result.invocation_id]


async def test_a_timeout_on_invoke_is_not_retried_by_default(emu: VelerianEmulator, base_url: str) -> None:
    emu.inject("POST", INVOKE, after_accept(slow(2.0)))
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST, timeout=0.3) as velerian:
        with pytest.raises(TransportError) as caught:
            await velerian.invoke_abp(emu.abps["allow"], {})
    assert caught.value.code == "ReadTimeout"
    assert "may have been created" in str(caught.value)
    assert len(emu.requests_to("POST", INVOKE)) == 1 and len(emu.invocations) == 1


async def test_a_refused_connection_on_invoke_is_retried(emu: VelerianEmulator) -> None:
    # Nothing listens there: the request never left, so it is safe to resend (then give up).
    async with VelerianClient(emu.api_key, base_url="http://127.0.0.1:9", retry=FAST) as velerian:
        with pytest.raises(TransportError) as caught:
            await velerian.invoke_abp("abp", {})
    assert "after 4 attempts" in str(caught.value)
    assert "may have been created" not in str(caught.value)


async def test_a_502_after_accept_on_network_invoke(emu: VelerianEmulator, base_url: str) -> None:
    emu.inject("POST", NETWORK, after_accept(gateway_error(502)))
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST) as velerian:
        with pytest.raises(VelerianServerError):
            await velerian.invoke_network(emu.networks["succeed"], "x")
    assert len(emu.requests_to("POST", NETWORK)) == 1

    emu.inject("POST", NETWORK, after_accept(gateway_error(502)))
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST, retry_invokes=True) as velerian:
        accepted = await velerian.invoke_network(emu.networks["succeed"], "y")
        runs = (await velerian.get("pack-runs")).json()["items"]
    assert len(emu.requests_to("POST", NETWORK)) == 3
    # one run per logical call: the retried one was replayed, not run twice
    assert len(runs) == 2 and accepted["run_id"] in {run["id"] for run in runs}


async def test_raw_post_is_sent_once_unless_given_a_key(emu: VelerianEmulator, client: VelerianClient) -> None:
    path = f"abps/{emu.abps['allow']}/invoke"
    emu.inject("POST", INVOKE, server_error(503))
    with pytest.raises(VelerianServerError):
        await client.post(path, json={"payload": {}})
    assert len(emu.requests_to("POST", INVOKE)) == 1

    emu.inject("POST", INVOKE, after_accept(server_error(503)))
    response = await client.post(path, json={"payload": {}}, idempotency_key="k-raw-1")
    assert response.status_code == 200
    assert len(emu.requests_to("POST", INVOKE)) == 3 and len(emu.invocations) == 1


# --- secrets -----------------------------------------------------------------------------------


async def test_the_key_never_reaches_logs_or_errors(
    emu: VelerianEmulator, base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = emu.api_key
    errors: list[GovflowError] = []
    emu.inject("GET", SUMMARY, server_error(503), respond(401, {"detail": f"key {key} is not valid here"}))
    emu.inject("POST", INVOKE, after_accept(server_error(502)))
    async with VelerianClient(key, base_url=base_url, retry=FAST) as velerian:
        for call in (
            velerian.usage_summary(),
            velerian.invoke_abp(emu.abps["allow"], {}),
            velerian.invoke_abp(emu.abps["draft"], {}),
            velerian.get(f"/api/v2/usage/summary?api_key={key}"),
        ):
            try:
                await call
            except GovflowError as exc:
                errors.append(exc)
        result = await velerian.invoke_abp(emu.abps["allow"], {})
        export = await velerian.invocation_evidence(emu.abps["allow"], result.invocation_id)
        await velerian.download_export(export)
        _ = [row async for row in velerian.iter_audit_log()]

    assert len(errors) == 3
    for error in errors:
        for text in (str(error), repr(error), repr(error.args), repr(error.body), repr(error.detail)):
            assert key not in text
    assert "***" in str(errors[0].detail)
    assert caplog.records, "DEBUG logging produced nothing to check"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert key not in logged
    signature = httpx.URL(export.download_url).params["X-Amz-Signature"]
    assert signature not in logged  # presigned signatures are masked too
