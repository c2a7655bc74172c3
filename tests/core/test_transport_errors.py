"""Error mapping, malformed bodies and secrets kept out of errors and logs, over real HTTP."""

from __future__ import annotations

import logging
import pickle
import socket
import traceback

import httpx
import pytest

from govflow.core.errors import (
    ApprovalRequiredError,
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
from govflow.core.transport import (
    NO_RETRY,
    BearerAuth,
    ClientCredentialsAuth,
    RetryPolicy,
    Transport,
)
from govflow.testing.faults import FaultApp, malformed_json, respond, server_error

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)
TOKEN = "vk_live_TOPSECRET_7f3a9c"
QUERY_SECRET = "sig-SECRET-in-query-42"


def everything_about(error: BaseException) -> str:
    """Every text a user, a log or a pickle could get out of an exception."""
    parts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    if isinstance(error, GovflowError):
        parts += [repr(error.detail), repr(error.body), repr(error.code), repr(vars(error))]
        parts.append(repr(pickle.loads(pickle.dumps(error)).__dict__))
    cause = error.__cause__ or error.__context__
    if cause is not None:
        parts += [str(cause), repr(cause), repr(getattr(cause, "__dict__", {}))]
    return "\n".join(parts)


# --- default mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, RequestValidationError),
        (401, AuthenticationError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, RequestValidationError),
        (429, RateLimitError),
        (500, UnavailableError),
        (503, UnavailableError),
        (418, PlatformError),
    ],
)
async def test_default_status_mapping(faults: FaultApp, url: str, status: int, error_type: type[GovflowError]) -> None:
    faults.inject("/x", respond(status, {"detail": "it went wrong", "code": "E42"}, {"Retry-After": "7"}))
    async with Transport("velerian", url, retry=NO_RETRY) as http:
        with pytest.raises(GovflowError) as caught:
            await http.request("GET", "/x")
    error = caught.value
    assert type(error) is error_type
    assert (error.platform, error.status, error.code, error.detail) == ("velerian", status, "E42", "it went wrong")
    assert error.body == {"detail": "it went wrong", "code": "E42"}
    assert str(error) == f"[velerian] GET /x: it went wrong (HTTP {status})"
    assert error.retry_after == (7.0 if status in (429, 503) else None)


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        ({"error": "invalid_token", "error_description": "expired"}, "invalid_token", "expired"),
        ({"error": {"code": "rate_limited", "message": "slow down"}}, "rate_limited", "slow down"),
        ({"error": "Rate limit exceeded — too many requests", "status": 429}, None, "Rate limit exceeded — too many requests"),
        ({"detail": [{"loc": ["body", "x"], "msg": "field required"}]}, None, [{"loc": ["body", "x"], "msg": "field required"}]),
    ],
)
async def test_code_and_detail_from_common_error_shapes(
    faults: FaultApp, url: str, body: object, code: str | None, detail: object
) -> None:
    faults.inject("/x", respond(400, body))
    async with Transport("p", url, retry=NO_RETRY) as http:
        with pytest.raises(RequestValidationError) as caught:
            await http.request("GET", "/x")
    assert (caught.value.code, caught.value.detail) == (code, detail)


async def test_text_error_body_is_kept(faults: FaultApp, url: str) -> None:
    faults.inject("/x", respond(502, "<html>Bad Gateway</html>"))
    async with Transport("p", url, retry=NO_RETRY) as http:
        with pytest.raises(UnavailableError) as caught:
            await http.request("GET", "/x")
    assert caught.value.body == "<html>Bad Gateway</html>"


async def test_custom_error_mapper_with_default_fallback(faults: FaultApp, url: str) -> None:
    def mapper(response: httpx.Response) -> GovflowError | None:
        body = response.json()
        if response.status_code == 403 and body.get("code") == "approval_required":
            return ApprovalRequiredError("an approval is needed", approval_id=body["approval_id"], code=body["code"])
        if response.status_code == 400 and body.get("code") == "busy":
            return UnavailableError("the platform is busy")  # a platform-specific transient error
        return None

    faults.inject("/gate", respond(403, {"code": "approval_required", "approval_id": "ap-1"}))
    faults.inject("/thing", respond(404, {"detail": "gone"}))
    faults.inject("/busy", respond(400, {"code": "busy"}))
    async with Transport("latchgate", url, error_mapper=mapper, retry=FAST) as http:
        with pytest.raises(ApprovalRequiredError) as approval:
            await http.request("POST", "/gate", json={})
        with pytest.raises(NotFoundError):
            await http.request("GET", "/thing")
        await http.request("GET", "/busy")  # mapped to UnavailableError, so retried
    assert approval.value.approval_id == "ap-1"
    assert (approval.value.platform, approval.value.status) == ("latchgate", 403)
    assert approval.value.body == {"code": "approval_required", "approval_id": "ap-1"}
    assert faults.count("/busy") == 2


