"""Prefect test setup: a private PREFECT_HOME and, for tests that run flows, a test API server.

The nox session sets these variables already; the defaults make a plain ``pytest tests/prefect``
safe too (it never touches ~/.prefect).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Outside the prefect session (e.g. a plain `pytest` in the dev venv) there is nothing to test here.
if importlib.util.find_spec("prefect") is None:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> str:
    if importlib.util.find_spec("prefect") is None:
        return "tests/prefect: prefect is not installed, skipped (run them with: nox -s prefect)"
    return f"tests/prefect: prefect {importlib.metadata.version('prefect')}"


_OWN_HOME = None
if "PREFECT_HOME" not in os.environ:
    _OWN_HOME = tempfile.mkdtemp(prefix="govflow-prefect-")
    os.environ["PREFECT_HOME"] = _OWN_HOME
# Without this a telemetry job logs "database is locked" tracebacks while the server starts.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The API server needs ~30 s to start on a 2-core machine; Prefect's default allows 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

SERVER_STARTUP_TIMEOUT = 120


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_HOME is not None:
        shutil.rmtree(_OWN_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A throw-away Prefect API server on a temporary SQLite database, shared by the session.

    Starting it takes ~30 s here (orchestrators.md 2.6), hence one per session and a timeout well
    above ``prefect_test_harness``'s default of 30 s.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=SERVER_STARTUP_TIMEOUT):
        yield
