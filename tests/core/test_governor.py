"""Governor: gate, wait for a person, run, and evidence, on the real local platform."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from govflow.core.errors import (
    ApprovalDeniedError,
    ApprovalRequiredError,
    ApprovalTimeoutError,
    CapabilityNotSupportedError,
    DeniedError,
)
from govflow.core.governor import Governor
from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.base import Platform
from govflow.core.platforms.local import LocalPlatform, Policy

pytestmark = pytest.mark.anyio

POLICY = Policy.from_text(
    """
rules:
  - name: deny-publish
    match: {action: publish}
    decision: deny
    reason: not public
  - name: payouts
    match: {action: payout}
    decision: require_approval
    reason: money
"""
)


def ctx(step: str, run_id: str = "r1") -> RunContext:
    return RunContext(orchestrator="python", pipeline="gov_test", run_id=run_id, step=step)


async def test_allowed_step_records_success_with_output_digest() -> None:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform)
        async with governor.step(ctx("extract"), GateRequest(action="read")) as step:
            assert step.decision is not None and step.decision.allowed
            step.output = {"rows": 3}
        assert step.evidence is not None
        assert step.evidence.outcome == "success"
        assert step.evidence.decision_id == step.decision.decision_id
        assert step.evidence.output_digest and step.evidence.output_digest.startswith("sha256:")
        events = [(r.event, r.outcome) for r in platform.ledger.records("python/gov_test")]
        assert events == [("gate.decided", "allow"), ("step.finished", "success")]
        assert platform.ledger.verify().ok


async def test_denied_step_does_not_run_and_is_recorded() -> None:
    ran = False
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform)
        with pytest.raises(DeniedError) as denied:
            async with governor.step(ctx("publish"), GateRequest(action="publish")):
                ran = True
        assert not ran
        assert denied.value.reason == "not public"
        records = platform.ledger.records("python/gov_test")
        assert [(r.event, r.outcome) for r in records] == [("gate.decided", "deny"), ("step.finished", "denied")]
        assert records[1].decision_id == records[0].decision_id == denied.value.decision_id
        assert records[1].references["rule"] == "deny-publish"


async def test_failing_body_is_recorded_and_reraised() -> None:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform)
        with pytest.raises(ZeroDivisionError):
            async with governor.step(ctx("load"), GateRequest(action="write")):
                1 / 0  # noqa: B018
        last = platform.ledger.records("python/gov_test")[-1]
        assert last.outcome == "failed" and last.error and "ZeroDivisionError" in last.error


async def test_waits_for_approval_given_from_another_thread() -> None:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform, poll=0.01, max_poll=0.05, approval_timeout=30)

        def approve_when_asked() -> None:
            for _ in range(3000):
                pending = platform.approvals.list()
                if pending:
                    platform.decide(pending[0].id, approve=True, by="alice", comment="ok")
                    return
                threading.Event().wait(0.01)

        approver = threading.Thread(target=approve_when_asked)
        approver.start()
        async with governor.step(ctx("pay"), GateRequest(action="payout")) as step:
            assert step.approval is not None and step.approval.decided_by == "alice"
            assert step.decision is not None and step.decision.allowed
            assert step.decision.approval_id == step.approval.id
        approver.join()
        outcomes = [(r.event, r.outcome) for r in platform.ledger.records("python/gov_test")]
        assert outcomes == [
            ("gate.decided", "pending"),
            ("approval.decided", "approved"),
            ("gate.decided", "allow"),
            ("step.finished", "success"),
        ]


async def test_denied_approval_raises() -> None:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform, poll=0.01, max_poll=0.02, approval_timeout=30)
        with pytest.raises(ApprovalRequiredError) as required:
            await governor.check(ctx("pay"), GateRequest(action="payout"), wait=False)
        platform.decide(required.value.approval_id or "", approve=False, by="bob", comment="no")
        with pytest.raises((ApprovalDeniedError, DeniedError)):
            await governor.check(ctx("pay"), GateRequest(action="payout"))


async def test_approval_timeout_leaves_approval_pending() -> None:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform, poll=0.01, max_poll=0.02)
        with pytest.raises(ApprovalTimeoutError) as timed_out:
            await governor.check(ctx("pay"), GateRequest(action="payout"), timeout=0.1)
        approval = await platform.get_approval(timed_out.value.approval_id or "")
        assert approval.status.value == "pending"


async def test_platform_without_gate_fails_at_configuration() -> None:
    class EvidenceOnly(Platform):
        name = "evidence-only"

    with pytest.raises(CapabilityNotSupportedError) as error:
        Governor(EvidenceOnly())
    assert "gate" in str(error.value)


def test_demo_pipeline_end_to_end(tmp_path: Path) -> None:
    """`make demo`'s script: pipeline in one process, approval from another through the CLI."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "GOVFLOW_HOME": str(tmp_path / "demo"), "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run(
        ["bash", str(root / "scripts" / "demo.sh")], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "extract: allowed" in out
    assert "publish: denied" in out
    assert "payout: approved by finance-lead" in out
    assert "OK:" in out


def test_governor_usable_from_sync_code() -> None:
    async def go() -> str:
        async with LocalPlatform(POLICY) as platform:
            decision, _ = await Governor(platform).check(ctx("x"), GateRequest(action="read"))
            return decision.outcome.value

    assert asyncio.run(go()) == "allow"
