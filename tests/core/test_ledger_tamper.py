"""Tampering done with raw SQL (and on exported files) is detected and the right record named."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, text

from govflow.core import db
from govflow.core.canonical import canonical_str, digest
from govflow.core.evidence import EvidenceLedger, VerifyReport, verify_export, verify_records
from govflow.core.models import RunContext

STREAM = "airflow/etl"
OTHER = "airflow/other"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def ledger(ledger_url: str) -> EvidenceLedger:
    ledger = EvidenceLedger(ledger_url)
    for i in range(1, 7):
        context = RunContext(orchestrator="airflow", pipeline="etl", run_id=f"run-{i}", step="load")
        ledger.append(context=context, event="step.finished", outcome="success", details={"i": i})
        if i <= 3:
            other = RunContext(orchestrator="airflow", pipeline="other", run_id=f"run-{i}")
            ledger.append(context=other, event="step.finished", outcome="success")
    assert ledger.verify().ok
    return ledger


def tamper(ledger: EvidenceLedger, change: Callable[[Connection], Any]) -> None:
    with db.get_engine(ledger.url).begin() as conn:
        change(conn)


def body_of(conn: Connection, seq: int) -> dict[str, Any]:
    row = conn.execute(
        text("SELECT body FROM evidence_records WHERE stream = :s AND seq = :q"),
        {"s": STREAM, "q": seq},
    ).one()
    loaded: dict[str, Any] = json.loads(row.body)
    return loaded


def rewrite(
    conn: Connection, seq: int, body: dict[str, Any], *, new_seq: int | None = None
) -> None:
    """Replace a record's body and reseal it: the digest recomputes, the columns agree."""
    conn.execute(
        text(
            "UPDATE evidence_records SET body = :body, digest = :digest, prev = :prev, seq = :new_seq "
            "WHERE stream = :s AND seq = :q"
        ),
        {
            "body": canonical_str(body),
            "digest": digest(body),
            "prev": body["prev"],
            "new_seq": new_seq if new_seq is not None else seq,
            "s": STREAM,
            "q": seq,
        },
    )


def only_problem(report: VerifyReport) -> tuple[str, int | None]:
    assert not report.ok, report.summary()
    assert len(report.problems) == 1, report.summary()  # the untouched stream is not reported
    problem = report.problems[0]
    assert problem.stream == STREAM
    assert problem.message
    return problem.kind, problem.seq


# --- tampering with the database ---------------------------------------------------------


def test_changed_body(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text(
                "UPDATE evidence_records SET body = REPLACE(body, '\"success\"', '\"failed\"') WHERE stream = :s AND seq = 3"
            ),
            {"s": STREAM},
        ),
    )
    assert only_problem(ledger.verify()) == ("body_changed", 3)
    assert ledger.verify(OTHER).ok


def test_changed_body_of_the_last_record_is_told_by_the_head(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text(
                "UPDATE evidence_records SET body = REPLACE(body, '\"run-6\"', '\"run-X\"') WHERE stream = :s AND seq = 6"
            ),
            {"s": STREAM},
        ),
    )
    assert only_problem(ledger.verify()) == ("body_changed", 6)


def test_digest_column_disagrees_with_body(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("UPDATE evidence_records SET digest = :d WHERE stream = :s AND seq = 2"),
            {"s": STREAM, "d": "sha256:" + "ab" * 32},
        ),
    )
    assert only_problem(ledger.verify()) == ("digest_changed", 2)


def test_indexed_column_disagrees_with_body(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("UPDATE evidence_records SET outcome = 'failed' WHERE stream = :s AND seq = 4"),
            {"s": STREAM},
        ),
    )
    kind, seq = only_problem(ledger.verify())
    assert (kind, seq) == ("column_mismatch", 4)
    assert "'outcome'" in ledger.verify().problems[0].message


def test_unreadable_body(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("UPDATE evidence_records SET body = 'not json' WHERE stream = :s AND seq = 2"),
            {"s": STREAM},
        ),
    )
    assert only_problem(ledger.verify()) == ("unreadable", 2)


@pytest.mark.parametrize("seq", [1, 3])
def test_deleted_record(ledger: EvidenceLedger, seq: int) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("DELETE FROM evidence_records WHERE stream = :s AND seq = :q"),
            {"s": STREAM, "q": seq},
        ),
    )
    assert only_problem(ledger.verify()) == ("missing", seq)


def test_deleted_last_record(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("DELETE FROM evidence_records WHERE stream = :s AND seq >= 5"), {"s": STREAM}
        ),
    )
    report = ledger.verify()
    assert only_problem(report) == ("truncated", 5)
    assert "#5..#6" in report.problems[0].message


