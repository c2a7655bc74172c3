"""LatchGateClient over real HTTP against the emulator, on TCP and on a real Unix socket.

Configuration and URL resolution, leases (lazy, shared, renewed, re-leased), DPoP proofs as
the gate received them, execute 200/202, receipts, approvals, egress and the htu rule.
Errors, retries and secrets: test_latchgate_client_faults.py; the sync client:
test_latchgate_client_sync.py; the platform mapping: test_latchgate_platform.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from govflow.core.errors import (
    ApprovalRequiredError,
    ConfigurationError,
    DeniedError,
    NotFoundError,
)
from govflow.core.platforms.latchgate import (
    DEFAULT_PUBLIC_BASE_URL,
    ActionResult,
    LatchGateApprovalNotFoundError,
    LatchGateApprovalRequiredError,
    LatchGateBudgetExhaustedError,
    LatchGateClient,
    LatchGateDeniedError,
    LatchGateHtuMismatchError,
    LatchGateIdentifierError,
    LatchGateNotFoundError,
    default_socket_path,
    normalize_htu,
    request_hash,
    resolve_endpoint,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import RecordedRequest
from govflow.testing.latchgate import LatchGateEmulator

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
ENV = (
    "LATCHGATE_URL",
    "GOVFLOW_LATCHGATE_URL",
    "LATCHGATE_SOCKET",
    "GOVFLOW_LATCHGATE_SOCKET",
    "LATCHGATE_PUBLIC_BASE_URL",
    "GOVFLOW_LATCHGATE_PUBLIC_BASE_URL",
    "XDG_RUNTIME_DIR",
)


@pytest.fixture(autouse=True)
def _no_latchgate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def short_dir() -> str:
    # AF_UNIX paths are limited to ~107 bytes; pytest's tmp_path can be longer.
    return tempfile.mkdtemp(prefix="lg-", dir="/tmp")


@dataclass
class Gate:
    emu: LatchGateEmulator
    transport: str
    options: dict[str, Any] = field(default_factory=dict)

    def client(self, **options: Any) -> LatchGateClient:
        return LatchGateClient(**{**self.options, "retry": FAST, "timeout": 10.0, **options})


@pytest.fixture(params=["tcp", "uds"])
def start_gate(request: pytest.FixtureRequest) -> Iterator[Callable[..., Gate]]:
    """Start an emulator over TCP or over a real Unix domain socket (each test runs on both)."""
    stack = contextlib.ExitStack()

    def start(**emu_options: Any) -> Gate:
        emu = LatchGateEmulator(**emu_options)
        if request.param == "tcp":
            return Gate(emu, "tcp", {"base_url": stack.enter_context(emu.serve())})
        directory = short_dir()
        stack.callback(shutil.rmtree, directory, True)
        path = stack.enter_context(emu.serve_unix(os.path.join(directory, "gate.sock")))
        return Gate(emu, "uds", {"socket": path})

    with stack:
        yield start


@pytest.fixture
def gate(start_gate: Callable[..., Gate]) -> Gate:
    return start_gate()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check_proofs(emu: LatchGateEmulator, requests: list[RecordedRequest], public: str) -> set[str]:
    """Verify every request's lease and DPoP proof independently; returns the jtis (all distinct)."""
    leases = {lease.lease_jwt: lease for lease in emu.leases}
    jtis: set[str] = set()
    for request in requests:
        authorization = request.header("authorization") or ""
        assert authorization.startswith("DPoP ")
        jwt = authorization[len("DPoP ") :]
        lease = leases[jwt]
        header_b64, payload_b64, sig_b64 = (request.header("dpop") or "").split(".")
        header, payload, signature = json.loads(b64d(header_b64)), json.loads(b64d(payload_b64)), b64d(sig_b64)
        jwk = header["jwk"]
        public_key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()
        ).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public_key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
        assert b64e(hashlib.sha256(members.encode()).digest()) == lease.jkt  # bound to the lease
        assert (header["typ"], header["alg"]) == ("dpop+jwt", "ES256")
        assert payload["htm"] == request.method
        assert payload["htu"] == normalize_htu(public + request.path)
        assert payload["ath"] == b64e(hashlib.sha256(jwt.encode()).digest())
        assert abs(payload["iat"] - time.time()) < 30
        assert payload["jti"] not in jtis
        jtis.add(payload["jti"])
    return jtis