async def test_a_failing_error_mapper_falls_back_to_the_default(faults: FaultApp, url: str) -> None:
    def mapper(response: httpx.Response) -> GovflowError | None:
        return PlatformError(response.json()["message"])  # breaks on a non-JSON body

    faults.inject("/x", respond(404, "<html>Not Found</html>"))
    async with Transport("p", url, error_mapper=mapper, retry=NO_RETRY) as http:
        with pytest.raises(NotFoundError):
            await http.request("GET", "/x")


async def test_raise_for_status_false_returns_the_response(faults: FaultApp, url: str) -> None:
    faults.inject("/ingest", respond(422, {"accepted": 1, "rejected": 2}))
    async with Transport("contractgate", url, retry=NO_RETRY) as http:
        response = await http.request("POST", "/ingest", json=[], raise_for_status=False)
    assert response.status_code == 422
    assert response.json() == {"accepted": 1, "rejected": 2}


# --- malformed bodies --------------------------------------------------------------------------


async def test_malformed_json_is_a_transport_error(faults: FaultApp, url: str) -> None:
    faults.inject("/things", malformed_json())
    async with Transport("p", url, retry=FAST) as http:
        with pytest.raises(TransportError) as caught:
            await http.request_json("GET", "/things")
    assert faults.count("/things") == 1
    assert caught.value.code == "malformed_json"
    assert caught.value.status == 200
    assert "not valid JSON" in str(caught.value)


async def test_empty_body_is_none(faults: FaultApp, url: str) -> None:
    faults.inject("/nothing", respond(204))
    async with Transport("p", url) as http:
        assert await http.request_json("DELETE", "/nothing") is None


# --- secrets -----------------------------------------------------------------------------------


async def test_secrets_never_reach_errors_or_logs(
    faults: FaultApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echoing = {"detail": f"bad token {TOKEN} for {QUERY_SECRET}", "authorization": f"Bearer {TOKEN}"}
    faults.inject("/x", server_error(500, echoing), server_error(500, echoing))
    async with Transport("p", url, auth=BearerAuth(TOKEN), secrets=[QUERY_SECRET], retry=FAST) as http:
        with pytest.raises(UnavailableError) as caught:
            await http.request("GET", "/x", params={"q": QUERY_SECRET, "api_key": "other-key-xyz"})
    assert faults.count("/x") == 2  # the secret really went out, and came back in the body
    assert faults.requests("/x")[0].header("authorization") == f"Bearer {TOKEN}"
    text = everything_about(caught.value)
    assert TOKEN not in text and QUERY_SECRET not in text
    assert "bad token *** for ***" in str(caught.value)
    assert caught.value.body["authorization"] == "***"
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "/x?q=***&api_key=***" in logged  # the attempt lines are there, redacted
    assert TOKEN not in logged and QUERY_SECRET not in logged and "other-key-xyz" not in logged


async def test_secret_in_url_of_a_network_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Transport("p", f"http://127.0.0.1:{port}", auth=BearerAuth(TOKEN), retry=FAST) as http:
        with pytest.raises(TransportError) as caught:
            await http.request("GET", "/x", params={"token": QUERY_SECRET})
    text = everything_about(caught.value)
    assert TOKEN not in text and QUERY_SECRET not in text
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    with pytest.raises(RuntimeError):
        cause.request  # noqa: B018 - the copy carries no request (URL, headers) to leak
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert QUERY_SECRET not in caplog.text and TOKEN not in caplog.text


async def test_secret_in_a_custom_mapper_error_is_redacted(faults: FaultApp, url: str) -> None:
    def mapper(response: httpx.Response) -> GovflowError | None:
        return PlatformError(f"rejected {response.request.headers['authorization']}", detail={"key": TOKEN})

    faults.inject("/x", respond(400, {}))
    async with Transport("p", url, auth=BearerAuth(TOKEN), error_mapper=mapper, retry=NO_RETRY) as http:
        with pytest.raises(PlatformError) as caught:
            await http.request("GET", "/x")
    assert TOKEN not in everything_about(caught.value)


async def test_client_secret_and_access_token_stay_out_of_logs_and_errors(
    faults: FaultApp, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = ClientCredentialsAuth(f"{url}/oauth/token", faults.client_id, faults.client_secret)
    faults.inject("/x", server_error(500, {"detail": "echo", "seen": "PLACEHOLDER"}))
    async with Transport("p", url, auth=auth, retry=NO_RETRY) as http:
        await http.request("GET", "/ok")
        token = faults.issued_tokens[0]
        faults.inject("/secure/x", respond(500, {"detail": f"token {token} secret {faults.client_secret}"}))
        with pytest.raises(UnavailableError) as caught:
            await http.request("GET", "/secure/x")
    text = everything_about(caught.value)
    assert token not in text and faults.client_secret not in text
    assert token not in caplog.text and faults.client_secret not in caplog.text
