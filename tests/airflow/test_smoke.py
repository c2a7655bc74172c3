"""Smoke tests of the govflow[airflow] environment: Airflow and govflow import and work together."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from govflow.core.canonical import digest

from .dags import load_dag

SMALL_VALUE = {"b": 2, "a": 1}
SMALL_DIGEST = "sha256:43258cff783fe7036d8a43033f830adfc60ec037382473548ac742b888292777"


def _declared_range(extra: str, distribution: str) -> Requirement:
    """The requirement govflow's metadata declares for ``distribution`` in ``extra``."""
    # The installed metadata, not a govflow.egg-info that a build left in the repository root
    # (pytest puts the root on sys.path): only an installer writes INSTALLER.
    [installed] = [
        candidate
        for candidate in importlib.metadata.distributions(name="govflow")
        if candidate.read_text("INSTALLER") is not None
    ]
    for line in installed.requires or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if requirement.name == distribution and marker and marker.evaluate({"extra": extra}):
            return requirement
    raise AssertionError(f"govflow[{extra}] declares no requirement on {distribution}")


def test_provider_package_imports() -> None:
    import govflow.airflow_provider as provider

    assert provider.__doc__
    assert provider.__all__ == []


def test_airflow_version_is_supported() -> None:
    import airflow

    installed = Version(importlib.metadata.version("apache-airflow"))
    requirement = _declared_range("airflow", "apache-airflow")
    assert requirement.specifier.contains(installed), f"{installed} not in {requirement}"
    assert installed >= Version("3.3"), installed
    assert Version(airflow.__version__) == Version(
        importlib.metadata.version("apache-airflow-core")
    )


def test_core_works_beside_airflow() -> None:
    assert digest(SMALL_VALUE) == SMALL_DIGEST


DAG_FILE = f"""
from datetime import datetime, timezone

from airflow.sdk import dag, task

from govflow.core.canonical import digest


@dag(dag_id="govflow_smoke", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def govflow_smoke():
    @task
    def hash_value():
        # A wrong digest fails the task, and with it the run.
        assert digest({SMALL_VALUE!r}) == {SMALL_DIGEST!r}

    hash_value()


smoke_dag = govflow_smoke()
"""


@pytest.mark.slow
def test_core_works_inside_an_airflow_task(airflow_dags_folder: Path) -> None:
    """A one-task DAG run with ``dag.test()`` computes a govflow digest inside the task."""
    from airflow.utils.state import DagRunState, TaskInstanceState

    path = airflow_dags_folder / "govflow_smoke.py"
    path.write_text(DAG_FILE)
    run = load_dag(path, "govflow_smoke").test()

    assert run.state == DagRunState.SUCCESS
    [instance] = run.get_task_instances()
    assert instance.task_id == "hash_value"
    assert instance.state == TaskInstanceState.SUCCESS
