"""Smoke tests of the govflow[dagster] environment: Dagster and govflow import and work together."""

from __future__ import annotations

import importlib.metadata

import dagster as dg
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


def test_resources_package_imports() -> None:
    import govflow.dagster_resources as resources

    assert resources.__doc__
    assert {"GovflowLocalResource", "approval_sensor", "contract_asset_check", "evidence_sensors"} <= set(
        resources.__all__
    )
    assert all(hasattr(resources, name) for name in resources.__all__)


def test_dagster_version_is_supported() -> None:
    installed = Version(importlib.metadata.version("dagster"))
    requirement = _declared_range("dagster", "dagster")
    assert requirement.specifier.contains(installed), f"{installed} not in {requirement}"
    assert Version(dg.__version__) == installed


def test_core_works_beside_dagster() -> None:
    assert digest(SMALL_VALUE) == SMALL_DIGEST


def test_core_works_inside_a_dagster_asset() -> None:
    """An asset computes a govflow digest and reports it as materialization metadata."""

    @dg.asset
    def hashed() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"digest": digest(SMALL_VALUE)})

    result = dg.materialize([hashed])
    assert result.success
    [materialization] = result.asset_materializations_for_node("hashed")
    assert materialization.metadata["digest"].value == SMALL_DIGEST
