"""Every Python example in docs/platforms/lattix.md runs, as written, against the emulator."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.testing.lattix import LattixEmulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms" / "lattix.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def emulator() -> Iterator[LattixEmulator]:
    emu = LattixEmulator()
    with emu.serve():
        yield emu


@pytest.fixture
def lattix_env(emulator: LattixEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LattixEmulator:
    emulator.reset()
    monkeypatch.chdir(tmp_path)  # the examples may create a SQLite ledger in the working directory
    for name, value in {
        "LATTIX_BASE_URL": emulator.base_url,
        "LATTIX_BEARER_TOKEN": emulator.bearer_token,
        "LATTIX_TENANT_ID": emulator.tenant_id,
        "LATTIX_USER_ID": emulator.user_id,
        "LATTIX_CLIENT_ID": emulator.client_id,
        "LATTIX_CLIENT_SECRET": emulator.client_secret,
    }.items():
        monkeypatch.setenv(name, value)
    return emulator


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, lattix_env: LattixEmulator, tmp_path: Path) -> None:
    code = BLOCKS[index]
    if "def test_" in code:
        # The testing example is a pytest module of its own.
        path = tmp_path / "test_lattix_example.py"
        path.write_text(code)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return
    exec(compile(code, f"{DOC.name}[python block {index}]", "exec"), {"__name__": "__main__"})
