"""LatchGatePlatform: the gate (execute an action), approvals, and the Governor end to end.

Over real HTTP against the emulator, on TCP and on a real Unix socket; the approvals are
decided by another thread, as an operator would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from govflow.core.approvals import wait_for_approval
from govflow.core.errors import (
    ApprovalBindingError,
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    CapabilityNotSupportedError,
    ConfigurationError,
    DeniedError,
)
from govflow.core.governor import Governor
from govflow.core.models import ApprovalStatus, DecisionOutcome, GateRequest, RunContext
from govflow.core.platforms.base import Capability
from govflow.core.platforms.latchgate import (
    LatchGateClient,
    LatchGateNotFoundError,
    LatchGatePlatform,
    request_hash,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.latchgate import LatchGateEmulator

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
POLL: dict[str, Any] = {"poll": 0.02, "max_poll": 0.05}
CONTEXT = RunContext(orchestrator="python", pipeline="payments", run_id="run-1", step="pay")


@pytest.fixture(autouse=True)
def _no_latchgate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LATCHGATE_URL", "GOVFLOW_LATCHGATE_URL", "LATCHGATE_SOCKET", "GOVFLOW_LATCHGATE_SOCKET", "LATCHGATE_PUBLIC_BASE_URL", "GOVFLOW_LATCHGATE_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> LatchGateEmulator:
    return LatchGateEmulator()


@pytest.fixture(params=["tcp", "uds"])
def options(request: pytest.FixtureRequest, emu: LatchGateEmulator) -> Iterator[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        if request.param == "tcp":
            yield {"base_url": stack.enter_context(emu.serve()), "retry": FAST}
            return
        directory = tempfile.mkdtemp(prefix="lg-", dir="/tmp")
        stack.callback(shutil.rmtree, directory, True)
        yield {"socket": stack.enter_context(emu.serve_unix(os.path.join(directory, "gate.sock"))), "retry": FAST}


@pytest.fixture
async def client(options: dict[str, Any]) -> AsyncIterator[LatchGateClient]:
    async with LatchGateClient(**options) as gate:
        yield gate


@pytest.fixture
def platform(client: LatchGateClient) -> LatchGatePlatform:
    return LatchGatePlatform(client, actions={"pay": "http_post", "lookup": "echo"})


def decide_later(emu: LatchGateEmulator, decision: str, *, delay: float = 0.15) -> threading.Thread:
    """Another thread decides the first pending approval after ``delay``, as an operator would."""

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pending = [a for a in emu.approvals.values() if a.status == "pending"]
            if pending:
                time.sleep(delay)
                emu.decide_approval(pending[0].approval_id, decision, by="ops", reason=f"{decision} in review")  # type: ignore[arg-type]
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- configuration ---------------------------------------------------------------------------------


async def test_capabilities(platform: LatchGatePlatform) -> None:
    assert platform.name == "latchgate"
    platform.require(Capability.GATE, Capability.APPROVALS)
    with pytest.raises(CapabilityNotSupportedError):
        platform.require(Capability.EVIDENCE)


async def test_a_client_or_options_not_both(client: LatchGateClient) -> None:
    with pytest.raises(ConfigurationError):
        LatchGatePlatform(client, base_url="http://x")


async def test_the_platform_builds_and_closes_its_own_client(options: dict[str, Any]) -> None:
    async with LatchGatePlatform(**options) as platform:
        decision = await platform.gate(CONTEXT, GateRequest(action="echo"))
        assert decision.allowed
    assert platform.client.is_closed


async def test_a_given_client_is_left_open(platform: LatchGatePlatform, client: LatchGateClient) -> None:
    await platform.aclose()
    assert not client.is_closed


# --- the gate ---------------------------------------------------------------------------------------


async def test_allowed_executes_and_returns_the_output(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    payload = {"invoice": 7, "amount": 12.5}
    decision = await platform.gate(CONTEXT, GateRequest(action="lookup", payload=payload))
    [execution] = emu.executions
    assert decision.outcome is DecisionOutcome.ALLOW
    assert decision.output == {"ok": True, "echo": payload}
    assert decision.decision_id == execution.trace_id
    assert decision.references == {
        "platform": "latchgate",
        "action_id": "echo",
        "receipt_id": execution.receipt_id,
        "trace_id": execution.trace_id,
        "grant_id": execution.grant_id,
        "request_hash": request_hash(payload),
        "verification": "verified",
        "fully_successful": "true",
    }
    assert decision.raw["receipt_id"] == execution.receipt_id


async def test_an_unmapped_action_is_the_action_id(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="echo"))
    assert decision.allowed and decision.output == {"ok": True, "echo": {}}


async def test_a_payload_must_be_an_object(platform: LatchGatePlatform) -> None:
    with pytest.raises(ConfigurationError):
        await platform.gate(CONTEXT, GateRequest(action="echo", payload=[1, 2]))


async def test_a_policy_denial_is_a_deny_decision(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="shell_exec"))
    assert decision.outcome is DecisionOutcome.DENY
    assert decision.reason and decision.reason.startswith("policy_denied: no ACL entry")
    assert decision.references["code"] == "policy_denied"
    assert emu.executions == []


async def test_a_used_up_budget_is_a_deny_decision(emu: LatchGateEmulator, options: dict[str, Any]) -> None:
    async with LatchGatePlatform(**options, max_calls=1) as platform:
        assert (await platform.gate(CONTEXT, GateRequest(action="echo"))).allowed
        decision = await platform.gate(CONTEXT, GateRequest(action="echo"))
    assert decision.denied and "budget exhausted" in (decision.reason or "")


async def test_other_failures_raise(platform: LatchGatePlatform) -> None:
    with pytest.raises(LatchGateNotFoundError):
        await platform.gate(CONTEXT, GateRequest(action="no_such_action"))


async def test_approval_required_is_pending(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="pay", payload={"amount": 100}))
    assert decision.outcome is DecisionOutcome.PENDING
    approval = emu.approval(decision.approval_id or "")
    assert decision.decision_id == approval.trace_id
    assert decision.references["request_hash"] == approval.request_hash == request_hash({"amount": 100})
    assert emu.executions == []


# --- approvals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "comment"),
    [
        (None, ApprovalStatus.PENDING, None),
        ("approved", ApprovalStatus.APPROVED, None),
        ("denied", ApprovalStatus.DENIED, "denied in review"),
        ("failed", ApprovalStatus.FAILED, "failed in review"),
        ("expired", ApprovalStatus.EXPIRED, "the gate no longer has it (pending approvals expire after 300 s)"),
    ],
)
async def test_get_approval_maps_statuses(
    emu: LatchGateEmulator,
    platform: LatchGatePlatform,
    decision: str | None,
    status: ApprovalStatus,
    comment: str | None,
) -> None:
    gated = await platform.gate(CONTEXT, GateRequest(action="pay"))
    approval_id = gated.approval_id or ""
    if decision is not None:
        emu.decide_approval(approval_id, decision, reason=f"{decision} in review")  # type: ignore[arg-type]
    approval = await platform.get_approval(approval_id)
    assert (approval.id, approval.status, approval.platform) == (approval_id, status, "latchgate")
    assert approval.comment == comment
    assert approval.action == "http_post"


@pytest.mark.parametrize(
    ("decision", "error"),
    [
        ("approved", None),
        ("denied", ApprovalDeniedError),
        ("expired", ApprovalExpiredError),
        ("failed", ApprovalFailedError),
    ],
)
async def test_wait_for_approval_decided_by_another_thread(
    emu: LatchGateEmulator, platform: LatchGatePlatform, decision: str, error: type[Exception] | None
) -> None:
    gated = await platform.gate(CONTEXT, GateRequest(action="pay", payload={"amount": 5}))
    thread = decide_later(emu, decision)
    if error is None:
        approval = await wait_for_approval(platform, gated.approval_id or "", timeout=10, **POLL)
        assert approval.status is ApprovalStatus.APPROVED
    else:
        with pytest.raises(error) as caught:
            await wait_for_approval(platform, gated.approval_id or "", timeout=10, **POLL)
        assert getattr(caught.value, "approval_id", None) == gated.approval_id
    thread.join()
    assert len(emu.requests_to("GET", "/v1/approvals/*/poll")) >= 2


async def test_an_approval_from_another_client_is_not_visible(
    emu: LatchGateEmulator, platform: LatchGatePlatform, options: dict[str, Any]
) -> None:
    gated = await platform.gate(CONTEXT, GateRequest(action="pay"))
    async with LatchGatePlatform(**options) as elsewhere:
        with pytest.raises(LatchGateNotFoundError) as caught:
            await elsewhere.get_approval(gated.approval_id or "")
    assert "another lease" in str(caught.value)


# --- after the approval: the Governor's second gate call --------------------------------------------


async def test_the_governor_end_to_end_executes_once(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    thread = decide_later(emu, "approved")
    request = GateRequest(action="pay", payload={"amount": 100, "to": "acme"})
    decision, approval = await Governor(platform, **POLL).check(CONTEXT, request, timeout=10)
    thread.join()

    assert decision.allowed
    assert approval is not None and approval.status is ApprovalStatus.APPROVED
    # The operator's approve executed the held request; the re-call read its receipt.
    [execution] = emu.executions
    assert execution.source == "approval" and execution.approval_id == approval.id
    assert decision.output == {"ok": True, "echo": {"amount": 100, "to": "acme"}}
    assert decision.approval_id == approval.id
    assert decision.references["receipt_id"] == execution.receipt_id
    assert decision.references["grant_id"] == execution.grant_id
    assert decision.references["approval_status"] == "approved"
    assert decision.references["fully_successful"] == "true"
    assert decision.decision_id == execution.trace_id
    assert len(emu.requests_to("POST", "/v1/actions/*/execute")) == 1


async def test_the_governor_step_records_the_approval(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    thread = decide_later(emu, "approved")
    async with Governor(platform, **POLL).step(CONTEXT, GateRequest(action="pay"), timeout=10) as step:
        assert step.decision is not None and step.decision.allowed
        step.output = step.decision.output
    thread.join()
    assert step.evidence is not None and step.evidence.outcome == "success"
    assert step.evidence.approval_id == next(iter(emu.approvals))
    assert step.evidence.references["receipt_id"] == emu.executions[0].receipt_id
    assert len(emu.executions) == 1


async def test_the_governor_raises_denials(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    thread = decide_later(emu, "denied")
    with pytest.raises(ApprovalDeniedError, match="denied in review"):
        await Governor(platform, **POLL).check(CONTEXT, GateRequest(action="pay"), timeout=10)
    thread.join()
    with pytest.raises(DeniedError, match="no ACL entry"):
        await Governor(platform).check(CONTEXT, GateRequest(action="shell_exec"))
    assert emu.executions == []


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (None, DecisionOutcome.PENDING),
        ("approved", DecisionOutcome.ALLOW),
        ("denied", DecisionOutcome.DENY),
        ("failed", DecisionOutcome.DENY),
    ],
)
async def test_a_gate_presenting_an_approval_executes_nothing(
    emu: LatchGateEmulator, platform: LatchGatePlatform, decision: str | None, expected: DecisionOutcome
) -> None:
    first = await platform.gate(CONTEXT, GateRequest(action="pay", payload={"n": 1}))
    if decision is not None:
        emu.decide_approval(first.approval_id or "", decision, reason="because")  # type: ignore[arg-type]
    again = await platform.gate(CONTEXT, GateRequest(action="pay", payload={"n": 1}, approval_id=first.approval_id))
    assert again.outcome is expected
    assert again.approval_id == first.approval_id
    assert len(emu.requests_to("POST", "/v1/actions/*/execute")) == 1
    assert len(emu.executions) == (1 if decision == "approved" else 0)
    if decision in ("denied", "failed"):
        assert again.reason == f"approval {first.approval_id} {decision}: because"


async def test_an_expired_approval_asks_again(emu: LatchGateEmulator, platform: LatchGatePlatform) -> None:
    first = await platform.gate(CONTEXT, GateRequest(action="pay"))
    emu.decide_approval(first.approval_id or "", "expired")
    again = await platform.gate(CONTEXT, GateRequest(action="pay", approval_id=first.approval_id))
    assert again.pending and again.approval_id not in (None, first.approval_id)
    assert emu.executions == []


@pytest.mark.parametrize(
    "changed",
    [GateRequest(action="lookup", payload={"n": 1}), GateRequest(action="pay", payload={"n": 2})],
    ids=["another action", "other params"],
)
async def test_an_approval_for_another_request_is_refused(
    emu: LatchGateEmulator, platform: LatchGatePlatform, changed: GateRequest
) -> None:
    first = await platform.gate(CONTEXT, GateRequest(action="pay", payload={"n": 1}))
    emu.decide_approval(first.approval_id or "", "approved")
    with pytest.raises(ApprovalBindingError) as caught:
        await platform.gate(CONTEXT, changed.model_copy(update={"approval_id": first.approval_id}))
    assert caught.value.approval_id == first.approval_id
    assert len(emu.executions) == 1  # only the approval's own execution
