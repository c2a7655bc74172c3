"""Retries of the shared transport, over real HTTP against the fault-injection app."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from govflow.core.errors import (
    NotFoundError,
    RateLimitError,
    TransportError,
    UnavailableError,
)
from govflow.core.transport import NO_RETRY, RetryPolicy, Transport, parse_retry_after
from govflow.testing.faults import (
    FaultApp,
    drop,
    http_date,
    rate_limited,
    respond,
    server_error,
    slow,
    truncate,
)

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)


def transport(url: str, **kwargs: object) -> Transport:
    options: dict[str, object] = {"retry": FAST, "timeout": 5.0}
    options.update(kwargs)
    return Transport("fault", url, **options)  # type: ignore[arg-type]


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "govflow.transport" and "retrying in" in r.getMessage()]


# --- 5xx ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried_until_success(faults: FaultApp, url: str, status: int) -> None:
    faults.inject("/flaky", server_error(status), server_error(status))
    async with transport(url) as http:
        body = await http.request_json("GET", "/flaky")
    assert body["path"] == "/flaky"
    assert faults.count("/flaky") == 3


async def test_5xx_exhausted_raises_unavailable_with_details(faults: FaultApp, url: str) -> None:
    faults.inject("/down", *[server_error(503, {"detail": "maintenance window"})] * 3)
    async with transport(url) as http:
        with pytest.raises(UnavailableError) as caught:
            await http.request("GET", "/down")
    error = caught.value
    assert faults.count("/down") == 3
    assert error.status == 503
    assert error.platform == "fault"
    assert error.detail == "maintenance window"
    assert error.body == {"detail": "maintenance window"}
    assert "after 3 attempts" in str(error)
    assert str(error).startswith("[fault] GET /down: maintenance window")


async def test_4xx_is_not_retried(faults: FaultApp, url: str) -> None:
    faults.inject("/missing", respond(404, {"detail": "no such thing"}))
    async with transport(url) as http:
        with pytest.raises(NotFoundError):
            await http.request("GET", "/missing")
    assert faults.count("/missing") == 1


async def test_per_request_policy_overrides_the_default(faults: FaultApp, url: str) -> None:
    faults.inject("/once", server_error(503))
    async with transport(url) as http:
        with pytest.raises(UnavailableError):
            await http.request("GET", "/once", retry=NO_RETRY)
    assert faults.count("/once") == 1


# --- 429 and Retry-After -----------------------------------------------------------------------


async def test_429_with_retry_after_seconds_is_honoured(
    faults: FaultApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="govflow.transport")
    faults.inject("/limited", rate_limited(retry_after=0.05))
    async with transport(url) as http:
        await http.request("GET", "/limited")
    assert faults.count("/limited") == 2
    assert retry_lines(caplog) == ["GET /limited: retrying in 0.050 s (Retry-After)"]


async def test_429_with_retry_after_http_date_is_honoured(
    faults: FaultApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="govflow.transport")
    faults.inject("/limited", rate_limited(retry_after=http_date(-5)))  # a date already passed
    async with transport(url) as http:
        await http.request("GET", "/limited")
    assert faults.count("/limited") == 2
    assert retry_lines(caplog) == ["GET /limited: retrying in 0.000 s (Retry-After)"]


async def test_429_without_retry_after_uses_backoff(
    faults: FaultApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="govflow.transport")
    faults.inject("/limited", rate_limited(retry_after=None))
    async with transport(url) as http:
        await http.request("GET", "/limited")
    assert faults.count("/limited") == 2
    [line] = retry_lines(caplog)
    assert line.endswith("(backoff)")


async def test_retry_after_over_the_cap_raises_at_once(faults: FaultApp, url: str) -> None:
    faults.inject("/limited", rate_limited(retry_after=3600))
    async with transport(url) as http:
        with pytest.raises(RateLimitError) as caught:
            await http.request("GET", "/limited")
    assert faults.count("/limited") == 1
    assert caught.value.retry_after == 3600.0
    assert caught.value.status == 429
    assert "Retry-After 3600 s exceeds the 1 s cap" in str(caught.value)


async def test_retry_after_http_date_over_the_cap_raises_at_once(faults: FaultApp, url: str) -> None:
    faults.inject("/limited", rate_limited(retry_after=http_date(3600)))
    async with transport(url) as http:
        with pytest.raises(RateLimitError) as caught:
            await http.request("GET", "/limited")
    assert faults.count("/limited") == 1
    assert caught.value.retry_after is not None
    assert 3500 < caught.value.retry_after <= 3601


async def test_429_exhausted_raises_rate_limit_with_retry_after(faults: FaultApp, url: str) -> None:
    faults.inject("/limited", *[rate_limited(retry_after=0)] * 3)
    async with transport(url) as http:
        with pytest.raises(RateLimitError) as caught:
            await http.request("GET", "/limited")
    assert faults.count("/limited") == 3
    assert caught.value.retry_after == 0.0
    assert caught.value.detail == "rate limit exceeded"


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None


# --- network failures --------------------------------------------------------------------------


async def test_slow_response_times_out_and_is_retried(faults: FaultApp, url: str) -> None:
    faults.inject("/slow", slow(10))
    async with transport(url, timeout=0.3) as http:
        body = await http.request_json("GET", "/slow")
    assert body["path"] == "/slow"
    assert faults.count("/slow") == 2


async def test_timeouts_exhausted_raise_transport_error(faults: FaultApp, url: str) -> None:
    faults.inject("/slow", *[slow(10)] * 3)
    async with transport(url, timeout=0.2) as http:
        with pytest.raises(TransportError) as caught:
            await http.request("GET", "/slow")
    assert faults.count("/slow") == 3
    assert caught.value.code == "ReadTimeout"
    assert caught.value.platform == "fault"
    assert caught.value.status is None
    assert "after 3 attempts" in str(caught.value)


@pytest.mark.parametrize("fault", [drop(), truncate()], ids=["no-response", "mid-response"])
async def test_dropped_connection_is_retried(faults: FaultApp, url: str, fault: object) -> None:
    faults.inject("/dropping", fault)  # type: ignore[arg-type]
    async with transport(url) as http:
        body = await http.request_json("GET", "/dropping")
    assert body["path"] == "/dropping"
    assert faults.count("/dropping") == 2


# --- non-idempotent requests -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_post_without_idempotency_key_is_sent_once(faults: FaultApp, url: str, method: str) -> None:
    faults.inject("/invoke", server_error(502))
    async with transport(url) as http:
        with pytest.raises(UnavailableError):
            await http.request(method, "/invoke", json={"run": 1})
    assert faults.count("/invoke") == 1


async def test_post_without_idempotency_key_is_not_retried_after_a_drop(faults: FaultApp, url: str) -> None:
    faults.inject("/invoke", drop())
    async with transport(url) as http:
        with pytest.raises(TransportError) as caught:
            await http.request("POST", "/invoke", json={"run": 1})
    assert faults.count("/invoke") == 1
    assert caught.value.code == "RemoteProtocolError"


async def test_post_without_idempotency_key_is_retried_on_429(faults: FaultApp, url: str) -> None:
    # A 429 is a refusal: the server did not act on the request, so sending it again is safe.
    faults.inject("/invoke", rate_limited(retry_after=0))
    async with transport(url) as http:
        body = await http.request_json("POST", "/invoke", json={"run": 1})
    assert body["json"] == {"run": 1}
    assert faults.count("/invoke") == 2


async def test_post_without_idempotency_key_is_not_retried_on_503(faults: FaultApp, url: str) -> None:
    faults.inject("/invoke", server_error(503))
    async with transport(url) as http:
        with pytest.raises(UnavailableError):
            await http.request("POST", "/invoke", json={"run": 1})
    assert faults.count("/invoke") == 1


async def test_post_with_idempotency_key_is_retried_with_the_same_key(faults: FaultApp, url: str) -> None:
    faults.inject("/invoke", server_error(502), drop())
    async with transport(url) as http:
        body = await http.request_json("POST", "/invoke", json={"run": 1}, idempotency_key="key-123")
    assert body["json"] == {"run": 1}
    received = faults.requests("/invoke")
    assert len(received) == 3
    assert [r.header("idempotency-key") for r in received] == ["key-123"] * 3
    assert {r.body for r in received} == {b'{"run":1}'}


async def test_idempotency_header_name_is_configurable(faults: FaultApp, url: str) -> None:
    faults.inject("/ingest", server_error(503))
    async with transport(url) as http:
        await http.request(
            "POST", "/ingest", json=[1], idempotency_key="k-9", idempotency_header="X-Idempotency-Key"
        )
    assert [r.header("x-idempotency-key") for r in faults.requests("/ingest")] == ["k-9", "k-9"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS"])
async def test_idempotent_methods_are_retried(faults: FaultApp, url: str, method: str) -> None:
    faults.inject("/thing", server_error(503))
    async with transport(url) as http:
        response = await http.request(method, "/thing")
    assert response.status_code == 200
    assert faults.count("/thing") == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connect_error_is_retried_even_for_post(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens: the request never leaves the client, so a retry cannot duplicate it.
    caplog.set_level(logging.DEBUG, logger="govflow.transport")
    async with transport(f"http://127.0.0.1:{_closed_port()}") as http:
        with pytest.raises(TransportError) as caught:
            await http.request("POST", "/invoke", json={"run": 1})
    attempts = [r.getMessage() for r in caplog.records if "-> ConnectError" in r.getMessage()]
    assert len(attempts) == 3
    assert caught.value.code == "ConnectError"
    assert "after 3 attempts" in str(caught.value)


async def test_platform_down_then_back(faults: FaultApp) -> None:
    from govflow.testing.server import BackgroundServer

    server = BackgroundServer(faults)
    base = server.start()
    async with transport(base, retry=NO_RETRY) as http:
        assert (await http.request_json("GET", "/ping"))["path"] == "/ping"
        server.stop()
        with pytest.raises(TransportError):
            await http.request("GET", "/ping")
        assert server.start() == base  # same port after a restart
        try:
            assert (await http.request_json("GET", "/ping"))["path"] == "/ping"
        finally:
            server.stop()
