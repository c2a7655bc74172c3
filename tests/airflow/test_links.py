"""Extra links: computed from the ``govflow_decision`` XCom and the connection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from govflow.airflow_provider.links import (
    GovernanceEvidenceLink,
    LatchGateReceiptLink,
    VelerianEvidenceLink,
    render_template,
)


class FakeTI:
    dag_id = "d"
    run_id = "manual__1"
    task_id = "gate"
    map_index = -1
    try_number = 1

    def __init__(self, decision: dict[str, Any] | None) -> None:
        self.decision = decision

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int) -> Any:
        assert key == "govflow_decision"
        return self.decision


class FakeOp:
    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


DECISION = {
    "outcome": "allow",
    "platform": "latchgate",
    "decision_id": "t-1",
    "approval_id": None,
    "references": {"receipt_id": "rcpt_1", "abp_id": "abp 1", "invocation_id": "inv_1"},
}


def test_local_link_is_empty_without_template(monkeypatch: pytest.MonkeyPatch) -> None:
    define(monkeypatch, "gov_local_links", conn_type="govflow_local")
    link = GovernanceEvidenceLink()
    assert link.name == "Governance evidence"
    assert link.get_link(FakeOp("gov_local_links"), ti_key=FakeTI(DECISION)) == ""  # type: ignore[arg-type]


def test_template_from_connection_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    define(
        monkeypatch,
        "gov_local_tpl",
        conn_type="govflow_local",
        extra={
            "evidence_url_template": "https://ui.example/runs/{run_id}/{task_id}?d={decision_id}"
        },
    )
    url = GovernanceEvidenceLink().get_link(FakeOp("gov_local_tpl"), ti_key=FakeTI(DECISION))  # type: ignore[arg-type]
    assert url == "https://ui.example/runs/manual__1/gate?d=t-1"


def test_platform_default_links(monkeypatch: pytest.MonkeyPatch) -> None:
    define(monkeypatch, "lg_links", conn_type="latchgate", host="http://gate:3000/")
    define(monkeypatch, "vel_links", conn_type="velerian", host="https://api.vel.example")
    receipt = LatchGateReceiptLink().get_link(FakeOp("lg_links"), ti_key=FakeTI(DECISION))  # type: ignore[arg-type]
    assert receipt == "http://gate:3000/v1/receipts/rcpt_1"
    evidence = VelerianEvidenceLink().get_link(FakeOp("vel_links"), ti_key=FakeTI(DECISION))  # type: ignore[arg-type]
    assert evidence == "https://api.vel.example/api/v2/abps/abp%201/invocations/inv_1/evidence"


def test_no_decision_or_missing_field_gives_empty_link(monkeypatch: pytest.MonkeyPatch) -> None:
    define(monkeypatch, "lg_links2", conn_type="latchgate", host="http://gate:3000")
    assert LatchGateReceiptLink().get_link(FakeOp("lg_links2"), ti_key=FakeTI(None)) == ""  # type: ignore[arg-type]
    assert render_template("{host}/v1/receipts/{receipt_id}", {"host": "h"}) == ""


def test_operators_carry_their_links() -> None:
    from govflow.airflow_provider.operators import (
        GovernanceGateOperator,
        LatchGateExecuteOperator,
        VelerianInvokeOperator,
    )

    def names(cls: Any) -> set[str]:
        return {link.name for link in cls.operator_extra_links}

    assert names(GovernanceGateOperator) == {"Governance evidence"}
    assert names(VelerianInvokeOperator) == {"Velerian evidence"}
    assert names(LatchGateExecuteOperator) == {"LatchGate receipt"}


def test_provider_info_lists_operators_and_links() -> None:
    from govflow.airflow_provider.get_provider_info import get_provider_info

    info = get_provider_info()
    assert info["operators"][0]["python-modules"] == ["govflow.airflow_provider.operators"]
    assert "govflow.airflow_provider.links.GovernanceEvidenceLink" in info["extra-links"]
    assert "govflow.airflow_provider.links.LatchGateReceiptLink" in info["extra-links"]
