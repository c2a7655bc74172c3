"""The remote platforms' resources in real Dagster runs, over real HTTP against the emulators."""

import threading
import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from govflow.core.evidence.ledger import EvidenceLedger
from govflow.dagster_resources import (
    ContractGateResource,
    LatchGateResource,
    LattixResource,
    VelerianResource,
    approval_sensor,
    contract_asset_check,
)

from .conftest import BAD, GOOD


def decide_when_pending(pending: Callable[[], list[str]], decide: Callable[[str], Any]) -> threading.Thread:
    def run() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ids := pending():
                decide(ids[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def failure_of(result: Any) -> Any:
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.user_failure_data


# --- Velerian ------------------------------------------------------------------------------------


def velerian(emu: Any) -> VelerianResource:
    return VelerianResource(base_url=emu.base_url, api_key=emu.api_key)


def test_velerian_invoke_allowed(velerian_emulator: Any, ledger_url: str) -> None:
    @dg.asset
    def summary(context: dg.AssetExecutionContext, velerian: VelerianResource) -> Any:
        return velerian.invoke(context, velerian_emulator.abps["allow"], payload={"text": "hi"})["output"]

    result = dg.materialize([summary], resources={"velerian": velerian(velerian_emulator)})
    assert result.output_for_node("summary")["echo"] == {"text": "hi"}
    [materialization] = result.asset_materializations_for_node("summary")
    invocation = materialization.metadata["govflow/decision"].value["references"]["invocation_id"]
    ref = materialization.metadata["govflow/evidence"].value.removeprefix("govflow evidence show ")
    record = EvidenceLedger(ledger_url).get(ref)
    assert record.references["invocation_id"] == invocation
    assert record.references["platform"] == "velerian"
    assert velerian_emulator.api_key not in record.model_dump_json()


def test_velerian_invoke_blocked(velerian_emulator: Any, ledger_url: str) -> None:
    @dg.asset
    def summary(context: dg.AssetExecutionContext, velerian: VelerianResource) -> Any:
        return velerian.invoke(context, velerian_emulator.abps["block"], payload={"text": "hi"})

    result = dg.materialize(
        [summary], resources={"velerian": velerian(velerian_emulator)}, raise_on_error=False
    )
    assert not result.success
    failure = failure_of(result)
    assert "denied by velerian" in failure.description
    assert failure.metadata["govflow/decision"].value["outcome"] == "deny"


def test_velerian_invoke_waits_for_the_approval(velerian_emulator: Any, ledger_url: str) -> None:
    @dg.op
    def invoke(context: dg.OpExecutionContext, velerian: VelerianResource) -> dict[str, Any]:
        return velerian.invoke(
            context, velerian_emulator.abps["approval"], payload={"n": 1}, approval_timeout=30, poll=0.05
        )

    @dg.job(resource_defs={"velerian": velerian(velerian_emulator)})
    def invoking() -> None:
        invoke()

    reviewer = decide_when_pending(
        lambda: [a["id"] for a in velerian_emulator.approvals if a["status"] == "pending"],
        lambda approval_id: velerian_emulator.decide_approval(approval_id, "approved", by="u-cfo"),
    )
    decision = invoking.execute_in_process().output_for_node("invoke")
    reviewer.join(5)
    assert decision["outcome"] == "allow"
    assert decision["approval"]["decided_by"] == "u-cfo"
    assert len(velerian_emulator.invocations) == 1


def test_velerian_approval_through_the_sensor(velerian_emulator: Any, ledger_url: str, instance: Any) -> None:
    """wait=False on a remote platform: the sensor polls Velerian and relaunches the job."""
    abp = velerian_emulator.abps["approval"]

    @dg.asset
    def payout(context: dg.AssetExecutionContext, velerian: VelerianResource) -> Any:
        return velerian.invoke(context, abp, payload={"n": 1}, wait=False)["outcome"]

    job = dg.define_asset_job("velerian_payouts", selection=[payout])
    sensor = approval_sensor(job, resource_key="velerian")
    defs = dg.Definitions(
        assets=[payout], jobs=[job], sensors=[sensor], resources={"velerian": velerian(velerian_emulator)}
    )
    resolved = defs.resolve_job_def("velerian_payouts")
    assert not resolved.execute_in_process(instance=instance, raise_on_error=False).success
    [approval] = [a for a in velerian_emulator.approvals if a["status"] == "pending"]
    velerian_emulator.decide_approval(approval["id"], "approved", by="u-cfo")

    ctx = dg.build_sensor_context(instance=instance, definitions=defs, resources=dict(defs.resources))
    [request] = sensor.evaluate_tick(ctx).run_requests
    assert request.run_key == approval["id"]
    second = resolved.execute_in_process(instance=instance, tags=request.tags)
    assert second.output_for_node("payout") == "allow"
    assert len(velerian_emulator.invocations) == 1  # the approval was read, the ABP not re-invoked


# --- Lattix --------------------------------------------------------------------------------------


def lattix(emu: Any) -> LattixResource:
    return LattixResource(
        base_url=emu.base_url, bearer_token=emu.bearer_token, tenant_id=emu.tenant_id, user_id=emu.user_id
    )


@pytest.mark.parametrize("denied", [False, True])
def test_lattix_gate(lattix_emulator: Any, ledger_url: str, denied: bool) -> None:
    if denied:
        lattix_emulator.deny("table", operation="access", reason="claims are not for export")

    @dg.asset
    def claims(context: dg.AssetExecutionContext, lattix: LattixResource) -> Any:
        return lattix.gate(
            context, "access", "claims/2026-05", purpose="reporting",
            labels={"resource_kind": "table", "classification": "pii"},
        )

    result = dg.materialize([claims], resources={"lattix": lattix(lattix_emulator)}, raise_on_error=False)
    assert result.success is not denied
    if denied:
        assert "claims are not for export" in failure_of(result).description
    else:
        decision = result.output_for_node("claims")
        assert decision["references"]["lattix_resource_id"] == "claims/2026-05"
        assert decision["obligations"]


# --- LatchGate -----------------------------------------------------------------------------------


def latchgate(emu: Any) -> LatchGateResource:
    return LatchGateResource(base_url=emu.base_url, public_base_url=emu.public_base_url)


def test_latchgate_execute(latchgate_emulator: Any, ledger_url: str) -> None:
    @dg.asset
    def echoed(context: dg.AssetExecutionContext, latchgate: LatchGateResource) -> Any:
        return latchgate.execute(context, latchgate_emulator.actions["echo"], payload={"msg": "hi"})

    result = dg.materialize([echoed], resources={"latchgate": latchgate(latchgate_emulator)})
    decision = result.output_for_node("echoed")
    assert decision["output"]["echo"] == {"msg": "hi"}
    assert decision["references"]["receipt_id"]


@pytest.mark.parametrize("verdict", ["approved", "denied"])
def test_latchgate_execute_waits_in_the_step(latchgate_emulator: Any, ledger_url: str, verdict: str) -> None:
    @dg.asset
    def posted(context: dg.AssetExecutionContext, latchgate: LatchGateResource) -> Any:
        return latchgate.execute(
            context, latchgate_emulator.actions["needs_approval"],
            payload={"url": "https://httpbin.org/post"}, approval_timeout=30, poll=0.05,
        )

    reviewer = decide_when_pending(
        lambda: [i for i, a in latchgate_emulator.approvals.items() if a.status == "pending"],
        lambda approval_id: latchgate_emulator.decide_approval(approval_id, verdict, by="ops"),
    )
    result = dg.materialize(
        [posted], resources={"latchgate": latchgate(latchgate_emulator)}, raise_on_error=False
    )
    reviewer.join(5)
    assert result.success is (verdict == "approved")
    if verdict == "approved":
        assert result.output_for_node("posted")["references"]["receipt_id"]


def test_latchgate_refuses_not_waiting(latchgate_emulator: Any) -> None:
    @dg.asset
    def echoed(context: dg.AssetExecutionContext, latchgate: LatchGateResource) -> Any:
        return latchgate.gate(context, latchgate_emulator.actions["echo"], wait=False)

    result = dg.materialize(
        [echoed], resources={"latchgate": latchgate(latchgate_emulator)}, raise_on_error=False
    )
    assert not result.success


# --- ContractGate --------------------------------------------------------------------------------


@pytest.mark.parametrize("records,passed", [([GOOD, GOOD], True), ([GOOD, BAD, BAD], False)])
def test_contractgate_check(contractgate_emulator: Any, ledger_url: str, records: list[Any], passed: bool) -> None:
    @dg.asset
    def events() -> list[dict[str, Any]]:
        return records

    check = contract_asset_check(events, "user_events", resource_key="contracts", max_failed=1)
    resource = ContractGateResource(
        base_url=contractgate_emulator.base_url, api_key=contractgate_emulator.api_key, dry_run=True
    )
    result = dg.materialize([events, check], resources={"contracts": resource})
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.passed is passed
    assert evaluation.metadata["platform"].value == "contractgate"
    assert evaluation.metadata["failed"].value == records.count(BAD)
