"""The per-platform gate tasks in real flows, over real HTTP against the platform emulators."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect import flow

from govflow.core.errors import ConfigurationError
from govflow.core.evidence.ledger import EvidenceLedger
from govflow.prefect_tasks import (
    ContractGateCredentials,
    ContractViolation,
    GovernanceDenied,
    LatchGateCredentials,
    LattixCredentials,
    VelerianCredentials,
    governed,
    latchgate_execute,
    lattix_gate,
    validate_records,
    velerian_invoke,
)

pytestmark = pytest.mark.usefixtures("prefect_server")

GOOD = {"user_id": "u1", "event_type": "click", "timestamp": 1}
BAD = {"user_id": "bad id!", "event_type": "nope", "timestamp": 1}


@pytest.fixture
def ledger(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> EvidenceLedger:
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{tmp_path / 'evidence.db'}")
    return EvidenceLedger()


def decide_when_pending(pending: Callable[[], list[str]], decide: Callable[[str], Any]) -> threading.Thread:
    """A reviewer in another thread: decides the first approval that shows up."""

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ids := pending():
                decide(ids[0])
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- Velerian ------------------------------------------------------------------------------------


def velerian(emu: Any) -> VelerianCredentials:
    return VelerianCredentials(base_url=emu.base_url, api_key=emu.api_key)


def test_velerian_invoke_allowed_returns_the_output(velerian_emulator: Any, ledger: EvidenceLedger) -> None:
    block = velerian(velerian_emulator)

    @governed
    @flow(name="velerian-allowed")
    def pipeline() -> dict[str, Any]:
        return velerian_invoke(block, velerian_emulator.abps["allow"], payload={"text": "hello"})

    decision = pipeline()
    assert decision["outcome"] == "allow"
    assert decision["output"]["echo"] == {"text": "hello"}
    invocation = decision["references"]["invocation_id"]
    assert [i["invocation_id"] for i in velerian_emulator.invocations] == [invocation]

    [task_record] = [r for r in ledger.records("prefect/velerian-allowed") if r.event == "task.finished"]
    assert task_record.outcome == "success"
    assert task_record.references["invocation_id"] == invocation
    assert task_record.references["platform"] == "velerian"
    [flow_record] = [r for r in ledger.records("prefect/velerian-allowed") if r.event == "flow_run.finished"]
    assert flow_record.details["governance"][0]["references"]["invocation_id"] == invocation
    assert ledger.verify().ok


def test_velerian_invoke_blocked_fails_with_the_decision(velerian_emulator: Any) -> None:
    block = velerian(velerian_emulator)

    @flow(name="velerian-blocked")
    def pipeline() -> Any:
        return velerian_invoke(block, velerian_emulator.abps["block"], payload={"text": "x"})

    with pytest.raises(GovernanceDenied) as raised:
        pipeline()
    assert raised.value.decision is not None
    assert raised.value.decision["outcome"] == "deny"
    assert raised.value.decision["platform"] == "velerian"


def test_velerian_invoke_waits_for_the_approval_and_invokes_once(velerian_emulator: Any) -> None:
    block = velerian(velerian_emulator)

    @flow(name="velerian-approval")
    def pipeline() -> dict[str, Any]:
        return velerian_invoke(
            block, velerian_emulator.abps["approval"], payload={"n": 1}, approval_timeout=60, poll=0.1
        )

    reviewer = decide_when_pending(
        lambda: [a["id"] for a in velerian_emulator.approvals if a["status"] == "pending"],
        lambda approval_id: velerian_emulator.decide_approval(approval_id, "approved", by="u-cfo"),
    )
    decision = pipeline()
    reviewer.join(5)
    assert decision["outcome"] == "allow"
    assert decision["approval"]["decided_by"] == "u-cfo"
    assert len(velerian_emulator.invocations) == 1  # the re-gate reads the approval, no re-invoke


# --- Lattix --------------------------------------------------------------------------------------


def lattix(emu: Any) -> LattixCredentials:
    return LattixCredentials(
        base_url=emu.base_url,
        bearer_token=emu.bearer_token,
        tenant_id=emu.tenant_id,
        user_id=emu.user_id,
    )


@pytest.mark.parametrize("route", ["policy_resolve", "protection_plan"])
def test_lattix_gate_allowed(lattix_emulator: Any, route: str) -> None:
    block = lattix(lattix_emulator)

    @flow(name="lattix-allowed")
    def pipeline() -> dict[str, Any]:
        return lattix_gate(
            block,
            "access",
            "claims/2026-05",
            purpose="reporting",
            labels={"resource_kind": "table", "classification": "pii"},
            decision=route,  # type: ignore[arg-type]
        )

    decision = pipeline()
    assert decision["outcome"] == "allow"
    assert decision["references"]["lattix_route"] == route.replace("_", "-")
    assert decision["references"]["lattix_resource_id"] == "claims/2026-05"
    assert decision["obligations"]


def test_lattix_gate_denied(lattix_emulator: Any) -> None:
    lattix_emulator.deny("table", operation="access", reason="claims are not for export")
    block = lattix(lattix_emulator)

    @flow(name="lattix-denied")
    def pipeline() -> Any:
        return lattix_gate(block, "access", "claims/2026-05", labels={"resource_kind": "table"})

    with pytest.raises(GovernanceDenied, match="denied by lattix"):
        pipeline()


def test_lattix_gate_rejects_an_unknown_operation_before_calling(lattix_emulator: Any) -> None:
    block = lattix(lattix_emulator)
    before = len(lattix_emulator.requests_to("POST", "policy-resolve"))

    @flow(name="lattix-bad-operation")
    def pipeline() -> Any:
        return lattix_gate(block, "export", "claims/2026-05")

    with pytest.raises(ConfigurationError, match="export"):
        pipeline()
    assert len(lattix_emulator.requests_to("POST", "policy-resolve")) == before


# --- LatchGate -----------------------------------------------------------------------------------


def latchgate(emu: Any) -> LatchGateCredentials:
    return LatchGateCredentials(base_url=emu.base_url, public_base_url=emu.public_base_url)


def test_latchgate_execute_returns_the_receipt(latchgate_emulator: Any) -> None:
    block = latchgate(latchgate_emulator)

    @flow(name="latchgate-echo")
    def pipeline() -> dict[str, Any]:
        return latchgate_execute(block, latchgate_emulator.actions["echo"], payload={"msg": "hi"})

    decision = pipeline()
    assert decision["outcome"] == "allow"
    assert decision["references"]["receipt_id"]
    assert decision["output"]["echo"] == {"msg": "hi"}


def test_latchgate_execute_denied(latchgate_emulator: Any) -> None:
    block = latchgate(latchgate_emulator)

    @flow(name="latchgate-denied")
    def pipeline() -> Any:
        return latchgate_execute(block, latchgate_emulator.actions["denied"], payload={"cmd": "ls"})

    with pytest.raises(GovernanceDenied, match="denied by latchgate"):
        pipeline()


@pytest.mark.parametrize("verdict", ["approved", "denied"])
def test_latchgate_execute_waits_for_the_approval(latchgate_emulator: Any, verdict: str) -> None:
    block = latchgate(latchgate_emulator)

    @flow(name="latchgate-approval")
    def pipeline() -> dict[str, Any]:
        return latchgate_execute(
            block,
            latchgate_emulator.actions["needs_approval"],
            payload={"url": "https://httpbin.org/post"},
            approval_timeout=60,
            poll=0.1,
        )

    reviewer = decide_when_pending(
        lambda: [i for i, a in latchgate_emulator.approvals.items() if a.status == "pending"],
        lambda approval_id: latchgate_emulator.decide_approval(approval_id, verdict, by="ops"),
    )
    if verdict == "approved":
        decision = pipeline()
        assert decision["outcome"] == "allow"
        assert decision["references"]["receipt_id"]
    else:
        with pytest.raises(GovernanceDenied):
            pipeline()
    reviewer.join(5)


# --- ContractGate --------------------------------------------------------------------------------


@pytest.mark.parametrize("records,ok", [([GOOD, GOOD], True), ([GOOD, BAD, BAD], False)])
def test_validate_records_remotely(contractgate_emulator: Any, records: list[Any], ok: bool) -> None:
    block = ContractGateCredentials(
        base_url=contractgate_emulator.base_url, api_key=contractgate_emulator.api_key, dry_run=True
    )

    @flow(name="contractgate-validate")
    def pipeline() -> dict[str, Any]:
        return validate_records(block, "user_events", records, max_failed=1)

    if ok:
        report = pipeline()
        assert report["contract_id"] == contractgate_emulator.contracts["user_events"]
        assert all(r["passed"] for r in report["records"])
    else:
        with pytest.raises(ContractViolation, match="2/3 records failed"):
            pipeline()
