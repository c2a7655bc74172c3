"""Evidence appends per second, next to the raw insert rate of the same database (the ceiling).

Every number comes from the same run on the same disk, so the ratios are what to compare:

- SQLite raw insert: one connection, the ledger's pragmas (WAL, synchronous=FULL), one INSERT of a
  record-sized row into the ledger's own table per transaction. Nothing durable can go faster.
- SQLite raw insert, reconnect each: the same, opening a connection per insert; kept to show why
  db.py pools SQLite connections (and disposes of them in forked children) instead.
- ledger append, 1 process / 8 processes: ``EvidenceLedger.append`` to ONE stream, durable and
  chained (lock head, seal, insert, move head, commit). 8 processes report total throughput.
- PostgreSQL, when GOVFLOW_TEST_POSTGRES_URL is set: raw insert per transaction on one connection,
  and the ledger with 1 and 8 processes.

Run ``python benchmarks/bench_ledger.py [--quick]``; ``benchmarks/run.py`` imports :func:`run`.
Workers are spawned once and reused for every multi-process measurement; their start-up is not
timed. GOVFLOW_BENCH_DIR picks the directory for the SQLite files (default: the temp dir).
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SPAWN = multiprocessing.get_context("spawn")
WORKERS = 8
_PRAGMAS = ("PRAGMA busy_timeout = 30000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL")
_ROW_SQL = (
    "INSERT INTO evidence_records (stream, seq, digest, prev, event, outcome, run_id, pipeline, "
    "recorded_at, body) VALUES (?, ?, ?, ?, 'step.finished', 'success', 'run', 'bench', "
    "'2026-01-01T00:00:00.000000Z', ?)"
)


def _context(worker: int) -> Any:
    from govflow.core.models import RunContext

    return RunContext(
        orchestrator="bench", pipeline="ledger", run_id=f"run-{worker}", step=f"step-{worker}"
    )


def _details(i: int) -> dict[str, Any]:
    return {"i": i, "rows": 1000 + i, "duration_ms": 12.5}


def _sample_body() -> str:
    """A record-sized body (what the ledger stores) for the raw inserts."""
    from govflow.core.canonical import canonical_str
    from govflow.core.models import Evidence, utcnow

    record = Evidence.seal(
        stream="bench/ledger",
        seq=1,
        event="step.finished",
        outcome="success",
        context=_context(0),
        recorded_at=utcnow(),
        details=_details(0),
        prev="sha256:" + "0" * 64,
    )
    return canonical_str(record.body())


# --- raw ceilings ----------------------------------------------------------------------------


def _sqlite_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    return conn


def _raw_sqlite(path: str, n: int, stream: str, body: str, *, reconnect: bool) -> None:
    conn = _sqlite_connect(path)
    for i in range(1, n + 1):
        if reconnect:
            conn.close()
            conn = _sqlite_connect(path)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_ROW_SQL, (stream, i, f"sha256:{uuid.uuid4().hex}", None, body))
        conn.execute("COMMIT")
    conn.close()


def _raw_postgres(url: str, n: int, stream: str, body: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from govflow.core import db

    conninfo = (
        make_url(db.normalize_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(conninfo) as conn:
        for i in range(1, n + 1):
            conn.execute(
                _ROW_SQL.replace("?", "%s"), (stream, i, f"sha256:{uuid.uuid4().hex}", None, body)
            )
            conn.commit()


def _ledger_appends(url: str, n: int, worker: int) -> None:
    from govflow.core.evidence import EvidenceLedger

    ledger = EvidenceLedger(url)
    context = _context(worker)
    for i in range(n):
        ledger.append(
            context=context,
            event="step.finished",
            outcome="success",
            stream="bench/shared",
            details=_details(i),
        )


# --- workers ---------------------------------------------------------------------------------


def _worker(worker: int, commands: Any, results: Any, barrier: Any) -> None:
    body = _sample_body()  # imports govflow before the first timed phase
    results.put(("ready", worker))
    while True:
        command = commands.get()
        if command[0] == "stop":
            return
        kind, target, n = command
        try:
            if kind == "ledger":
                _ledger_appends(target, 1, worker)  # warm: engine, schema, code paths
            barrier.wait(300)
            if kind == "sqlite_raw":
                _raw_sqlite(target, n, f"raw/{worker}", body, reconnect=False)
            elif kind == "postgres_raw":
                _raw_postgres(target, n, f"raw/{worker}", body)
            else:
                _ledger_appends(target, n, worker)
            results.put(("ok", worker))
        except BaseException as exc:
            results.put(("error", f"worker {worker}: {type(exc).__name__}: {exc}"))


class _Pool:
    def __init__(self) -> None:
        self.barrier = SPAWN.Barrier(WORKERS + 1)
        self.results = SPAWN.Queue()
        self.queues = [SPAWN.Queue() for _ in range(WORKERS)]
        self.processes = [
            SPAWN.Process(
                target=runpy.run_path,
                args=(__file__,),
                kwargs={
                    "init_globals": {
                        "_WORKER_ARGS": (n, self.queues[n], self.results, self.barrier)
                    },
                    "run_name": _WORKER_RUN_NAME,
                },
                daemon=True,
            )
            for n in range(WORKERS)
        ]
        for process in self.processes:
            process.start()
        # Start-up (importing govflow) is CPU-heavy: let it finish before anything is timed.
        ready = [self.results.get(timeout=600) for _ in range(WORKERS)]
        if any(status != "ready" for status, _ in ready):
            raise RuntimeError(f"a benchmark worker failed to start: {ready}")

    def timed(self, kind: str, target: str, n: int) -> float:
        """Seconds from the common start until all workers finished ``n`` operations each."""
        for queue in self.queues:
            queue.put((kind, target, n))
        self.barrier.wait(600)
        started = time.perf_counter()
        outcomes = [self.results.get(timeout=600) for _ in range(WORKERS)]
        elapsed = time.perf_counter() - started
        errors = [detail for status, detail in outcomes if status == "error"]
        if errors:
            raise RuntimeError("; ".join(str(e) for e in errors))
        return elapsed

    def close(self) -> None:
        for queue in self.queues:
            queue.put(("stop",))
        for process in self.processes:
            process.join(30)


# --- measurements ----------------------------------------------------------------------------


def _time(fn: Any, *args: Any, **kwargs: Any) -> float:
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started


class _Group:
    """Rows of one database; the first row added is the ceiling the others are divided by."""

    def __init__(self, benchmark: str) -> None:
        self.benchmark = benchmark
        self.rows: list[dict[str, Any]] = []

    def add(self, subject: str, ops: int, seconds: float, notes: str) -> None:
        rate = ops / seconds
        ceiling = self.rows[0] if self.rows else None
        self.rows.append(
            {
                "benchmark": self.benchmark,
                "subject": subject,
                "ops_per_s": round(rate, 1),
                "baseline": ceiling["subject"] if ceiling else "",
                "ratio": round(rate / ceiling["ops_per_s"], 3) if ceiling else None,
                "notes": notes,
            }
        )


def _sqlite_file(directory: Path, name: str) -> str:
    """A fresh database file with the ledger's schema (the raw inserts use the same table)."""
    from govflow.core import db
    from govflow.core.evidence import EvidenceLedger

    path = directory / f"{name}.db"
    EvidenceLedger(f"sqlite:///{path}")
    db.dispose_engines()
    return str(path)


