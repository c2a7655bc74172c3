"""The gate / wait / validate tasks inside real flows under the Prefect test harness."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from govflow.core.models import ApprovalStatus
from govflow.core.platforms.local import LocalPlatform
from govflow.prefect_tasks import (
    ContractViolation,
    GovernanceDenied,
    GovflowLocalPlatform,
    VelerianCredentials,
    gate,
    validate_records,
    wait_for_approval,
)
from govflow.testing import VelerianEmulator

pytestmark = pytest.mark.usefixtures("prefect_server")

POLICY = """\
version: 1
default: allow
rules:
  - name: no-deletes
    match:
      action: "delete*"
    decision: deny
    reason: Deletes are forbidden
  - name: payouts-need-approval
    match:
      action: "payout*"
    decision: require_approval
    reason: Money leaves the company only with approval
"""

CONTRACTS = Path(__file__).parents[2] / "src" / "testing" / "contractgate" / "contracts"
GOOD = {"user_id": "u1", "event_type": "click", "timestamp": 1}
BAD = {"user_id": "bad id!", "event_type": "nope", "timestamp": 1}


@pytest.fixture
def local_block(tmp_path: Path) -> GovflowLocalPlatform:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return GovflowLocalPlatform(
        policy=str(policy),
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        contracts=str(CONTRACTS / "api_user_events.yaml"),
    )


def _platform(block: GovflowLocalPlatform) -> LocalPlatform:
    assert block.database_url is not None
    return LocalPlatform(block.policy, database_url=block.database_url.get_secret_value())


def test_gate_allowed_in_sync_flow(local_block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-allow")
    def governed() -> dict[str, Any]:
        return gate(local_block, "read_report", resource="reports")

    decision = governed()
    assert decision["outcome"] == "allow"
    assert decision["platform"] == "local"
    streams = _platform(local_block).ledger.streams()
    assert any("prefect/govflow-allow" in str(s) for s in streams)


def test_gate_allowed_in_async_flow(local_block: GovflowLocalPlatform) -> None:
    import asyncio

    @flow(name="govflow-allow-async")
    async def governed() -> dict[str, Any]:
        return gate(local_block, "read_report")

    decision = asyncio.run(governed())
    assert decision["outcome"] == "allow"


def test_gate_denied_fails_without_retry(local_block: GovflowLocalPlatform) -> None:
    import asyncio

    from prefect.client.orchestration import get_client

    states: list[Any] = []

    @flow(name="govflow-deny")
    def governed() -> Any:
        # Even with retries asked for, a denial is a decision and is not retried.
        state = gate.with_options(retries=3, retry_delay_seconds=0)(
            local_block, "delete_all", return_state=True
        )
        states.append(state)
        return state.result()

    state = governed(return_state=True)
    assert state.is_failed()
    [task_state] = states
    assert task_state.is_failed()
    with pytest.raises(GovernanceDenied, match="Deletes are forbidden"):
        task_state.result()

    async def run_count() -> int:
        async with get_client() as client:
            task_run = await client.read_task_run(task_state.state_details.task_run_id)
            return task_run.run_count

    assert asyncio.run(run_count()) == 1


def _decide_later(block: GovflowLocalPlatform, approve: bool) -> threading.Thread:
    def decide() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = _platform(block).approvals.list(status=ApprovalStatus.PENDING.value)
            if pending:
                _platform(block).decide(pending[0].id, approve=approve, by="alice", comment="ok")
                return
            time.sleep(0.2)

    thread = threading.Thread(target=decide, daemon=True)
    thread.start()
    return thread


def test_gate_approved_after_waiting(local_block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-approval")
    def governed() -> dict[str, Any]:
        return gate(local_block, "payout", resource="bank", approval_timeout=60, poll=0.2)

    thread = _decide_later(local_block, approve=True)
    decision = governed()
    thread.join(5)
    assert decision["outcome"] == "allow"
    assert decision["approval"]["decided_by"] == "alice"


def test_gate_approval_denied_fails(local_block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-approval-denied")
    def governed() -> dict[str, Any]:
        return gate(local_block, "payout", approval_timeout=60, poll=0.2)

    thread = _decide_later(local_block, approve=False)
    with pytest.raises(GovernanceDenied):
        governed()
    thread.join(5)


def test_wait_for_approval_task(local_block: GovflowLocalPlatform) -> None:
    @flow(name="govflow-wait")
    async def governed() -> dict[str, Any]:
        decision = gate(local_block, "payout", wait=False, return_state=True)
        assert decision.is_failed()  # pending without waiting is not an allow
        denied = await decision.aresult(raise_on_failure=False)
        assert isinstance(denied, GovernanceDenied) and denied.approval_id
        return await wait_for_approval(local_block, denied.approval_id, timeout=60, poll=0.2)

    import asyncio

    thread = _decide_later(local_block, approve=True)
    approval = asyncio.run(governed())
    thread.join(5)
    assert approval["decided_by"] == "alice"


@pytest.mark.parametrize("records,ok", [([GOOD, GOOD], True), ([GOOD, BAD, BAD], False)])
def test_validate_records(local_block: GovflowLocalPlatform, records: list[Any], ok: bool) -> None:
    @flow(name="govflow-validate")
    def governed() -> dict[str, Any]:
        return validate_records(local_block, "user_events", records, max_failed=1)

    if ok:
        report = governed()
        assert report["contract_id"] == "user_events"
        assert len(report["records"]) == 2
    else:
        with pytest.raises(ContractViolation, match="2/3 records failed"):
            governed()


def test_velerian_block_allow() -> None:
    emu = VelerianEmulator()
    with emu.serve():
        block = VelerianCredentials(
            base_url=emu.base_url, api_key=emu.api_key, abp_id=emu.abps["allow"]
        )

        @flow(name="govflow-velerian")
        def governed() -> dict[str, Any]:
            return gate(block, "score", payload={"amount": 1})

        decision = governed()
    assert decision["outcome"] == "allow"
    assert decision["platform"] == "velerian"


def test_gate_with_pause_resumes_after_approval(local_block: GovflowLocalPlatform) -> None:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    from govflow.prefect_tasks import gate_with_pause

    run_ids: list[Any] = []

    @flow(name="govflow-pause")
    def governed() -> dict[str, Any]:
        from prefect.runtime import flow_run

        run_ids.append(flow_run.id)
        return gate_with_pause(local_block, "payout", resource="bank", timeout=60, poll_interval=1)

    def approve_and_resume() -> None:
        _decide_later(local_block, approve=True).join(60)

        async def paused() -> bool:
            async with get_client() as client:
                run = await client.read_flow_run(run_ids[0])
                return bool(run.state and run.state.is_paused())

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if run_ids and asyncio.run(paused()):
                # govflow's own watcher may resume it first: then this resume finds it running.
                with contextlib.suppress(Exception):
                    resume_flow_run(run_ids[0])
                return
            time.sleep(0.3)

    thread = threading.Thread(target=approve_and_resume, daemon=True)
    thread.start()
    decision = governed()
    thread.join(5)
    assert decision["outcome"] == "allow"
    assert decision["approval_id"]


def test_record_evidence_task_chains_a_record_for_the_run(tmp_path: Any, monkeypatch: Any) -> None:
    from prefect import flow

    from govflow.core.evidence import EvidenceLedger
    from govflow.prefect_tasks import record_evidence

    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'evidence.db'}")

    @flow(name="records-evidence")
    def records() -> Any:
        return record_evidence("review.completed", "approved", decision={"decision_id": "dec-7"})

    sealed = records()
    assert sealed is not None and sealed["references"]["decision.decision_id"] == "dec-7"
    stored = EvidenceLedger().records("prefect/records-evidence")
    assert [(r.event, r.outcome) for r in stored] == [("review.completed", "approved")]
    assert EvidenceLedger().verify().ok
