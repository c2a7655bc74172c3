"""ApprovalSensor in real DAG runs (``dag.test()`` runs the trigger inline) and in poke mode.

Every wait here ends by itself within seconds: another thread decides, or the approval expires
after 1s. ``dag.test()`` does not enforce the defer timeout inline (orchestrators.md 1.3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .dags import load_dag
from .test_approval_trigger import Local

DAG_TEMPLATE = """
import json
from datetime import datetime, timezone

from airflow.sdk import dag, task

from govflow.airflow_provider.sensors import ApprovalSensor


@dag(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def build():
    wait = ApprovalSensor(
        task_id="wait_for_approval",
        approval_id={approval_id!r},
        platform={spec!r},
        **{sensor_kwargs!r},
    )

    @task
    def downstream(approval):
        # What the sensor pushed to XCom, written where the test can read it.
        with open({out!r}, "w") as f:
            json.dump(approval, f)

    downstream(wait.output)


the_dag = build()
"""


@pytest.fixture
def local(tmp_path: Path) -> Local:
    return Local(tmp_path)


def _run(
    folder: Path, tmp_path: Path, dag_id: str, approval_id: str, local: Local, **sensor_kwargs: Any
) -> tuple[dict[str, str], Path]:
    out = tmp_path / f"{dag_id}.json"
    path = folder / f"{dag_id}.py"
    path.write_text(
        DAG_TEMPLATE.format(
            dag_id=dag_id,
            approval_id=approval_id,
            spec=local.spec,
            sensor_kwargs=sensor_kwargs,
            out=str(out),
        )
    )
    run = load_dag(path, dag_id).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return states, out


DEFERRABLE: dict[str, Any] = {"poll_interval": 0.2, "max_poll": 0.5, "timeout": 60}
POKE: dict[str, Any] = {"deferrable": False, "poke_interval": 0.2, "timeout": 30}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_approved_run_succeeds_and_downstream_gets_the_approval(
    airflow_dags_folder: Path, tmp_path: Path, local: Local, mode: str
) -> None:
    from airflow.utils.state import TaskInstanceState

    approval_id = local.open_approval(run_id=f"approved-{mode}")
    # Late enough that the sensor is already waiting (task start-up takes a few seconds).
    local.decide_later(approval_id, approve=True, after=6.0)
    kwargs = DEFERRABLE if mode == "deferrable" else POKE
    states, out = _run(
        airflow_dags_folder, tmp_path, f"govflow_approved_{mode}", approval_id, local, **kwargs
    )

    assert states == {
        "wait_for_approval": TaskInstanceState.SUCCESS,
        "downstream": TaskInstanceState.SUCCESS,
    }
    approval = json.loads(out.read_text())
    assert approval["id"] == approval_id
    assert approval["status"] == "approved"
    assert approval["decided_by"] == "alice"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_denied_fails_without_retry_even_with_soft_fail(
    airflow_dags_folder: Path, tmp_path: Path, local: Local, mode: str
) -> None:
    from airflow.utils.state import TaskInstanceState

    approval_id = local.open_approval(run_id=f"denied-{mode}")
    local.decide_later(approval_id, approve=False, after=1.0)
    kwargs = {**(DEFERRABLE if mode == "deferrable" else POKE), "retries": 3, "soft_fail": True}
    states, out = _run(
        airflow_dags_folder, tmp_path, f"govflow_denied_{mode}", approval_id, local, **kwargs
    )

    # FAILED, not UP_FOR_RETRY or SKIPPED: a denial is a decision.
    assert states["wait_for_approval"] == TaskInstanceState.FAILED
    assert states["downstream"] == TaskInstanceState.UPSTREAM_FAILED
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["deferrable", "poke"])
def test_expired_with_soft_fail_is_skipped(
    airflow_dags_folder: Path, tmp_path: Path, local: Local, mode: str
) -> None:
    from airflow.utils.state import TaskInstanceState

    approval_id = local.open_approval(action="hurry", run_id=f"expired-{mode}")  # expires after 1s
    kwargs = {**(DEFERRABLE if mode == "deferrable" else POKE), "soft_fail": True}
    states, _ = _run(
        airflow_dags_folder, tmp_path, f"govflow_expired_{mode}", approval_id, local, **kwargs
    )

    assert states == {
        "wait_for_approval": TaskInstanceState.SKIPPED,
        "downstream": TaskInstanceState.SKIPPED,
    }


@pytest.mark.slow
def test_expired_without_soft_fail_fails(
    airflow_dags_folder: Path, tmp_path: Path, local: Local
) -> None:
    from airflow.utils.state import TaskInstanceState

    approval_id = local.open_approval(action="hurry", run_id="expired-hard")
    states, _ = _run(
        airflow_dags_folder, tmp_path, "govflow_expired_hard", approval_id, local, **DEFERRABLE
    )

    assert states["wait_for_approval"] == TaskInstanceState.FAILED


# Unit level: the sensor's decisions without a DAG run.


def test_defers_to_the_trigger_with_the_sensor_timeout(local: Local) -> None:
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    from govflow.airflow_provider.sensors import ApprovalSensor
    from govflow.airflow_provider.triggers import ApprovalTrigger

    sensor = ApprovalSensor(task_id="wait", approval_id="apr-1", platform=local.spec, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})
    assert isinstance(deferred.value.trigger, ApprovalTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=120)
    assert deferred.value.trigger.deadline is not None


def test_event_outcomes() -> None:
    from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

    from govflow.airflow_provider.sensors import ApprovalDenied, ApprovalSensor

    sensor = ApprovalSensor(task_id="wait", approval_id="apr-1", platform={"kind": "local"})
    approval = {"id": "apr-1", "status": "approved"}
    event = {"status": "approved", "approval_id": "apr-1", "approval": approval}
    assert sensor.execute_complete({}, event) == approval
    denied = {
        "status": "denied",
        "approval_id": "apr-1",
        "approval": {"decided_by": "bob", "comment": "no"},
    }
    with pytest.raises(ApprovalDenied, match="denied by bob: no"):
        sensor.execute_complete({}, denied)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(
            {}, {"status": "timeout", "approval_id": "apr-1", "message": "late"}
        )
    with pytest.raises(AirflowException, match="boom"):
        sensor.execute_complete({}, {"status": "error", "approval_id": "apr-1", "message": "boom"})


def test_needs_exactly_one_platform_source() -> None:
    from govflow.airflow_provider.sensors import ApprovalSensor

    with pytest.raises(ValueError, match="exactly one"):
        ApprovalSensor(task_id="wait", approval_id="apr-1")
