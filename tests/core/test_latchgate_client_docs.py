"""Every Python example in docs/platforms/latchgate.md runs, as written, against the emulator.

The emulator serves TCP and a Unix socket at once, with the environment its CLI prints
(``LATCHGATE_URL``, ``LATCHGATE_SOCKET``, ``LATCHGATE_PUBLIC_BASE_URL``); a thread plays the
operator and approves whatever is pending, a moment later.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.testing.latchgate import LatchGateEmulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "platforms" / "latchgate.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def emulator() -> Iterator[LatchGateEmulator]:
    emu = LatchGateEmulator()
    directory = tempfile.mkdtemp(prefix="lg-", dir="/tmp")
    try:
        with emu.serve(), emu.serve_unix(os.path.join(directory, "gate.sock")):
            yield emu
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def approver(emulator: LatchGateEmulator) -> Iterator[None]:
    stop = threading.Event()

    def approve() -> None:
        while not stop.wait(0.05):
            for approval in list(emulator.approvals.values()):
                if approval.status == "pending":
                    time.sleep(0.1)
                    emulator.decide_approval(approval.approval_id, "approved", by="ops")

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(
    index: int,
    emulator: LatchGateEmulator,
    approver: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("GOVFLOW_LATCHGATE_URL", "GOVFLOW_LATCHGATE_SOCKET", "GOVFLOW_LATCHGATE_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LATCHGATE_URL", emulator.base_url)
    monkeypatch.setenv("LATCHGATE_SOCKET", emulator.socket_path or "")
    monkeypatch.setenv("LATCHGATE_PUBLIC_BASE_URL", emulator.public_base_url)
    code = compile(BLOCKS[index], f"{DOC.name} example {index + 1}", "exec")
    exec(code, {"__name__": f"latchgate_doc_example_{index + 1}"})
    out = capsys.readouterr().out
    assert out.strip() or "def test_" in BLOCKS[index]
    for lease in emulator.leases:
        assert lease.lease_jwt not in out
