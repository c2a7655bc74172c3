"""Tamper-evident evidence: the hash-chained ledger, its verifier, exports and the recorder.

::

    from govflow.core.evidence import EvidenceLedger, EvidenceRecorder

    recorder = EvidenceRecorder()  # the ledger at GOVFLOW_LEDGER_URL or in govflow's data dir
    recorder.record(context, event="step.finished", outcome="success", error=None)
    report = recorder.ledger.verify()
"""

from __future__ import annotations

from .export import verify_export
from .ledger import MAX_APPEND_ATTEMPTS, EvidenceLedger, StreamInfo
from .outbox import DeliveryReport, EvidenceOutbox, OutboxEntry, idempotency_key, sender_for
from .recorder import EvidenceRecorder, error_summary
from .verify import EXPORT_TYPE, Problem, ProblemKind, VerifyReport, verify_records

__all__ = [
    "EXPORT_TYPE",
    "MAX_APPEND_ATTEMPTS",
    "DeliveryReport",
    "EvidenceLedger",
    "EvidenceOutbox",
    "EvidenceRecorder",
    "OutboxEntry",
    "Problem",
    "ProblemKind",
    "StreamInfo",
    "VerifyReport",
    "error_summary",
    "idempotency_key",
    "sender_for",
    "verify_export",
    "verify_records",
]