def test_every_record_deleted(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(text("DELETE FROM evidence_records WHERE stream = :s"), {"s": STREAM}),
    )
    assert only_problem(ledger.verify()) == ("truncated", 1)


def test_deleted_head_row(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(text("DELETE FROM evidence_heads WHERE stream = :s"), {"s": STREAM}),
    )
    assert only_problem(ledger.verify()) == ("head_mismatch", None)


def test_swapped_seq_columns(ledger: EvidenceLedger) -> None:
    def swap(conn: Connection) -> None:
        params = {"s": STREAM}
        conn.execute(
            text("UPDATE evidence_records SET seq = -1 WHERE stream = :s AND seq = 3"), params
        )
        conn.execute(
            text("UPDATE evidence_records SET seq = 3 WHERE stream = :s AND seq = 5"), params
        )
        conn.execute(
            text("UPDATE evidence_records SET seq = 5 WHERE stream = :s AND seq = -1"), params
        )

    tamper(ledger, swap)
    assert only_problem(ledger.verify()) == ("reordered", 3)


def test_swapped_records_resealed(ledger: EvidenceLedger) -> None:
    """#3 and #5 trade places, their seq rewritten and their digests recomputed."""

    def swap(conn: Connection) -> None:
        third, fifth = body_of(conn, 3), body_of(conn, 5)
        third["seq"], fifth["seq"] = 5, 3
        conn.execute(
            text("UPDATE evidence_records SET seq = -3 WHERE stream = :s AND seq = 3"),
            {"s": STREAM},
        )
        conn.execute(
            text("UPDATE evidence_records SET seq = -5 WHERE stream = :s AND seq = 5"),
            {"s": STREAM},
        )
        rewrite(conn, -5, fifth, new_seq=3)
        rewrite(conn, -3, third, new_seq=5)

    tamper(ledger, swap)
    assert only_problem(ledger.verify()) == ("reordered", 3)


def test_forged_link_with_recomputed_digest(ledger: EvidenceLedger) -> None:
    def forge(conn: Connection) -> None:
        fourth = body_of(conn, 4)
        # (#2's own digest would trip the (stream, prev) constraint: the backstop against forks.)
        fourth["prev"] = "sha256:" + "5" * 64
        rewrite(conn, 4, fourth)

    tamper(ledger, forge)
    report = ledger.verify()
    assert only_problem(report) == ("forged_link", 4)
    assert "#3" in report.problems[0].message


def test_rewritten_record_with_recomputed_digest_breaks_the_next_link(
    ledger: EvidenceLedger,
) -> None:
    def rewrite_third(conn: Connection) -> None:
        third = body_of(conn, 3)
        third["outcome"] = "failed"
        rewrite(conn, 3, third)
        conn.execute(
            text("UPDATE evidence_records SET outcome = 'failed' WHERE stream = :s AND seq = 3"),
            {"s": STREAM},
        )

    tamper(ledger, rewrite_third)
    report = ledger.verify()
    # #3 is self-consistent now; the chain breaks at #4, whose link still holds #3's true digest.
    assert only_problem(report) == ("forged_link", 4)
    assert "#3 was rewritten" in report.problems[0].message


def test_replaced_last_record_is_told_by_the_head(ledger: EvidenceLedger) -> None:
    def replace_last(conn: Connection) -> None:
        sixth = body_of(conn, 6)
        sixth["outcome"] = "failed"
        rewrite(conn, 6, sixth)
        conn.execute(
            text("UPDATE evidence_records SET outcome = 'failed' WHERE stream = :s AND seq = 6"),
            {"s": STREAM},
        )

    tamper(ledger, replace_last)
    assert only_problem(ledger.verify()) == ("head_mismatch", 6)


def test_only_the_first_break_is_reported(ledger: EvidenceLedger) -> None:
    def damage(conn: Connection) -> None:
        conn.execute(
            text("DELETE FROM evidence_records WHERE stream = :s AND seq = 2"), {"s": STREAM}
        )
        conn.execute(
            text("UPDATE evidence_records SET body = 'x' WHERE stream = :s AND seq = 5"),
            {"s": STREAM},
        )

    tamper(ledger, damage)
    report = ledger.verify()
    assert only_problem(report) == ("missing", 2)
    assert report.records_checked == 5 + 3


