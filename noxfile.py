"""Test environments for govflow: one virtualenv per concern, built with uv.

    nox -s lint mypy core airflow prefect dagster   # what `make test` runs
    nox -s core -- -k canonical                      # one session, extra pytest arguments

The orchestrators cannot share one environment (Airflow 3.3 caps fastapi below what Prefect >= 3.7.8
needs; see docs/development.md), so each gets its own: `core` has no orchestrator at all, and
`airflow`, `prefect` and `dagster` each add exactly one. Environments are reused between runs; govflow
itself is rebuilt and reinstalled every time, as a wheel, so the tests see what users install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nox

# Never let uv (or nox through uv) download a Python build: use the interpreters on this machine.
os.environ["UV_PYTHON_DOWNLOADS"] = "never"

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
if hasattr(nox.options, "download_python"):
    nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "mypy", "core", "airflow", "prefect", "dagster"]

ROOT = Path(__file__).parent
CORE_EXTRAS = "dev,testing,postgres,latchgate"
ORCHESTRATORS = {"airflow": "airflow", "prefect": "prefect", "dagster": "dagster"}


def _runs(executable: str) -> bool:
    """True if ``executable`` is on PATH and really starts (pyenv shims may exist but fail)."""
    path = shutil.which(executable)
    if path is None:
        return False
    try:
        return subprocess.run([path, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _session_python() -> str | None:
    """The interpreter for every session.

    GOVFLOW_NOX_PYTHON wins (a version such as "3.12" or a path). Otherwise Python 3.11 when this
    machine has one, since the orchestrator integrations were verified on 3.11; otherwise the
    interpreter running nox (None), so a machine with a single Python 3.10+ works too.
    """
    if chosen := os.environ.get("GOVFLOW_NOX_PYTHON"):
        return chosen
    if sys.version_info[:2] == (3, 11) or _runs("python3.11"):
        return "3.11"
    return None


PYTHON = _session_python()


def _install(session: nox.Session, extras: str) -> None:
    """Install govflow with ``extras`` as a wheel; uv skips whatever is already satisfied."""
    started = time.monotonic()
    args = [f".[{extras}]"]
    if session.venv_backend == "uv":
        # uv does not rebuild a local project whose pyproject is unchanged; source edits must land.
        args.append("--reinstall-package=govflow")
    session.install(*args)
    session.log(f"install of .[{extras}] took {time.monotonic() - started:.1f}s")


_NO_ORCHESTRATOR = """
import importlib.util, sys
found = [name for name in ("airflow", "prefect", "dagster") if importlib.util.find_spec(name)]
sys.exit(f"the core environment must not contain an orchestrator, found: {found}" if found else 0)
"""


@contextmanager
def _temp_dir(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pytest(session: nox.Session, *default_args: str, env: dict[str, str] | None = None) -> None:
    session.run("pytest", *(session.posargs or default_args), env=env or {})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check over the whole tree (no reformatting)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "--output-format=concise", *(session.posargs or ["."]))


@nox.session(python=PYTHON)
def mypy(session: nox.Session) -> None:
    """mypy --strict (settings in pyproject.toml) on src/core."""
    _install(session, CORE_EXTRAS)
    session.run("mypy", *(session.posargs or ["src/core"]))


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """tests/core in an environment without any orchestrator."""
    _install(session, CORE_EXTRAS)
    # The core must stay orchestrator-free: prove none of them is importable here.
    session.run("python", "-c", _NO_ORCHESTRATOR, log=False)
    session.log("checked: airflow, prefect and dagster are not importable here")
    # GOVFLOW_TEST_POSTGRES_URL passes through (nox hands the whole environment to the tests).
    if os.environ.get("GOVFLOW_TEST_POSTGRES_URL"):
        session.log("GOVFLOW_TEST_POSTGRES_URL is set: PostgreSQL tests will run")
    else:
        session.log("GOVFLOW_TEST_POSTGRES_URL is not set: PostgreSQL tests will be skipped")
    _pytest(session, "tests/core")


@nox.session(python=PYTHON)
def airflow(session: nox.Session) -> None:
    """tests/airflow against Apache Airflow 3.3 (govflow[airflow])."""
    _install(session, "dev,testing,airflow")
    with _temp_dir("govflow-airflow-") as home:
        _pytest(
            session,
            "tests/airflow",
            env={
                "AIRFLOW_HOME": home,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(Path(home) / "dags"),
            },
        )


@nox.session(python=PYTHON)
def prefect(session: nox.Session) -> None:
    """tests/prefect against Prefect 3 (govflow[prefect])."""
    _install(session, "dev,testing,prefect")
    with _temp_dir("govflow-prefect-") as home:
        _pytest(
            session,
            "tests/prefect",
            env={
                "PREFECT_HOME": home,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                # The ephemeral API server needs ~30 s to start on a 2-core machine; 20 s is the default.
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            },
        )


@nox.session(python=PYTHON)
def dagster(session: nox.Session) -> None:
    """tests/dagster against Dagster 1.13 (govflow[dagster])."""
    _install(session, "dev,testing,dagster")
    with _temp_dir("govflow-dagster-") as home:
        _pytest(session, "tests/dagster", env={"DAGSTER_HOME": home})


@nox.session(python=PYTHON)
def demo_airflow(session: nox.Session) -> None:
    """scripts/demo_airflow.sh: the governed_payouts DAG under `airflow dags test`, approved via the CLI."""
    _install(session, "airflow")
    with _temp_dir("govflow-demo-airflow-") as home:
        session.run(
            "bash",
            "scripts/demo_airflow.sh",
            external=True,
            env={
                "AIRFLOW_HOME": str(Path(home) / "airflow"),
                "GOVFLOW_HOME": str(Path(home) / "govflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            },
        )


@nox.session(python=PYTHON)
def demo_prefect(session: nox.Session) -> None:
    """scripts/demo_prefect.sh: the governed-payouts flow, paused until approved via the CLI."""
    _install(session, "prefect")
    with _temp_dir("govflow-demo-prefect-") as home:
        session.run(
            "bash",
            "scripts/demo_prefect.sh",
            external=True,
            env={
                "PREFECT_HOME": str(Path(home) / "prefect"),
                "GOVFLOW_HOME": str(Path(home) / "govflow"),
            },
        )


@nox.session(python=PYTHON)
def demo_dagster(session: nox.Session) -> None:
    """scripts/demo_dagster.sh: the governed assets materialized, the payout approved via the CLI."""
    _install(session, "dagster")
    with _temp_dir("govflow-demo-dagster-") as home:
        session.run(
            "bash",
            "scripts/demo_dagster.sh",
            external=True,
            env={
                "DAGSTER_HOME": str(Path(home) / "dagster"),
                "GOVFLOW_HOME": str(Path(home) / "govflow"),
            },
        )