# --- where the client talks to ---------------------------------------------------------------------


def test_base_url_argument_is_tcp_without_trailing_slash() -> None:
    endpoint = resolve_endpoint(base_url="http://gate.example:3000/")
    assert endpoint.base_url == "http://gate.example:3000"
    assert endpoint.public_base_url == "http://gate.example:3000"
    assert endpoint.socket_path is None


def test_latchgate_url_env_is_next(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATCHGATE_URL", "http://env.example:3000/")
    assert resolve_endpoint().base_url == "http://env.example:3000"
    assert resolve_endpoint().source == "LATCHGATE_URL"
    monkeypatch.setenv("GOVFLOW_LATCHGATE_URL", "http://govflow.example:3000")
    assert resolve_endpoint().base_url == "http://govflow.example:3000"
    assert resolve_endpoint(base_url="http://arg.example").base_url == "http://arg.example"


def test_the_default_socket_follows_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    endpoint = resolve_endpoint()
    assert endpoint.socket_path == "/run/user/1234/latchgate/gate.sock" == default_socket_path()
    assert endpoint.base_url == "http://localhost"
    # The gate checks htu against its own default public URL, not the SDK's http://localhost.
    assert endpoint.public_base_url == DEFAULT_PUBLIC_BASE_URL == "http://localhost:3000"


def test_without_xdg_the_default_socket_is_per_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "")
    monkeypatch.setattr(os, "getuid", lambda: 4242)
    assert resolve_endpoint().socket_path == "/tmp/latchgate-4242/gate.sock"


def test_a_blank_latchgate_url_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK builds a TCP client with an empty base URL from it.
    monkeypatch.setenv("LATCHGATE_URL", "  ")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1")
    assert resolve_endpoint().socket_path == "/run/user/1/latchgate/gate.sock"


def test_an_explicit_socket_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK silently ignores socket= when LATCHGATE_URL is set.
    monkeypatch.setenv("LATCHGATE_URL", "http://env.example:3000")
    endpoint = resolve_endpoint(socket="/tmp/x/gate.sock")
    assert endpoint.socket_path == "/tmp/x/gate.sock"
    assert endpoint.public_base_url == DEFAULT_PUBLIC_BASE_URL


def test_a_socket_from_the_environment_comes_after_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATCHGATE_SOCKET", "/tmp/env/gate.sock")
    assert resolve_endpoint().socket_path == "/tmp/env/gate.sock"
    monkeypatch.setenv("GOVFLOW_LATCHGATE_SOCKET", "/tmp/govflow/gate.sock")
    assert resolve_endpoint().socket_path == "/tmp/govflow/gate.sock"
    monkeypatch.setenv("LATCHGATE_URL", "http://env.example:3000")
    assert resolve_endpoint().socket_path is None


