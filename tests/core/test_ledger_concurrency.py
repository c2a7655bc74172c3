"""Many processes appending at once, and writers killed mid-append, on SQLite and PostgreSQL.

Workers are started with the 'spawn' method, as Airflow, Prefect and Dagster workers are separate
interpreters: nothing is shared but the database.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from govflow.core import db
from govflow.core.evidence import EvidenceLedger
from govflow.core.models import RunContext

SHARED = "airflow/shared"
WORKERS = 8
PER_WORKER = 50
OWN_PER_WORKER = 5
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _context(worker: int) -> RunContext:
    return RunContext(
        orchestrator="airflow", pipeline="shared", run_id=f"run-{worker}", step=f"task-{worker}"
    )


def _append_worker(url: str, worker: int, barrier: Any) -> None:
    # Every worker opens the ledger itself, so a fresh database also sees the schema created
    # concurrently.
    ledger = EvidenceLedger(url)
    barrier.wait(120)
    context = _context(worker)
    for i in range(PER_WORKER):
        ledger.append(
            context=context,
            event="step.finished",
            outcome="success",
            details={"worker": worker, "i": i},
        )
        if i % (PER_WORKER // OWN_PER_WORKER) == 0:
            ledger.append(
                context=context,
                event="step.finished",
                outcome="success",
                stream=f"own/{worker}",
                details={"i": i},
            )


def _run_workers(url: str) -> None:
    barrier = SPAWN.Barrier(WORKERS + 1)
    processes = [
        SPAWN.Process(target=_append_worker, args=(url, n, barrier)) for n in range(WORKERS)
    ]
    for process in processes:
        process.start()
    barrier.wait(120)
    for process in processes:
        process.join(300)
    assert [p.exitcode for p in processes] == [0] * WORKERS


@pytest.mark.slow
def test_eight_processes_append_to_one_stream(ledger_url: str) -> None:
    _run_workers(ledger_url)
    ledger = EvidenceLedger(ledger_url)

    shared = ledger.records(SHARED)
    assert len(shared) == WORKERS * PER_WORKER  # nothing lost
    assert [r.seq for r in shared] == list(range(1, WORKERS * PER_WORKER + 1))  # no gap, no fork
    for previous, record in itertools.pairwise(shared):
        assert record.prev == previous.digest
    pairs = Counter((r.details["worker"], r.details["i"]) for r in shared)
    assert set(pairs) == {(w, i) for w in range(WORKERS) for i in range(PER_WORKER)}
    assert max(pairs.values()) == 1  # nothing written twice
    for worker in range(WORKERS):
        # One worker's appends are sequential, so they chain in the order it made them.
        mine = [r.details["i"] for r in shared if r.details["worker"] == worker]
        assert mine == list(range(PER_WORKER))

    for worker in range(WORKERS):
        assert [r.seq for r in ledger.records(f"own/{worker}")] == list(
            range(1, OWN_PER_WORKER + 1)
        )

    report = ledger.verify()
    assert report.ok, report.summary()
    assert report.records_checked == WORKERS * (PER_WORKER + OWN_PER_WORKER)
    assert {s.name: s.length for s in ledger.streams()}[SHARED] == WORKERS * PER_WORKER


def _hang_inside_append(url: str, committed: int, flag: str) -> None:
    ledger = EvidenceLedger(url)
    context = _context(99)
    for i in range(committed):
        ledger.append(
            context=context,
            event="step.finished",
            outcome="success",
            stream=SHARED,
            details={"i": i},
        )

    def hang(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The record row is written, the head not yet moved, nothing committed: die here.
        if statement.lstrip().upper().startswith("INSERT INTO EVIDENCE_RECORDS"):
            Path(flag).write_text("inside the append transaction")
            time.sleep(600)

    event.listen(db.get_engine(url), "after_cursor_execute", hang)
    ledger.append(context=context, event="step.finished", outcome="in-flight", stream=SHARED)


def _wait_for(condition: Any, process: Any, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.is_alive(), f"the writer exited (code {process.exitcode}) before {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_writer_killed_inside_the_append_transaction(ledger_url: str, tmp_path: Path) -> None:
    flag = tmp_path / "inside"
    process = SPAWN.Process(target=_hang_inside_append, args=(ledger_url, 5, str(flag)))
    process.start()
    try:
        _wait_for(flag.exists, process, "the append started")
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.join(60)
    assert process.exitcode == -signal.SIGKILL

    ledger = EvidenceLedger(ledger_url)
    records = ledger.records(SHARED)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]  # no partial record
    assert all(r.outcome == "success" for r in records)
    assert ledger.verify().ok
    # The dead writer's lock is gone: the next append continues the chain.
    after = ledger.append(
        context=_context(0), event="step.finished", outcome="success", stream=SHARED
    )
    assert (after.seq, after.prev) == (6, records[-1].digest)
    assert ledger.verify().ok


def _append_forever(url: str, worker: int) -> None:
    ledger = EvidenceLedger(url)
    i = 0
    while True:
        ledger.append(
            context=_context(worker),
            event="step.finished",
            outcome="success",
            stream=SHARED,
            details={"i": i},
        )
        i += 1


def _has_at_least(ledger: EvidenceLedger, count: int) -> bool:
    return len(ledger.records(SHARED, after_seq=count - 1, limit=1)) == 1


@pytest.mark.slow
def test_writers_killed_at_random_moments(ledger_url: str) -> None:
    ledger = EvidenceLedger(ledger_url)
    stored = 0
    for round_ in range(2):
        # Two writers contend; both are killed wherever they happen to be: between appends,
        # waiting for the lock, or inside a transaction.
        writers = [
            SPAWN.Process(target=_append_forever, args=(ledger_url, round_ * 10 + n))
            for n in range(2)
        ]
        for writer in writers:
            writer.start()
        goal = stored + 20
        try:
            _wait_for(functools.partial(_has_at_least, ledger, goal), writers[0], f"{goal} records")
        finally:
            for writer in writers:
                assert writer.pid is not None
                os.kill(writer.pid, signal.SIGKILL)
                writer.join(60)
        records = ledger.records(SHARED)
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        report = ledger.verify()
        assert report.ok, report.summary()
        stored = len(records)
    final = ledger.append(
        context=_context(0), event="step.finished", outcome="success", stream=SHARED
    )
    assert final.seq == stored + 1
    assert ledger.verify().ok
