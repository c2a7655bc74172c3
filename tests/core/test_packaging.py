"""What `pip install govflow` delivers: version, console script, typed marker, every source file,
and orchestrator adapters that explain which extra to install when their orchestrator is missing."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

import govflow

SRC = Path(__file__).resolve().parents[2] / "src"

ADAPTERS = [
    ("govflow.airflow_provider", "airflow", "airflow"),
    ("govflow.prefect_tasks", "prefect", "prefect"),
    ("govflow.dagster_resources", "dagster", "dagster"),
]


def _installed_distribution() -> importlib.metadata.Distribution:
    """The installed govflow distribution, the one an installer recorded itself in.

    Not simply ``importlib.metadata.distribution("govflow")``: pytest puts the repository root on
    sys.path, and a build leaves a govflow.egg-info there that could shadow the installed metadata.
    """
    for distribution in importlib.metadata.distributions(name="govflow"):
        if distribution.read_text("INSTALLER") is not None:
            return distribution
    raise AssertionError("govflow is not installed: only a build's govflow.egg-info was found")


def _editable_install() -> bool:
    direct_url = _installed_distribution().read_text("direct_url.json")
    return bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))


def test_version_string() -> None:
    assert govflow.__version__ == _installed_distribution().version
    assert str(Version(govflow.__version__)) == govflow.__version__  # PEP 440, normalised


@pytest.mark.parametrize(("module", "orchestrator", "extra"), ADAPTERS)
def test_adapter_without_its_orchestrator_names_the_extra(
    module: str, orchestrator: str, extra: str
) -> None:
    if importlib.util.find_spec(orchestrator) is not None:
        pytest.skip(
            f"{orchestrator} is installed in this environment, so the missing-orchestrator error "
            f"cannot be observed (the core nox session has no orchestrator)"
        )
    sys.modules.pop(module, None)
    with pytest.raises(ImportError, match=rf"pip install 'govflow\[{extra}\]'") as info:
        importlib.import_module(module)
    assert info.value.name == orchestrator
    assert module not in sys.modules


def test_console_script_entry_point_is_declared() -> None:
    [entry_point] = _installed_distribution().entry_points.select(
        group="console_scripts", name="govflow"
    )
    assert entry_point.value == "govflow.core.cli:main"


def test_govflow_help() -> None:
    try:
        cli = importlib.import_module("govflow.core.cli")
    except ModuleNotFoundError as exc:
        if exc.name != "govflow.core.cli":
            raise
        pytest.skip("govflow.core.cli does not exist yet, so there is no `govflow` command to run")
    if not hasattr(cli, "main"):
        pytest.skip("govflow.core.cli has no main() yet")
    script = Path(sys.executable).with_name("govflow")
    assert script.exists(), f"console script not installed next to {sys.executable}"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()


def test_typed_marker_is_installed() -> None:
    assert (Path(govflow.__file__).parent / "py.typed").is_file()


def test_every_source_file_is_installed() -> None:
    """Catch modules or data files that the wheel would leave out (package discovery, package-data)."""
    if _editable_install():
        pytest.skip("govflow is installed in editable mode: the files are the source tree itself")
    if not SRC.is_dir():
        pytest.skip(f"no source tree at {SRC}")
    installed = {
        str(path) for path in _installed_distribution().files or [] if path.parts[0] == "govflow"
    }
    expected = {
        "govflow/" + path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
    }
    missing = sorted(expected - installed)
    assert not missing, f"in src/ but not in the installed package: {missing}"
