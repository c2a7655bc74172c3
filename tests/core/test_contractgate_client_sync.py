"""ContractGateSyncClient: blocking calls from plain threads and from a thread running an event loop."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from govflow.core.errors import ConfigurationError
from govflow.core.platforms.contractgate import (
    ContractGateClient,
    ContractGateConflictError,
    ContractGateSyncClient,
    IngestResult,
)
from govflow.core.sync import LoopThread
from govflow.core.transport import RetryPolicy
from govflow.testing.contractgate import ContractGateEmulator, after_processing
from govflow.testing.faults import drop, server_error

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL = {"user_id": "u_123", "event_type": "delete", "timestamp": 1714000000, "amount": -5}


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = {t for t in threading.enumerate() if t.name.startswith("govflow-loop")}
    yield
    gc.collect()
    leaked = [t for t in threading.enumerate() if t.name.startswith("govflow-loop") and t not in before]
    assert leaked == []


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ContractGateEmulator, str]]:
    emu = ContractGateEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def emu(served: tuple[ContractGateEmulator, str]) -> ContractGateEmulator:
    served[0].reset()
    served[0].reset_faults()
    return served[0]


@pytest.fixture
def base_url(served: tuple[ContractGateEmulator, str]) -> str:
    return served[1]


def sync_client(emu: ContractGateEmulator, base_url: str) -> ContractGateSyncClient:
    return ContractGateSyncClient(emu.api_key, base_url=base_url, retry=FAST)


def test_the_sync_client_has_every_public_method_of_the_async_one() -> None:
    public = {name for name, _ in inspect.getmembers(ContractGateClient) if not name.startswith("_")}
    missing = public - set(dir(ContractGateSyncClient)) - {"aclose", "transport", "is_closed"}
    assert missing == set()


def test_from_a_plain_thread(emu: ContractGateEmulator, base_url: str) -> None:
    results: list[object] = []

    def work() -> None:
        with sync_client(emu, base_url) as cg:
            results.append(cg.ingest(emu.contracts["user_events"], [PASS, FAIL]))
            results.append([row.id for row in cg.iter_quarantine(page_size=1)])
            results.append(cg.get_latest_stable(emu.contracts["hero_events"]).version)
            results.append(cg.request("GET", "/health").status_code)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    result, quarantined, latest, status = results
    assert isinstance(result, IngestResult) and result.status_code == 207
    assert quarantined == result.quarantine_ids
    assert (latest, status) == ("1.1.0", 200)


def test_from_inside_a_running_event_loop(emu: ContractGateEmulator, base_url: str) -> None:
    async def prefect_like_task() -> tuple[int, int]:
        # A blocking call from a coroutine runs on the client's own loop thread: no nested asyncio.run.
        with sync_client(emu, base_url) as cg:
            result = cg.ingest(emu.contracts["user_events"], [PASS])
            return result.passed, len(list(cg.iter_audit()))

    assert asyncio.run(prefect_like_task()) == (1, 1)


def test_many_threads_share_one_client_and_retries_stay_idempotent(emu: ContractGateEmulator, base_url: str) -> None:
    emu.inject("POST", "/v1/ingest/*", after_processing(drop()), after_processing(server_error(502)))
    with sync_client(emu, base_url) as cg, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: cg.ingest(emu.contracts["user_events"], [{**PASS, "timestamp": i}]), range(16)))
    assert all(r.passed == 1 for r in results) and sum(r.replayed for r in results) == 2
    assert len(emu.accepted) == 16


def test_errors_come_through_and_a_shared_loop_works(emu: ContractGateEmulator, base_url: str) -> None:
    with LoopThread() as loop:
        first = ContractGateSyncClient(emu.api_key, base_url=base_url, retry=FAST, loop=loop)
        second = ContractGateSyncClient(emu.api_key, base_url=base_url, retry=FAST, loop=loop)
        with first, second:
            with pytest.raises(ContractGateConflictError):
                first.promote_version(emu.contracts["user_events"], "1.0.0")
            assert second.stats().total_events == 0
            assert len(first.ingest_batches(emu.contracts["user_events"], [PASS] * 5, max_events=2)) == 3


def test_configuration_errors_surface_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOVFLOW_CONTRACTGATE_BASE_URL", "CONTRACTGATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="no ContractGate base URL"):
        ContractGateSyncClient("cg_live_" + "0" * 48)
