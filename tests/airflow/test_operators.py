"""Gate and contract operators in real DAG runs (``dag.test()`` runs triggers inline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .dags import load_dag
from .test_approval_trigger import Local

CONTRACTS = Path(__file__).parents[2] / "src" / "testing" / "contractgate" / "contracts"

DAG_TEMPLATE = """
import json
from datetime import datetime, timezone

from airflow.sdk import dag, task

from govflow.airflow_provider.operators import {cls}


@dag(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def build():
    gate = {cls}(task_id="gate", **{kwargs!r})

    @task
    def downstream(value, ti=None):
        decision = ti.xcom_pull(task_ids="gate", key="govflow_decision")
        with open({out!r}, "w") as f:
            json.dump({{"value": value, "decision": decision}}, f)

    downstream(gate.output)


the_dag = build()
"""


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def run_dag(
    folder: Path, tmp_path: Path, dag_id: str, cls: str, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    out = tmp_path / f"{dag_id}.json"
    path = folder / f"{dag_id}.py"
    path.write_text(DAG_TEMPLATE.format(cls=cls, dag_id=dag_id, kwargs=kwargs, out=str(out)))
    run = load_dag(path, dag_id).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return states, json.loads(out.read_text()) if out.exists() else None


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Local:
    local = Local(tmp_path)
    define(
        monkeypatch,
        "gov_local",
        conn_type="govflow_local",
        extra={
            "policy": str(local.policy),
            "database_url": local.database_url,
            "contracts": str(CONTRACTS / "api_user_events.yaml"),
        },
    )
    return local


@pytest.mark.slow
def test_local_allow_pushes_decision(
    airflow_dags_folder: Path, tmp_path: Path, local: Local
) -> None:
    from airflow.utils.state import TaskInstanceState

    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        "govflow_op_allow",
        "GovernanceGateOperator",
        action="read",
        resource="{{ dag_run.run_id }}",
        labels={"task": "{{ task.task_id }}"},
        conn_id="gov_local",
    )
    assert states == {"gate": TaskInstanceState.SUCCESS, "downstream": TaskInstanceState.SUCCESS}
    assert out is not None
    assert out["value"]["outcome"] == "allow"
    assert out["value"]["platform"] == "local"
    assert out["decision"] == out["value"]


@pytest.mark.slow
def test_local_deny_fails_without_retry(
    airflow_dags_folder: Path, tmp_path: Path, local: Local
) -> None:
    from airflow.utils.state import TaskInstanceState

    local.policy.write_text(
        local.policy.read_text().replace(
            "rules:\n",
            'rules:\n  - name: no-deletes\n    match:\n      action: "delete*"\n'
            "    decision: deny\n    reason: Deletes are forbidden\n",
        )
    )
    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        "govflow_op_deny",
        "GovernanceGateOperator",
        action="delete_all",
        conn_id="gov_local",
        retries=3,
    )
    assert states["gate"] == TaskInstanceState.FAILED
    assert states["downstream"] == TaskInstanceState.UPSTREAM_FAILED
    assert out is None


@pytest.mark.slow
@pytest.mark.parametrize("deferrable", [True, False])
def test_approval_approved_by_another_thread(
    airflow_dags_folder: Path, tmp_path: Path, local: Local, deferrable: bool
) -> None:
    import threading
    import time

    from airflow.utils.state import TaskInstanceState

    from govflow.core.models import ApprovalStatus

    def approve_when_asked() -> None:
        # Approve the first pending approval the gate opens, like a human watching the queue.
        deadline = time.time() + 60
        while time.time() < deadline:
            pending = local.platform().approvals.list(status=ApprovalStatus.PENDING.value)
            if pending:
                local.platform().decide(pending[0].id, approve=True, by="alice", comment="ok")
                return
            time.sleep(0.3)

    threading.Thread(target=approve_when_asked, daemon=True).start()
    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        f"govflow_op_approved_{deferrable}",
        "GovernanceGateOperator",
        action="payout",
        resource="bank",
        conn_id="gov_local",
        deferrable=deferrable,
        poll_interval=0.2,
        approval_timeout=60,
    )
    assert states == {"gate": TaskInstanceState.SUCCESS, "downstream": TaskInstanceState.SUCCESS}
    assert out is not None
    decision = out["value"]
    assert decision["outcome"] == "allow"
    assert decision["approval_id"]
    assert decision["approval"]["status"] == "approved"
    assert decision["approval"]["decided_by"] == "alice"


@pytest.mark.slow
def test_approval_denied_after_deferral(
    airflow_dags_folder: Path, tmp_path: Path, local: Local
) -> None:
    import threading
    import time

    from airflow.utils.state import TaskInstanceState

    from govflow.core.models import ApprovalStatus

    def deny_when_asked() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            pending = local.platform().approvals.list(status=ApprovalStatus.PENDING.value)
            if pending:
                local.platform().decide(pending[0].id, approve=False, by="bob", comment="no")
                return
            time.sleep(0.3)

    threading.Thread(target=deny_when_asked, daemon=True).start()
    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        "govflow_op_denied_later",
        "GovernanceGateOperator",
        action="payout",
        conn_id="gov_local",
        poll_interval=0.2,
        retries=2,
    )
    assert states["gate"] == TaskInstanceState.FAILED
    assert out is None


# --- Velerian, LatchGate ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("behaviour", ["allow", "block"])
def test_velerian_invoke(
    airflow_dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    velerian_emulator: Any,
    behaviour: str,
) -> None:
    from airflow.utils.state import TaskInstanceState

    define(
        monkeypatch,
        "velerian_default",
        conn_type="velerian",
        host=velerian_emulator.base_url,
        password=velerian_emulator.api_key,
    )
    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        f"govflow_op_velerian_{behaviour}",
        "VelerianInvokeOperator",
        abp_id=velerian_emulator.abps[behaviour],
        payload={"text": "hello"},
    )
    if behaviour == "allow":
        assert states["gate"] == TaskInstanceState.SUCCESS
        assert out is not None
        assert out["value"]["outcome"] == "allow"
        assert out["value"]["output"]["echo"] == {"text": "hello"}
        assert out["value"]["references"]["invocation_id"]
    else:
        assert states["gate"] == TaskInstanceState.FAILED
        assert out is None


@pytest.mark.slow
def test_latchgate_execute_echo(
    airflow_dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    latchgate_emulator: Any,
) -> None:
    from airflow.utils.state import TaskInstanceState

    define(
        monkeypatch,
        "latchgate_default",
        conn_type="latchgate",
        host=latchgate_emulator.base_url,
        extra={"public_base_url": latchgate_emulator.public_base_url},
    )
    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        "govflow_op_latchgate",
        "LatchGateExecuteOperator",
        action=latchgate_emulator.actions["echo"],
        payload={"msg": "hi"},
    )
    assert states["gate"] == TaskInstanceState.SUCCESS
    assert out is not None
    assert out["value"]["outcome"] == "allow"
    assert out["value"]["references"]["receipt_id"]


# --- contracts -----------------------------------------------------------------------------------

GOOD = {"user_id": "u1", "event_type": "click", "timestamp": 1}
BAD = {"user_id": "bad id!", "event_type": "nope", "timestamp": 1}


@pytest.mark.slow
@pytest.mark.parametrize("records,ok", [([GOOD, GOOD], True), ([GOOD, BAD, BAD], False)])
def test_contract_validation(
    airflow_dags_folder: Path, tmp_path: Path, local: Local, records: list[Any], ok: bool
) -> None:
    from airflow.utils.state import TaskInstanceState

    states, out = run_dag(
        airflow_dags_folder,
        tmp_path,
        f"govflow_op_contract_{ok}",
        "ContractValidationOperator",
        contract_id="user_events",
        records=records,
        conn_id="gov_local",
        max_failed=1,
    )
    if ok:
        assert states["gate"] == TaskInstanceState.SUCCESS
        assert out is not None
        assert out["value"]["contract_id"] == "user_events"
        assert len(out["value"]["records"]) == 2
    else:
        assert states["gate"] == TaskInstanceState.FAILED


# --- unit level ----------------------------------------------------------------------------------


def test_contract_threshold_and_summary(local: Local) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from govflow.airflow_provider.operators import ContractValidationOperator

    op = ContractValidationOperator(
        task_id="v", contract_id="user_events", records=[GOOD, BAD], conn_id="gov_local"
    )
    with pytest.raises(AirflowFailException, match=r"1/2 records failed \(.+\)"):
        op.execute({"run_id": "r1"})
    lenient = ContractValidationOperator(
        task_id="v2",
        contract_id="user_events",
        records=[GOOD, BAD],
        conn_id="gov_local",
        max_failed_ratio=0.5,
    )
    assert lenient._records() == [GOOD, BAD]


def test_pending_defers_on_the_trigger_with_the_connection(local: Local) -> None:
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    from govflow.airflow_provider.operators import GovernanceGateOperator
    from govflow.airflow_provider.triggers import ApprovalTrigger

    op = GovernanceGateOperator(
        task_id="gate", action="payout", conn_id="gov_local", approval_timeout=30
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"run_id": "unit-1"})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ApprovalTrigger)
    assert trigger.platform == {"conn_id": "gov_local"}
    assert trigger.deadline is not None
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout > timedelta(seconds=30)


def test_event_outcomes() -> None:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from govflow.airflow_provider.operators import GovernanceGateOperator

    op = GovernanceGateOperator(task_id="gate", action="payout")
    denied = {"status": "denied", "approval_id": "a1", "approval": {"decided_by": "bob"}}
    with pytest.raises(AirflowFailException, match="denied by bob"):
        op.execute_complete({}, denied)
    for status in ("expired", "timeout", "error"):
        with pytest.raises(AirflowException) as exc:
            op.execute_complete({}, {"status": status, "approval_id": "a1", "message": status})
        assert not isinstance(exc.value, AirflowFailException)


def test_templated_fields_render(local: Local) -> None:
    from govflow.airflow_provider.operators import GovernanceGateOperator

    op = GovernanceGateOperator(
        task_id="gate",
        action="{{ params.action }}",
        resource="{{ ds }}",
        labels={"env": "{{ params.env }}"},
        payload={"n": "{{ params.n }}"},
    )
    op.render_template_fields({"params": {"action": "read", "env": "prod", "n": 3}, "ds": "2026"})
    assert op.action == "read"
    assert op.resource == "2026"
    assert op.labels == {"env": "prod"}
    assert op.payload == {"n": "3"}


def test_latchgate_never_defers() -> None:
    from govflow.airflow_provider.operators import LatchGateExecuteOperator

    op = LatchGateExecuteOperator(task_id="x", action="echo", deferrable=True)
    assert op.deferrable is False
