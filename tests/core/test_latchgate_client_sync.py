"""LatchGateSyncClient: blocking calls from plain threads and from a thread running an event loop."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from govflow.core.platforms.latchgate import (
    LatchGateApprovalRequiredError,
    LatchGateDeniedError,
    LatchGateSyncClient,
)
from govflow.core.sync import LoopThread
from govflow.core.transport import RetryPolicy
from govflow.testing.latchgate import LatchGateEmulator

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = {t for t in threading.enumerate() if t.name.startswith("govflow-loop")}
    yield
    gc.collect()
    leaked = [t for t in threading.enumerate() if t.name.startswith("govflow-loop") and t not in before]
    assert leaked == []


@pytest.fixture(autouse=True)
def _no_latchgate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LATCHGATE_URL", "GOVFLOW_LATCHGATE_URL", "LATCHGATE_SOCKET", "GOVFLOW_LATCHGATE_SOCKET", "LATCHGATE_PUBLIC_BASE_URL", "GOVFLOW_LATCHGATE_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emu() -> LatchGateEmulator:
    return LatchGateEmulator()


@pytest.fixture
def base_url(emu: LatchGateEmulator) -> Iterator[str]:
    with emu.serve() as url:
        yield url


def test_from_a_plain_thread(emu: LatchGateEmulator, base_url: str) -> None:
    seen: list[object] = []

    def work() -> None:
        with LatchGateSyncClient(base_url=base_url, retry=FAST) as gate:
            result = gate.execute("echo", {"n": 1})
            seen.append(gate.get_receipt(result.receipt_id))
            seen.append(gate.get_action_egress("http_fetch"))
            seen.append(gate.lease)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert len(seen) == 3 and len(emu.executions) == 1


def test_many_threads_share_one_client_and_one_lease(emu: LatchGateEmulator, base_url: str) -> None:
    with LatchGateSyncClient(base_url=base_url, retry=FAST) as gate, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: gate.execute("echo", {"i": i}), range(32)))
        assert gate.leases_issued == 1
    assert sorted(r.output["echo"]["i"] for r in results) == list(range(32))
    assert len(emu.executions) == 32


def test_inside_a_running_event_loop(emu: LatchGateEmulator, base_url: str) -> None:
    async def flow() -> str:
        # A Prefect task or a notebook: blocking calls while a loop runs in this thread.
        with LatchGateSyncClient(base_url=base_url, retry=FAST) as gate:
            return gate.execute("echo").receipt_id

    receipt_id = asyncio.run(flow())
    assert emu.executions[0].receipt_id == receipt_id


def test_errors_and_approvals_cross_the_thread(emu: LatchGateEmulator, base_url: str) -> None:
    with LatchGateSyncClient(base_url=base_url, retry=FAST) as gate:
        with pytest.raises(LatchGateDeniedError):
            gate.execute(emu.actions["denied"])
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            gate.execute(emu.actions["needs_approval"], {"x": 1})
        approval_id = caught.value.approval_id or ""
        assert gate.pending_approval(approval_id) is not None
        emu.decide_approval(approval_id, "approved")
        status = gate.get_approval_status(approval_id)
        assert status.is_approved and status.receipt_id
        assert gate.get_receipt(status.receipt_id).is_fully_successful


def test_over_a_unix_socket_with_a_shared_loop(emu: LatchGateEmulator) -> None:
    directory = tempfile.mkdtemp(prefix="lg-", dir="/tmp")
    try:
        with emu.serve_unix(os.path.join(directory, "gate.sock")) as path, LoopThread() as loop:
            one = LatchGateSyncClient(socket=path, retry=FAST, loop=loop)
            two = LatchGateSyncClient(socket=path, retry=FAST, loop=loop)
            with one, two:
                one.execute("echo")
                two.execute("echo")
                assert one.session_id != two.session_id
                assert one.socket_path == path
                assert one.check_connection().session_id == one.session_id
        assert len(emu.executions) == 2
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_close_is_idempotent_and_stops_the_thread(base_url: str) -> None:
    gate = LatchGateSyncClient(base_url=base_url, retry=FAST)
    gate.execute("echo")
    gate.close()
    gate.close()
    assert gate.closed
