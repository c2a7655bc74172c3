"""wait_for_approval: decided by another thread or process, denied, expired, timed out, flaky."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from govflow.core import approvals as approvals_module
from govflow.core.approvals import gate_and_wait, wait_for_approval
from govflow.core.errors import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    ApprovalTimeoutError,
    ConfigurationError,
    GovernanceError,
    NotFoundError,
    RateLimitError,
    TransportError,
    UnavailableError,
)
from govflow.core.models import Approval, ApprovalStatus, GateRequest, RunContext, utcnow
from govflow.core.platforms.base import Capability, Platform
from govflow.core.platforms.local import LocalPlatform

pytestmark = pytest.mark.anyio

FAST: dict[str, Any] = {"poll": 0.005, "max_poll": 0.02}
APPROVAL_POLICY = """\
rules:
  - name: exports
    match: {action: export}
    decision: require_approval
    reason: Exports leave the company
"""


class ScriptedPlatform(Platform):
    """Answers get_approval from a script of approvals and errors; repeats the last answer."""

    name = "scripted"
    capabilities = frozenset({Capability.APPROVALS})

    def __init__(self, answers: Iterable[Approval | Exception]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def get_approval(self, approval_id: str) -> Approval:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def approval(status: ApprovalStatus, **fields: Any) -> Approval:
    return Approval(id="apr_test", status=status, platform="scripted", **fields)


PENDING = approval(ApprovalStatus.PENDING)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the pauses wait_for_approval asks for, without sleeping them."""
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(approvals_module, "asyncio", types.SimpleNamespace(sleep=fake_sleep))
    return recorded


async def test_returns_the_approval_once_approved(caplog: pytest.LogCaptureFixture) -> None:
    approved = approval(ApprovalStatus.APPROVED, decided_by="alice")
    platform = ScriptedPlatform([PENDING, PENDING, approved])
    with caplog.at_level(logging.INFO, logger="govflow.approvals"):
        result = await wait_for_approval(platform, "apr_test", timeout=10, **FAST)
    assert result == approved
    assert platform.calls == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "govflow.approvals"]
    assert messages[0].startswith("waiting for approval apr_test")
    assert "approval apr_test approved by alice" in messages[-1]


async def test_backs_off_up_to_max_poll(sleeps: list[float]) -> None:
    platform = ScriptedPlatform([PENDING] * 8 + [approval(ApprovalStatus.APPROVED)])
    await wait_for_approval(platform, "apr_test", poll=1.0, max_poll=4.0, backoff=2.0)
    assert len(sleeps) == 8
    assert all(0 < pause <= 4.0 for pause in sleeps)
    assert sleeps[0] <= 1.0 and sleeps[1] <= 2.0 and sleeps[2] <= 4.0
    assert sleeps[1] > sleeps[0]  # jitter is at most 15%, so the backoff still shows
    assert all(pause >= 4.0 * 0.85 for pause in sleeps[3:])


async def test_denied() -> None:
    denied = approval(ApprovalStatus.DENIED, decided_by="bob", comment="no PII exports")
    with pytest.raises(ApprovalDeniedError) as info:
        await wait_for_approval(ScriptedPlatform([PENDING, denied]), "apr_test", **FAST)
    assert info.value.approval_id == "apr_test"
    assert "denied by bob: no PII exports" in str(info.value)


async def test_expired() -> None:
    with pytest.raises(ApprovalExpiredError) as info:
        await wait_for_approval(
            ScriptedPlatform([approval(ApprovalStatus.EXPIRED)]), "apr_test", **FAST
        )
    assert info.value.approval_id == "apr_test"
    assert "expired" in str(info.value)


async def test_failed_is_a_governance_error() -> None:
    failed = approval(ApprovalStatus.FAILED, comment="approver service crashed")
    with pytest.raises(ApprovalFailedError) as info:
        await wait_for_approval(ScriptedPlatform([failed]), "apr_test", **FAST)
    assert isinstance(info.value, GovernanceError)
    assert info.value.approval_id == "apr_test"
    assert "failed" in str(info.value)


