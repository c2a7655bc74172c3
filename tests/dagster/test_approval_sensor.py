"""Approvals without a held run: the pending run is tagged, the sensor launches the job once approved."""

import json
from typing import Any

import dagster as dg

from govflow.core.evidence.ledger import EvidenceLedger
from govflow.core.platforms.local import LocalPlatform
from govflow.dagster_resources import GovflowLocalResource, approval_sensor

from .conftest import POLICY

PARTITIONS = dg.StaticPartitionsDefinition(["eu", "us"])


def build(ledger_url: str, *, partitioned: bool = False) -> tuple[dg.Definitions, dg.SensorDefinition]:
    @dg.asset(partitions_def=PARTITIONS if partitioned else None)
    def payout(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "payout", resource="bank/acme", wait=False)
        return 100

    @dg.asset
    def ledger_entry(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "load", resource="warehouse/ledger")
        return 1

    job = dg.define_asset_job("payout_job", selection=[payout, ledger_entry])
    sensor = approval_sensor(job)
    defs = dg.Definitions(
        assets=[payout, ledger_entry],
        jobs=[job],
        sensors=[sensor],
        resources={"govflow": GovflowLocalResource(policy=POLICY, database_url=ledger_url)},
    )
    return defs, sensor


def tick(sensor: dg.SensorDefinition, instance: Any, defs: dg.Definitions, cursor: str | None) -> Any:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    return sensor.evaluate_tick(context)


def pending_ids(ledger_url: str) -> list[str]:
    return [a.id for a in LocalPlatform(POLICY, database_url=ledger_url).approvals.list(status="pending")]


def test_approved_run_is_launched_once_and_succeeds(ledger_url: str, instance: Any) -> None:
    defs, sensor = build(ledger_url)
    job = defs.resolve_job_def("payout_job")
    first = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not first.success
    [approval_id] = pending_ids(ledger_url)

    waiting = tick(sensor, instance, defs, None)
    assert waiting.run_requests == []
    assert approval_id in waiting.skip_message and "pending" in waiting.skip_message

    LocalPlatform(POLICY, database_url=ledger_url).decide(approval_id, approve=True, by="finance-lead")
    launched = tick(sensor, instance, defs, waiting.cursor)
    [request] = launched.run_requests
    assert request.run_key == approval_id
    assert request.tags["govflow/approval_id"] == approval_id
    assert request.tags["govflow/approved_by"] == "finance-lead"
    assert request.tags["govflow/retry_of"] == first.run_id
    assert approval_id in json.loads(launched.cursor)["settled"]

    again = tick(sensor, instance, defs, launched.cursor)
    assert again.run_requests == []  # nothing new: the approval is settled

    second = job.execute_in_process(instance=instance, tags=request.tags)
    assert second.success
    [materialization] = second.asset_materializations_for_node("payout")
    decision = materialization.metadata["govflow/decision"].value
    assert decision["outcome"] == "allow"
    assert decision["approval"]["id"] == approval_id
    # the new run continues the request of the run that asked; its own id is kept as a label
    records = EvidenceLedger(ledger_url).records("dagster/payout_job", run_id=first.run_id)
    allow = [r for r in records if r.context.step == "payout" and r.outcome == "allow"]
    assert [r.context.labels["dagster_run_id"] for r in allow] == [second.run_id]


def test_partition_is_kept(ledger_url: str, instance: Any) -> None:
    defs, sensor = build(ledger_url, partitioned=True)
    job = defs.resolve_job_def("payout_job")
    job.execute_in_process(instance=instance, partition_key="eu", raise_on_error=False)
    [approval_id] = pending_ids(ledger_url)
    LocalPlatform(POLICY, database_url=ledger_url).decide(approval_id, approve=True, by="finance-lead")
    [request] = tick(sensor, instance, defs, None).run_requests
    assert request.partition_key == "eu"
    result = job.execute_in_process(instance=instance, partition_key="eu", tags=request.tags)
    assert result.success


def test_denied_approval_is_reported_and_dropped(ledger_url: str, instance: Any) -> None:
    defs, sensor = build(ledger_url)
    defs.resolve_job_def("payout_job").execute_in_process(instance=instance, raise_on_error=False)
    [approval_id] = pending_ids(ledger_url)
    LocalPlatform(POLICY, database_url=ledger_url).decide(
        approval_id, approve=False, by="finance-lead", comment="not this month"
    )
    result = tick(sensor, instance, defs, None)
    assert result.run_requests == []
    assert f"{approval_id} denied by finance-lead" in result.skip_message
    assert approval_id in json.loads(result.cursor)["settled"]


def test_nothing_waiting(ledger_url: str, instance: Any) -> None:
    defs, sensor = build(ledger_url)
    result = tick(sensor, instance, defs, None)
    assert result.run_requests == []
    assert "no run of payout_job is waiting" in result.skip_message


def test_approval_does_not_unlock_another_step(ledger_url: str, instance: Any) -> None:
    """A run tagged with a payout approval still gates its other payout step on its own."""
    defs, _ = build(ledger_url)
    defs.resolve_job_def("payout_job").execute_in_process(instance=instance, raise_on_error=False)
    [approval_id] = pending_ids(ledger_url)
    LocalPlatform(POLICY, database_url=ledger_url).decide(approval_id, approve=True, by="finance-lead")

    @dg.asset
    def other_payout(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "payout", resource="bank/acme", wait=False)
        return 1

    result = dg.materialize(
        [other_payout],
        resources={"govflow": GovflowLocalResource(policy=POLICY, database_url=ledger_url)},
        instance=instance,
        tags={"govflow/approval_id": approval_id},
        raise_on_error=False,
    )
    assert not result.success
    assert len(pending_ids(ledger_url)) == 1  # a new approval for this step, the old one unused
