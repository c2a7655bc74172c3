"""VelerianSyncClient: blocking calls from plain threads and from a thread running an event loop."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from govflow.core.errors import ConfigurationError
from govflow.core.platforms.velerian import (
    InvokeResult,
    VelerianConflictError,
    VelerianRunTimeoutError,
    VelerianSyncClient,
)
from govflow.core.sync import LoopThread
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import server_error
from govflow.testing.velerian import VelerianEmulator

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = {t for t in threading.enumerate() if t.name.startswith("govflow-loop")}
    yield
    gc.collect()
    leaked = [t for t in threading.enumerate() if t.name.startswith("govflow-loop") and t not in before]
    assert leaked == []


@pytest.fixture
def emu() -> VelerianEmulator:
    return VelerianEmulator(page_cap=20)


@pytest.fixture
def base_url(emu: VelerianEmulator) -> Iterator[str]:
    with emu.serve() as url:
        yield url


def sync_client(emu: VelerianEmulator, base_url: str) -> VelerianSyncClient:
    return VelerianSyncClient(emu.api_key, base_url=base_url, retry=FAST)


def test_from_a_plain_thread(emu: VelerianEmulator, base_url: str) -> None:
    results: list[object] = []

    def work() -> None:
        with sync_client(emu, base_url) as velerian:
            result = velerian.invoke_abp(emu.abps["allow"], {"q": 1})
            export = velerian.invocation_evidence(emu.abps["allow"], result.invocation_id)
            results.append(result)
            results.append(json.loads(velerian.download_export(export)))
            results.append(velerian.usage_summary().tenant_id)
            results.append(velerian.get("pack-runs").status_code)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    result, package, tenant, status = results
    assert isinstance(result, InvokeResult) and result.is_allowed
    assert isinstance(package, dict) and package["evidence_pack"]["invocation_id"] == result.invocation_id
    assert (tenant, status) == ("tenant-1", 200)


def test_from_inside_a_running_event_loop(emu: VelerianEmulator, base_url: str) -> None:
    async def prefect_like_task() -> tuple[str, int]:
        # A blocking call made from a coroutine: it runs on the client's own loop thread,
        # so asyncio.run is never nested and this loop is merely blocked for the call.
        with sync_client(emu, base_url) as velerian:
            result = velerian.invoke_abp(emu.abps["approval"], {})
            approvals = list(velerian.iter_approvals(status="pending"))
            return result.approval_id or "", len(approvals)

    approval_id, pending = asyncio.run(prefect_like_task())
    assert approval_id and pending == 1


def test_iterators_walk_every_page(emu: VelerianEmulator, base_url: str) -> None:
    with sync_client(emu, base_url) as velerian:
        for _ in range(25):
            velerian.invoke_abp(emu.abps["allow"], {})
        assert len(list(velerian.iter_audit_log(action="abp.invoke"))) == 25
        assert len(list(velerian.iter_usage_evidence())) == 25
        assert len(list(velerian.iter_paginated("audit-log", {"action": "abp.invoke"}))) == 25
        page = velerian.list_audit_log(action="abp.invoke", limit=5)
        assert len(page.items) == 5 and page.total == 25


def test_many_threads_share_one_client(emu: VelerianEmulator, base_url: str) -> None:
    with sync_client(emu, base_url) as velerian, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: velerian.invoke_abp(emu.abps["allow"], {"i": i}), range(16)))
    assert len({r.invocation_id for r in results}) == 16 == len(emu.invocations)


def test_errors_and_retries_come_through(emu: VelerianEmulator, base_url: str) -> None:
    emu.inject("GET", "/api/v2/usage/summary", server_error(503))
    with sync_client(emu, base_url) as velerian:
        assert velerian.usage_summary().tenant_id == "tenant-1"
        with pytest.raises(VelerianConflictError):
            velerian.invoke_abp(emu.abps["draft"], {})
        accepted = velerian.invoke_network(emu.networks["succeed"], "x")
        with pytest.raises(VelerianRunTimeoutError) as caught:
            velerian.await_run(accepted["run_id"], run_timeout=0)
        assert caught.value.run_id == accepted["run_id"]
        run = velerian.invoke_network(emu.networks["succeed"], "x", wait=True, poll_interval=0.01)
        assert run["status"] == "succeeded"


def test_configuration_errors_surface_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VELERIAN_API_KEY", raising=False)
    monkeypatch.delenv("GOVFLOW_VELERIAN_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="VELERIAN_API_KEY"):
        VelerianSyncClient()
    with pytest.raises(ConfigurationError, match="/api/v2"):
        VelerianSyncClient("vk_live_x_123456", base_url="https://app.velerian.ai/api/v2")


def test_close_is_idempotent_and_a_shared_loop_is_left_running(emu: VelerianEmulator, base_url: str) -> None:
    with LoopThread("govflow-loop-shared") as loop:
        first = VelerianSyncClient(emu.api_key, base_url=base_url, loop=loop)
        second = VelerianSyncClient(emu.api_key, base_url=base_url, loop=loop)
        first.usage_summary()
        first.close()
        first.close()
        assert first.closed and first.client.is_closed
        assert second.usage_summary().tenant_id == "tenant-1"  # the shared loop still runs
        second.close()
    assert emu.api_key not in repr(first)
