"""Every Python example in docs/platforms/velerian.md runs, as written, against the emulator."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.testing.velerian import VelerianEmulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms" / "velerian.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[VelerianEmulator, str]]:
    emu = VelerianEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def approver(emulator: tuple[VelerianEmulator, str]) -> Iterator[None]:
    """Plays the person in the Velerian app: approves whatever is pending, a moment later."""
    emu = emulator[0]
    stop = threading.Event()

    def approve() -> None:
        while not stop.wait(0.05):
            for approval in emu.approvals:
                if approval["status"] == "pending":
                    time.sleep(0.1)
                    emu.decide_approval(approval["id"], "approved", by="u-docs", reason="fine")

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(
    index: int,
    emulator: tuple[VelerianEmulator, str],
    approver: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu, url = emulator
    monkeypatch.setenv("VELERIAN_BASE_URL", url)
    monkeypatch.setenv("VELERIAN_API_KEY", emu.api_key)
    monkeypatch.setenv("ABP_ID", emu.abps["allow"])
    monkeypatch.setenv("APPROVAL_ABP_ID", emu.abps["approval"])
    monkeypatch.delenv("GOVFLOW_VELERIAN_API_KEY", raising=False)
    monkeypatch.delenv("GOVFLOW_VELERIAN_BASE_URL", raising=False)
    code = compile(BLOCKS[index], f"{DOC.name} example {index + 1}", "exec")
    exec(code, {"__name__": f"velerian_doc_example_{index + 1}"})
    assert emu.api_key not in capsys.readouterr().out
