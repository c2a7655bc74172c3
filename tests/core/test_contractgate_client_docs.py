"""Every Python example in docs/platforms/contractgate.md runs, as written, against the emulator."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.testing.contractgate import SEEDED, ContractGateEmulator, example_contract

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms" / "contractgate.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[ContractGateEmulator, str]]:
    emu = ContractGateEmulator()
    with emu.serve() as url:
        yield emu, url


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(
    index: int,
    emulator: tuple[ContractGateEmulator, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu, url = emulator
    emu.reset()
    emu.reset_faults()
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for filename in (name for files in SEEDED.values() for name in files):
        (contracts / filename).write_text(example_contract(filename))
    monkeypatch.chdir(tmp_path)  # the examples read ./contracts and write ./contracts-demo.db
    monkeypatch.setenv("CONTRACTGATE_BASE_URL", url)
    monkeypatch.setenv("CONTRACTGATE_API_KEY", emu.api_key)
    monkeypatch.setenv("USER_EVENTS_ID", emu.contracts["user_events"])
    monkeypatch.setenv("HERO_EVENTS_ID", emu.contracts["hero_events"])
    for name in ("GOVFLOW_CONTRACTGATE_API_KEY", "GOVFLOW_CONTRACTGATE_BASE_URL", "GOVFLOW_CONTRACTS"):
        monkeypatch.delenv(name, raising=False)
    code = compile(BLOCKS[index], f"{DOC.name} example {index + 1}", "exec")
    exec(code, {"__name__": f"contractgate_doc_example_{index + 1}"})
    assert emu.api_key not in capsys.readouterr().out
