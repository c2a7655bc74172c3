"""EvidenceRecorder: what adapters call at the end of a step. It must never fail the step."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from govflow.core import db
from govflow.core.errors import CanonicalizationError, LedgerError
from govflow.core.evidence import EvidenceLedger, EvidenceRecorder, error_summary
from govflow.core.models import (
    Approval,
    ApprovalStatus,
    Decision,
    DecisionOutcome,
    RunContext,
    utcnow,
)
from govflow.core.redaction import Redactor

CONTEXT = RunContext(orchestrator="prefect", pipeline="nightly", run_id="flow-run-1", step="load-1")


def test_records_a_step(sqlite_url: str) -> None:
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url))
    started = utcnow()
    record = recorder.record(
        CONTEXT,
        event="step.finished",
        outcome="success",
        started_at=started,
        ended_at=utcnow(),
        input_digest="sha256:" + "1" * 64,
        details={"rows": 10},
    )
    assert record is not None
    assert (record.stream, record.seq, record.event, record.outcome) == (
        "prefect/nightly",
        1,
        "step.finished",
        "success",
    )
    assert record.started_at == started
    assert record.details == {"rows": 10}
    assert recorder.ledger.records() == [record]


def test_decision_and_approval_become_references(sqlite_url: str) -> None:
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url))
    decision = Decision(
        outcome=DecisionOutcome.PENDING,
        platform="velerian",
        decision_id="dec-1",
        approval_id="apr-1",
        references={"invocation_id": "inv-7", "receipt_id": "old"},
        raw={"whatever": "the platform said"},
    )
    approval = Approval(id="apr-1", status=ApprovalStatus.APPROVED, decided_by="alice@example.com")
    record = recorder.record(
        CONTEXT,
        event="step.finished",
        outcome="success",
        decision=decision,
        approval=approval,
        references={"receipt_id": "rcpt-2"},
    )
    assert record is not None
    assert (record.decision_id, record.approval_id) == ("dec-1", "apr-1")
    # Explicit references win over the decision's; the deciding platform is named.
    assert record.references == {
        "invocation_id": "inv-7",
        "receipt_id": "rcpt-2",
        "platform": "velerian",
    }
    assert record.details == {
        "approval_status": "approved",
        "approval_decided_by": "alice@example.com",
    }
    assert "the platform said" not in record.model_dump_json()  # raw answers stay out of evidence


def test_error_is_a_redacted_one_line_summary(sqlite_url: str) -> None:
    redactor = Redactor(["tok-very-secret-123"])
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url), redactor=redactor)
    try:
        raise ConnectionError(
            "POST https://api.example/run?api_key=abc123456 with tok-very-secret-123 failed"
        )
    except ConnectionError as exc:
        record = recorder.record(
            CONTEXT,
            event="step.finished",
            outcome="failed",
            error=exc,
            details={"token": "abc", "note": "tok-very-secret-123"},
        )
    assert record is not None and record.error is not None
    assert record.error.startswith("ConnectionError: POST https://api.example/run?api_key=***")
    assert "tok-very-secret-123" not in record.model_dump_json()
    assert "abc123456" not in record.model_dump_json()
    assert record.details == {"token": "***", "note": "***"}


def test_long_errors_are_cut_after_redaction() -> None:
    redactor = Redactor(["SECRETSECRETSECRET"])
    message = "x" * 480 + "SECRETSECRETSECRET" + "y" * 100
    summary = error_summary(RuntimeError(message), redactor)
    assert len(summary) == 500
    assert summary.startswith("RuntimeError: xxx") and summary.endswith("…")
    assert "SECRET" not in summary  # a secret straddling the cut is still masked
    assert error_summary("plain text") == "plain text"
    assert error_summary(KeyError()) == "KeyError"


def test_never_raises_when_the_ledger_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{blocker / 'ledger.db'}")
    recorder = EvidenceRecorder()  # opening is deferred, so this cannot fail
    with caplog.at_level(logging.WARNING, logger="govflow.evidence"):
        assert recorder.record(CONTEXT, event="step.finished", outcome="success") is None
    (warning,) = [r for r in caplog.records if r.name == "govflow.evidence"]
    assert warning.levelno == logging.WARNING
    assert "evidence not recorded" in warning.getMessage()
    assert "prefect/nightly" in warning.getMessage() and "LedgerError" in warning.getMessage()


def test_never_raises_when_the_database_breaks_later(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = EvidenceLedger(sqlite_url)
    recorder = EvidenceRecorder(ledger)
    assert recorder.record(CONTEXT, event="step.finished", outcome="success") is not None
    with db.get_engine(sqlite_url).begin() as conn:
        conn.execute(text("DROP TABLE evidence_records"))
    with caplog.at_level(logging.WARNING, logger="govflow.evidence"):
        assert recorder.record(CONTEXT, event="step.finished", outcome="success") is None
    assert any("evidence not recorded" in r.getMessage() for r in caplog.records)


def test_never_raises_on_unhashable_details(sqlite_url: str) -> None:
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url))
    assert recorder.record(CONTEXT, event="e", outcome="success", details={"big": 2**64}) is None
    assert recorder.record(CONTEXT, event="e", outcome="success", details={"ok": 1}) is not None


def test_strict_mode_raises(sqlite_url: str) -> None:
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url), strict=True)
    with pytest.raises(CanonicalizationError):
        recorder.record(CONTEXT, event="e", outcome="success", details={"big": 2**64})
    with db.get_engine(sqlite_url).begin() as conn:
        conn.execute(text("DROP TABLE evidence_records"))
    with pytest.raises(LedgerError, match="no such table"):
        recorder.record(CONTEXT, event="e", outcome="success")


def test_strict_mode_raises_when_the_ledger_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{blocker / 'ledger.db'}")
    with pytest.raises(LedgerError, match="cannot open"):
        EvidenceRecorder(strict=True).record(CONTEXT, event="e", outcome="success")


def test_default_ledger_is_opened_on_first_use(_isolated_govflow_home: Path) -> None:
    recorder = EvidenceRecorder()
    assert not (_isolated_govflow_home / "govflow.db").exists()
    assert recorder.record(CONTEXT, event="e", outcome="success") is not None
    assert (_isolated_govflow_home / "govflow.db").is_file()


@pytest.mark.anyio
async def test_arecord(sqlite_url: str, tmp_path: Path) -> None:
    recorder = EvidenceRecorder(EvidenceLedger(sqlite_url))
    first = await recorder.arecord(
        CONTEXT, event="step.finished", outcome="failed", error=ValueError("bad row 7")
    )
    assert first is not None and first.error == "ValueError: bad row 7"
    with db.get_engine(sqlite_url).begin() as conn:
        conn.execute(text("DROP TABLE evidence_heads"))
    assert await recorder.arecord(CONTEXT, event="step.finished", outcome="success") is None
    strict = EvidenceRecorder(EvidenceLedger(sqlite_url), strict=True)
    with pytest.raises(LedgerError):
        await strict.arecord(CONTEXT, event="step.finished", outcome="success")
