"""The evidence listener under real Airflow: plugin discovery, opt-in, records, and isolation."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from govflow.core.evidence.ledger import EvidenceLedger

from .dags import load_dag

DAG_TEMPLATE = """
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException


@dag(dag_id={dag_id!r}, schedule=None, tags={tags!r},
     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def pipeline():
    @task
    def ok():
        return 1

    @task(retries=0)
    def boom():
        raise ValueError("the data is wrong")

    @task
    def skip_me():
        raise AirflowSkipException("nothing to do")

    @task(retries=1, retry_delay=timedelta(0))
    def flaky(ti=None):
        if ti.try_number == 1:
            raise RuntimeError("transient")

    @task
    def decide(ti=None):
        # What a gate operator leaves behind for the listener to reference.
        from govflow.airflow_provider.listeners.evidence import record_decision

        record_decision(ti, dict(decision_id="dec-1", platform="local"))

    ok()
    decide()
    boom()
    skip_me()
    flaky()


the_dag = pipeline()
"""


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # dag.test() runs the tasks in this process, so the env set here reaches the listener.
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("GOVFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    monkeypatch.delenv("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS", raising=False)
    monkeypatch.delenv("GOVFLOW_AIRFLOW_GOVERNED_TAG", raising=False)
    return url


def _flush() -> None:
    from govflow.airflow_provider.listeners import get_evidence_listener

    # Records are written by the listener's background thread: wait for them before reading.
    assert get_evidence_listener().flush(60)


def _run(folder: Path, dag_id: str, tags: list[str], template: str = DAG_TEMPLATE) -> object:
    path = folder / f"{dag_id}.py"
    path.write_text(template.format(dag_id=dag_id, tags=tags))
    run = load_dag(path, dag_id).test()
    _flush()
    return run


def test_plugin_is_discovered_through_the_entry_point() -> None:
    from airflow import plugins_manager

    from govflow.airflow_provider.listeners import EvidenceListener
    from govflow.airflow_provider.plugin import GovflowPlugin

    plugins, _ = plugins_manager._get_plugins()
    [plugin] = [p for p in plugins if p.name == "govflow"]
    assert isinstance(plugin, GovflowPlugin)
    [listener] = GovflowPlugin.listeners
    assert isinstance(listener, EvidenceListener)


@pytest.mark.slow
def test_governed_dag_records_every_task_and_the_run(
    airflow_dags_folder: Path, ledger_url: str
) -> None:
    from airflow.utils.state import DagRunState

    run = _run(airflow_dags_folder, "govflow_listener_tagged", ["governed", "team:data"])
    assert run.state == DagRunState.FAILED

    ledger = EvidenceLedger(ledger_url)
    records = ledger.records("airflow/govflow_listener_tagged")
    assert {r.context.run_id for r in records} == {run.run_id}
    tasks = {
        (r.context.step, r.context.attempt, r.event): r
        for r in records
        if r.event.startswith("task.")
    }
    assert len(tasks) == len([r for r in records if r.event.startswith("task.")])  # no duplicates
    assert {key: r.outcome for key, r in tasks.items()} == {
        ("ok", 1, "task.running"): "running",
        ("ok", 1, "task.finished"): "success",
        ("decide", 1, "task.running"): "running",
        ("decide", 1, "task.finished"): "success",
        ("boom", 1, "task.running"): "running",
        ("boom", 1, "task.finished"): "failed",
        ("skip_me", 1, "task.running"): "running",
        ("skip_me", 1, "task.finished"): "skipped",
        ("flaky", 1, "task.running"): "running",
        ("flaky", 1, "task.finished"): "up_for_retry",
        ("flaky", 2, "task.running"): "running",
        ("flaky", 2, "task.finished"): "success",
    }
    assert tasks["decide", 1, "task.finished"].references == {
        "govflow_decision.decision_id": "dec-1",
        "govflow_decision.platform": "local",
    }
    assert tasks["ok", 1, "task.finished"].references == {}
    failed = tasks["boom", 1, "task.finished"]
    assert failed.error is not None and "the data is wrong" in failed.error
    retried = tasks["flaky", 1, "task.finished"]
    assert retried.error is not None and "transient" in retried.error
    for record in tasks.values():
        assert record.context.orchestrator == "airflow"
        assert record.context.map_index is None
        assert record.details["dag_tags"] == ["governed", "team:data"]
    assert tasks["ok", 1, "task.finished"].ended_at is not None
    # dag.test() creates the run already RUNNING, so only the end is seen (orchestrators.md 1.6).
    [finished] = [r for r in records if r.event == "dag_run.finished"]
    assert finished.outcome == "failed"
    assert ledger.verify().ok


@pytest.mark.slow
def test_untagged_dag_records_nothing(airflow_dags_folder: Path, ledger_url: str) -> None:
    _run(airflow_dags_folder, "govflow_listener_untagged", ["other"])
    assert EvidenceLedger(ledger_url).records() == []


@pytest.mark.slow
def test_all_dags_switch_governs_untagged_dags(
    airflow_dags_folder: Path, ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS", "true")
    _run(airflow_dags_folder, "govflow_listener_all", [])
    records = EvidenceLedger(ledger_url).records("airflow/govflow_listener_all")
    assert len([r for r in records if r.event == "task.finished"]) == 6  # flaky ran twice


@pytest.mark.slow
def test_unwritable_ledger_does_not_fail_tasks(
    airflow_dags_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.utils.state import TaskInstanceState

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # a file where the ledger's directory should be
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{blocker / 'ledger.db'}")
    run = _run(airflow_dags_folder, "govflow_listener_broken", ["governed"])
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "ok": TaskInstanceState.SUCCESS,
        "boom": TaskInstanceState.FAILED,
        "skip_me": TaskInstanceState.SKIPPED,
        "flaky": TaskInstanceState.SUCCESS,
        "decide": TaskInstanceState.SUCCESS,
    }
    # The listener did try: the recorder logged its failures instead of raising them.
    assert any("evidence not recorded" in r.getMessage() for r in caplog.records)


def test_running_event_is_recorded_once_per_try(ledger_url: str) -> None:
    from govflow.airflow_provider.listeners import EvidenceListener

    listener = EvidenceListener()
    ti = SimpleNamespace(
        id="0193-ti",
        dag_id="d",
        run_id="r1",
        task_id="t",
        try_number=1,
        map_index=3,
        task=SimpleNamespace(dag=SimpleNamespace(tags={"governed"})),
    )
    listener.on_task_instance_running(previous_state=None, task_instance=ti)
    listener.on_task_instance_running(previous_state=None, task_instance=ti)  # deferred resume
    ti.try_number = 2
    listener.on_task_instance_running(previous_state=None, task_instance=ti)
    assert listener.flush(60)
    records = EvidenceLedger(ledger_url).records("airflow/d")
    assert [(r.context.attempt, r.context.map_index) for r in records] == [(1, 3), (2, 3)]


def test_airflow_config_option_and_tag_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from govflow.airflow_provider.listeners import EvidenceListener

    monkeypatch.delenv("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS", raising=False)
    listener = EvidenceListener()
    assert not listener.is_governed({"audited"})
    monkeypatch.setenv("AIRFLOW__GOVFLOW__GOVERNED_TAG", "audited")  # [govflow] governed_tag
    assert listener.is_governed({"audited"})
    monkeypatch.setenv("AIRFLOW__GOVFLOW__GOVERN_ALL_DAGS", "True")  # [govflow] govern_all_dags
    assert listener.is_governed(set())
    monkeypatch.setenv("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS", "false")  # the env switch wins
    assert not listener.is_governed(set())


# --- isolation: a slow or hung ledger never holds up the task ---------------------------------

SMALL_DAG = """
from datetime import datetime, timezone

from airflow.sdk import dag, task


@dag(dag_id={dag_id!r}, schedule=None, tags={tags!r},
     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def pipeline():
    @task
    def first():
        return 1

    @task
    def second(value):
        return value + 1

    second(first())


the_dag = pipeline()
"""


@pytest.mark.slow
def test_locked_ledger_does_not_hold_up_tasks(
    airflow_dags_folder: Path, ledger_url: str, tmp_path: Path
) -> None:
    import sqlite3

    from airflow.utils.state import DagRunState

    from govflow.airflow_provider.listeners import get_evidence_listener

    listener = get_evidence_listener()
    assert listener.flush(60)  # nothing left over from earlier tests
    EvidenceLedger(ledger_url)  # the file and its tables exist
    holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None, timeout=0)
    dag_id = "govflow_listener_locked"
    path = airflow_dags_folder / f"{dag_id}.py"
    path.write_text(SMALL_DAG.format(dag_id=dag_id, tags=["governed"]))
    dag = load_dag(path, dag_id)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # every other writer now waits on the busy timeout
        run = dag.test()
        # The DAG ran to the end while the ledger was still locked, and its evidence is waiting.
        assert run.state == DagRunState.SUCCESS
        assert listener.pending > 0
        assert not listener.flush(0)
    finally:
        holder.rollback()
        holder.close()
    assert listener.flush(60)  # released: everything queued lands, in order
    records = EvidenceLedger(ledger_url).records(f"airflow/{dag_id}")
    events = [(r.context.step, r.event) for r in records]
    assert events == [
        ("first", "task.running"),
        ("first", "task.finished"),
        ("second", "task.running"),
        ("second", "task.finished"),
        (None, "dag_run.finished"),
    ]
    assert all(r.context.run_id == run.run_id for r in records)


def test_full_queue_drops_with_a_warning_and_keeps_order(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    from govflow.airflow_provider.listeners.evidence import _Emitter

    emitter = _Emitter(maxsize=2)
    started, gate = threading.Event(), threading.Event()
    done: list[int] = []
    assert emitter.submit(lambda: (started.set(), gate.wait()))  # a write that hangs
    assert started.wait(10)  # the worker took it off the queue and is stuck in it
    accepted = [emitter.submit(lambda i=i: done.append(i)) for i in range(4)]
    assert accepted == [True, True, False, False]
    assert emitter.dropped == 2
    assert any("evidence queue full" in r.getMessage() for r in caplog.records)
    assert not emitter.flush(0)
    gate.set()
    assert emitter.flush(10)
    assert done == [0, 1]