def _fresh_postgres(base: str) -> tuple[str, Any]:
    import psycopg
    from sqlalchemy.engine import make_url

    from govflow.core import db

    admin = make_url(db.normalize_url(base))
    name = f"govflow_bench_{uuid.uuid4().hex[:10]}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        db.dispose_engines()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return admin.set(database=name).render_as_string(hide_password=False), drop


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure; one row per measurement in benchmarks/run.py's shape.

    Keys: benchmark, subject, ops_per_s, baseline (the ceiling row's subject), ratio, notes.
    """
    raw_n = 300 if quick else 2000
    single_n = 150 if quick else 600
    multi_n = 15 if quick else 60  # per worker
    base_dir = os.environ.get("GOVFLOW_BENCH_DIR") or None
    directory = Path(tempfile.mkdtemp(prefix="govflow-bench-", dir=base_dir))
    pool = _Pool()
    try:
        body = _sample_body()
        lite = _Group("evidence appends: sqlite")
        path = _sqlite_file(directory, "raw")
        seconds = _time(_raw_sqlite, path, raw_n, "raw/0", body, reconnect=False)
        lite.add(
            "raw insert, 1 conn (ceiling)",
            raw_n,
            seconds,
            f"WAL, synchronous=FULL, 1 insert/txn; files in {directory.parent}",
        )
        path = _sqlite_file(directory, "reconnect")
        seconds = _time(_raw_sqlite, path, raw_n, "raw/0", body, reconnect=True)
        lite.add(
            "raw insert, reconnect each",
            raw_n,
            seconds,
            "a connection per transaction: why db.py pools connections",
        )
        url = f"sqlite:///{_sqlite_file(directory, 'ledger1')}"
        _ledger_appends(url, 1, 0)  # warm
        seconds = _time(_ledger_appends, url, single_n, 0)
        lite.add("ledger append, 1 process", single_n, seconds, "chained, durable, one stream")
        seconds = pool.timed("sqlite_raw", _sqlite_file(directory, "raw8"), multi_n * 4)
        lite.add(
            f"raw insert, {WORKERS} processes",
            WORKERS * multi_n * 4,
            seconds,
            "total; writers serialise on the file lock",
        )
        url = f"sqlite:///{_sqlite_file(directory, 'ledger8')}"
        seconds = pool.timed("ledger", url, multi_n)
        lite.add(
            f"ledger append, {WORKERS} processes",
            WORKERS * multi_n,
            seconds,
            "total, all to ONE stream",
        )
        rows = lite.rows
        pg_base = os.environ.get("GOVFLOW_TEST_POSTGRES_URL")
        if pg_base:
            rows += _postgres_rows(pg_base, pool, raw_n // 2, single_n, multi_n)
    finally:
        pool.close()
        shutil.rmtree(directory, ignore_errors=True)
    return rows


def _postgres_rows(
    base: str, pool: _Pool, raw_n: int, single_n: int, multi_n: int
) -> list[dict[str, Any]]:
    from govflow.core.evidence import EvidenceLedger

    group = _Group("evidence appends: postgres")
    url, drop = _fresh_postgres(base)
    try:
        EvidenceLedger(url)
        seconds = _time(_raw_postgres, url, raw_n, "raw/0", _sample_body())
        group.add(
            "raw insert, 1 conn (ceiling)",
            raw_n,
            seconds,
            "1 insert/txn, the server's synchronous_commit",
        )
        _ledger_appends(url, 1, 0)
        seconds = _time(_ledger_appends, url, single_n, 0)
        group.add("ledger append, 1 process", single_n, seconds, "chained, one stream")
        seconds = pool.timed("ledger", url, multi_n)
        group.add(
            f"ledger append, {WORKERS} processes",
            WORKERS * multi_n,
            seconds,
            "total, all to ONE stream (row lock)",
        )
    finally:
        drop()
    return group.rows


def format_table(rows: list[dict[str, Any]]) -> str:
    headers = ["benchmark", "subject", "ops/s", "ratio", "notes"]
    cells = [
        [
            row["benchmark"],
            row["subject"],
            f"{row['ops_per_s']:,.0f}",
            "" if row["ratio"] is None else f"{row['ratio']:.3f}x",
            row["notes"],
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    right = {2, 3}

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


# A spawned worker runs this file by path (runpy), so it works however the file was imported:
# benchmarks/run.py loads it under a name that a fresh interpreter could not import.
_WORKER_RUN_NAME = "__govflow_bench_ledger_worker__"

if __name__ == _WORKER_RUN_NAME:
    _worker(*globals()["_WORKER_ARGS"])

if __name__ == "__main__":
    started = time.perf_counter()
    print(format_table(run(quick="--quick" in sys.argv[1:])))
    print(f"\n({time.perf_counter() - started:.1f}s; ratio: ops/s over the ceiling row's)")
