"""EvidenceLedger on real SQLite files: chaining, reading, references, errors."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from govflow.core import db
from govflow.core.canonical import canonical_str
from govflow.core.errors import CanonicalizationError, LedgerError, NotFoundError
from govflow.core.evidence import EvidenceLedger, StreamInfo, verify_export
from govflow.core.evidence.ledger import _retryable
from govflow.core.models import Evidence, RunContext, utcnow


def make_context(
    run_id: str = "run-1", *, pipeline: str = "etl", step: str | None = "load"
) -> RunContext:
    return RunContext(orchestrator="airflow", pipeline=pipeline, run_id=run_id, step=step)


def test_appends_chain_per_stream(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    context = make_context()
    first = ledger.append(context=context, event="step.finished", outcome="success")
    second = ledger.append(
        context=context, event="step.finished", outcome="failed", error="ValueError: x"
    )
    third = ledger.append(context=context, event="gate.decided", outcome="allow", decision_id="d-1")

    assert first.stream == "airflow/etl" == context.stream
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev is None
    assert second.prev == first.digest
    assert third.prev == second.digest
    for record in (first, second, third):
        assert record.digest.startswith("sha256:") and len(record.digest) == 71
        assert record.digest == record.computed_digest()
        # The same record sealed by the model itself gets the same digest.
        assert Evidence.seal(**record.model_dump(exclude={"digest"})).digest == record.digest


def test_streams_chain_independently(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    a1 = ledger.append(context=make_context(), event="e", outcome="success")
    b1 = ledger.append(context=make_context(), event="e", outcome="success", stream="custom/stream")
    a2 = ledger.append(context=make_context(), event="e", outcome="success")
    assert (a1.seq, b1.seq, a2.seq) == (1, 1, 2)
    assert b1.prev is None and b1.stream == "custom/stream"
    assert a2.prev == a1.digest


def test_stored_body_is_the_hashed_canonical_text(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    record = ledger.append(
        context=make_context(),
        event="step.finished",
        outcome="success",
        started_at=utcnow(),
        details={
            "rows": 3,
            "ratio": 0.1,
            "naïve": "ünïcødé",
            "nested": {"b": [1, 2.5, None], "a": True},
        },
        references={"receipt_id": "r-9"},
    )
    with db.get_engine(sqlite_url).connect() as conn:
        row = conn.execute(
            text("SELECT body, digest, outcome, run_id, pipeline FROM evidence_records")
        ).one()
    assert row.body == canonical_str(record.body())
    assert (
        row.digest
        == "sha256:" + hashlib.sha256(row.body.encode("utf-8")).hexdigest()
        == record.digest
    )
    assert "digest" not in json.loads(row.body)
    assert (row.outcome, row.run_id, row.pipeline) == ("success", "run-1", "etl")


def test_records_round_trip_equal_to_what_append_returned(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    appended = [
        ledger.append(
            context=make_context(),
            event="step.finished",
            outcome="success",
            started_at=utcnow(),
            ended_at=utcnow(),
            input_digest="sha256:" + "a" * 64,
            details={"i": i, "f": i / 3},
        )
        for i in range(5)
    ]
    assert ledger.records() == appended
    assert all(r.computed_digest() == r.digest for r in ledger.records())


def test_records_filters(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    for i in range(6):
        ledger.append(context=make_context(f"run-{i % 2}"), event="e", outcome="success")
    ledger.append(context=make_context("run-0", pipeline="other"), event="e", outcome="success")

    assert [(r.stream, r.seq) for r in ledger.records()] == [
        ("airflow/etl", n) for n in range(1, 7)
    ] + [("airflow/other", 1)]
    assert [r.seq for r in ledger.records("airflow/etl", after_seq=3)] == [4, 5, 6]
    assert [r.seq for r in ledger.records("airflow/etl", after_seq=1, limit=2)] == [2, 3]
    assert [(r.stream, r.seq) for r in ledger.records(run_id="run-0")] == [
        ("airflow/etl", 1),
        ("airflow/etl", 3),
        ("airflow/etl", 5),
        ("airflow/other", 1),
    ]
    assert [r.seq for r in ledger.records("airflow/etl", run_id="run-1")] == [2, 4, 6]
    assert ledger.records("no/such") == []


def test_get_by_digest_prefix_and_stream_seq(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    records = [
        ledger.append(context=make_context(), event="e", outcome="success") for _ in range(3)
    ]
    target = records[1]
    hex_digest = target.digest.removeprefix("sha256:")
    assert ledger.get(target.digest) == target
    assert ledger.get(target.digest.upper().replace("SHA256:", "sha256:")) == target
    assert ledger.get(hex_digest[:8]) == target
    assert ledger.get("sha256:" + hex_digest[:12]) == target
    assert ledger.get(" airflow/etl#2 ") == target

    # Stream names may contain '#': the seq is what follows the last one.
    ledger.append(context=make_context(), event="e", outcome="success", stream="odd#name")
    assert ledger.get("odd#name#1").stream == "odd#name"


@pytest.mark.parametrize(
    "ref", ["airflow/etl#9", "no/such#1", "sha256:" + "0" * 64, "00000000", "abc", "xyz12345", ""]
)
def test_get_unknown_or_malformed_reference(sqlite_url: str, ref: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    ledger.append(context=make_context(), event="e", outcome="success")
    with pytest.raises(NotFoundError):
        ledger.get(ref)


def test_get_ambiguous_prefix_is_not_found(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    ledger.append(context=make_context(), event="e", outcome="success")
    # Two rows sharing a digest prefix (a collision of 8 hex digits needs ~65k records, so plant them).
    with db.get_engine(sqlite_url).begin() as conn:
        for n, tail in enumerate(["0" * 56, "1" * 56], start=1):
            conn.execute(
                text(
                    "INSERT INTO evidence_records (stream, seq, digest, prev, event, outcome, run_id, "
                    "pipeline, recorded_at, body) VALUES ('planted', :seq, :digest, NULL, 'e', 'o', 'r', "
                    "'p', '2026-01-01T00:00:00.000000Z', '{}')"
                ),
                {"seq": n, "digest": "sha256:deadbeef" + tail},
            )
    with pytest.raises(NotFoundError, match="more than one"):
        ledger.get("deadbeef")
    # A longer prefix picks one; its planted body is no record, which get() says plainly.
    with pytest.raises(LedgerError, match="planted#2 is unreadable"):
        ledger.get("deadbeef1")


def test_streams_describe_each_chain(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    assert ledger.streams() == []
    first = ledger.append(context=make_context(), event="e", outcome="success")
    last = ledger.append(context=make_context(), event="e", outcome="success")
    other = ledger.append(context=make_context(pipeline="b"), event="e", outcome="success")
    assert ledger.streams() == [
        StreamInfo(
            name="airflow/b",
            length=1,
            head=other.digest,
            first_recorded_at=other.recorded_at,
            last_recorded_at=other.recorded_at,
        ),
        StreamInfo(
            name="airflow/etl",
            length=2,
            head=last.digest,
            first_recorded_at=first.recorded_at,
            last_recorded_at=last.recorded_at,
        ),
    ]


def test_verify_clean_ledger(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    assert ledger.verify().ok  # empty is fine
    for i in range(4):
        ledger.append(context=make_context(), event="e", outcome="success", details={"i": i})
        ledger.append(context=make_context(pipeline="b"), event="e", outcome="success")
    report = ledger.verify()
    assert report.ok, report.summary()
    assert (report.streams_checked, report.records_checked, report.problems) == (2, 8, [])
    assert ledger.verify("airflow/b").records_checked == 4
    with pytest.raises(NotFoundError):
        ledger.verify("no/such")


def test_export_writes_header_then_canonical_lines(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    appended = [
        ledger.append(context=make_context(), event="e", outcome="success") for _ in range(3)
    ]
    ledger.append(context=make_context(pipeline="b"), event="e", outcome="success")
    out = io.StringIO()
    assert ledger.export(out) == 4
    lines = out.getvalue().splitlines()
    header = json.loads(lines[0])
    assert header["type"] == "govflow.evidence.export"
    assert header["heads"]["airflow/etl"] == {"seq": 3, "digest": appended[-1].digest}
    assert [json.loads(line)["digest"] for line in lines[2:5]] == [r.digest for r in appended]
    assert all(line == canonical_str(json.loads(line)) for line in lines)

    only = io.StringIO()
    assert ledger.export(only, "airflow/b") == 1
    assert list(json.loads(only.getvalue().splitlines()[0])["heads"]) == ["airflow/b"]
    only.seek(0)
    assert verify_export(only).ok
    with pytest.raises(NotFoundError):
        ledger.export(io.StringIO(), "no/such")


def test_default_url_is_in_govflow_home(_isolated_govflow_home: Path) -> None:
    ledger = EvidenceLedger()
    assert ledger.url == f"sqlite:///{_isolated_govflow_home / 'govflow.db'}"
    ledger.append(context=make_context(), event="e", outcome="success")
    assert (_isolated_govflow_home / "govflow.db").is_file()


def test_ledger_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'ledger.db'}"
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    ledger = EvidenceLedger()
    assert ledger.url == url
    ledger.append(context=make_context(), event="e", outcome="success")
    assert (tmp_path / "elsewhere" / "ledger.db").is_file()


def test_ledger_pickles_as_its_url(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    ledger.append(context=make_context(), event="e", outcome="success")
    clone = pickle.loads(pickle.dumps(ledger))
    assert clone.url == sqlite_url
    assert clone.append(context=make_context(), event="e", outcome="success").seq == 2


def test_invalid_fields_fail_before_touching_the_ledger(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    with pytest.raises(CanonicalizationError):
        ledger.append(context=make_context(), event="e", outcome="success", details={"x": 2**60})
    assert ledger.records() == []
    assert ledger.streams() == []
    assert ledger.append(context=make_context(), event="e", outcome="success").seq == 1
    # pydantic's JSON mode turns NaN into null before hashing: stored and hashed alike.
    record = ledger.append(
        context=make_context(), event="e", outcome="success", details={"x": math.nan}
    )
    assert ledger.get(record.digest).details == {"x": None}
    assert ledger.verify().ok


def test_threads_share_a_ledger(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(20):
                ledger.append(
                    context=make_context(),
                    event="e",
                    outcome="success",
                    details={"w": worker, "i": i},
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = ledger.records()
    assert [r.seq for r in records] == list(range(1, 161))
    assert sorted((r.details["w"], r.details["i"]) for r in records) == [
        (w, i) for w in range(8) for i in range(20)
    ]
    assert ledger.verify().ok


@pytest.mark.anyio
async def test_aappend(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    first = await ledger.aappend(context=make_context(), event="e", outcome="success")
    second = await ledger.aappend(context=make_context(), event="e", outcome="failed", error="boom")
    assert (first.seq, second.seq, second.prev, second.error) == (1, 2, first.digest, "boom")
    assert ledger.records() == [first, second]


def test_a_row_outside_the_ledger_blocks_appends_with_a_clear_error(sqlite_url: str) -> None:
    ledger = EvidenceLedger(sqlite_url)
    record = ledger.append(context=make_context(), event="e", outcome="success")
    # Someone wrote #2 behind the ledger's back without moving the head: every append now hits
    # the (stream, seq) constraint; the ledger gives up after its bounded retries.
    with db.get_engine(sqlite_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO evidence_records (stream, seq, digest, prev, event, outcome, run_id, "
                "pipeline, recorded_at, body) VALUES ('airflow/etl', 2, 'sha256:planted', :prev, 'e', "
                "'o', 'r', 'p', '2026-01-01T00:00:00.000000Z', '{}')"
            ),
            {"prev": record.digest},
        )
    with pytest.raises(LedgerError, match=r"after \d+ attempts.*govflow evidence verify"):
        ledger.append(context=make_context(), event="e", outcome="success")
    report = ledger.verify()
    assert not report.ok
    assert report.problems[0].seq == 2


def test_unwritable_location_raises_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(LedgerError, match="cannot open the evidence ledger"):
        EvidenceLedger(f"sqlite:///{blocker / 'ledger.db'}")


def test_read_only_database_fails_without_retrying(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    EvidenceLedger(f"sqlite:///{path}").append(context=make_context(), event="e", outcome="success")
    read_only = EvidenceLedger(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert len(read_only.records()) == 1
    with pytest.raises(LedgerError, match="readonly") as caught:
        read_only.append(context=make_context(), event="e", outcome="success")
    assert "attempts" not in str(caught.value)


def test_retry_rule_on_real_driver_errors(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with pytest.raises(OperationalError) as locked, impatient.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _retryable(locked.value)  # lock contention: worth another try
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()
    broken = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    with pytest.raises(OperationalError) as unopenable, broken.connect():
        pass
    assert not _retryable(unopenable.value)  # retrying cannot help