async def test_times_out_while_still_pending(caplog: pytest.LogCaptureFixture) -> None:
    pending = approval(ApprovalStatus.PENDING, expires_at=utcnow() + timedelta(hours=1))
    platform = ScriptedPlatform([pending])
    with (
        caplog.at_level(logging.INFO, logger="govflow.approvals"),
        pytest.raises(ApprovalTimeoutError) as info,
    ):
        await wait_for_approval(platform, "apr_test", timeout=0.05, **FAST)
    assert info.value.approval_id == "apr_test"
    assert "still pending" in str(info.value)
    assert "wait_for_approval again" in str(info.value)
    assert "expires at" in str(info.value)
    assert platform.calls >= 2  # polled again at the deadline
    assert any("stopped waiting" in r.getMessage() for r in caplog.records)


async def test_timeout_zero_polls_once() -> None:
    platform = ScriptedPlatform([PENDING])
    with pytest.raises(ApprovalTimeoutError):
        await wait_for_approval(platform, "apr_test", timeout=0)
    assert platform.calls == 1


async def test_never_sleeps_past_the_deadline(sleeps: list[float]) -> None:
    with pytest.raises(ApprovalTimeoutError):
        await wait_for_approval(
            ScriptedPlatform([PENDING]), "apr_test", timeout=0.05, poll=10, max_poll=60
        )
    assert sleeps and all(pause <= 0.05 for pause in sleeps)


async def test_transient_errors_are_tolerated(caplog: pytest.LogCaptureFixture) -> None:
    platform = ScriptedPlatform(
        [
            UnavailableError("platform down", status=503),
            TransportError("connection reset"),
            RateLimitError("slow down", status=429, retry_after=0.01),
            PENDING,
            approval(ApprovalStatus.APPROVED, decided_by="alice"),
        ]
    )
    with caplog.at_level(logging.INFO, logger="govflow.approvals"):
        result = await wait_for_approval(platform, "apr_test", timeout=30, **FAST)
    assert result.status is ApprovalStatus.APPROVED
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name == "govflow.approvals"
    ]
    assert [w.getMessage().split(":")[1].split()[0] for w in warnings] == [
        "UnavailableError",
        "TransportError",
        "RateLimitError",
    ]


async def test_rate_limit_retry_after_is_honoured(sleeps: list[float]) -> None:
    platform = ScriptedPlatform(
        [
            RateLimitError("slow down", status=429, retry_after=7.0),
            approval(ApprovalStatus.APPROVED),
        ]
    )
    await wait_for_approval(platform, "apr_test", poll=0.5, max_poll=1.0)
    assert sleeps == [7.0]


async def test_platform_unreachable_until_the_deadline_raises_its_error() -> None:
    platform = ScriptedPlatform([UnavailableError("platform down", status=503)])
    with pytest.raises(UnavailableError):
        await wait_for_approval(platform, "apr_test", timeout=0.05, **FAST)
    assert platform.calls >= 2


async def test_other_errors_propagate_at_once() -> None:
    platform = ScriptedPlatform([NotFoundError("no such approval", status=404)])
    with pytest.raises(NotFoundError):
        await wait_for_approval(platform, "apr_test", timeout=10, **FAST)
    assert platform.calls == 1


@pytest.mark.parametrize(
    "kwargs", [{"poll": 0}, {"max_poll": -1}, {"backoff": 0.5}, {"timeout": -1}]
)
async def test_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        await wait_for_approval(ScriptedPlatform([PENDING]), "apr_test", **kwargs)


# --- against the local platform: decided elsewhere -----------------------------------------


def _local(tmp_path: Path, url: str) -> LocalPlatform:
    policy = tmp_path / "policy.yaml"
    policy.write_text(APPROVAL_POLICY)
    return LocalPlatform(policy, database_url=url)


CONTEXT = RunContext(orchestrator="python", pipeline="exports", run_id="run-1", step="upload")
EXPORT = GateRequest(action="export", resource="s3://bucket/orders.csv")


async def test_approved_by_another_thread(tmp_path: Path, sqlite_url: str) -> None:
    platform = _local(tmp_path, sqlite_url)
    decision = await platform.gate(CONTEXT, EXPORT)
    assert decision.pending and decision.approval_id
    approval_id = decision.approval_id
    started = threading.Event()

    def approve_later() -> None:
        started.wait(5)
        LocalPlatform(database_url=sqlite_url).decide(approval_id, approve=True, by="alice")

    thread = threading.Thread(target=approve_later)
    thread.start()
    try:
        started.set()
        approval = await wait_for_approval(platform, approval_id, timeout=30, **FAST)
    finally:
        thread.join()
    assert (approval.status, approval.decided_by) == (ApprovalStatus.APPROVED, "alice")
    assert (await platform.gate(CONTEXT, EXPORT)).allowed