def test_damage_in_two_streams_is_reported_per_stream(ledger: EvidenceLedger) -> None:
    tamper(ledger, lambda c: c.execute(text("DELETE FROM evidence_records WHERE seq = 2")))
    report = ledger.verify()
    assert [(p.stream, p.kind, p.seq) for p in report.problems] == [
        (STREAM, "missing", 2),
        (OTHER, "missing", 2),
    ]


# --- tampering with an exported file -------------------------------------------------------


def exported(ledger: EvidenceLedger) -> list[str]:
    out = io.StringIO()
    ledger.export(out)
    return out.getvalue().splitlines()


def line_of(lines: list[str], seq: int, stream: str = STREAM) -> int:
    for index, line in enumerate(lines):
        record = json.loads(line)
        if record.get("stream") == stream and record.get("seq") == seq:
            return index
    raise AssertionError(f"{stream}#{seq} not exported")


def check_file(lines: list[str]) -> VerifyReport:
    report = verify_export(io.StringIO("\n".join(lines) + "\n"))
    # The plain-dict verifier agrees on the same content.
    as_dicts = verify_records(json.loads(line) for line in lines if line.strip())
    if not any(p.kind == "unreadable" for p in report.problems):
        assert [(p.stream, p.seq, p.kind) for p in as_dicts.problems] == [
            (p.stream, p.seq, p.kind) for p in report.problems
        ]
    return report


def reseal(record: dict[str, Any]) -> str:
    record.pop("digest")
    record["digest"] = digest(record)
    return canonical_str(record)


def test_export_verifies_offline(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    report = check_file(lines)
    assert report.ok, report.summary()
    assert (report.streams_checked, report.records_checked) == (2, 9)
    assert report.notes == []
    assert verify_export(io.StringIO("\n".join(lines)), stream=OTHER).records_checked == 3


def test_export_changed_line(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    index = line_of(lines, 3)
    lines[index] = lines[index].replace('"success"', '"failed"')
    assert only_problem(check_file(lines)) == ("body_changed", 3)


def test_export_changed_digest(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    index = line_of(lines, 3)
    record = json.loads(lines[index])
    record["digest"] = "sha256:" + "0" * 64
    lines[index] = canonical_str(record)
    assert only_problem(check_file(lines)) == ("digest_changed", 3)


def test_export_deleted_middle_line(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    del lines[line_of(lines, 3)]
    assert only_problem(check_file(lines)) == ("missing", 3)


def test_export_deleted_last_line(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    del lines[line_of(lines, 6)]
    assert only_problem(check_file(lines)) == ("truncated", 6)
    # Without the header there is nothing to tell a cut-off end by; the report says so.
    headerless = verify_records(json.loads(line) for line in lines[1:])
    assert headerless.ok
    assert headerless.notes and "cannot be detected" in headerless.notes[0]


def test_export_swapped_lines(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    third, fifth = line_of(lines, 3), line_of(lines, 5)
    lines[third], lines[fifth] = lines[fifth], lines[third]
    assert only_problem(check_file(lines)) == ("reordered", 3)


def test_export_swapped_seq_values(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    third, fifth = line_of(lines, 3), line_of(lines, 5)
    a, b = json.loads(lines[third]), json.loads(lines[fifth])
    a["seq"], b["seq"] = 5, 3
    lines[third], lines[fifth] = canonical_str(a), canonical_str(b)
    assert only_problem(check_file(lines)) == ("reordered", 3)


def test_export_forged_link_resealed(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    index = line_of(lines, 4)
    record = json.loads(lines[index])
    record["prev"] = json.loads(lines[line_of(lines, 2)])["digest"]
    lines[index] = reseal(record)
    assert only_problem(check_file(lines)) == ("forged_link", 4)


def test_export_duplicated_line(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    index = line_of(lines, 3)
    lines.insert(index, lines[index])
    assert only_problem(check_file(lines)) == ("duplicate", 3)


def test_export_line_that_is_not_json(ledger: EvidenceLedger) -> None:
    lines = exported(ledger)
    lines.insert(3, "{oops")
    report = verify_export(io.StringIO("\n".join(lines)))
    assert not report.ok
    assert [(p.kind, p.where) for p in report.problems] == [("unreadable", "line 4")]


def test_export_of_a_tampered_ledger_fails_offline_too(ledger: EvidenceLedger) -> None:
    tamper(
        ledger,
        lambda c: c.execute(
            text("UPDATE evidence_records SET body = 'garbage' WHERE stream = :s AND seq = 2"),
            {"s": STREAM},
        ),
    )
    assert only_problem(ledger.verify()) == ("unreadable", 2)
    assert only_problem(check_file(exported(ledger)))[1] == 2
