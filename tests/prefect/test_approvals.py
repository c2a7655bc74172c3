"""Long approvals: the flow run paused (in-process) or suspended (deployed) until the approval is
decided, then resumed by govflow, under a real Prefect API server and a real served deployment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from govflow.core.errors import ConfigurationError
from govflow.core.evidence.ledger import EvidenceLedger
from govflow.core.models import ApprovalStatus
from govflow.core.platforms.local import LocalPlatform
from govflow.prefect_tasks import (
    GovernanceDenied,
    GovflowLocalPlatform,
    agate_with_pause,
    gate_with_pause,
    governed,
    resume_decided_flow_runs,
)
from govflow.prefect_tasks.approvals import parse_pause_key, pause_key

pytestmark = pytest.mark.usefixtures("prefect_server")

ROOT = Path(__file__).parents[2]
POLICY = """\
version: 1
default: allow
rules:
  - name: payouts-need-approval
    match:
      action: "payout*"
    decision: require_approval
    reason: Money leaves the company only with approval
"""


@pytest.fixture
def block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GovflowLocalPlatform:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    url = f"sqlite:///{tmp_path / 'govflow.db'}"
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    return GovflowLocalPlatform(policy=str(policy), database_url=url)


def local(block: GovflowLocalPlatform) -> LocalPlatform:
    assert block.database_url is not None
    return LocalPlatform(block.policy, database_url=block.database_url.get_secret_value())


def pending_ids(block: GovflowLocalPlatform) -> list[str]:
    return [a.id for a in local(block).approvals.list(status=ApprovalStatus.PENDING.value)]


def reviewer(block: GovflowLocalPlatform, approve: bool, delay: float = 0.0) -> threading.Thread:
    """Decides the first pending approval; nobody touches the flow run itself."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ids := pending_ids(block):
                time.sleep(delay)
                local(block).decide(ids[0], approve=approve, by="finance-lead", comment="checked")
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def flow_run_state(flow_run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    async def read() -> Any:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).state

    return asyncio.run(read())


def test_pause_keys_round_trip() -> None:
    key = pause_key("local", "apr:with:colons", 0)
    assert parse_pause_key(key) == ("local", "apr:with:colons")
    assert parse_pause_key("0") is None
    assert parse_pause_key(None) is None


def test_pause_resumes_by_itself_once_approved(block: GovflowLocalPlatform) -> None:
    states: list[str] = []

    @governed
    @flow(name="govflow-paused-payout")
    def payout() -> dict[str, Any]:
        return gate_with_pause(block, "payout", resource="bank", timeout=120, poll_interval=1, approval_poll=0.2)

    def watch_states() -> None:
        # Record the run's states while it waits, to see it really was paused.
        from prefect.client.orchestration import get_client

        async def poll() -> None:
            async with get_client() as client:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    runs = await client.read_flow_runs()
                    for run in runs:
                        if run.flow_id and run.state and run.state.is_paused():
                            states.append(run.state.state_details.pause_key or "")
                            return
                    await asyncio.sleep(0.2)

        asyncio.run(poll())

    watcher = threading.Thread(target=watch_states, daemon=True)
    watcher.start()
    approver = reviewer(block, approve=True, delay=1.5)
    decision = payout()
    approver.join(5)
    watcher.join(5)
    assert decision["outcome"] == "allow"
    assert decision["approval"]["decided_by"] == "finance-lead"
    assert states and parse_pause_key(states[0]) == ("local", decision["approval_id"])
    [flow_record] = [
        r for r in EvidenceLedger().records("prefect/govflow-paused-payout") if r.event == "flow_run.finished"
    ]
    assert flow_record.references["approval_ids"] == decision["approval_id"]
    assert flow_record.details["governance"][0]["action"] == "payout"


