"""VelerianPlatform: the gate (invoke a pack), approvals, and the Governor end to end, over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
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
from govflow.core.platforms.velerian import VelerianClient, VelerianPlatform
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import respond
from govflow.testing.velerian import VelerianEmulator

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
POLL: dict[str, Any] = {"poll": 0.02, "max_poll": 0.05}
CONTEXT = RunContext(orchestrator="python", pipeline="loans", run_id="run-1", step="review")


@pytest.fixture
def emu() -> VelerianEmulator:
    return VelerianEmulator()


@pytest.fixture
def base_url(emu: VelerianEmulator) -> Iterator[str]:
    with emu.serve() as url:
        yield url


@pytest.fixture
async def client(emu: VelerianEmulator, base_url: str) -> AsyncIterator[VelerianClient]:
    async with VelerianClient(emu.api_key, base_url=base_url, retry=FAST) as velerian:
        yield velerian


@pytest.fixture
def platform(emu: VelerianEmulator, client: VelerianClient) -> VelerianPlatform:
    return VelerianPlatform(
        client,
        abps={
            "summarize": emu.abps["allow"],
            "export": emu.abps["block"],
            "decide": emu.abps["approval"],
            "flaky": emu.abps["error"],
        },
    )


def decide_later(
    emu: VelerianEmulator, decision: str, *, delay: float = 0.15, approval_id: str | None = None
) -> threading.Thread:
    """Another thread decides the (first pending) approval through the emulator after ``delay``."""

    def run() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pending = [a for a in emu.approvals if a["status"] == "pending"]
            target = approval_id or (pending[0]["id"] if pending else None)
            if target is not None:
                time.sleep(delay)
                emu.decide_approval(target, decision, by="u-risk-officer", reason=f"{decision} in review")  # type: ignore[arg-type]
                return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- capabilities and configuration ------------------------------------------------------------


async def test_capabilities(platform: VelerianPlatform) -> None:
    assert platform.name == "velerian"
    platform.require(Capability.GATE, Capability.APPROVALS)
    with pytest.raises(CapabilityNotSupportedError, match="evidence"):
        platform.require(Capability.EVIDENCE)


async def test_the_abp_comes_from_the_action_map_then_the_default(
    emu: VelerianEmulator, client: VelerianClient
) -> None:
    platform = VelerianPlatform(client, abp_id=emu.abps["allow"], abps={"export": emu.abps["block"]})
    assert platform.abp_for(GateRequest(action="export")) == emu.abps["block"]
    assert platform.abp_for(GateRequest(action="anything", resource="s3://x")) == emu.abps["allow"]
    with pytest.raises(ConfigurationError, match="'publish'"):
        VelerianPlatform(client, abps={"export": "x"}).abp_for(GateRequest(action="publish"))


async def test_a_client_or_options_not_both(client: VelerianClient) -> None:
    with pytest.raises(ConfigurationError):
        VelerianPlatform(client, base_url="https://x")


async def test_the_platform_builds_and_closes_its_own_client(emu: VelerianEmulator, base_url: str) -> None:
    async with VelerianPlatform(api_key=emu.api_key, base_url=base_url, abp_id=emu.abps["allow"]) as platform:
        decision = await platform.gate(CONTEXT, GateRequest(action="x"))
        assert decision.allowed
    assert platform.client.is_closed


async def test_a_given_client_is_left_open(platform: VelerianPlatform, client: VelerianClient) -> None:
    await platform.aclose()
    assert not client.is_closed


# --- gate --------------------------------------------------------------------------------------


async def test_allowed(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    payload = {"prompt": "Summarize the filing", "filing": "10-K"}
    decision = await platform.gate(CONTEXT, GateRequest(action="summarize", resource="s3://f", payload=payload))

    assert decision.outcome is DecisionOutcome.ALLOW and decision.platform == "velerian"
    (invocation,) = emu.invocations
    assert invocation["payload"] == payload  # as is: nothing of govflow's is added
    assert decision.decision_id == invocation["invocation_id"]
    assert decision.output["echo"] == payload
    assert decision.references["invocation_id"] == invocation["invocation_id"]
    assert decision.references["abp_id"] == emu.abps["allow"]
    assert decision.references["evidence_pack_id"] == invocation["evidence_pack_id"]
    assert decision.references["evidence_pack_chain_hash"] == decision.raw["evidence_pack_chain_hash"]
    assert decision.references["outcome"] == "allowed"
    assert [c["constraint_id"] for c in decision.obligations] == ["pii-redaction", "citation-required"]
    assert decision.raw["invocation_id"] == invocation["invocation_id"]  # the whole body, verbatim
    assert "allowed" in (decision.reason or "")


async def test_no_payload_sends_an_empty_object(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    await platform.gate(CONTEXT, GateRequest(action="summarize", payload_digest="sha256:abc"))
    assert emu.invocations[0]["payload"] == {}


async def test_blocked_is_denied_with_the_failing_conditions(platform: VelerianPlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="export"))
    assert decision.outcome is DecisionOutcome.DENY
    assert decision.reason == "outcome 'blocked' (withheld); conditions: restricted-data (block)"
    assert decision.references["evidence_pack_id"]


async def test_a_model_error_is_denied_with_the_error(platform: VelerianPlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="flaky"))
    assert decision.denied
    assert "model error: upstream model timeout after 60s" in (decision.reason or "")


async def test_held_for_a_human_is_pending(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    decision = await platform.gate(CONTEXT, GateRequest(action="decide", payload={"loan": 118}))
    assert decision.outcome is DecisionOutcome.PENDING
    (approval,) = emu.approvals
    assert decision.approval_id == approval["id"]
    assert decision.references["approval_id"] == approval["id"]
    assert "high-value-decision" in (decision.reason or "")


async def test_an_unknown_outcome_is_denied_not_a_crash(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    emu.inject(
        "POST",
        "/api/v2/abps/*/invoke",
        respond(
            200,
            {
                "invocation_id": "inv-9",
                "outcome": "deferred_to_committee",
                "is_allowed": False,
                "requires_human": False,
                "withheld": True,
                "aggregated_conditions": [{"constraint_id": "c1", "effect": "hold"}, "free text"],
                "brand_new_field": {"x": 1},
            },
        ),
    )
    decision = await platform.gate(CONTEXT, GateRequest(action="summarize"))
    assert decision.denied
    assert "deferred_to_committee" in (decision.reason or "")
    assert decision.raw["brand_new_field"] == {"x": 1}


async def test_requires_human_without_an_approval_id(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    emu.inject(
        "POST",
        "/api/v2/abps/*/invoke",
        respond(200, {"invocation_id": "i", "outcome": "hold", "is_allowed": False, "requires_human": True, "withheld": True}),
    )
    decision = await platform.gate(CONTEXT, GateRequest(action="summarize"))
    assert decision.pending and decision.approval_id is None
    assert "no approval_id" in (decision.reason or "")


# --- approvals ---------------------------------------------------------------------------------


async def test_get_approval_maps_statuses(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    ids = [(await platform.gate(CONTEXT, GateRequest(action="decide"))).approval_id for _ in range(4)]
    assert all(ids)
    pending = await platform.get_approval(ids[0] or "")
    assert pending.status is ApprovalStatus.PENDING and pending.platform == "velerian"
    assert pending.created_at is not None and pending.decided_at is None
    assert pending.resource == emu.abps["approval"]
    for approval_id, word in zip(ids[1:], ["approved", "denied", "expired"], strict=True):
        emu.decide_approval(approval_id or "", word, by="u-7", reason="because")  # type: ignore[arg-type]
        approval = await platform.get_approval(approval_id or "")
        assert approval.status is ApprovalStatus(word)
        assert (approval.decided_by, approval.comment) == ("u-7", "because")
        assert approval.decided_at is not None
        assert approval.raw["status"] == word


@pytest.mark.parametrize(
    ("status", "decided_at", "expected"),
    [
        ("escalated", None, ApprovalStatus.PENDING),  # unknown and undecided: keep waiting
        ("withdrawn", "2025-06-01T12:05:00Z", ApprovalStatus.FAILED),  # unknown and decided: stop
        ("REJECTED", "2025-06-01T12:05:00Z", ApprovalStatus.DENIED),
        ("cancelled", "2025-06-01T12:05:00Z", ApprovalStatus.FAILED),
        (None, None, ApprovalStatus.PENDING),
    ],
)
async def test_future_approval_statuses(
    emu: VelerianEmulator,
    platform: VelerianPlatform,
    status: str | None,
    decided_at: str | None,
    expected: ApprovalStatus,
) -> None:
    emu.inject("GET", "/api/v2/approvals/*", respond(200, {"id": "a1", "status": status, "decided_at": decided_at}))
    approval = await platform.get_approval("a1")
    assert approval.status is expected
    if status not in (None, "REJECTED"):
        assert f"Velerian status {status!r}" in (approval.comment or "")


async def test_an_unknown_decided_status_stops_the_wait(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    emu.inject(
        "GET",
        "/api/v2/approvals/*",
        respond(200, {"id": "a1", "status": "pending"}),
        respond(200, {"id": "a1", "status": "withdrawn", "decided_at": "2025-06-01T12:05:00Z"}),
    )
    with pytest.raises(ApprovalFailedError, match="withdrawn"):
        await wait_for_approval(platform, "a1", timeout=5, **POLL)


@pytest.mark.parametrize("decision", ["approved", "denied", "expired"])
async def test_wait_for_approval_decided_by_another_thread(
    emu: VelerianEmulator, platform: VelerianPlatform, decision: str
) -> None:
    gate = await platform.gate(CONTEXT, GateRequest(action="decide"))
    assert gate.pending and gate.approval_id
    thread = decide_later(emu, decision, approval_id=gate.approval_id)
    if decision == "approved":
        approval = await wait_for_approval(platform, gate.approval_id, timeout=10, **POLL)
        assert approval.status is ApprovalStatus.APPROVED
        assert approval.decided_by == "u-risk-officer"
    else:
        expected = ApprovalDeniedError if decision == "denied" else ApprovalExpiredError
        with pytest.raises(expected) as caught:
            await wait_for_approval(platform, gate.approval_id, timeout=10, **POLL)
        assert caught.value.approval_id == gate.approval_id
        if decision == "denied":
            assert "u-risk-officer" in str(caught.value) and "denied in review" in str(caught.value)
    thread.join()
    assert len(emu.requests_to("GET", "/api/v2/approvals/*")) >= 2


async def test_an_approval_that_expires_on_its_own() -> None:
    emu = VelerianEmulator(approval_ttl=0.2)
    with emu.serve() as url:
        async with VelerianPlatform(api_key=emu.api_key, base_url=url, abp_id=emu.abps["approval"]) as platform:
            gate = await platform.gate(CONTEXT, GateRequest(action="x"))
            with pytest.raises(ApprovalExpiredError):
                await wait_for_approval(platform, gate.approval_id or "", timeout=10, **POLL)


# --- after the approval: the second gate call ---------------------------------------------------


async def test_the_governor_end_to_end_invokes_once(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    thread = decide_later(emu, "approved")
    governor = Governor(platform, **POLL)
    request = GateRequest(action="decide", payload={"loan": 118})
    decision, approval = await governor.check(CONTEXT, request, timeout=10)
    thread.join()

    assert decision.allowed
    assert approval is not None and approval.status is ApprovalStatus.APPROVED
    (invocation,) = emu.invocations  # the approval released the held invocation: no second one
    assert decision.approval_id == approval.id == invocation["approval_id"]
    assert decision.decision_id == invocation["invocation_id"]
    assert decision.references["invocation_id"] == invocation["invocation_id"]
    assert decision.references["approval_status"] == "approved"
    assert "approved by u-risk-officer" in (decision.reason or "")


async def test_the_governor_step_records_the_approval(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    thread = decide_later(emu, "approved")
    async with Governor(platform, **POLL).step(CONTEXT, GateRequest(action="decide"), timeout=10) as step:
        step.output = {"done": True}
    thread.join()
    assert step.evidence is not None
    assert step.evidence.approval_id == emu.approvals[0]["id"]
    assert step.evidence.outcome == "success"
    assert len(emu.invocations) == 1


async def test_the_governor_raises_a_denial(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    thread = decide_later(emu, "denied")
    with pytest.raises(ApprovalDeniedError):
        await Governor(platform, **POLL).check(CONTEXT, GateRequest(action="decide"), timeout=10)
    thread.join()
    with pytest.raises(DeniedError, match="restricted-data"):
        await Governor(platform).check(CONTEXT, GateRequest(action="export"))


@pytest.mark.parametrize(
    ("decide", "expected"),
    [
        (lambda emu, a: None, DecisionOutcome.PENDING),
        (lambda emu, a: emu.decide_approval(a, "approved"), DecisionOutcome.ALLOW),
        (lambda emu, a: emu.decide_approval(a, "denied", reason="no"), DecisionOutcome.DENY),
    ],
)
async def test_a_gate_presenting_an_approval_invokes_nothing(
    emu: VelerianEmulator,
    platform: VelerianPlatform,
    decide: Callable[[VelerianEmulator, str], object],
    expected: DecisionOutcome,
) -> None:
    first = await platform.gate(CONTEXT, GateRequest(action="decide"))
    assert first.approval_id
    decide(emu, first.approval_id)
    # e.g. an Airflow task resuming from deferral in another worker, with the trigger's approval id
    again = await platform.gate(CONTEXT, GateRequest(action="decide", approval_id=first.approval_id))
    assert again.outcome is expected
    assert again.approval_id == first.approval_id
    assert len(emu.invocations) == 1


async def test_an_expired_approval_asks_again(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    first = await platform.gate(CONTEXT, GateRequest(action="decide"))
    emu.decide_approval(first.approval_id or "", "expired")
    again = await platform.gate(CONTEXT, GateRequest(action="decide", approval_id=first.approval_id))
    assert again.pending and again.approval_id not in (None, first.approval_id)
    assert len(emu.invocations) == 2


async def test_an_approval_for_another_abp_is_refused(emu: VelerianEmulator, platform: VelerianPlatform) -> None:
    other = emu.add_abp(behaviour="approval")
    held = await platform.client.invoke_abp(other, {})
    emu.decide_approval(held.approval_id or "", "approved")
    with pytest.raises(ApprovalBindingError) as caught:
        await platform.gate(CONTEXT, GateRequest(action="decide", approval_id=held.approval_id))
    assert caught.value.approval_id == held.approval_id
    assert len(emu.invocations) == 1


async def test_the_approval_id_does_not_change_the_request_digest() -> None:
    request = GateRequest(action="decide", payload={"a": 1})
    assert request.model_copy(update={"approval_id": "a1"}).request_digest() == request.request_digest()
