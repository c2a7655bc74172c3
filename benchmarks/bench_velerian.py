"""Velerian ``invoke_abp`` per second: govflow's async client vs the official SDK, same emulator.

One emulator (``python -m govflow.testing.velerian``) runs in its own process, so it does not
share a GIL with the clients, and every subject invokes the same allow-ABP of it in the same run:

- sequential: one client, one invoke after the other (1,000; 200 with ``--quick``);
- concurrency 50: the same number of invokes, 50 in flight at a time.

Subjects:

- ``velerian-sdk 0.1.2`` (the baseline): the official sync client. Sequential: one client.
  Concurrent: a ThreadPoolExecutor of 50 threads, **one client per thread** (thread-local, built
  before timing), as each worker of a threaded app would hold its own.
- ``govflow``: ``govflow.core.platforms.velerian.VelerianClient`` (async), one client shared by
  50 tasks under a semaphore, with its default settings (so each invoke also carries an
  ``Idempotency-Key``, and it has at most 10 requests in flight, the transport's default).
  Skipped with a note if the client cannot be imported.
- ``raw httpx.AsyncClient``: the bare POST plus ``.json()`` (no error mapping, models or
  retries), a pool keeping all 50 connections: the best any httpx-async client can do, so the
  gap between it and ``govflow`` is govflow's own overhead.
- ``raw HTTP/1.1 on asyncio streams`` (the ceiling): pre-built request bytes on keep-alive
  sockets (one, or 50), reading status, Content-Length and the JSON body. Nearly free on the
  client side, so it measures the emulator itself: every other row should stay well below it,
  or the emulator would be the bottleneck.

Repeats are interleaved (3, or 1 with ``--quick``), best kept. Before each measurement the
emulator is reset; after it, its invocation count must equal the invokes sent (warm-ups
included): none lost, none doubled.
Run ``python benchmarks/bench_velerian.py [--quick]``; ``benchmarks/run.py`` imports :func:`run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.metadata
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

import httpx

CONCURRENCY = 50
PAYLOAD = {"prompt": "Summarize the attached filing.", "amount": 1250}


@contextlib.contextmanager
def emulator_process() -> Iterator[dict[str, Any]]:
    """The emulator in a child process; yields what it printed (base_url, api_key, abps)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "govflow.testing.velerian", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited with {process.wait()} before it started")
        yield json.loads(line)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Emulator:
    """Control of the emulator process between measurements (outside the timed sections)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.base_url: str = info["base_url"]
        self.api_key: str = info["api_key"]
        self.abp: str = info["abps"]["allow"]

    def reset(self) -> None:
        state = httpx.post(f"{self.base_url}/_emulator/reset").json()
        self.abp = state["abps"]["allow"]

    def invocations(self) -> int:
        state = httpx.get(f"{self.base_url}/_emulator/state").json()
        return int(state["counts"]["invocations"])


# --- subjects: each returns (seconds for n invokes, invokes sent in all incl. warm-ups) -------


def sdk_sequential(emu: Emulator, n: int) -> tuple[float, int]:
    from velerian_sdk import VelerianClient

    with VelerianClient(api_key=emu.api_key, base_url=emu.base_url) as client:
        client.invoke_abp(emu.abp, payload=PAYLOAD)  # connect outside the timing
        started = time.perf_counter()
        for _ in range(n):
            client.invoke_abp(emu.abp, payload=PAYLOAD)
        return time.perf_counter() - started, n + 1


def sdk_concurrent(emu: Emulator, n: int) -> tuple[float, int]:
    from velerian_sdk import VelerianClient

    local = threading.local()
    clients: list[VelerianClient] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CONCURRENCY)

    def client() -> VelerianClient:
        if not hasattr(local, "client"):
            local.client = VelerianClient(api_key=emu.api_key, base_url=emu.base_url)
            with lock:
                clients.append(local.client)
        return local.client  # type: ignore[no-any-return]

    def warm() -> None:
        client().invoke_abp(emu.abp, payload=PAYLOAD)
        barrier.wait()  # holds every thread until all 50 exist, each with its own client

    def invoke(_: int) -> None:
        client().invoke_abp(emu.abp, payload=PAYLOAD)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for future in [pool.submit(warm) for _ in range(CONCURRENCY)]:
            future.result()
        started = time.perf_counter()
        list(pool.map(invoke, range(n)))
        elapsed = time.perf_counter() - started
    for each in clients:
        each.close()
    return elapsed, n + CONCURRENCY


Invoke = Callable[[], Awaitable[None]]


def _run_async(
    make: Callable[[], AbstractAsyncContextManager[Invoke]], n: int, concurrent: bool
) -> tuple[float, int]:
    """Time n awaits of ``invoke()``, one after the other or 50 at a time."""

    async def main() -> tuple[float, int]:
        async with make() as invoke:
            if not concurrent:
                await invoke()  # connect outside the timing
                started = time.perf_counter()
                for _ in range(n):
                    await invoke()
                return time.perf_counter() - started, n + 1
            await asyncio.gather(*(invoke() for _ in range(CONCURRENCY)))  # fill the pool
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one() -> None:
                async with gate:
                    await invoke()

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - started, n + CONCURRENCY

    return asyncio.run(main())


def govflow_client(emu: Emulator) -> Callable[[], AbstractAsyncContextManager[Invoke]]:
    from govflow.core.platforms.velerian import VelerianClient

    @contextlib.asynccontextmanager
    async def make() -> AsyncIterator[Invoke]:
        async with VelerianClient(api_key=emu.api_key, base_url=emu.base_url) as client:

            async def invoke() -> None:
                await client.invoke_abp(emu.abp, payload=PAYLOAD)

            yield invoke

    return make


def raw_httpx_client(emu: Emulator) -> Callable[[], AbstractAsyncContextManager[Invoke]]:
    @contextlib.asynccontextmanager
    async def make() -> AsyncIterator[Invoke]:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=CONCURRENCY)
        headers = {"Authorization": f"Bearer {emu.api_key}", "Accept": "application/json"}
        url = f"{emu.base_url}/api/v2/abps/{emu.abp}/invoke"
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

            async def invoke() -> None:
                response = await client.post(url, json={"payload": PAYLOAD})
                response.raise_for_status()
                response.json()

            yield invoke

    return make


def raw_sockets(emu: Emulator, n: int, concurrent: bool) -> tuple[float, int]:
    """The emulator's ceiling: pre-built requests on 1 or 50 keep-alive connections."""
    origin = urlsplit(emu.base_url)
    host, port = origin.hostname or "127.0.0.1", origin.port or 80
    body = json.dumps({"payload": PAYLOAD}).encode()
    request = (
        f"POST /api/v2/abps/{emu.abp}/invoke HTTP/1.1\r\nHost: {origin.netloc}\r\n"
        f"Authorization: Bearer {emu.api_key}\r\nAccept: application/json\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    connections = CONCURRENCY if concurrent else 1
    shares = [n // connections + (i < n % connections) for i in range(connections)]

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int
    ) -> None:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 "):
                raise RuntimeError(f"the emulator answered {head[:40]!r}")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            json.loads(await reader.readexactly(length))

    async def main() -> float:
        # connect outside the timing, like every other subject
        streams = [await asyncio.open_connection(host, port) for _ in shares]
        try:
            started = time.perf_counter()
            await asyncio.gather(
                *(exchange(r, w, c) for (r, w), c in zip(streams, shares, strict=True))
            )
            return time.perf_counter() - started
        finally:
            for _, writer in streams:
                writer.close()

    return asyncio.run(main()), n


# --- the benchmark -----------------------------------------------------------------------------

SDK = f"velerian-sdk {importlib.metadata.version('velerian-sdk')}"
GOVFLOW = "govflow"
HTTPX = "raw httpx.AsyncClient"
CEILING = "raw HTTP/1.1 (ceiling)"


def _subjects(emu: Emulator, n: int, govflow_ok: bool) -> dict[tuple[str, str], Measure]:
    subjects: dict[tuple[str, str], Measure] = {}
    for mode, concurrent in (("sequential", False), ("concurrent", True)):
        sdk = sdk_concurrent if concurrent else sdk_sequential
        subjects[(mode, SDK)] = functools.partial(sdk, emu, n)
        if govflow_ok:
            subjects[(mode, GOVFLOW)] = functools.partial(
                _run_async, govflow_client(emu), n, concurrent
            )
        subjects[(mode, HTTPX)] = functools.partial(
            _run_async, raw_httpx_client(emu), n, concurrent
        )
        subjects[(mode, CEILING)] = functools.partial(raw_sockets, emu, n, concurrent)
    return subjects


Measure = Callable[[], tuple[float, int]]

_HOW = {
    ("sequential", SDK): "one sync client",
    ("concurrent", SDK): f"{CONCURRENCY} threads, one sync client each",
    ("sequential", GOVFLOW): "one async client, default settings",
    ("concurrent", GOVFLOW): f"one async client, {CONCURRENCY} tasks, default settings",
    ("sequential", HTTPX): "bare POST + .json()",
    ("concurrent", HTTPX): f"bare POST + .json(), {CONCURRENCY} tasks, pool keeps {CONCURRENCY}",
    ("sequential", CEILING): "1 keep-alive socket; measures the emulator (own process)",
    ("concurrent", CEILING): f"{CONCURRENCY} keep-alive sockets; measures the emulator",
}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 200 if quick else 1000
    repeats = 1 if quick else 3
    govflow_note = ""
    try:
        import govflow.core.platforms.velerian  # noqa: F401
    except ImportError as exc:
        govflow_note = f"skipped: govflow's Velerian client is not importable ({exc})"

    best: dict[tuple[str, str], float] = {}
    with emulator_process() as info:
        emu = Emulator(info)
        subjects = _subjects(emu, n, not govflow_note)
        for _ in range(repeats):  # interleaved, so drift on the machine hits every subject alike
            for key, measure in subjects.items():
                emu.reset()
                seconds, sent = measure()
                made = emu.invocations()
                if made != sent:
                    raise AssertionError(f"{key}: {made} invocations for {sent} invokes")
                best[key] = max(best.get(key, 0.0), n / seconds)

    rows: list[dict[str, Any]] = []
    for mode, title in (
        ("sequential", f"velerian invoke_abp, sequential ({n})"),
        ("concurrent", f"velerian invoke_abp, concurrency {CONCURRENCY} ({n})"),
    ):
        base, top = best[(mode, SDK)], best[(mode, CEILING)]
        for subject in (SDK, GOVFLOW, HTTPX, CEILING):
            ops = best.get((mode, subject))
            row = {
                "benchmark": title,
                "subject": subject,
                "ops_per_s": ops,
                "baseline": "" if subject in (SDK, CEILING) else SDK,
                "ratio": ops / base if ops is not None and subject in (GOVFLOW, HTTPX) else None,
                "notes": _HOW[(mode, subject)],
            }
            if ops is None:
                row["notes"] = govflow_note
            elif subject != CEILING:
                row["notes"] += f"; {ops / top:.0%} of the ceiling"
            rows.append(row)
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        ops = f"{row['ops_per_s']:>8,.0f}/s" if row["ops_per_s"] is not None else " " * 10
        print(f"{row['benchmark']:<43} {row['subject']:<22} {ops} {ratio:>6}  {row['notes']}")
