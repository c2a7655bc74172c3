"""Dagster test setup: a private DAGSTER_HOME.

The nox session sets it already; the default makes a plain ``pytest tests/dagster`` safe too.
Tests themselves use ephemeral instances (``dg.materialize`` creates one), so nothing persists.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile

import pytest

# Outside the dagster session (e.g. a plain `pytest` in the dev venv) there is nothing to test here.
if importlib.util.find_spec("dagster") is None:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> str:
    if importlib.util.find_spec("dagster") is None:
        return "tests/dagster: dagster is not installed, skipped (run them with: nox -s dagster)"
    return f"tests/dagster: dagster {importlib.metadata.version('dagster')}"


_OWN_HOME = None
if "DAGSTER_HOME" not in os.environ:
    _OWN_HOME = tempfile.mkdtemp(prefix="govflow-dagster-")
    os.environ["DAGSTER_HOME"] = _OWN_HOME


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_HOME is not None:
        shutil.rmtree(_OWN_HOME, ignore_errors=True)
