"""Smoke tests of the govflow[prefect] environment: Prefect and govflow import and work together."""

from __future__ import annotations

import importlib.metadata

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from govflow.core.canonical import digest

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


def test_tasks_package_imports() -> None:
    import govflow.prefect_tasks as tasks

    assert tasks.__doc__
    assert {"gate", "wait_for_approval", "validate_records", "GovflowLocalPlatform"} <= set(tasks.__all__)


def test_prefect_version_is_supported() -> None:
    import prefect

    installed = Version(importlib.metadata.version("prefect"))
    requirement = _declared_range("prefect", "prefect")
    assert requirement.specifier.contains(installed), f"{installed} not in {requirement}"
    assert installed.major == 3, installed
    assert Version(prefect.__version__) == installed


def test_core_works_beside_prefect() -> None:
    assert digest(SMALL_VALUE) == SMALL_DIGEST


@pytest.mark.slow
def test_core_works_inside_a_prefect_flow(prefect_server: None) -> None:
    """A flow with one task computes a govflow digest inside the task."""
    from prefect import flow, task

    @task
    def hash_value(value: dict[str, int]) -> str:
        return digest(value)

    @flow
    def govflow_smoke() -> str:
        return hash_value(SMALL_VALUE)

    state = govflow_smoke(return_state=True)
    assert state.is_completed(), state
    assert state.result() == SMALL_DIGEST
