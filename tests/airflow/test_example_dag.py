"""example_dags/airflow_governed_dag.py: it parses, and a real run ends in the expected states.

The run uses ``dag.test()`` (triggers run inline) with a thread acting as the finance lead who
approves the payout, against the local platform connection defined through
``AIRFLOW_CONN_GOVFLOW_LOCAL_DEFAULT`` with the repository's policy and contracts.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from .dags import load_dag

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILE = EXAMPLES / "airflow_governed_dag.py"
DAG_ID = "governed_payouts"
TASKS = {"extract", "publish", "validate", "payout", "report"}

OPERATORS_MISSING = importlib.util.find_spec("govflow.airflow_provider.operators") is None
needs_operators = pytest.mark.skipif(
    OPERATORS_MISSING,
    reason="govflow.airflow_provider.operators does not exist yet; the example DAG imports its "
    "GovernanceGateOperator and ContractValidationOperator",
)


@pytest.fixture
def example_dag_file(airflow_dags_folder: Path) -> Path:
    """The example DAG copied into the dags folder: dag.test() syncs the bundle it lives in."""
    target = airflow_dags_folder / DAG_FILE.name
    shutil.copy(DAG_FILE, target)
    return target


@pytest.fixture
def local_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The connection the DAG uses and a fresh ledger, shared by the tasks and the test."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("GOVFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOVFLOW_LOCAL_DEFAULT",
        json.dumps(
            {
                "conn_type": "govflow_local",
                "extra": {
                    "policy": str(EXAMPLES / "policy.yaml"),
                    "contracts": str(EXAMPLES / "contracts"),
                    "database_url": url,
                },
            }
        ),
    )
    return url


def test_contract_matches_the_records() -> None:
    text = (EXAMPLES / "contracts" / "user_events.yaml").read_text()
    assert 'name: "user_events"' in text


@needs_operators
def test_example_dag_parses_with_its_tasks_and_tags(example_dag_file: Path) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(example_dag_file))
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    assert set(dag.task_ids) == TASKS
    assert "governed" in dag.tags
    assert dag.schedule is None or str(dag.timetable.summary).lower() in ("none", "never")
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("payout").upstream_task_ids == {"validate"}
    assert dag.get_task("report").upstream_task_ids == {"publish", "payout"}


def _approve_when_asked(url: str, stop: threading.Event, approved: list[str]) -> None:
    """The finance lead: approve the DAG's first pending approval, as `govflow approvals approve`."""
    from govflow.core import LocalPlatform
    from govflow.core.models import ApprovalStatus

    platform = LocalPlatform(None, database_url=url)
    while not stop.is_set():
        pending = platform.approvals.list(status=ApprovalStatus.PENDING, pipeline=DAG_ID)
        if pending:
            platform.decide(
                pending[0].id, approve=True, by="finance-lead", comment="checked by the test"
            )
            approved.append(pending[0].id)
            return
        time.sleep(0.2)


@needs_operators
@pytest.mark.slow
def test_example_dag_run_reaches_the_expected_states(
    example_dag_file: Path, local_connection: str
) -> None:
    dag = load_dag(example_dag_file, DAG_ID)
    stop = threading.Event()
    approved: list[str] = []
    approver = threading.Thread(
        target=_approve_when_asked, args=(local_connection, stop, approved), daemon=True
    )
    approver.start()
    try:
        run = dag.test()
    finally:
        stop.set()
        approver.join(timeout=10)

    states = {
        ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()
    }
    assert states == {
        "extract": "success",
        "publish": "failed",
        "validate": "success",
        "payout": "success",
        "report": "success",
    }
    assert len(approved) == 1

    # The listener recorded every task of the governed DAG, and the chain verifies.
    from govflow.airflow_provider.listeners import get_evidence_listener
    from govflow.core.evidence.ledger import EvidenceLedger

    flush = getattr(get_evidence_listener(), "flush", None)
    if flush is not None:  # records may be written by the listener's background thread
        assert flush(60)
    ledger = EvidenceLedger(local_connection)
    records = ledger.records(f"airflow/{DAG_ID}")
    finished = {r.context.step: r.outcome for r in records if r.event == "task.finished"}
    assert finished == {
        "extract": "success",
        "publish": "failed",
        "validate": "success",
        "payout": "success",
        "report": "success",
    }
    assert ledger.verify().ok
