"""LocalPlatform: policy gate, bound approvals and one evidence record per gate call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from govflow.core.errors import CapabilityNotSupportedError, NotFoundError, PolicyError
from govflow.core.models import (
    ApprovalStatus,
    DecisionOutcome,
    Evidence,
    GateRequest,
    RunContext,
    utcnow,
)
from govflow.core.platforms.base import Capability
from govflow.core.platforms.local import LocalPlatform, Policy

pytestmark = pytest.mark.anyio

POLICY = """\
version: 1
default: allow
rules:
  - name: no-prod-deletes
    match: {action: "delete*", resource: "prod/*"}
    decision: deny
    reason: Deleting production data needs a change ticket
  - name: exports-need-approval
    match: {action: export}
    decision: require_approval
    reason: Exports leave the company
    approvers: [alice, bob]
    expires_in: 1h
  - name: quick-approval
    match: {action: publish}
    decision: require_approval
    reason: Publishing is public
    expires_in: 1s
"""

SECRET = "4111-1111-1111-1111"  # stands for payload content that must never reach evidence
EXPORT = GateRequest(action="export", resource="s3://bucket/orders.csv", payload={"card": SECRET})


def ctx(**overrides: Any) -> RunContext:
    fields: dict[str, Any] = {
        "orchestrator": "airflow",
        "pipeline": "etl_daily",
        "run_id": "run-A",
        "step": "export",
        "labels": {"env": "prod"},
    }
    fields.update(overrides)
    return RunContext(**fields)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(
        "sqlite_url" if request.param == "sqlite" else "postgres_url"
    )
    return value


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def platform(policy_file: Path, url: str) -> LocalPlatform:
    return LocalPlatform(policy_file, database_url=url)


def gate_records(platform: LocalPlatform, context: RunContext | None = None) -> list[Evidence]:
    return [
        r for r in platform.ledger.records((context or ctx()).stream) if r.event == "gate.decided"
    ]


# --- configuration -------------------------------------------------------------------------


async def test_capabilities(platform: LocalPlatform) -> None:
    assert platform.name == "local"
    platform.require(Capability.GATE, Capability.APPROVALS, Capability.EVIDENCE)
    with pytest.raises(CapabilityNotSupportedError):
        platform.require(Capability.VALIDATE)


async def test_all_parts_share_one_database(platform: LocalPlatform, url: str) -> None:
    assert platform.database_url == url
    assert platform.approvals.url == url
    assert platform.ledger.url == url


async def test_no_configuration_at_all(_isolated_govflow_home: Path) -> None:
    async with LocalPlatform() as platform:
        assert platform.policy.is_allow_all
        assert str(_isolated_govflow_home) in platform.database_url
        decision = await platform.gate(ctx(), GateRequest(action="delete", resource="prod/all"))
    assert decision.allowed
    assert decision.reason and "no policy configured" in decision.reason
    (record,) = gate_records(platform)
    assert record.outcome == "allow"
    assert record.references == {"platform": "local"}


async def test_policy_from_env(
    policy_file: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVFLOW_POLICY", str(policy_file))
    platform = LocalPlatform(database_url=sqlite_url)
    assert platform.policy.path == str(policy_file)
    assert (await platform.gate(ctx(), GateRequest(action="delete", resource="prod/x"))).denied


async def test_policy_object_and_str_path(policy_file: Path, sqlite_url: str) -> None:
    policy = Policy.load(policy_file)
    assert LocalPlatform(policy, database_url=sqlite_url).policy is policy
    assert LocalPlatform(str(policy_file), database_url=sqlite_url).policy.path == str(policy_file)


async def test_a_bad_policy_fails_at_construction(tmp_path: Path, sqlite_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: a\n    decision: nope\n")
    with pytest.raises(PolicyError) as info:
        LocalPlatform(bad, database_url=sqlite_url)
    assert info.value.line == 3


# --- gate ----------------------------------------------------------------------------------


async def test_allow(platform: LocalPlatform) -> None:
    decision = await platform.gate(ctx(), GateRequest(action="read", resource="prod/orders"))
    assert decision.outcome is DecisionOutcome.ALLOW
    assert decision.platform == "local"
    assert decision.decision_id and decision.decision_id.startswith("dec_")
    assert decision.approval_id is None
    assert decision.raw["rule"] is None and decision.raw["decision"] == "allow"
    (record,) = gate_records(platform)
    assert (record.outcome, record.decision_id) == ("allow", decision.decision_id)


async def test_deny(platform: LocalPlatform) -> None:
    decision = await platform.gate(ctx(), GateRequest(action="delete_rows", resource="prod/orders"))
    assert decision.denied
    assert decision.reason == "Deleting production data needs a change ticket"
    assert decision.references == {"platform": "local", "rule": "no-prod-deletes"}
    assert decision.raw["rule"] == "no-prod-deletes"
    assert decision.raw["line"] == 4
    (record,) = gate_records(platform)
    assert record.outcome == "deny"
    assert record.references["rule"] == "no-prod-deletes"
    assert record.details["reason"] == decision.reason


async def test_pending_then_the_same_approval(platform: LocalPlatform) -> None:
    first = await platform.gate(ctx(), EXPORT)
    assert first.pending
    assert first.approval_id and first.approval_id.startswith("apr_")
    assert "alice, bob" in (first.reason or "")
    second = await platform.gate(ctx(attempt=2), EXPORT)
    assert second.pending and second.approval_id == first.approval_id
    assert second.decision_id != first.decision_id
    pending = platform.approvals.list(status=ApprovalStatus.PENDING)
    assert [a.id for a in pending] == [first.approval_id]
    approval = await platform.get_approval(first.approval_id)
    assert approval.context == ctx()
    assert approval.approvers == ["alice", "bob"]
    assert approval.expires_at is not None and approval.expires_at > utcnow()
    records = gate_records(platform)
    assert [(r.outcome, r.approval_id) for r in records] == [("pending", first.approval_id)] * 2
    assert records[0].details["approval_created"] is True
    assert records[1].details["approval_created"] is False


async def test_concurrent_gates_share_one_approval(platform: LocalPlatform) -> None:
    decisions = await asyncio.gather(*(platform.gate(ctx(), EXPORT) for _ in range(5)))
    assert len({d.approval_id for d in decisions}) == 1
    assert len(platform.approvals.list(status=ApprovalStatus.PENDING)) == 1


async def test_approved_allows(platform: LocalPlatform) -> None:
    pending = await platform.gate(ctx(), EXPORT)
    assert pending.approval_id
    platform.decide(pending.approval_id, approve=True, by="alice", comment="ok for Q3")
    decision = await platform.gate(ctx(), EXPORT)
    assert decision.allowed
    assert decision.approval_id == pending.approval_id
    assert decision.references["rule"] == "exports-need-approval"
    assert decision.reason == f"approval {pending.approval_id} approved by alice: ok for Q3"
    assert decision.raw["approval"]["status"] == "approved"


async def test_denied_approval_denies(platform: LocalPlatform) -> None:
    pending = await platform.gate(ctx(), EXPORT)
    assert pending.approval_id
    platform.decide(pending.approval_id, approve=False, by="bob", comment="no card data")
    decision = await platform.gate(ctx(), EXPORT)
    assert decision.denied
    assert decision.reason == f"approval {pending.approval_id} denied by bob: no card data"
    again = await platform.gate(ctx(attempt=2), EXPORT)  # a retry does not reopen it
    assert again.denied and again.approval_id == pending.approval_id


async def test_expired_approval_makes_a_new_one(platform: LocalPlatform) -> None:
    request = GateRequest(action="publish")
    first = await platform.gate(ctx(), request)
    assert first.approval_id
    # Move the deadline into the past rather than sleeping.
    from govflow.core.platforms.local.approvals import approvals_table

    with platform.approvals.engine.begin() as conn:
        conn.execute(
            approvals_table.update()
            .where(approvals_table.c.id == first.approval_id)
            .values(expires_at="2000-01-01T00:00:00.000000Z")
        )
    second = await platform.gate(ctx(), request)
    assert second.pending
    assert second.approval_id and second.approval_id != first.approval_id
    assert (await platform.get_approval(first.approval_id)).status is ApprovalStatus.EXPIRED


async def test_approval_of_one_run_does_not_unlock_another(platform: LocalPlatform) -> None:
    run_a = await platform.gate(ctx(run_id="run-A"), EXPORT)
    assert run_a.approval_id
    platform.decide(run_a.approval_id, approve=True, by="alice")
    assert (await platform.gate(ctx(run_id="run-A"), EXPORT)).allowed

    run_b = await platform.gate(ctx(run_id="run-B"), EXPORT)
    assert run_b.pending and run_b.approval_id not in (None, run_a.approval_id)

    other_step = await platform.gate(ctx(run_id="run-A", step="export_eu"), EXPORT)
    assert other_step.pending and other_step.approval_id not in (None, run_a.approval_id)

    other_request = GateRequest(action="export", resource="s3://bucket/customers.csv")
    other = await platform.gate(ctx(run_id="run-A"), other_request)
    assert other.pending and other.approval_id != run_a.approval_id


async def test_every_gate_call_leaves_evidence_and_the_chain_verifies(
    platform: LocalPlatform,
) -> None:
    requests = [
        GateRequest(action="read"),
        GateRequest(action="delete", resource="prod/x"),
        EXPORT,
        EXPORT,
    ]
    decisions = [await platform.gate(ctx(), request) for request in requests]
    assert decisions[2].approval_id
    platform.decide(decisions[2].approval_id, approve=True, by="bob")
    decisions.append(await platform.gate(ctx(), EXPORT))
    records = platform.ledger.records(ctx().stream)
    assert [(r.event, r.outcome) for r in records] == [
        ("gate.decided", "allow"),
        ("gate.decided", "deny"),
        ("gate.decided", "pending"),
        ("gate.decided", "pending"),
        ("approval.decided", "approved"),
        ("gate.decided", "allow"),
    ]
    gates = [r for r in records if r.event == "gate.decided"]
    assert [r.decision_id for r in gates] == [d.decision_id for d in decisions]
    assert len({r.decision_id for r in gates}) == len(gates)
    report = platform.ledger.verify()
    assert report.ok, report.summary()


async def test_evidence_holds_the_request_digest_never_the_payload(platform: LocalPlatform) -> None:
    await platform.gate(ctx(), EXPORT)
    (record,) = gate_records(platform)
    assert record.details["request_digest"] == EXPORT.request_digest()
    assert record.details["action"] == "export"
    assert record.details["resource"] == "s3://bucket/orders.csv"
    assert record.details["policy_digest"] == platform.policy.digest
    assert record.references["platform"] == "local"
    dumped = json.dumps([r.model_dump(mode="json") for r in platform.ledger.records()])
    assert SECRET not in dumped
    assert "payload" not in dumped


async def test_decide_records_approval_decided_in_the_runs_stream(platform: LocalPlatform) -> None:
    context = ctx(pipeline="exports", run_id="run-9", attempt=1)
    pending = await platform.gate(context, EXPORT)
    assert pending.approval_id
    approval = platform.decide(pending.approval_id, approve=True, by="alice", comment="fine")
    assert approval.status is ApprovalStatus.APPROVED
    record = platform.ledger.records(context.stream)[-1]
    assert (record.event, record.outcome, record.approval_id) == (
        "approval.decided",
        "approved",
        pending.approval_id,
    )
    assert record.context == context
    assert record.details["decided_by"] == "alice"
    assert record.details["comment"] == "fine"
    assert record.references["rule"] == "exports-need-approval"


async def test_adecide(platform: LocalPlatform) -> None:
    pending = await platform.gate(ctx(), EXPORT)
    assert pending.approval_id
    approval = await platform.adecide(pending.approval_id, approve=False, by="bob")
    assert approval.status is ApprovalStatus.DENIED


async def test_get_approval_unknown(platform: LocalPlatform) -> None:
    with pytest.raises(NotFoundError):
        await platform.get_approval("apr_aaaaaaaaaaaaaaaa")


# --- record_evidence -----------------------------------------------------------------------


async def test_record_evidence_confirms_a_ledger_record(platform: LocalPlatform) -> None:
    record = await platform.ledger.aappend(context=ctx(), event="step.finished", outcome="success")
    assert await platform.record_evidence(record) == f"{record.stream}#{record.seq}"


async def test_record_evidence_rejects_a_record_not_in_the_ledger(platform: LocalPlatform) -> None:
    foreign = Evidence.seal(
        stream=ctx().stream,
        seq=1,
        event="step.finished",
        outcome="success",
        context=ctx(),
        recorded_at=utcnow(),
    )
    with pytest.raises(NotFoundError):
        await platform.record_evidence(foreign)
    stored = await platform.ledger.aappend(context=ctx(), event="step.finished", outcome="success")
    assert stored.seq == 1
    with pytest.raises(NotFoundError):  # same position, different record
        await platform.record_evidence(foreign)
