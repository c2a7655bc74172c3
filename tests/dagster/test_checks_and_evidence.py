"""Contract asset checks, and evidence from hooks and run-status sensors, in real Dagster runs."""

import logging
from typing import Any

import dagster as dg
import pytest

from govflow.core.evidence.ledger import EvidenceLedger
from govflow.dagster_resources import (
    GovflowLocalResource,
    contract_asset_check,
    evidence_on_failure,
    evidence_on_success,
    evidence_sensors,
)

from .conftest import BAD, CONTRACTS, GOOD, POLICY


def local(ledger_url: str) -> GovflowLocalResource:
    return GovflowLocalResource(policy=POLICY, database_url=ledger_url, contracts=CONTRACTS)


def events_asset(records: list[dict[str, Any]]) -> dg.AssetsDefinition:
    @dg.asset
    def events() -> list[dict[str, Any]]:
        return records

    return events


@pytest.mark.parametrize(
    "records,max_failed,passed", [([GOOD, GOOD], 0, True), ([GOOD, BAD, BAD], 1, False), ([GOOD, BAD], 1, True)]
)
def test_contract_check(ledger_url: str, records: list[Any], max_failed: int, passed: bool) -> None:
    events = events_asset(records)
    check = contract_asset_check(events, "user_events", max_failed=max_failed)
    result = dg.materialize([events, check], resources={"govflow": local(ledger_url)})
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed is passed
    metadata = evaluation.metadata
    assert metadata["records"].value == len(records)
    assert metadata["failed"].value == records.count(BAD)
    violations = metadata["violations"].value
    if records.count(BAD):
        assert {v["index"] for v in violations} == {i for i, r in enumerate(records) if r == BAD}
        assert {v["field"] for v in violations} >= {"user_id", "event_type"}
    else:
        assert violations == []
    ref = metadata["govflow/evidence"].value.removeprefix("govflow evidence show ")
    assert EvidenceLedger(ledger_url).get(ref).event == "contract.validated"


def test_blocking_check_stops_downstream(ledger_url: str) -> None:
    events = events_asset([BAD])
    check = contract_asset_check(events, "user_events", blocking=True)

    @dg.asset(deps=[events])
    def downstream() -> int:
        return 1

    result = dg.materialize(
        [events, check, downstream], resources={"govflow": local(ledger_url)}, raise_on_error=False
    )
    assert not result.success
    assert result.asset_materializations_for_node("events")
    assert not result.asset_materializations_for_node("downstream")


def test_check_on_a_platform_without_contracts_fails_clearly(ledger_url: str) -> None:
    events = events_asset([GOOD])
    check = contract_asset_check(events, "user_events")
    resource = GovflowLocalResource(policy=POLICY, database_url=ledger_url)  # no contracts
    result = dg.materialize([events, check], resources={"govflow": resource}, raise_on_error=False)
    assert not result.success


# --- evidence ----------------------------------------------------------------------------------


def governed_assets() -> list[dg.AssetsDefinition]:
    hooks = {evidence_on_success, evidence_on_failure}

    @dg.asset(hooks=hooks)
    def report(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "load", resource="warehouse/report")
        return 1

    @dg.asset(hooks=hooks, deps=[report])
    def published(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "publish", resource="public/report")
        return 1

    return [report, published]


def run_status_context(instance: Any, run_id: str, sensor: dg.SensorDefinition, event_type: Any) -> Any:
    [record] = instance.get_records_for_run(run_id, of_type=event_type).records
    return dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
    )


def test_hooks_and_run_sensors_record_every_step_and_run(ledger_url: str, instance: Any) -> None:
    report, published = governed_assets()
    job = dg.define_asset_job("reporting", selection=[report, published])
    defs = dg.Definitions(
        assets=[report, published], jobs=[job], resources={"govflow": local(ledger_url)}
    )
    result = defs.resolve_job_def("reporting").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success  # publishing to public/ is denied

    _on_success, on_failure = evidence_sensors()
    assert on_failure.name == "govflow_evidence_on_run_failure"
    ctx = run_status_context(instance, result.run_id, on_failure, dg.DagsterEventType.RUN_FAILURE)
    on_failure(ctx.for_run_failure())

    ledger = EvidenceLedger(ledger_url)
    records = ledger.records("dagster/reporting", run_id=result.run_id)
    steps = {r.context.step: r for r in records if r.event == "step.finished"}
    assert steps["report"].outcome == "success"
    assert steps["report"].decision_id  # the gate's decision is in the step's record
    assert steps["report"].details["decisions"][0]["action"] == "load"
    assert steps["published"].outcome == "failed"
    assert "may not be published" in steps["published"].error
    [run] = [r for r in records if r.event == "run.finished"]
    assert run.outcome == "failed"
    assert "published" in run.error
    assert ledger.verify().ok


def test_success_sensor_records_the_run(ledger_url: str, instance: Any) -> None:
    report, _ = governed_assets()
    result = dg.materialize([report], resources={"govflow": local(ledger_url)}, instance=instance)
    on_success, _ = evidence_sensors()
    on_success(run_status_context(instance, result.run_id, on_success, dg.DagsterEventType.RUN_SUCCESS))
    [run] = [r for r in EvidenceLedger(ledger_url).records(run_id=result.run_id) if r.event == "run.finished"]
    assert run.outcome == "success"
    assert run.context.pipeline == "assets"
    assert run.details["job"] == result.job_def.name


def test_pending_run_is_recorded_as_pending(ledger_url: str, instance: Any) -> None:
    @dg.asset(hooks={evidence_on_success, evidence_on_failure})
    def payout(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> int:
        govflow.gate(context, "payout", wait=False)
        return 1

    result = dg.materialize(
        [payout], resources={"govflow": local(ledger_url)}, instance=instance, raise_on_error=False
    )
    _, on_failure = evidence_sensors()
    ctx = run_status_context(instance, result.run_id, on_failure, dg.DagsterEventType.RUN_FAILURE)
    on_failure(ctx.for_run_failure())
    records = EvidenceLedger(ledger_url).records(run_id=result.run_id)
    outcomes = {r.event: r.outcome for r in records if r.event != "gate.decided"}
    assert outcomes == {"step.finished": "pending", "run.finished": "pending"}
    assert next(r.references.get("pending_approval") for r in records if r.event == "run.finished")


def test_evidence_never_fails_a_run(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unwritable ledger: the hooks warn, the run still succeeds."""
    (tmp_path / "not-a-dir").write_text("")  # a file where the ledger's directory should be
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{tmp_path}/not-a-dir/govflow.db")

    @dg.asset(hooks={evidence_on_success, evidence_on_failure})
    def plain() -> int:
        return 1

    with caplog.at_level(logging.WARNING, logger="govflow.evidence"):
        assert dg.materialize([plain]).success
    assert any(r.name == "govflow.evidence" for r in caplog.records)
