"""The ledger on a real PostgreSQL server (GOVFLOW_TEST_POSTGRES_URL; skipped when unset).

The shared behaviour (tampering, many processes, killed writers) runs on PostgreSQL through the
parametrised tests in test_ledger_tamper.py and test_ledger_concurrency.py; this file covers what
is particular to PostgreSQL.
"""

from __future__ import annotations

import io
import multiprocessing
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from govflow.core import db
from govflow.core.errors import LedgerError
from govflow.core.evidence import EvidenceLedger, verify_export
from govflow.core.models import RunContext

pytestmark = pytest.mark.postgres
SPAWN = multiprocessing.get_context("spawn")


def make_context(run_id: str = "run-1") -> RunContext:
    return RunContext(orchestrator="dagster", pipeline="job", run_id=run_id, step="op")


def test_round_trip(postgres_url: str) -> None:
    ledger = EvidenceLedger(postgres_url)
    appended = [
        ledger.append(
            context=make_context(f"run-{i}"),
            event="step.finished",
            outcome="success",
            details={"i": i, "x": 0.5},
        )
        for i in range(5)
    ]
    assert ledger.records() == appended
    assert [r.prev for r in appended[1:]] == [r.digest for r in appended[:-1]]
    assert ledger.get(appended[2].digest[:16]) == appended[2]
    assert ledger.get("dagster/job#4") == appended[3]
    assert ledger.records(run_id="run-3") == [appended[3]]
    (info,) = ledger.streams()
    assert (info.name, info.length, info.head) == ("dagster/job", 5, appended[-1].digest)
    assert info.first_recorded_at == appended[0].recorded_at
    assert ledger.verify().ok
    out = io.StringIO()
    assert ledger.export(out) == 5
    out.seek(0)
    assert verify_export(out).ok


def test_url_spellings_reach_the_same_database(postgres_url: str) -> None:
    EvidenceLedger(postgres_url).append(context=make_context(), event="e", outcome="success")
    rest = postgres_url.split("://", 1)[1]
    for scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        assert len(EvidenceLedger(f"{scheme}://{rest}").records()) == 1


def test_tables_and_constraints_exist(postgres_url: str) -> None:
    EvidenceLedger(postgres_url)
    with db.get_engine(postgres_url).connect() as conn:
        constraints = set(
            conn.execute(
                text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = 'evidence_records'::regclass "
                    "AND contype = 'u'"
                )
            ).scalars()
        )
    assert {"uq_evidence_records_stream_seq", "uq_evidence_records_stream_prev"} <= constraints


def test_first_appends_to_a_new_stream_race_to_create_its_head(postgres_url: str) -> None:
    ledger = EvidenceLedger(postgres_url)
    barrier = threading.Barrier(12)
    errors: list[BaseException] = []

    def first(n: int) -> None:
        try:
            barrier.wait()
            ledger.append(
                context=make_context(f"run-{n}"), event="e", outcome="success", stream="brand/new"
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.seq for r in ledger.records("brand/new")] == list(range(1, 13))
    with db.get_engine(postgres_url).connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM evidence_heads WHERE stream = 'brand/new'")
            ).scalar()
            == 1
        )
    assert ledger.verify().ok


def _open_and_append(url: str, n: int, barrier: Any) -> None:
    barrier.wait(120)
    ledger = EvidenceLedger(url)  # creates the schema on a fresh database, all at once
    ledger.append(context=make_context(f"run-{n}"), event="e", outcome="success")


def test_processes_creating_the_schema_at_once(postgres_url: str) -> None:
    barrier = SPAWN.Barrier(6)
    processes = [
        SPAWN.Process(target=_open_and_append, args=(postgres_url, n, barrier)) for n in range(6)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
    assert [p.exitcode for p in processes] == [0] * 6
    ledger = EvidenceLedger(postgres_url)
    assert [r.seq for r in ledger.records()] == list(range(1, 7))
    assert ledger.verify().ok


def _append_until_told(url: str, stop: Any, started: Any) -> None:
    ledger = EvidenceLedger(url)
    i = 0
    while not stop.is_set():
        ledger.append(context=make_context(), event="e", outcome="success", details={"i": i})
        i += 1
        started.set()


def test_verify_reads_one_snapshot_while_others_append(postgres_url: str) -> None:
    """Under READ COMMITTED, heads and records read by two statements could disagree and look
    like a truncated or overlong chain; verify() and export() read one snapshot."""
    EvidenceLedger(postgres_url)
    stop, started = SPAWN.Event(), SPAWN.Event()
    writers = [
        SPAWN.Process(target=_append_until_told, args=(postgres_url, stop, started))
        for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    try:
        assert started.wait(120)
        ledger = EvidenceLedger(postgres_url)
        for _ in range(30):
            report = ledger.verify()
            assert report.ok, report.summary()
            out = io.StringIO()
            ledger.export(out)
            out.seek(0)
            exported = verify_export(out)
            assert exported.ok, exported.summary()
    finally:
        stop.set()
        for writer in writers:
            writer.join(60)
    assert [w.exitcode for w in writers] == [0, 0]


def test_password_never_shows_in_errors_or_repr(postgres_url: str) -> None:
    with_password = make_url(db.normalize_url(postgres_url)).set(password="s3cret-pw")
    unreachable = with_password.set(port=1).render_as_string(hide_password=False)  # nothing listens
    with pytest.raises(LedgerError) as caught:
        EvidenceLedger(unreachable)
    assert "cannot open the evidence ledger" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    # The test server trusts local connections, so the password is accepted and ignored.
    ledger = EvidenceLedger(with_password.render_as_string(hide_password=False))
    ledger.append(context=make_context(), event="e", outcome="success")
    assert "s3cret-pw" not in repr(ledger)
    assert "***" in repr(ledger)