def test_pause_denied_fails_the_flow(block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-paused-denied")
    async def payout() -> dict[str, Any]:
        return await agate_with_pause(block, "payout", timeout=120, poll_interval=1, approval_poll=0.2)

    approver = reviewer(block, approve=False)
    with pytest.raises(GovernanceDenied, match="denied"):
        asyncio.run(payout())
    approver.join(5)


def test_pause_called_from_a_task_says_what_to_do(block: GovflowLocalPlatform) -> None:
    from prefect import task

    @task
    def inside() -> Any:
        return gate_with_pause(block, "payout")

    @flow(name="govflow-pause-in-task")
    def pipeline() -> Any:
        return inside()

    with pytest.raises(RuntimeError, match="flow, not in a task"):
        pipeline()


def test_suspend_needs_a_deployment(block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-suspend-undeployed")
    def payout() -> Any:
        return gate_with_pause(block, "payout", suspend=True)

    with pytest.raises(ConfigurationError, match="needs a deployed flow run"):
        payout()
    assert pending_ids(block) == []  # refused before anything was asked


@pytest.mark.slow
def test_suspended_deployment_is_resumed_once_approved(block: GovflowLocalPlatform, tmp_path: Path) -> None:
    """A served deployment suspends (its process exits), the approval is granted, the resumer
    resumes it, and the re-run finds the stored approval instead of asking for a new one."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    name = f"suspend-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "tests/prefect/deployed_flows.py", name],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        flow_run = None
        deadline = time.monotonic() + 120
        while flow_run is None and time.monotonic() < deadline:
            try:
                flow_run = run_deployment(
                    f"govflow-suspending-payout/{name}",
                    parameters={"policy": block.policy, "database_url": os.environ["GOVFLOW_LEDGER_URL"]},
                    timeout=0,
                )
            except Exception:  # the deployment is not registered yet
                time.sleep(1)
        assert flow_run is not None, (tmp_path / "serve.log").read_text()

        def wait_for(predicate: Any, what: str, seconds: float = 120) -> Any:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                state = flow_run_state(flow_run.id)
                if predicate(state):
                    return state
                time.sleep(0.5)
            raise AssertionError(f"{what}: still {state!r}\n{(tmp_path / 'serve.log').read_text()}")

        suspended = wait_for(lambda s: s is not None and s.is_paused(), "never suspended")
        assert suspended.name == "Suspended"
        [approval_id] = pending_ids(block)
        assert parse_pause_key(suspended.state_details.pause_key) == ("local", approval_id)

        # Nothing decided yet: the resumer leaves the run alone.
        [row] = [r for r in resume_decided_flow_runs(block) if r["flow_run_id"] == str(flow_run.id)]
        assert row["status"] == "pending" and not row["resumed"]

        local(block).decide(approval_id, approve=True, by="finance-lead", comment="ok")
        [row] = [r for r in resume_decided_flow_runs(block) if r["flow_run_id"] == str(flow_run.id)]
        assert row == {
            "flow_run_id": str(flow_run.id),
            "flow_run_name": flow_run.name,
            "approval_id": approval_id,
            "status": "approved",
            "resumed": True,
        }
        completed = wait_for(lambda s: s is not None and s.is_completed(), "never completed")
        assert completed.is_completed()
        # The completion hooks run in the flow's process after the state is set: let them finish.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            r.event == "flow_run.finished"
            for r in EvidenceLedger().records("prefect/govflow-suspending-payout", run_id=str(flow_run.id))
        ):
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    # One approval in all: the re-run gated with the stored approval id instead of asking again.
    assert [a.id for a in local(block).approvals.list()] == [approval_id]
    records = EvidenceLedger().records("prefect/govflow-suspending-payout", run_id=str(flow_run.id))
    [flow_record] = [r for r in records if r.event == "flow_run.finished"]
    assert flow_record.outcome == "success"
    assert flow_record.references["approval_ids"] == approval_id
    # The task finished before the suspension and was not run again (its cached result was used).
    assert [r.details["state"] for r in records if r.event == "task.finished"] == ["Completed", "Cached"]
    assert EvidenceLedger().verify().ok
