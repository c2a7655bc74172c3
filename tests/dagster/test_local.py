"""The local resource in real Dagster runs: allowed, denied, waited-for approvals, ops and assets."""

import threading
import time
from typing import Any

import dagster as dg
import pytest

from govflow.core.evidence.ledger import EvidenceLedger
from govflow.core.platforms.local import LocalPlatform
from govflow.dagster_resources import GovernancePending, GovflowLocalResource

from .conftest import POLICY


def local(ledger_url: str) -> GovflowLocalResource:
    return GovflowLocalResource(policy=POLICY, database_url=ledger_url)


def approve_when_pending(ledger_url: str, *, approve: bool = True) -> threading.Thread:
    """A finance lead in another thread: decides the first pending approval that shows up."""
    platform = LocalPlatform(POLICY, database_url=ledger_url)

    def run() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if pending := platform.approvals.list(status="pending"):
                platform.decide(pending[0].id, approve=approve, by="finance-lead", comment="ok")
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_allowed_asset_carries_the_decision_and_its_evidence(ledger_url: str) -> None:
    @dg.asset
    def report(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        decision = govflow.gate(context, "load", resource="warehouse/report")
        assert decision["outcome"] == "allow"
        return 1

    result = dg.materialize([report], resources={"govflow": local(ledger_url)})
    assert result.success
    [materialization] = result.asset_materializations_for_node("report")
    metadata = materialization.metadata
    assert metadata["govflow/decision"].value["outcome"] == "allow"
    ref = metadata["govflow/evidence"].value.removeprefix("govflow evidence show ")
    record = EvidenceLedger(ledger_url).get(ref)
    assert record.digest == metadata["govflow/evidence_digest"].value
    assert record.event == "gate.decided"
    assert record.context.orchestrator == "dagster"
    assert record.context.step == "report"
    assert record.context.run_id == result.run_id


def test_denied_asset_fails_without_retries(ledger_url: str) -> None:
    calls: list[int] = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2))
    def published(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        calls.append(1)
        govflow.gate(context, "publish", resource="public/customers")
        return 1

    result = dg.materialize(
        [published], resources={"govflow": local(ledger_url)}, raise_on_error=False
    )
    assert not result.success
    assert calls == [1]  # a decision is not retried, even with a retry policy
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    info = failure.step_failure_data.user_failure_data
    assert "may not be published" in info.description
    assert info.metadata["govflow/decision"].value["outcome"] == "deny"
    assert not result.asset_materializations_for_node("published")


def test_denied_raises_failure_when_called_directly(ledger_url: str) -> None:
    @dg.op
    def publish(context: dg.OpExecutionContext, govflow: GovflowLocalResource) -> None:
        govflow.gate(context, "publish", resource="public/x")

    @dg.job(resource_defs={"govflow": local(ledger_url)})
    def publishing() -> None:
        publish()

    with pytest.raises(dg.Failure) as raised:
        publishing.execute_in_process()
    assert raised.value.allow_retries is False


def test_op_waits_for_the_approval_and_runs(ledger_url: str) -> None:
    @dg.op
    def payout(context: dg.OpExecutionContext, govflow: GovflowLocalResource) -> dict[str, Any]:
        return govflow.gate(context, "payout", resource="bank/acme", approval_timeout=30, poll=0.05)

    @dg.job(resource_defs={"govflow": local(ledger_url)})
    def payouts() -> None:
        payout()

    reviewer = approve_when_pending(ledger_url)
    result = payouts.execute_in_process()
    reviewer.join(5)
    decision = result.output_for_node("payout")
    assert decision["outcome"] == "allow"
    assert decision["approval"]["decided_by"] == "finance-lead"
    records = EvidenceLedger(ledger_url).records("dagster/payouts", run_id=result.run_id)
    assert [r.outcome for r in records if r.event == "gate.decided"] == ["pending", "allow"]


def test_op_wait_ends_with_a_denial(ledger_url: str) -> None:
    @dg.op
    def payout(context: dg.OpExecutionContext, govflow: GovflowLocalResource) -> None:
        govflow.gate(context, "payout", approval_timeout=30, poll=0.05)

    @dg.job(resource_defs={"govflow": local(ledger_url)})
    def payouts() -> None:
        payout()

    reviewer = approve_when_pending(ledger_url, approve=False)
    result = payouts.execute_in_process(raise_on_error=False)
    reviewer.join(5)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "denied by finance-lead" in failure.step_failure_data.user_failure_data.description


def test_partitioned_asset_gates_per_partition(ledger_url: str) -> None:
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["eu", "us"]))
    def regional(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "load", resource=f"warehouse/{context.partition_key}")
        return 1

    result = dg.materialize([regional], resources={"govflow": local(ledger_url)}, partition_key="us")
    assert result.success
    [record] = EvidenceLedger(ledger_url).records("dagster/assets", run_id=result.run_id)
    assert record.context.partition == "us"


def test_wait_false_tags_the_run_and_raises_pending(ledger_url: str, instance: Any) -> None:
    @dg.asset
    def payout(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "payout", wait=False)
        return 1

    result = dg.materialize(
        [payout], resources={"govflow": local(ledger_url)}, instance=instance, raise_on_error=False
    )
    assert not result.success
    [pending] = LocalPlatform(POLICY, database_url=ledger_url).approvals.list(status="pending")
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["govflow/awaiting_approval"] == "true"
    assert tags["govflow/pending_approval"] == pending.id
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_failure_data.error.cls_name == GovernancePending.__name__


def test_secrets_are_masked_in_repr() -> None:
    resource = GovflowLocalResource(database_url="postgresql://u:hunter2@db/govflow")
    assert "hunter2" not in repr(resource)