async def test_gate_and_wait(tmp_path: Path, sqlite_url: str) -> None:
    """Gate, wait for the approval decided elsewhere, gate again with its id: the allow."""
    platform = _local(tmp_path, sqlite_url)
    pending, none = await gate_and_wait(platform, CONTEXT, EXPORT, wait=False)
    assert pending.pending and none is None  # not waiting: the pending decision comes back
    announced: list[str | None] = []

    def approve_later() -> None:
        LocalPlatform(database_url=sqlite_url).decide(pending.approval_id or "", approve=True, by="alice")

    def on_wait(decision: Any) -> None:
        announced.append(decision.approval_id)
        threading.Thread(target=approve_later).start()

    decision, approval = await gate_and_wait(
        platform, CONTEXT, EXPORT, timeout=30, on_wait=on_wait, **FAST
    )
    assert decision.allowed and decision.approval_id == pending.approval_id
    assert approval is not None and approval.decided_by == "alice"
    assert announced == [pending.approval_id]


def _decide_in_subprocess(url: str, approval_id: str, approve: bool) -> subprocess.Popen[str]:
    script = textwrap.dedent(
        f"""
        import time
        from govflow.core.platforms.local import LocalPlatform
        time.sleep(0.2)  # let the parent start waiting first
        LocalPlatform(database_url={url!r}).decide(
            {approval_id!r}, approve={approve!r}, by="carol", comment="from another process"
        )
        """
    )
    env = {**os.environ}
    return subprocess.Popen(
        [sys.executable, "-c", script], env=env, text=True, stderr=subprocess.PIPE
    )


async def test_approved_by_another_process(tmp_path: Path, sqlite_url: str) -> None:
    platform = _local(tmp_path, sqlite_url)
    decision = await platform.gate(CONTEXT, EXPORT)
    assert decision.approval_id
    process = _decide_in_subprocess(sqlite_url, decision.approval_id, approve=True)
    try:
        approval = await wait_for_approval(platform, decision.approval_id, timeout=60, **FAST)
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert (approval.status, approval.decided_by, approval.comment) == (
        ApprovalStatus.APPROVED,
        "carol",
        "from another process",
    )
    events = [(r.event, r.outcome) for r in platform.ledger.records(CONTEXT.stream)]
    assert events == [("gate.decided", "pending"), ("approval.decided", "approved")]
    assert platform.ledger.verify().ok


async def test_denied_by_another_process(tmp_path: Path, sqlite_url: str) -> None:
    platform = _local(tmp_path, sqlite_url)
    decision = await platform.gate(CONTEXT, EXPORT)
    assert decision.approval_id
    process = _decide_in_subprocess(sqlite_url, decision.approval_id, approve=False)
    try:
        with pytest.raises(ApprovalDeniedError) as info:
            await wait_for_approval(platform, decision.approval_id, timeout=60, **FAST)
    finally:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "denied by carol: from another process" in str(info.value)


async def test_expires_while_waiting_on_the_local_platform(tmp_path: Path, sqlite_url: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(APPROVAL_POLICY + "    expires_in: 1s\n")
    platform = LocalPlatform(policy, database_url=sqlite_url)
    decision = await platform.gate(CONTEXT, EXPORT)
    assert decision.approval_id
    with pytest.raises(ApprovalExpiredError) as info:
        await wait_for_approval(platform, decision.approval_id, timeout=60, **FAST)
    assert info.value.approval_id == decision.approval_id


async def test_times_out_on_the_local_platform(tmp_path: Path, sqlite_url: str) -> None:
    platform = _local(tmp_path, sqlite_url)
    decision = await platform.gate(CONTEXT, EXPORT)
    assert decision.approval_id
    with pytest.raises(ApprovalTimeoutError):
        await wait_for_approval(platform, decision.approval_id, timeout=0.05, **FAST)
    assert (await platform.get_approval(decision.approval_id)).status is ApprovalStatus.PENDING
