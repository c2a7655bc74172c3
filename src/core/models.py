"""The vocabulary shared by every platform and orchestrator (DESIGN.md section 2).

All models are pydantic v2, frozen where they describe a fact (a decision, an evidence record) and
tolerant of unknown fields where they come from a platform (``extra="ignore"`` on platform data,
the verbatim answer kept in ``raw``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from .canonical import digest


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and a ``Z``: one textual form, so digests are stable."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RunContext(_Model):
    """Who is running: the orchestrator's identity of one step run."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    orchestrator: str = Field(description="airflow, prefect, dagster, python, ...")
    pipeline: str = Field(description="dag_id, flow name or job name")
    run_id: str
    step: str | None = Field(default=None, description="task_id, task run name, op or asset key")
    attempt: int = 1
    map_index: int | None = None
    partition: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def stream(self) -> str:
        """The evidence stream this run's records chain in: one chain per pipeline."""
        return f"{self.orchestrator}/{self.pipeline}"


class GateRequest(_Model):
    """What a step wants to do."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    action: str
    resource: str | None = None
    purpose: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    payload: Any = None
    payload_digest: str | None = None
    approval_id: str | None = Field(
        default=None,
        description="an approval already granted for this request (the Governor's re-call after a "
        "wait, an Airflow task resuming from deferral); not part of request_digest",
    )

    def request_digest(self) -> str:
        """A digest that identifies this request; the payload itself never enters evidence."""
        return digest(
            {
                "action": self.action,
                "resource": self.resource,
                "purpose": self.purpose,
                "labels": self.labels,
                "payload": self.payload_digest or (digest(self.payload) if self.payload is not None else None),
            }
        )


class DecisionOutcome(str, enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    PENDING = "pending"


class Decision(_Model):
    """A platform's answer to a GateRequest."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    outcome: DecisionOutcome
    platform: str
    reason: str | None = None
    decision_id: str | None = None
    approval_id: str | None = None
    obligations: list[Any] = Field(default_factory=list)
    output: Any = Field(default=None, description="what the platform produced when it executed the action")
    references: dict[str, str] = Field(
        default_factory=dict, description="platform references: receipt_id, invocation_id, rule, ..."
    )
    raw: Any = Field(default=None, description="the platform's answer, verbatim, for audit")

    @property
    def allowed(self) -> bool:
        return self.outcome is DecisionOutcome.ALLOW

    @property
    def denied(self) -> bool:
        return self.outcome is DecisionOutcome.DENY

    @property
    def pending(self) -> bool:
        return self.outcome is DecisionOutcome.PENDING


def decision_summary(decision: Decision, approval: Any = None) -> dict[str, Any]:
    """The decision as JSON without the platform's raw answer: what adapters return and push."""
    data = decision.model_dump(
        mode="json",
        include={
            "outcome", "decision_id", "approval_id", "reason", "references", "obligations", "output",
            "platform",
        },
    )
    data["approval"] = dict(approval) if approval is not None else None
    return data


class ApprovalStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self is not ApprovalStatus.PENDING


class Approval(_Model):
    """A request for a human decision and its state."""

    id: str
    status: ApprovalStatus
    platform: str = "local"
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    approvers: list[str] = Field(default_factory=list)
    context: RunContext | None = Field(default=None, description="the run and step the approval is bound to")
    action: str | None = None
    resource: str | None = None
    reason: str | None = Field(default=None, description="why the approval was asked for")
    raw: Any = None


class Evidence(_Model):
    """One tamper-evident record of a step run or a governance event.

    ``digest`` is SHA-256 over the RFC 8785 canonical JSON of the record without ``digest``;
    ``prev`` is the digest of the previous record of the same ``stream`` (None for the first).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str
    seq: int
    event: str = Field(description="e.g. step.finished, gate.decided, approval.decided, run.finished")
    outcome: str = Field(description="e.g. success, failed, skipped, allow, deny, pending, approved")
    context: RunContext
    recorded_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    decision_id: str | None = None
    approval_id: str | None = None
    references: dict[str, str] = Field(default_factory=dict)
    input_digest: str | None = None
    output_digest: str | None = None
    error: str | None = Field(default=None, description="an error summary; never secrets")
    details: dict[str, Any] = Field(default_factory=dict)
    prev: str | None = None
    digest: str

    @field_serializer("recorded_at", "started_at", "ended_at")
    def _serialize_time(self, value: datetime | None) -> str | None:
        return isoformat(value) if value is not None else None

    def body(self) -> dict[str, Any]:
        """The record as hashed: JSON-mode dump without ``digest``."""
        data = self.model_dump(mode="json")
        data.pop("digest")
        return data

    def computed_digest(self) -> str:
        return digest(self.body())

    @classmethod
    def seal(cls, **fields: Any) -> Evidence:
        """Build a record and compute its digest."""
        unsealed = cls(digest="", **fields)
        return unsealed.model_copy(update={"digest": unsealed.computed_digest()})


class Violation(_Model):
    field: str
    kind: str
    message: str


class RecordResult(_Model):
    index: int
    passed: bool
    violations: list[Violation] = Field(default_factory=list)


class ValidationReport(_Model):
    """Per-record results of validating a batch against a data contract."""

    contract_id: str
    contract_version: str | None = None
    records: list[RecordResult] = Field(default_factory=list)
    platform: str = "local"
    raw: Any = None

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def failed(self) -> int:
        return sum(1 for record in self.records if not record.passed)

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def violations(self) -> list[Violation]:
        return [violation for record in self.records for violation in record.violations]


__all__ = [
    "Approval",
    "ApprovalStatus",
    "Decision",
    "DecisionOutcome",
    "Evidence",
    "GateRequest",
    "RecordResult",
    "RunContext",
    "ValidationReport",
    "Violation",
    "decision_summary",
    "isoformat",
    "utcnow",
]
