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


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY = os.path.join(REPO, "example_dags", "policy.yaml")
CONTRACTS = os.path.join(REPO, "src", "testing", "contractgate", "contracts", "api_user_events.yaml")
GOOD = {"user_id": "u1", "event_type": "click", "timestamp": 1}
BAD = {"user_id": "bad id!", "event_type": "nope", "timestamp": 1}


@pytest.fixture
def ledger_url(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private ledger (and approvals table) for the test, also govflow's default."""
    url = f"sqlite:///{tmp_path}/govflow.db"  # type: ignore[str-bytes-safe]
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    return url


@pytest.fixture
def instance() -> object:
    """A Dagster instance that keeps runs and tags for the test (sensors read them)."""
    import dagster as dg

    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral
