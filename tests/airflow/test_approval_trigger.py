"""ApprovalTrigger against a real LocalPlatform on a temporary SQLite database."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.local import LocalPlatform

POLICY = """\
version: 1
default: allow
rules:
  - name: payouts-need-approval
    match:
      action: "payout*"
    decision: require_approval
    reason: Money leaves the company only with approval
  - name: short-lived
    match:
      action: "hurry*"
    decision: require_approval
    reason: Decide quickly
    expires_in: 1s
"""


class Local:
    """A policy file and SQLite database, with helpers to open and decide approvals."""

    def __init__(self, tmp_path: Path) -> None:
        self.policy = tmp_path / "policy.yaml"
        self.policy.write_text(POLICY)
        self.database_url = f"sqlite:///{tmp_path / 'govflow.db'}"
        self.spec = {"kind": "local", "database_url": self.database_url, "policy": str(self.policy)}

    def platform(self) -> LocalPlatform:
        return LocalPlatform(self.policy, database_url=self.database_url)

    def open_approval(self, action: str = "payout", run_id: str = "run-1", **context: Any) -> str:
        ctx = RunContext(
            orchestrator="airflow", pipeline="payouts", run_id=run_id, step="wait", **context
        )
        decision = asyncio.run(
            self.platform().gate(ctx, GateRequest(action=action, resource="bank"))
        )
        assert decision.pending and decision.approval_id
        return decision.approval_id

    def decide_later(
        self, approval_id: str, *, approve: bool, after: float = 0.5
    ) -> threading.Thread:
        """Decide from another thread, like a human would; a daemon thread so a test never hangs."""

        def decide() -> None:
            time.sleep(after)
            self.platform().decide(approval_id, approve=approve, by="alice", comment="checked")

        thread = threading.Thread(target=decide, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    yield Local(tmp_path)


def _events(trigger: Any) -> list[Any]:
    async def collect() -> list[Any]:
        # A hard cap, so a trigger that never yields fails the test instead of hanging it.
        async def drain() -> list[Any]:
            return [event async for event in trigger.run()]

        try:
            return await asyncio.wait_for(drain(), timeout=20)
        finally:
            await trigger.cleanup()

    return asyncio.run(collect())


def _trigger(local: Local, approval_id: str, **kwargs: Any) -> Any:
    from govflow.airflow_provider.triggers import ApprovalTrigger

    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("max_poll", 0.3)
    kwargs.setdefault("deadline", time.time() + 15)
    return ApprovalTrigger(approval_id, local.spec, **kwargs)


def test_serialize_round_trip(local: Local) -> None:
    trigger = _trigger(local, "apr-1", deadline=1_900_000_000.0)
    classpath, kwargs = trigger.serialize()
    # What the triggerer does: re-import the class by path and rebuild it from the kwargs.
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert kwargs == {
        "approval_id": "apr-1",
        "platform": local.spec,
        "poll_interval": 0.1,
        "max_poll": 0.3,
        "deadline": 1_900_000_000.0,
    }


def test_approved_by_another_thread_yields_one_event(local: Local) -> None:
    approval_id = local.open_approval()
    local.decide_later(approval_id, approve=True)
    [event] = _events(_trigger(local, approval_id))
    payload = event.payload
    assert payload["status"] == "approved"
    assert payload["approval_id"] == approval_id
    assert payload["approval"]["id"] == approval_id
    assert payload["approval"]["decided_by"] == "alice"


def test_denied(local: Local) -> None:
    approval_id = local.open_approval()
    local.decide_later(approval_id, approve=False)
    [event] = _events(_trigger(local, approval_id))
    assert event.payload["status"] == "denied"
    assert event.payload["approval"]["comment"] == "checked"
    assert "alice" in event.payload["message"]


def test_expired(local: Local) -> None:
    approval_id = local.open_approval(action="hurry")
    [event] = _events(_trigger(local, approval_id))
    assert event.payload["status"] == "expired"
    assert event.payload["approval"]["status"] == "expired"


def test_timeout_at_the_deadline(local: Local) -> None:
    approval_id = local.open_approval()
    [event] = _events(_trigger(local, approval_id, deadline=time.time() + 0.5))
    assert event.payload["status"] == "timeout"
    assert event.payload["approval"] is None
    assert "still pending" in event.payload["message"]


def test_deadline_in_the_past_polls_once(local: Local) -> None:
    """A triggerer restarted after the deadline still reports a decision made meanwhile."""
    approval_id = local.open_approval()
    local.platform().decide(approval_id, approve=True, by="bob")
    [event] = _events(_trigger(local, approval_id, deadline=time.time() - 60))
    assert event.payload["status"] == "approved"


def test_unknown_approval_is_an_error_event(local: Local) -> None:
    [event] = _events(_trigger(local, "no-such-approval"))
    assert event.payload["status"] == "error"
    assert event.payload["message"]


def test_undefined_connection_is_a_clear_error_event(local: Local) -> None:
    from govflow.airflow_provider.triggers import ApprovalTrigger

    trigger = ApprovalTrigger("apr-1", {"conn_id": "govflow_default"}, deadline=time.time() + 5)
    [event] = _events(trigger)
    assert event.payload["status"] == "error"
    assert "conn_id" in event.payload["message"]
