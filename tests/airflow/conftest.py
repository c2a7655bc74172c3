"""Airflow test setup: a throw-away AIRFLOW_HOME and metadata database for the whole session.

Airflow reads its configuration when it is first imported, so the environment is set here, before
any test module imports it. The nox session sets these variables already; the defaults below make
a plain ``pytest tests/airflow`` safe too (it never touches ~/airflow).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Outside the airflow session (e.g. a plain `pytest` in the dev venv) there is nothing to test here.
if importlib.util.find_spec("airflow") is None:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> str:
    if importlib.util.find_spec("airflow") is None:
        return "tests/airflow: airflow is not installed, skipped (run them with: nox -s airflow)"
    return f"tests/airflow: apache-airflow {importlib.metadata.version('apache-airflow')}"


_OWN_HOME = None
if "AIRFLOW_HOME" not in os.environ:
    _OWN_HOME = tempfile.mkdtemp(prefix="govflow-airflow-")
    os.environ["AIRFLOW_HOME"] = _OWN_HOME
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_OWN_HOME, "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_HOME is not None:
        shutil.rmtree(_OWN_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """A fresh Airflow metadata database (SQLite in AIRFLOW_HOME), created once per session.

    ``resetdb()`` in-process takes ~3 s after a ~6 s ``import airflow`` (orchestrators.md 1.8);
    ``airflow db migrate`` would add another CLI start-up.
    """
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="session")
def airflow_dags_folder(airflow_db: None) -> Path:
    """The configured dags folder (the "dags-folder" bundle), created and ready for DAG files.

    In Airflow 3.3 ``dag.test()`` syncs the DAG's bundle to the database before it runs, so a
    DAG under test must live in a file there, not only in the test's memory.
    """
    from airflow.configuration import conf

    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
