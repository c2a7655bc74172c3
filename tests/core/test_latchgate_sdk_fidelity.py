"""The official ``latchgate`` SDK 0.2.0, driven against the emulator over TCP and a real Unix socket.

If the SDK's documented usage works here, the emulator speaks the contract the SDK was written
for; the SDK's known defects (specs/latchgate.md §1.1, §2.4, §3.1, §4.2) must be observable here
too, so that tests of govflow's own client can show it avoids them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import httpx
import latchgate._crypto
import pytest
from latchgate import (
    ActionResult,
    EgressProfile,
    ExecutionReceipt,
    LatchGateApprovalRequired,
    LatchGateAuthError,
    LatchGateBudgetExhausted,
    LatchGateClient,
    LatchGateDenied,
    LatchGateLeaseExpired,
    LatchGateNotConnected,
    LatchGateReplayDetected,
    LatchGateTransportError,
    LatchGateUnavailable,
)

from govflow.testing.faults import drop, malformed_json, slow
from govflow.testing.latchgate import LatchGateEmulator, after_accept, gate_error

pytestmark = pytest.mark.anyio
EXECUTE = "/v1/actions/*/execute"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LatchGateEmulator, str]]:
    emulator = LatchGateEmulator()
    with emulator.serve() as url:
        yield emulator, url


@pytest.fixture
def emu(
    served: tuple[LatchGateEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> LatchGateEmulator:
    monkeypatch.delenv("LATCHGATE_URL", raising=False)
    served[0].reset()
    return served[0]


@pytest.fixture
def base_url(served: tuple[LatchGateEmulator, str]) -> str:
    return served[1]


@pytest.fixture
async def sdk(emu: LatchGateEmulator, base_url: str) -> AsyncIterator[LatchGateClient]:
    """The SDK as its README shows it over TCP: lazy connect through ``agent_id``."""
    async with LatchGateClient(base_url=base_url, agent_id="govflow-test", timeout=5) as client:
        yield client


@pytest.fixture
def socket_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="lgsdk-")  # AF_UNIX paths must stay short
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- the README's documented usage -----------------------------------------------------------------


async def test_lazy_connect_then_execute(emu: LatchGateEmulator, sdk: LatchGateClient) -> None:
    assert emu.requests == []  # nothing until the first call
    result = await sdk.execute("echo", {"url": "https://example.com"})
    assert isinstance(result, ActionResult)
    assert result.output == {"ok": True, "echo": {"url": "https://example.com"}}
    assert result.verification == {"outcome": "verified", "is_fully_successful": True}
    assert set(result.runtime) == {"duration_ms", "exit_code", "fuel_consumed"}
    [lease] = emu.leases
    assert (sdk.session_id, sdk.lease_jti) == (lease.session_id, lease.lease_jti)
    [execution] = emu.executions
    assert execution.receipt_id == result.receipt_id and execution.trace_id == result.trace_id

    lease_request, execute_request = emu.requests
    assert lease_request.path == "/v1/leases"
    assert set(lease_request.json()) == {"scopes", "dpop_jwk"}  # no agent_id on the wire
    assert lease_request.json()["scopes"] == ["tools:call"]
    assert execute_request.header("authorization") == f"DPoP {lease.lease_jwt}"
    assert execute_request.header("dpop").count(".") == 2
    assert execute_request.body == b'{"url": "https://example.com"}'  # json.dumps defaults


async def test_concurrent_calls_share_one_connect(
    emu: LatchGateEmulator, sdk: LatchGateClient
) -> None:
    results = await asyncio.gather(*(sdk.execute("echo", {"i": i}) for i in range(5)))
    assert len({r.receipt_id for r in results}) == 5
    assert len(emu.leases) == 1
    assert len(emu.executions) == 5


async def test_without_agent_id_connect_is_explicit(emu: LatchGateEmulator, base_url: str) -> None:
    async with LatchGateClient(base_url=base_url) as client:
        with pytest.raises(LatchGateNotConnected):
            await client.execute("echo")
        # The egress route is unauthenticated, yet the SDK insists on a lease first.
        with pytest.raises(LatchGateNotConnected):
            await client.get_action_egress("http_fetch")
        assert emu.requests == []
        await client.connect(scopes=["tools:call", "acme:reports"])
        assert (await client.execute("echo")).output == {"ok": True, "echo": {}}
    assert emu.leases[0].scopes == ("tools:call", "acme:reports")


async def test_receipt_fetch(emu: LatchGateEmulator, sdk: LatchGateClient) -> None:
    result = await sdk.execute("echo", {"q": 1})
    receipt = await sdk.get_receipt(result.receipt_id)
    assert isinstance(receipt, ExecutionReceipt)
    assert receipt.receipt_id == result.receipt_id and receipt.grant_id == result.grant_id
    assert receipt.is_fully_successful
    assert receipt.result_hash == emu.receipts[result.receipt_id]["result_hash"]
    assert receipt.provider_module_digest.startswith("sha256:")
    assert receipt.provider_receipt == result.output
    emu.add_action("unverified", verification="verification_failed")
    failed = await sdk.get_receipt((await sdk.execute("unverified")).receipt_id)
    assert not failed.is_fully_successful and failed.failure_class == "verification_failed"
    with pytest.raises(LatchGateDenied, match="receipt 'nope' not found"):
        await sdk.get_receipt("nope")


async def test_approval_required_then_approved(
    emu: LatchGateEmulator, sdk: LatchGateClient
) -> None:
    with pytest.raises(LatchGateApprovalRequired) as caught:
        await sdk.execute("http_post", {"url": "https://httpbin.org/post"})
    approval_id = caught.value.approval_id
    assert approval_id in emu.approvals and caught.value.action_id == "http_post"
    status = await sdk.get_approval_status(approval_id)
    assert status.is_pending and status.retry_after_seconds == 2
    assert status.approval_id == approval_id and status.action_id == ""  # never sent by the server
    assert emu.executions == []

    emu.decide_approval(approval_id, "approved", by="alice")
    status = await sdk.get_approval_status(approval_id)
    assert status.is_approved and status.receipt_id is not None
    [execution] = emu.executions
    assert execution.source == "approval" and execution.receipt_id == status.receipt_id
    receipt = await sdk.get_receipt(status.receipt_id)
    assert receipt.is_fully_successful


async def test_approval_denied_through_the_admin_route(
    emu: LatchGateEmulator, sdk: LatchGateClient, base_url: str
) -> None:
    with pytest.raises(LatchGateApprovalRequired) as caught:
        await sdk.execute("http_post", {})
    async with httpx.AsyncClient(base_url=base_url) as admin:
        route = f"/_emulator/approvals/{caught.value.approval_id}/decide"
        resp = await admin.post(route, json={"decision": "denied", "reason": "too risky"})
        assert resp.status_code == 200
    status = await sdk.get_approval_status(caught.value.approval_id)
    assert status.is_denied and status.reason == "too risky"
    with pytest.raises(LatchGateDenied, match="approval 'unknown' not found"):
        await sdk.get_approval_status("unknown")


async def test_egress_profiles(emu: LatchGateEmulator, sdk: LatchGateClient) -> None:
    profile = await sdk.get_action_egress("http_fetch")
    assert profile == EgressProfile("proxy_allowlist", ["httpbin.org", "api.example.com"])
    assert profile.has_egress
    assert not (await sdk.get_action_egress("echo")).has_egress
    emu.add_action("broken", egress="invalid")
    assert (await sdk.get_action_egress("broken")).profile == "none"  # null reads as none
    with pytest.raises(LatchGateDenied, match="action 'nope' not found"):
        await sdk.get_action_egress("nope")
    # The SDK signs a proof for the unauthenticated route; the server ignores it.
    assert emu.requests_to("GET", "/v1/actions/http_fetch")[0].header("dpop")
    result = await sdk.execute("http_fetch", {"url": "https://httpbin.org/get"})
    assert result.output["data"]["status_code"] == 200
    with pytest.raises(LatchGateDenied, match=r"policy_denied: egress to 'evil\.example'"):
        await sdk.execute("http_fetch", {"url": "https://evil.example/x"})


# --- the SDK's exception classes for the server's codes ------------------------------------------------


async def test_policy_and_schema_denials(sdk: LatchGateClient) -> None:
    with pytest.raises(LatchGateDenied) as denied:
        await sdk.execute("shell_exec", {})
    assert denied.value.reason == (
        "policy_denied: no ACL entry allows principal 'dev:anonymous' to call 'shell_exec'"
    )
    with pytest.raises(LatchGateDenied) as invalid:
        await sdk.execute("http_fetch", {"no_url": True})
    assert invalid.value.reason == "schema_violation"  # no doubled "schema_violation: ..."


async def test_budgets(emu: LatchGateEmulator, sdk: LatchGateClient) -> None:
    await sdk.connect(max_calls=1)
    await sdk.execute("echo")
    # The real server usually denies by policy first: the SDK says Denied, not BudgetExhausted.
    with pytest.raises(
        LatchGateDenied, match="policy_denied: budget exhausted: no calls remaining"
    ):
        await sdk.execute("echo")
    emu.set_budget(0, session_id=sdk.session_id, error="budget_exhausted")
    with pytest.raises(LatchGateBudgetExhausted):
        await sdk.execute("echo")
    assert len(emu.executions) == 1


async def test_unknown_action_is_unavailable_not_denied(sdk: LatchGateClient) -> None:
    with pytest.raises(LatchGateUnavailable, match="unexpected status 404: action_not_found"):
        await sdk.execute("no_such_action")


async def test_lease_expiry_is_not_renewed_on_401(
    emu: LatchGateEmulator, sdk: LatchGateClient
) -> None:
    await sdk.execute("echo")
    emu.expire_leases()
    for _ in range(2):  # no renewal on 401: every call fails until the SDK's own clock says so
        with pytest.raises(LatchGateLeaseExpired) as caught:
            await sdk.execute("echo")
        assert caught.value.code == "lease_expired"
    assert len(emu.leases) == 1
    emu.restart()  # a server restart: the lease's kid is unknown
    await sdk.connect()
    emu.revoke_leases()
    with pytest.raises(LatchGateAuthError) as revoked:
        await sdk.execute("echo")
    assert revoked.value.code == "invalid_lease"


async def test_replay_detected(
    emu: LatchGateEmulator, sdk: LatchGateClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FixedUuid:
        @staticmethod
        def uuid4() -> str:
            return "00000000-0000-4000-8000-000000000000"

    await sdk.connect()
    monkeypatch.setattr(latchgate._crypto, "uuid", FixedUuid)  # every proof gets the same jti
    await sdk.execute("echo")
    with pytest.raises(LatchGateReplayDetected):
        await sdk.execute("echo")
    assert len(emu.executions) == 1


async def test_poll_auth_failures_are_unknown_to_the_sdk(
    emu: LatchGateEmulator, sdk: LatchGateClient
) -> None:
    with pytest.raises(LatchGateApprovalRequired) as caught:
        await sdk.execute("http_post", {})
    emu.expire_leases()
    with pytest.raises(LatchGateAuthError) as auth:
        await sdk.get_approval_status(caught.value.approval_id)
    assert auth.value.code == "unknown"  # the poll route's bare 401 carries no code


async def test_unavailable_and_transport_errors(
    emu: LatchGateEmulator, sdk: LatchGateClient
) -> None:
    await sdk.connect()
    emu.add_action("flaky", failure="provider_error")
    with pytest.raises(LatchGateUnavailable, match="action_execution_failed"):
        await sdk.execute("flaky")
    emu.drain()
    with pytest.raises(LatchGateUnavailable, match="draining"):
        await sdk.execute("echo")
    emu.drain(False)
    emu.inject("POST", EXECUTE, gate_error("rate_limited"), malformed_json(), drop())
    with pytest.raises(LatchGateUnavailable, match="unexpected status 429: rate_limited"):
        await sdk.execute("echo")  # no retry, no Retry-After handling
    with pytest.raises(LatchGateTransportError, match="invalid JSON in execute response"):
        await sdk.execute("echo")
    with pytest.raises(LatchGateTransportError):
        await sdk.execute("echo")
    assert len(emu.requests_to("POST", EXECUTE)) == 5  # each failure was a single request


async def test_a_lost_answer_is_not_resubmitted(emu: LatchGateEmulator, base_url: str) -> None:
    emu.inject("POST", EXECUTE, after_accept(drop()), slow(5))
    async with LatchGateClient(base_url=base_url, agent_id="a", timeout=0.5) as client:
        with pytest.raises(LatchGateTransportError):
            await client.execute("echo", {"n": 1})
        with pytest.raises(LatchGateTransportError):
            await client.execute("echo", {"n": 2})  # times out; the SDK does not retry
    assert [e.params for e in emu.executions] == [{"n": 1}]
    assert len(emu.requests_to("POST", EXECUTE)) == 2


# --- over a real Unix domain socket ----------------------------------------------------------------


async def test_over_a_unix_socket(socket_dir: str) -> None:
    emu = LatchGateEmulator()  # UDS only: htu is checked against http://localhost:3000
    path = os.path.join(socket_dir, "gate.sock")
    with emu.serve_unix(path):
        async with LatchGateClient(
            socket=path, public_base_url="http://localhost:3000", agent_id="uds-agent"
        ) as client:
            result = await client.execute("echo", {"via": "uds"})
            assert result.output["echo"] == {"via": "uds"}
            with pytest.raises(LatchGateApprovalRequired) as caught:
                await client.execute("http_post", {})
            emu.decide_approval(caught.value.approval_id, "approved")
            status = await client.get_approval_status(caught.value.approval_id)
            assert (await client.get_receipt(status.receipt_id)).is_fully_successful
            assert (await client.get_action_egress("http_fetch")).has_egress
        assert all(r.client is None and r.header("host") == "localhost" for r in emu.requests)


async def test_unix_socket_without_public_base_url_fails_every_authenticated_call(
    socket_dir: str,
) -> None:
    """SDK defect (spec §1.1): over UDS its htu base is http://localhost, not the server's."""
    emu = LatchGateEmulator()
    path = os.path.join(socket_dir, "gate.sock")
    with emu.serve_unix(path):
        async with LatchGateClient(socket=path, agent_id="uds-agent") as client:
            assert client.gate_url == "http://localhost"
            with pytest.raises(LatchGateAuthError) as caught:
                await client.execute("echo")
    # The SDK keeps only the code; the server's reason says what is wrong.
    assert str(caught.value) == "authentication failed: invalid_dpop"
    assert len(emu.leases) == 1 and emu.executions == []
    with emu.serve_unix(path), httpx.Client(transport=httpx.HTTPTransport(uds=path)) as raw:
        record = emu.requests[-1]
        resp = raw.post(
            "http://localhost/v1/actions/echo/execute",
            headers={
                "Authorization": record.header("authorization") or "",
                "DPoP": record.header("dpop") or "",
            },
        )
    assert resp.json()["deny_reason"].startswith(
        "htu mismatch: expected 'http://localhost:3000/v1/actions/echo/execute'"
    )