def test_public_base_url_argument_then_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_endpoint(socket="/s", public_base_url="https://Gate.example/").public_base_url == "https://Gate.example"
    # The gate's own variable: where the client shares its environment, the same value.
    monkeypatch.setenv("LATCHGATE_PUBLIC_BASE_URL", "http://gate-env.example:3000")
    assert resolve_endpoint(socket="/s").public_base_url == "http://gate-env.example:3000"
    monkeypatch.setenv("GOVFLOW_LATCHGATE_PUBLIC_BASE_URL", "http://public.example:3000")
    assert resolve_endpoint(base_url="http://127.0.0.1:3000").public_base_url == "http://public.example:3000"
    assert resolve_endpoint(socket="/s", public_base_url="http://arg.example").public_base_url == "http://arg.example"


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "http://a", "socket": "/s"},
        {"base_url": ""},
        {"socket": ""},
        {"base_url": "gate.example:3000"},
        {"base_url": "ftp://gate.example"},
        {"base_url": "http://gate.example?x=1"},
        {"base_url": "http://a", "public_base_url": "localhost:3000"},
        {"base_url": "http://a", "public_base_url": "http://a/#x"},
    ],
)
def test_unusable_configuration_is_refused_before_any_io(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        LatchGateClient(**options)


@pytest.mark.parametrize("scopes", [[], [""], ["Tools:call"], ["nocolon"], ["ends:"], ["a:" + "b" * 70]])
def test_invalid_scopes_are_refused_before_any_io(scopes: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        LatchGateClient(base_url="http://a", scopes=scopes)


async def test_invalid_ids_are_refused_before_any_io(gate: Gate) -> None:
    async with gate.client() as client:
        for bad in ["", "../x", "a/b", "-x", "a?b", "x" * 257]:
            with pytest.raises(LatchGateIdentifierError):
                await client.execute(bad)
            with pytest.raises(ValueError):  # the SDK's exception type still matches
                await client.get_receipt(bad)
    assert gate.emu.requests == []


async def test_no_arguments_use_latchgate_url(monkeypatch: pytest.MonkeyPatch) -> None:
    emu = LatchGateEmulator()
    with emu.serve() as url:
        monkeypatch.setenv("LATCHGATE_URL", url)
        async with LatchGateClient() as client:
            result = await client.execute(emu.actions["echo"], {"q": 1})
    assert result.output == {"ok": True, "echo": {"q": 1}}


async def test_no_arguments_use_the_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = short_dir()
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
        emu = LatchGateEmulator()  # no TCP: checks htu against http://localhost:3000
        with emu.serve_unix(os.path.join(runtime, "latchgate", "gate.sock")):
            async with LatchGateClient() as client:
                assert client.socket_path == os.path.join(runtime, "latchgate", "gate.sock")
                result = await client.execute(emu.actions["echo"])
        assert result.output == {"ok": True, "echo": {}}
        assert all(r.client is None and r.header("host") == "localhost" for r in emu.requests)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


# --- execute -------------------------------------------------------------------------------------


async def test_execute_returns_the_result(gate: Gate) -> None:
    params = {"b": 2, "a": "é", "nested": {"z": [1, 2], "y": None}}
    async with gate.client() as client:
        result = await client.execute(gate.emu.actions["echo"], params)
    assert isinstance(result, ActionResult)
    assert result.output == {"ok": True, "echo": params}
    assert result.decision == "executed"
    assert result.is_fully_successful
    assert result.outcome == "verified"
    assert result.runtime["exit_code"] == 0
    [execution] = gate.emu.executions
    assert (result.receipt_id, result.trace_id, result.grant_id) == (
        execution.receipt_id,
        execution.trace_id,
        execution.grant_id,
    )
    # govflow's JCS hash equals the gate's request_hash for the same body.
    assert result.request_hash == execution.request_hash == request_hash(params)
    [post] = gate.emu.requests_to("POST", "/v1/actions/*/execute")
    assert post.header("content-type") == "application/json"
    assert post.json() == params


async def test_every_request_carries_a_valid_bound_proof(gate: Gate) -> None:
    async with gate.client() as client:
        result = await client.execute(gate.emu.actions["echo"], {"x": 1})
        await client.get_receipt(result.receipt_id)
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"], {"x": 2})
        await client.get_approval_status(caught.value.approval_id or "")
    authenticated = [r for r in gate.emu.requests if r.path != "/v1/leases"]
    assert len(authenticated) == 4
    assert len(check_proofs(gate.emu, authenticated, gate.emu.public_base_url)) == 4


async def test_the_lease_request_has_exactly_the_allowed_fields(gate: Gate) -> None:
    async with gate.client() as client:
        await client.execute(gate.emu.actions["echo"])
    [lease_request] = gate.emu.requests_to("POST", "/v1/leases")
    body = lease_request.json()
    assert set(body) == {"scopes", "dpop_jwk"}
    assert body["scopes"] == ["tools:call"]
    assert set(body["dpop_jwk"]) == {"kty", "crv", "x", "y"}
    assert lease_request.header("authorization") is None and lease_request.header("dpop") is None
    assert lease_request.header("content-type") == "application/json"


async def test_approval_required_raises_with_the_approval_id(gate: Gate) -> None:
    params = {"url": "https://httpbin.org/post"}
    async with gate.client() as client:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"], params)
    error = caught.value
    assert isinstance(error, ApprovalRequiredError)
    approval = gate.emu.approval(error.approval_id or "")
    assert error.request_hash == approval.request_hash == request_hash(params)
    assert error.trace_id == approval.trace_id
    assert error.action_id == "http_post"
    assert error.status == 202
    assert gate.emu.executions == []


async def test_a_policy_denial_keeps_the_gates_reason(gate: Gate) -> None:
    async with gate.client() as client:
        with pytest.raises(LatchGateDeniedError) as caught:
            await client.execute(gate.emu.actions["denied"])
    error = caught.value
    assert isinstance(error, DeniedError)
    assert error.code == "policy_denied"
    assert error.status == 403
    assert error.deny_reason and "no ACL entry" in error.deny_reason
    assert error.reason == f"policy_denied: {error.deny_reason}"
    assert error.action_id == "shell_exec"
    assert gate.emu.executions == []


async def test_an_unknown_action_is_not_found(gate: Gate) -> None:
    async with gate.client() as client:
        with pytest.raises(LatchGateNotFoundError) as caught:
            await client.execute("no_such_action")
    assert caught.value.code == "action_not_found"
    assert isinstance(caught.value, NotFoundError)


# --- receipts, approvals, egress ------------------------------------------------------------------


async def test_receipts(gate: Gate) -> None:
    gate.emu.add_action("unverified", verification="verification_failed")
    async with gate.client() as client:
        good = await client.get_receipt((await client.execute("echo", {"k": "v"})).receipt_id)
        bad_result = await client.execute("unverified")
        bad = await client.get_receipt(bad_result.receipt_id)
        with pytest.raises(LatchGateNotFoundError) as caught:
            await client.get_receipt("01a0000000000000000000000000000")
    assert good.is_fully_successful
    assert good.provider_receipt == {"ok": True, "echo": {"k": "v"}}
    assert good.normalized_result["kind"] == "success"
    assert len(good.result_hash) == 64 and good.signature_status == "valid"
    assert good.started is not None and good.finished is not None and good.started <= good.finished
    assert good.raw == gate.emu.receipts[good.receipt_id]
    assert not bad_result.is_fully_successful
    assert not bad.is_fully_successful
    assert bad.verification_outcome["status"] == "verification_failed"
    assert caught.value.code == "not_found"


async def test_the_approval_lifecycle(gate: Gate) -> None:
    async with gate.client() as client:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"], {"n": 1})
        approval_id = caught.value.approval_id or ""
        pending = await client.get_approval_status(approval_id)
        assert pending.is_pending and pending.retry_after_seconds == 2
        assert pending.approval_id == approval_id and pending.action_id == "http_post"
        gate.emu.decide_approval(approval_id, "approved", by="alice")
        approved = await client.get_approval_status(approval_id)
        assert approved.is_approved and approved.receipt_id
        receipt = await client.get_receipt(approved.receipt_id)
        assert receipt.provider_receipt == {"ok": True, "echo": {"n": 1}}
    # The approval executed the action: once, and nothing else did.
    [execution] = gate.emu.executions
    assert (execution.source, execution.receipt_id) == ("approval", approved.receipt_id)


@pytest.mark.parametrize(("decision", "status"), [("denied", "denied"), ("failed", "failed")])
async def test_denied_and_failed_approvals(gate: Gate, decision: str, status: str) -> None:
    async with gate.client() as client:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"])
        gate.emu.decide_approval(caught.value.approval_id or "", decision, reason="not today")  # type: ignore[arg-type]
        polled = await client.get_approval_status(caught.value.approval_id or "")
    assert polled.status == status and polled.reason == "not today"
    assert gate.emu.executions == []


async def test_an_expired_approval_is_gone_on_its_own_session(gate: Gate) -> None:
    async with gate.client() as client:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"])
        gate.emu.decide_approval(caught.value.approval_id or "", "expired")
        with pytest.raises(LatchGateApprovalNotFoundError) as gone:
            await client.get_approval_status(caught.value.approval_id or "")
    assert gone.value.session_alive is True


async def test_another_sessions_approval_is_not_found(gate: Gate) -> None:
    async with gate.client() as first:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await first.execute(gate.emu.actions["needs_approval"])
        async with gate.client() as second:
            with pytest.raises(LatchGateApprovalNotFoundError) as other:
                await second.get_approval_status(caught.value.approval_id or "")
    assert other.value.session_alive is None
    assert "another lease" in str(other.value)


class FakeClock:
    """The client's lease clock, moved by hand: lease timing without sleeping (the gate keeps real time)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def test_polls_use_the_session_that_created_the_approval(gate: Gate) -> None:
    clock = FakeClock()
    async with gate.client() as client:
        client._leases.clock = clock
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await client.execute(gate.emu.actions["needs_approval"])
        approval_id = caught.value.approval_id or ""
        creating_session = client.session_id
        clock.advance(250)  # less than the 60 s margin left: the next call renews
        await client.execute(gate.emu.actions["echo"])
        assert client.session_id != creating_session and client.leases_issued == 2
        # The poll still works: it is signed with the lease of the creating session.
        assert (await client.get_approval_status(approval_id)).is_pending
        polls = gate.emu.requests_to("GET", "/v1/approvals/*/poll")
        assert polls[-1].header("authorization") == f"DPoP {gate.emu.leases[0].lease_jwt}"
        clock.advance(60)  # that lease has ended: no session can poll the approval any more
        with pytest.raises(LatchGateApprovalNotFoundError) as lost:
            await client.get_approval_status(approval_id)
    assert lost.value.session_alive is False
    assert "can no longer be polled" in str(lost.value)


async def test_renewal_margin_on_the_lease_clock(gate: Gate) -> None:
    clock = FakeClock()
    async with gate.client(renew_margin=30) as client:
        client._leases.clock = clock
        await client.execute("echo")
        clock.advance(269)  # 31 s left of 300: still used
        await client.execute("echo")
        assert client.leases_issued == 1
        clock.advance(2)  # 29 s left: renewed before the next call
        await client.execute("echo")
        assert client.leases_issued == 2
    # No call was refused and resent: the renewal came before the gate would have said expired.
    assert len(gate.emu.requests_to("POST", "/v1/actions/*/execute")) == len(gate.emu.executions) == 3


async def test_egress_profiles_need_no_lease(gate: Gate) -> None:
    gate.emu.add_action("broken_egress", egress="invalid")
    async with gate.client() as client:
        fetch = await client.get_action_egress(gate.emu.actions["egress"])
        echo = await client.get_action_egress(gate.emu.actions["echo"])
        broken = await client.get_action_egress("broken_egress")
        detail = await client.get_action(gate.emu.actions["egress"])
        actions = await client.list_actions()
        with pytest.raises(LatchGateNotFoundError):
            await client.get_action("no_such_action")
        assert client.leases_issued == 0
    assert (fetch.profile, fetch.allowed_domains, fetch.has_egress) == (
        "proxy_allowlist",
        ["httpbin.org", "api.example.com"],
        True,
    )
    assert (echo.profile, echo.has_egress) == ("none", False)
    assert broken.profile == "none"
    assert detail.io["has_request_schema"] is True and detail.declared_side_effects == ["network_read"]
    assert {a.action_id for a in actions} >= set(gate.emu.actions.values())
    assert all(r.header("authorization") is None and r.header("dpop") is None for r in gate.emu.requests)


async def test_egress_allowlist_is_enforced_by_the_gate(gate: Gate) -> None:
    async with gate.client() as client:
        allowed = await client.execute(gate.emu.actions["egress"], {"url": "https://api.example.com/x"})
        with pytest.raises(LatchGateDeniedError) as caught:
            await client.execute(gate.emu.actions["egress"], {"url": "https://evil.example/x"})
    assert allowed.output["ok"] is True
    assert caught.value.code == "policy_denied"


# --- leases --------------------------------------------------------------------------------------


async def test_one_lease_is_shared_by_concurrent_calls(gate: Gate) -> None:
    async with gate.client() as client:
        assert client.lease is None and client.session_id is None
        results = await asyncio.gather(*(client.execute("echo", {"i": i}) for i in range(20)))
        assert client.leases_issued == 1
        assert client.lease is not None and client.lease.session_id == client.session_id
    assert sorted(r.output["echo"]["i"] for r in results) == list(range(20))
    assert len(gate.emu.requests_to("POST", "/v1/leases")) == 1
    assert len(gate.emu.executions) == 20
    assert len(check_proofs(gate.emu, gate.emu.requests_to("POST", "/v1/actions/*"), gate.emu.public_base_url)) == 20


async def test_the_lease_is_renewed_before_it_expires(start_gate: Callable[..., Gate]) -> None:
    gate = start_gate(lease_ttl=2)
    async with gate.client(scopes=["tools:call", "audit:read"], max_calls=50) as client:
        await client.execute("echo")
        first = client.lease
        await asyncio.sleep(1.2)  # past half the lease, before its end
        await client.execute("echo")
        second = client.lease
    assert first is not None and second is not None
    assert first.session_id != second.session_id and first.jkt != second.jkt  # a new key too
    # Renewed before expiry: the gate never refused a call.
    assert [r.path for r in gate.emu.requests] == ["/v1/leases", "/v1/actions/echo/execute"] * 2
    assert len(gate.emu.executions) == 2
    # Unlike the SDK, the renewal asks for the same scopes and budget.
    bodies = [r.json() for r in gate.emu.requests_to("POST", "/v1/leases")]
    assert bodies[0]["scopes"] == bodies[1]["scopes"] == ["tools:call", "audit:read"]
    assert bodies[0]["budgets"] == bodies[1]["budgets"] == {"max_calls": 50}


async def test_a_long_lease_is_reused(gate: Gate) -> None:
    async with gate.client() as client:
        for _ in range(5):
            await client.execute("echo")
        assert client.leases_issued == 1


@pytest.mark.parametrize("how", ["expire_leases", "revoke_leases", "restart"])
async def test_a_refused_lease_is_replaced_once_and_the_call_goes_through(gate: Gate, how: str) -> None:
    async with gate.client() as client:
        await client.execute("echo", {"n": 1})
        getattr(gate.emu, how)()  # lease_expired, invalid_lease, invalid_lease (unknown kid)
        result = await client.execute("echo", {"n": 2})
        assert client.leases_issued == 2
    assert result.output["echo"] == {"n": 2}
    assert [e.params for e in gate.emu.executions] == [{"n": 1}, {"n": 2}]
    posts = gate.emu.requests_to("POST", "/v1/actions/*/execute")
    assert len(posts) == 3  # the refused one and its resend, with a new lease and a new proof
    assert posts[1].header("dpop") != posts[2].header("dpop")
    assert posts[1].header("authorization") != posts[2].header("authorization")


async def test_explicit_connect_with_scopes_and_budgets(gate: Gate) -> None:
    async with gate.client() as client:
        info = await client.connect(agent_id="agent-1", scopes=["tools:call"], max_calls=2, max_cost_usd_cents=10)
        assert client.agent_id == "agent-1"
        assert info.session_id == client.session_id and info.budgets == {"max_calls": 2, "max_cost_usd_cents": 10}
        await client.execute("echo")
        await client.execute("echo")
        with pytest.raises(LatchGateBudgetExhaustedError) as caught:
            await client.execute("echo")
        assert client.leases_issued == 1
    [body] = [r.json() for r in gate.emu.requests_to("POST", "/v1/leases")]
    assert body["budgets"] == {"max_calls": 2, "max_cost_usd_cents": 10}
    # The real server's usual answer: 403 policy_denied "budget exhausted: ...".
    assert isinstance(caught.value, DeniedError) and caught.value.code == "policy_denied"
    assert len(gate.emu.executions) == 2


async def test_the_budget_exhausted_code(start_gate: Callable[..., Gate]) -> None:
    gate = start_gate(budget_error="budget_exhausted")
    async with gate.client(max_calls=1) as client:
        await client.execute("echo")
        with pytest.raises(LatchGateBudgetExhaustedError) as caught:
            await client.execute("echo")
    assert caught.value.code == "budget_exhausted"
    assert "budget exhausted" in str(caught.value)


async def test_check_connection(gate: Gate) -> None:
    async with gate.client() as client:
        info = await client.check_connection()
        assert info.session_id == client.session_id
        assert info.expires_at.tzinfo is not None
    assert gate.emu.executions == []


# --- the htu rule ----------------------------------------------------------------------------------


async def test_a_wrong_public_base_url_is_a_configuration_error(start_gate: Callable[..., Gate]) -> None:
    gate = start_gate(public_base_url="https://gate.example:8443")
    async with gate.client() as client:
        with pytest.raises(LatchGateHtuMismatchError) as caught:
            await client.execute("echo")
        with pytest.raises(ConfigurationError):
            await client.check_connection()
    error = caught.value
    assert error.expected_base_url == "https://gate.example:8443"
    assert "public_base_url='https://gate.example:8443'" in str(error)
    assert error.code == "invalid_dpop" and error.status == 401
    assert gate.emu.executions == []
    async with gate.client(public_base_url="https://GATE.example:8443/") as fixed:
        assert (await fixed.execute("echo")).output == {"ok": True, "echo": {}}


async def test_tcp_by_another_name_than_the_public_one() -> None:
    # `latchgate up --expose-http localhost:PORT`: the gate checks http://localhost:PORT.
    emu = LatchGateEmulator()
    with emu.serve() as url:
        port = url.rsplit(":", 1)[1]
        emu.public_base_url = f"http://localhost:{port}"
        async with LatchGateClient(base_url=url, retry=FAST) as client:
            with pytest.raises(LatchGateHtuMismatchError) as caught:
                await client.execute("echo")
        assert caught.value.expected_base_url == f"http://localhost:{port}"
        async with LatchGateClient(base_url=url, public_base_url=f"http://localhost:{port}") as fixed:
            await fixed.execute("echo")


async def test_the_sdk_uds_default_would_mismatch_but_govflows_does_not() -> None:
    directory = short_dir()
    try:
        emu = LatchGateEmulator()
        with emu.serve_unix(Path(directory) / "gate.sock") as path:
            async with LatchGateClient(socket=path, public_base_url="http://localhost") as sdk_like:
                with pytest.raises(LatchGateHtuMismatchError) as caught:
                    await sdk_like.execute("echo")
            assert caught.value.expected_base_url == "http://localhost:3000"
            async with LatchGateClient(socket=path) as client:
                await client.execute("echo")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_repr_shows_where_not_secrets(gate: Gate) -> None:
    async with gate.client() as client:
        await client.execute("echo")
        text = repr(client) + repr(client.lease) + repr(client._leases.current)
    jwt = gate.emu.leases[0].lease_jwt
    assert jwt not in text
    assert "LatchGateClient(" in text
