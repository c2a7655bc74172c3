"""LattixPlatform over real HTTP: the gate (policy-resolve or protection-plan) and the evidence sink,
alone and behind the Governor and the durable outbox."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from govflow.core.canonical import digest
from govflow.core.errors import (
    CapabilityNotSupportedError,
    ConfigurationError,
    DeniedError,
    TransportError,
)
from govflow.core.evidence import EvidenceLedger, EvidenceRecorder
from govflow.core.governor import Governor
from govflow.core.models import DecisionOutcome, Evidence, GateRequest, RunContext
from govflow.core.platforms.base import Capability
from govflow.core.platforms.lattix import (
    LattixClient,
    LattixFailClosedError,
    LattixPlatform,
    WorkloadDescriptor,
    evidence_idempotency_key,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import drop, server_error
from govflow.testing.lattix import LattixEmulator, after_processing

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)
CONTEXT = RunContext(
    orchestrator="airflow",
    pipeline="claims_nightly",
    run_id="scheduled__2026-05-12T00:00:00+00:00",
    step="export_claims",
    labels={"env": "prod", "team": "claims"},
)


@pytest.fixture(scope="module")
def served() -> Iterator[LattixEmulator]:
    emulator = LattixEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def emu(served: LattixEmulator) -> LattixEmulator:
    served.reset()
    if not served.is_running:
        served.start()
    return served


def platform(emu: LattixEmulator, **kwargs: object) -> LattixPlatform:
    client = LattixClient(emu.base_url, bearer_token=emu.bearer_token, tenant_id=emu.tenant_id, retry=FAST)
    return LattixPlatform(client, **kwargs)  # type: ignore[arg-type]


def record(seq: int = 1, outcome: str = "success", **fields: object) -> Evidence:
    values: dict[str, object] = {
        "stream": CONTEXT.stream,
        "seq": seq,
        "event": "step.finished",
        "outcome": outcome,
        "context": CONTEXT,
        "recorded_at": datetime(2026, 5, 12, 9, 30, 15, 250000, tzinfo=timezone.utc),
        "prev": None if seq == 1 else "sha256:" + "0" * 64,
    }
    values.update(fields)
    return Evidence.seal(**values)


# --- configuration -------------------------------------------------------------------------------


async def test_capabilities_and_configuration(emu: LattixEmulator) -> None:
    async with platform(emu) as lattix:
        assert lattix.name == "lattix"
        assert lattix.supports(Capability.GATE) and lattix.supports(Capability.EVIDENCE)
        lattix.require("gate", "evidence")
        with pytest.raises(CapabilityNotSupportedError, match="lattix does not support approvals"):
            lattix.require(Capability.APPROVALS)
        with pytest.raises(CapabilityNotSupportedError):
            await lattix.get_approval("apr-1")
    with pytest.raises(ConfigurationError, match="decision must be"):
        LattixPlatform(LattixClient("https://x"), decision="invoke")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"operations\['export'\] = 'encrypt' is not a Lattix operation"):
        LattixPlatform(LattixClient("https://x"), operations={"export": "encrypt"})
    # Without a client, one is built from the arguments (or LATTIX_* variables).
    built = LattixPlatform(base_url="https://lattix.example", bearer_token="t")
    assert built.client.base_url == "https://lattix.example"
    await built.aclose()
    assert built.client.is_closed


# --- gate --------------------------------------------------------------------------------------------


async def test_gate_allow_with_policy_resolve(emu: LattixEmulator) -> None:
    request = GateRequest(
        action="access",
        resource="claims/2026-05",
        purpose="reporting",
        labels={"resource_kind": "table", "classification": "pii, confidential", "region": "eu"},
        payload={"rows": 10},
    )
    async with platform(emu) as lattix:
        decision = await lattix.gate(CONTEXT, request)

    assert decision.outcome is DecisionOutcome.ALLOW
    assert decision.platform == "lattix"
    assert decision.reason == "Lattix allowed the access operation"
    assert decision.raw["decision"]["allow"] is True
    assert decision.references == {
        "platform": "lattix",
        "lattix_route": "policy-resolve",
        "lattix_operation": "access",
        "lattix_resource_kind": "table",
        "lattix_resource_id": "claims/2026-05",
        "lattix_tenant_id": emu.tenant_id,
        "lattix_principal_id": emu.user_id,
    }
    assert {"kind": "required_action", "value": "evidence"} in decision.obligations
    assert {"kind": "evidence_expected", "value": "access"} in decision.obligations

    sent = emu.requests_to("POST", "policy-resolve")[-1].json()
    assert sent == {
        "operation": "access",
        "workload": {"application": "claims_nightly", "environment": "prod", "component": "export_claims"},
        "resource": {"kind": "table", "id": "claims/2026-05"},
        "content_digest": digest({"rows": 10}),  # the payload itself is never sent
        "purpose": "reporting",
        "labels": ["pii", "confidential"],
        "attributes": {"region": "eu"},
    }


async def test_gate_deny(emu: LattixEmulator) -> None:
    emu.deny("dataset", label="pii", purpose="analytics")
    request = GateRequest(action="access", resource="claims", purpose="analytics", labels={"classification": "pii"})
    async with platform(emu) as lattix:
        decision = await lattix.gate(CONTEXT, request)
    assert decision.outcome is DecisionOutcome.DENY
    assert decision.reason == "label 'pii' is not permitted for purpose 'analytics'"
    assert {"kind": "evidence_expected", "value": "deny"} in decision.obligations
    assert decision.raw["decision"]["allow"] is False


async def test_gate_with_protection_plan(emu: LattixEmulator) -> None:
    payload = b"claim 8812 as bytes"
    async with platform(emu, decision="protection_plan", preferred_artifact_profile="envelope") as lattix:
        decision = await lattix.gate(CONTEXT, GateRequest(action="protect", resource="claim-8812", payload=payload))
    assert decision.allowed
    assert decision.references["lattix_route"] == "protection-plan"
    assert decision.references["lattix_artifact_profile"] == "envelope"
    assert {"kind": "protect_locally", "value": "envelope"} in decision.obligations
    assert {"kind": "key_transport", "value": "local_provided"} in decision.obligations
    sent = emu.requests_to("POST", "protection-plan")[-1].json()
    assert sent["preferred_artifact_profile"] == "envelope"
    assert sent["content_digest"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert sent["content_size_bytes"] == len(payload)

    emu.deny(operation="protect", routes=["protection-plan"], reason="no protect today")
    async with platform(emu, decision="protection_plan") as lattix:
        denied = await lattix.gate(CONTEXT, GateRequest(action="protect", resource="claim-8812"))
    assert denied.denied and denied.reason == "no protect today"


async def test_gate_action_mapping(emu: LattixEmulator) -> None:
    async with platform(emu) as lattix:
        with pytest.raises(ConfigurationError, match="action 'export' is not a Lattix operation; use one of: access, protect, rewrap"):
            await lattix.gate(CONTEXT, GateRequest(action="export"))
    assert emu.count() == 0
    workload = WorkloadDescriptor(application="claims-api", environment="staging")
    async with platform(emu, operations={"export": "access"}, workload=workload, resource_kind="bucket") as lattix:
        decision = await lattix.gate(CONTEXT, GateRequest(action="export", payload_digest="sha256:abc"))
    assert decision.allowed
    sent = emu.requests_to("POST", "policy-resolve")[-1].json()
    assert sent["operation"] == "access"
    assert sent["workload"] == {"application": "claims-api", "environment": "staging"}
    assert sent["resource"] == {"kind": "bucket"}
    assert sent["content_digest"] == "sha256:abc"


@pytest.mark.parametrize(
    ("decision_route", "misbehaviour", "code"),
    [
        ("policy_resolve", "plaintext_transport", "plaintext_transport"),
        ("policy_resolve", "protect_locally", "local_enforcement"),
        ("protection_plan", "send_plaintext_to_platform", "send_plaintext_to_platform"),
        ("protection_plan", "raw_key_delivery_forbidden", "raw_key_delivery"),
    ],
)
async def test_gate_fails_closed(emu: LattixEmulator, decision_route: str, misbehaviour: str, code: str) -> None:
    emu.misbehave(misbehaviour)
    async with platform(emu, decision=decision_route) as lattix:
        decision = await lattix.gate(CONTEXT, GateRequest(action="protect", resource="claims"))
    assert decision.denied
    assert decision.reason is not None and decision.reason.startswith("fail-closed: ")
    assert decision.references["lattix_fail_closed"] == code


# --- evidence ----------------------------------------------------------------------------------------------


async def test_record_evidence_maps_the_record(emu: LattixEmulator) -> None:
    sealed = record(
        decision_id="dec-7",
        references={"platform": "lattix", "lattix_operation": "protect", "lattix_resource_kind": "table", "lattix_resource_id": "claims"},
        details={"purpose": "archive", "rows": 10, "secret_payload": "must not leave"},
        input_digest="sha256:" + "1" * 64,
    )
    async with platform(emu) as lattix:
        reference = await lattix.record_evidence(sealed, idempotency_key="outbox-key-1")
    assert reference == sealed.digest
    request = emu.requests_to("POST", "evidence")[-1]
    assert request.header("idempotency-key") == "outbox-key-1"
    assert emu.evidence == [
        {
            "event_type": "protect",
            "workload": {"application": "claims_nightly", "environment": "prod", "component": "export_claims"},
            "resource": {"kind": "table", "id": "claims"},
            "artifact_digest": sealed.digest,
            "decision_id": "dec-7",
            "outcome": "success",
            "occurred_at": "2026-05-12T09:30:15.250000Z",
            "purpose": "archive",
            "labels": [],
            "attributes": {
                "govflow.attempt": "1",
                "govflow.event": "step.finished",
                "govflow.orchestrator": "airflow",
                "govflow.pipeline": "claims_nightly",
                "govflow.run_id": CONTEXT.run_id,
                "govflow.seq": "1",
                "govflow.step": "export_claims",
                "govflow.stream": "airflow/claims_nightly",
            },
        }
    ]
    assert "must not leave" not in request.body.decode()


async def test_event_types(emu: LattixEmulator) -> None:
    async with platform(emu, default_event_type="protect") as lattix:
        assert lattix.event_type_for(record(outcome="denied")) == "deny"
        assert lattix.event_type_for(record(outcome="deny", references={"lattix_operation": "access"})) == "deny"
        assert lattix.event_type_for(record(references={"lattix_operation": "rewrap"})) == "rewrap"
        assert lattix.event_type_for(record(details={"action": "access"})) == "access"
        assert lattix.event_type_for(record(references={"lattix_operation": "reclassify"})) == "protect"
        assert lattix.event_type_for(record(outcome="failed")) == "protect"


async def test_record_evidence_default_key_and_prev(emu: LattixEmulator) -> None:
    sealed = record(seq=2, outcome="denied")
    async with platform(emu) as lattix:
        await lattix.record_evidence(sealed)
    request = emu.requests_to("POST", "evidence")[-1]
    assert request.header("idempotency-key") == evidence_idempotency_key(sealed)
    assert evidence_idempotency_key(sealed) == "govflow-" + sealed.digest.removeprefix("sha256:")
    event = emu.evidence[0]
    assert event["event_type"] == "deny"
    assert event["resource"] == {"kind": "dataset"}
    assert event["attributes"]["govflow.prev"] == "sha256:" + "0" * 64


async def test_record_evidence_exactly_once_across_retries(emu: LattixEmulator) -> None:
    sealed = record()
    key = evidence_idempotency_key(sealed)
    # Stored, then the answer is lost, three times: this call gives up...
    emu.inject("POST", "evidence", *[after_processing(drop())] * 3)
    async with platform(emu) as lattix:
        with pytest.raises(TransportError):
            await lattix.record_evidence(sealed, idempotency_key=key)
        assert len(emu.evidence) == 1
        # ... and the outbox's next attempt (same key) is answered without storing again.
        emu.inject("POST", "evidence", server_error(503))
        assert await lattix.record_evidence(sealed, idempotency_key=key) == sealed.digest
    assert emu.count("POST", "evidence") == 5
    assert len(emu.evidence) == 1
    assert emu.idempotent_replays == 3


async def test_record_evidence_not_accepted(emu: LattixEmulator) -> None:
    emu.misbehave("accepted", routes=["evidence"])
    async with platform(emu) as lattix:
        with pytest.raises(LattixFailClosedError, match="evidence ingestion was not accepted"):
            await lattix.record_evidence(record())
    assert emu.evidence == []


# --- behind the Governor and the outbox ---------------------------------------------------------------------


async def test_governed_steps_forward_evidence_through_the_outbox(emu: LattixEmulator, sqlite_url: str) -> None:
    async with platform(emu) as lattix:
        ledger = EvidenceLedger(sqlite_url)
        governor = Governor(lattix, recorder=EvidenceRecorder(ledger, forward_to=[lattix], strict=True))
        async with governor.step(CONTEXT, GateRequest(action="access", resource="claims")) as step:
            assert step.decision is not None and step.decision.allowed
            step.output = {"rows": 3}

        emu.deny(operation="access", resource_id="secret-claims", reason="not for this pipeline")
        with pytest.raises(DeniedError, match="not for this pipeline"):
            async with governor.step(CONTEXT, GateRequest(action="access", resource="secret-claims")):
                pytest.fail("a denied step must not run")  # pragma: no cover

        # Lattix is down for a while: the step still runs and its record waits in the outbox.
        emu.stop()
        try:
            async with governor.step(CONTEXT):
                pass
            assert len(emu.evidence) == 2
        finally:
            emu.start()
        # Back up: a later flush (after the outbox's back-off) delivers it, once.
        for _ in range(100):
            await governor.recorder.flush()
            if len(emu.evidence) == 3:
                break
            await asyncio.sleep(0.1)
        await governor.recorder.flush()

    records = ledger.records(CONTEXT.stream)
    assert [r.outcome for r in records] == ["success", "denied", "success"]
    assert [e["artifact_digest"] for e in emu.evidence] == [r.digest for r in records]
    assert [e["event_type"] for e in emu.evidence] == ["access", "deny", "access"]
    assert emu.evidence[0]["resource"] == {"kind": "dataset", "id": "claims"}
    assert emu.evidence[1]["attributes"]["govflow.prev"] == records[0].digest