async def test_latchgate_url_silently_overrides_the_socket(
    emu: LatchGateEmulator, base_url: str, socket_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SDK defect (spec §1.1): with LATCHGATE_URL set, ``socket=`` is ignored."""
    path = os.path.join(socket_dir, "gate.sock")
    monkeypatch.setenv("LATCHGATE_URL", base_url)
    async with LatchGateClient(socket=path, agent_id="a") as client:
        await client.execute("echo")
    assert not os.path.exists(path)
    assert emu.requests[-1].client is not None  # it went over TCP


# --- the htu trap behind a proxy or another host name ----------------------------------------------


async def test_a_public_url_behind_a_proxy_must_be_passed(
    emu: LatchGateEmulator, base_url: str
) -> None:
    emu.public_base_url = "https://gate.example.com"  # TLS-terminating proxy in front of the gate
    async with LatchGateClient(base_url=base_url, agent_id="a") as client:
        with pytest.raises(LatchGateAuthError, match="invalid_dpop"):
            await client.execute("echo")
    async with LatchGateClient(
        base_url=base_url, public_base_url="https://gate.example.com/", agent_id="a"
    ) as client:
        assert (await client.execute("echo")).output == {"ok": True, "echo": {}}


async def test_localhost_and_127_0_0_1_are_different_htus(
    emu: LatchGateEmulator, base_url: str
) -> None:
    port = base_url.rsplit(":", 1)[1]
    emu.public_base_url = f"http://localhost:{port}"  # what the server was configured with
    async with LatchGateClient(base_url=base_url, agent_id="a") as client:  # 127.0.0.1
        with pytest.raises(LatchGateAuthError, match="invalid_dpop"):
            await client.execute("echo")
    async with LatchGateClient(base_url=f"http://LOCALHOST:{port}/", agent_id="a") as client:
        await client.execute("echo")  # both sides normalise case; the host name must match


# --- lazy renewal drops what an explicit connect asked for ------------------------------------------


async def test_lazy_renewal_drops_budgets_and_orphans_approvals() -> None:
    """SDK defects (spec §2.4): with under 60 s left the SDK reconnects before each call, with a
    new key, default scopes and no budgets: the server-side budget and session are gone."""
    emu = LatchGateEmulator(lease_ttl=30)  # always under the SDK's 60 s renewal threshold
    with emu.serve() as url:
        async with LatchGateClient(base_url=url, agent_id="a") as client:
            await client.connect(max_calls=1)
            await client.execute("echo")
            await client.execute("echo")  # a budget of one call, yet both ran
            assert len(emu.executions) == 2
            assert [lease.budgets for lease in emu.leases] == [{"max_calls": 1}, None, None]
            with pytest.raises(LatchGateApprovalRequired) as caught:
                await client.execute("http_post", {})
            # The poll renews the lease first: a new session cannot see its own approval.
            with pytest.raises(LatchGateDenied, match="not found"):
                await client.get_approval_status(caught.value.approval_id)
    assert len({lease.jkt for lease in emu.leases}) == len(emu.leases)  # a new key each time
    assert json.loads(emu.requests[0].body)["budgets"] == {"max_calls": 1}
