"""Fixtures shared by every test environment (core and orchestrators)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.core import db


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_govflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own GOVFLOW_HOME, so no test touches the user's real ledger."""
    home = tmp_path / "govflow-home"
    monkeypatch.setenv("GOVFLOW_HOME", str(home))
    monkeypatch.delenv("GOVFLOW_LEDGER_URL", raising=False)
    monkeypatch.delenv("GOVFLOW_POLICY", raising=False)
    yield home
    db.dispose_engines()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.

    Runs when GOVFLOW_TEST_POSTGRES_URL is set (.ci/run sets it when a server answers on
    127.0.0.1:5432); skips otherwise, saying so.
    """
    base = os.environ.get("GOVFLOW_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("GOVFLOW_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'govflow[postgres]')")
    from sqlalchemy.engine import make_url

    admin = make_url(db.normalize_url(base))
    name = f"govflow_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_engines()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
