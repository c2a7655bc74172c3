"""The sync facade: one private loop thread per client, usable from any thread, leak-free."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from govflow.core.sync import LoopThread, SyncIterator, SyncProxy, syncify
from govflow.core.transport import BearerAuth, RetryPolicy, Transport
from govflow.testing.faults import FaultApp, server_error

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005)


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    before = {t for t in threading.enumerate() if t.name.startswith("govflow-loop")}
    yield
    gc.collect()
    leaked = [t for t in threading.enumerate() if t.name.startswith("govflow-loop") and t not in before]
    assert leaked == []


def client(url: str) -> SyncProxy[Transport]:
    return syncify(Transport("p", url, auth=BearerAuth("tok-123456"), retry=FAST))


def test_blocking_calls_from_a_plain_thread(faults: FaultApp, url: str) -> None:
    results: list[Any] = []
    with client(url) as http:
        worker = threading.Thread(target=lambda: results.append(http.request_json("GET", "/hello")))
        worker.start()
        worker.join()
        results.append(http.request("GET", "/again").status_code)
    assert results[0]["headers"]["authorization"] == "Bearer tok-123456"
    assert results[1] == 200


def test_retries_and_errors_work_through_the_facade(faults: FaultApp, url: str) -> None:
    faults.inject("/flaky", server_error(503))
    with client(url) as http:
        assert http.request_json("GET", "/flaky")["path"] == "/flaky"
    assert faults.count("/flaky") == 2


def test_many_threads_share_one_loop_and_pool(faults: FaultApp, url: str) -> None:
    with client(url) as http:
        loop_threads: set[str] = set()

        async def where() -> str:
            return threading.current_thread().name

        def call(i: int) -> int:
            loop_threads.add(http.run(where()))
            body = http.request_json("GET", f"/n/{i}")
            return int(body["path"].rsplit("/", 1)[1])

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(call, range(64)))
    assert answers == list(range(64))
    assert faults.count() == 64
    assert len(loop_threads) == 1
    # Keep-alive connections were reused: far fewer client ports than requests.
    assert len({r.client for r in faults.requests()}) <= 16


def test_connection_is_reused_between_calls(faults: FaultApp, url: str) -> None:
    with client(url) as http:
        http.request("GET", "/one")
        http.request("GET", "/two")
        http.request("GET", "/three")
    ports = {r.client for r in faults.requests()}
    assert len(ports) == 1


def test_called_inside_a_running_event_loop(faults: FaultApp, url: str) -> None:
    # As in Prefect tasks or Jupyter: blocking code called from a coroutine of another loop.
    with client(url) as http:

        async def flow() -> Any:
            await asyncio.sleep(0)
            return http.request_json("GET", "/inside")

        body = asyncio.run(flow())
    assert body["path"] == "/inside"


def test_called_from_its_own_loop_thread_raises_instead_of_deadlocking(url: str) -> None:
    with client(url) as http:

        async def nested() -> Any:
            return http.request_json("GET", "/deadlock")

        with pytest.raises(RuntimeError, match="its own event-loop thread"):
            http.run(nested())


def test_async_iterators_become_iterators(faults: FaultApp, url: str) -> None:
    with client(url) as http:
        pages = http.paginate("/items")
        assert isinstance(pages, SyncIterator)
        assert [item["id"] for item in pages] == list(range(250))
        partial = http.paginate("/items", limit=10)
        assert next(partial) == {"id": 0}
        partial.close()


def test_close_closes_the_client_and_stops_the_thread(url: str) -> None:
    http = client(url)
    http.request("GET", "/x")
    thread = http.loop_thread.thread
    assert thread is not None and thread.is_alive()
    http.close()
    http.close()  # idempotent
    assert not thread.is_alive()
    assert http.target.is_closed
    assert http.closed
    with pytest.raises(RuntimeError, match="closed"):
        http.request("GET", "/x")


def test_garbage_collection_stops_the_thread(url: str) -> None:
    http = client(url)
    http.request("GET", "/x")
    thread = http.loop_thread.thread
    transport = http.target
    assert thread is not None and thread.is_alive()
    del http
    gc.collect()
    assert not thread.is_alive()
    assert transport.is_closed


def test_a_proxy_that_was_never_used_starts_no_thread(url: str) -> None:
    http = client(url)
    http.close()
    assert http.loop_thread.thread is None


def test_build_creates_the_object_on_the_loop_thread(faults: FaultApp, url: str) -> None:
    created_on: list[str] = []

    def factory(base: str) -> Transport:
        created_on.append(threading.current_thread().name)
        return Transport("p", base)

    with SyncProxy.build(factory, url) as http:
        assert http.request("GET", "/built").status_code == 200
        assert created_on == [http.loop_thread.name]


def test_shared_loop_thread_outlives_its_proxies(url: str) -> None:
    with LoopThread() as loop:
        first = syncify(Transport("a", url), loop=loop)
        second = syncify(Transport("b", url), loop=loop)
        first.request("GET", "/a")
        first.close()
        assert loop.is_running
        assert second.request("GET", "/b").status_code == 200
        second.close()
    assert loop.is_closed


def test_loop_thread_timeout_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with LoopThread() as loop:
        with pytest.raises(TimeoutError):
            loop.run(forever(), timeout=0.05)
        assert cancelled.wait(5)


def test_loop_thread_propagates_exceptions_and_rejects_use_after_close() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    loop = LoopThread()
    with pytest.raises(ValueError, match="boom"):
        loop.run(boom())
    loop.close()
    coro = boom()
    with pytest.raises(RuntimeError, match="closed"):
        loop.run(coro)
