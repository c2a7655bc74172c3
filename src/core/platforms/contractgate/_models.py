"""ContractGate's response shapes (specs/contractgate.md sections 2, 3, 6).

Every model accepts fields it does not know (``extra="allow"``), keeps the body verbatim in
``raw``, and has a default for everything the gateway might leave out: the deprecated-pin 422
(spec 6.4) lacks ``resolved_version`` and ``atomic``, list rows lack what detail rows have, and a
newer gateway may drop or add keys. Enumerations (a violation's ``kind``, a version's ``state``,
a replay ``outcome``) are plain strings: a kind introduced tomorrow must never crash a pipeline
today, which is exactly how SDK 0.4.0 fails on the four newest violation kinds (spec 14.2).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ConfigDict, Field

from ...errors import TransportError
from ...models import RecordResult, Violation
from .._response import ResponseModel

PLATFORM = "contractgate"

_M = TypeVar("_M", bound="ContractGateModel")


class ViolationKind(str, enum.Enum):
    """The 13 kinds the gateway emits today (spec section 3).

    A violation's ``kind`` is a plain string; compare with these members (they are strings) or
    use :attr:`ContractGateViolation.known_kind`, which is None for a kind govflow does not know.
    """

    MISSING_REQUIRED_FIELD = "missing_required_field"
    TYPE_MISMATCH = "type_mismatch"
    PATTERN_MISMATCH = "pattern_mismatch"
    ENUM_VIOLATION = "enum_violation"
    RANGE_VIOLATION = "range_violation"
    LENGTH_VIOLATION = "length_violation"
    METRIC_RANGE_VIOLATION = "metric_range_violation"
    UNKNOWN_FIELD = "unknown_field"
    UNDECLARED_FIELD = "undeclared_field"
    LEAKAGE_VIOLATION = "leakage_violation"
    COMPLETENESS_VIOLATION = "completeness_violation"
    FRESHNESS_VIOLATION = "freshness_violation"
    UNIQUENESS_VIOLATION = "uniqueness_violation"


KNOWN_VIOLATION_KINDS = frozenset(kind.value for kind in ViolationKind)

# The synthetic kind govflow reports for a batch quarantined because it pinned a deprecated
# version (the gateway stores the same kind in the quarantine row, spec 3 and 6.4).
DEPRECATED_VERSION_KIND = "deprecated_contract_version"


class ContractGateModel(ResponseModel):
    """Base of the response models: unknown fields kept, explicit nulls mean the default."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    platform = PLATFORM
    platform_name = "ContractGate"

    @classmethod
    def list_from_body(cls: type[_M], body: Any, *, where: str = "") -> list[_M]:
        """A JSON array of objects (null counts as empty, as in the SDK)."""
        if body is None:
            return []
        if not isinstance(body, list):
            raise TransportError(
                f"{where}: expected a JSON array, got {type(body).__name__}",
                platform=PLATFORM,
                code="unexpected_response",
            )
        return [cls.from_body(row, where=where) for row in body]


# --- violations and per-event results --------------------------------------------------------


class ContractGateViolation(ContractGateModel):
    """``{"field", "kind", "message"}``; ``kind`` is any string, known or not."""

    field: str = ""
    kind: str = ""
    message: str = ""

    @property
    def known_kind(self) -> ViolationKind | None:
        """The kind as a :class:`ViolationKind`, or None for a kind newer than govflow."""
        return ViolationKind(self.kind) if self.kind in KNOWN_VIOLATION_KINDS else None

    def to_core(self) -> Violation:
        return Violation(field=self.field, kind=self.kind, message=self.message)


class EventResult(ContractGateModel):
    """One event's verdict in an ingest response, in input order (spec section 3).

    ``contract_version`` is the version that actually decided (it differs from the batch's
    ``resolved_version`` under fallback): surface it as is. ``transformed_event`` is what the
    gateway stored, after PII transforms; it is also set for failed events.
    """

    index: int | None = None
    passed: bool = False
    violations: list[ContractGateViolation] = Field(default_factory=list)
    validation_us: int = 0
    forwarded: bool = False
    contract_version: str | None = None
    quarantine_id: str | None = None
    transformed_event: Any = None


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``X-RateLimit-*`` headers of a v1 response: the key's rps, tokens left, reset epoch."""

    limit: int | None
    remaining: int | None
    reset: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo | None:
        values = [
            _int_header(headers.get(name))
            for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
        ]
        if all(value is None for value in values):
            return None
        return cls(*values)


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


class IngestResult(ContractGateModel):
    """``POST /v1/ingest/{contract_id}``: the batch verdict (200, 207, or a 422 with results).

    Wire fields: ``total``, ``passed`` and ``failed`` (counts), ``dry_run``, ``atomic``,
    ``resolved_version`` (None on a deprecated pin), ``version_pin_source``, ``results``, and
    ``error`` (the message of a deprecated-pin 422). Set by govflow, not on the wire:
    ``status_code``, ``replayed`` (the gateway answered from its idempotency store,
    ``X-Idempotency-Replay: true``), ``idempotency_key`` (the key sent), ``rate_limit``, and
    ``offset`` (where this batch starts in the input of :meth:`ContractGateClient.ingest_batches`).
    """

    total: int = 0
    passed: int = 0
    failed: int = 0
    dry_run: bool = False
    atomic: bool | None = None
    resolved_version: str | None = None
    version_pin_source: str | None = None
    results: list[EventResult] = Field(default_factory=list)
    error: str | None = None

    status_code: int = Field(default=200, exclude=True)
    replayed: bool = Field(default=False, exclude=True)
    idempotency_key: str | None = Field(default=None, exclude=True, repr=False)
    rate_limit: RateLimitInfo | None = Field(default=None, exclude=True)
    offset: int = Field(default=0, exclude=True)

    @property
    def all_passed(self) -> bool:
        return self.failed == 0 and all(result.passed for result in self.results)

    @property
    def partial(self) -> bool:
        """207: some events passed and some failed."""
        return self.status_code == 207

    @property
    def deprecated_pin(self) -> bool:
        """The pinned version is deprecated: nothing was validated, the batch was quarantined."""
        return self.version_pin_source == "pinned_deprecated"

    @property
    def atomic_rejected(self) -> bool:
        """An atomic batch with a failure: nothing was stored, quarantined or forwarded."""
        return bool(self.atomic) and self.failed > 0 and not self.deprecated_pin

    @property
    def failures(self) -> list[EventResult]:
        return [result for result in self.results if not result.passed]

    @property
    def quarantine_ids(self) -> list[str]:
        """The quarantine rows this request created (none for dry runs and atomic rejections)."""
        return [r.quarantine_id for r in self.results if r.quarantine_id]

    @property
    def contract_versions(self) -> set[str]:
        """Every version that decided an event (more than one only under fallback)."""
        return {r.contract_version for r in self.results if r.contract_version}

    def records(self) -> list[RecordResult]:
        """Per-event results in govflow's vocabulary, indexed from ``offset``.

        A deprecated pin gives each event one ``deprecated_contract_version`` violation, so a
        failed record always says why it failed.
        """
        records = []
        for position, result in enumerate(self.results):
            index = self.offset + (result.index if result.index is not None else position)
            violations = [v.to_core() for v in result.violations]
            if not result.passed and not violations and self.deprecated_pin:
                violations = [
                    Violation(
                        field="<root>",
                        kind=DEPRECATED_VERSION_KIND,
                        message=self.error or "the pinned contract version is deprecated",
                    )
                ]
            records.append(RecordResult(index=index, passed=result.passed, violations=violations))
        return records


# --- egress ----------------------------------------------------------------------------------


class EgressOutcome(ContractGateModel):
    """One record's outcome in an egress response; ``action`` is included, blocked, rejected, tagged."""

    index: int | None = None
    passed: bool = False
    violations: list[ContractGateViolation] = Field(default_factory=list)
    validation_us: int = 0
    action: str = ""
    stripped_fields: list[str] | None = None


class EgressResult(ContractGateModel):
    """``POST /egress/{contract_id}`` (spec 6.6). Forward only ``payload`` downstream."""

    total: int = 0
    passed: int = 0
    failed: int = 0
    dry_run: bool = False
    disposition: str = "block"
    egress_leakage_mode: str | None = None
    resolved_version: str | None = None
    payload: list[Any] = Field(default_factory=list)
    outcomes: list[EgressOutcome] = Field(default_factory=list)

    status_code: int = Field(default=200, exclude=True)


# --- contracts and versions ------------------------------------------------------------------


class Contract(ContractGateModel):
    """A contract's identity: ``GET /contracts/{id}`` (all fields) or a ``GET /contracts`` row."""

    id: str
    name: str
    description: str | None = None
    multi_stable_resolution: str = "strict"
    created_at: str | None = None
    updated_at: str | None = None
    version_count: int = 0
    latest_stable_version: str | None = None
    store_event_payloads: bool | None = None


class ContractVersion(ContractGateModel):
    """A version row (``VersionResponse``), or a ``GET .../versions`` summary row without the YAML.

    ``state`` is ``draft``, ``stable`` or ``deprecated``; it only moves forward.
    """

    version: str
    state: str
    id: str | None = None
    contract_id: str | None = None
    yaml_content: str | None = Field(default=None, repr=False)
    created_at: str | None = None
    promoted_at: str | None = None
    deprecated_at: str | None = None
    compliance_mode: bool | None = None
    egress_leakage_mode: str | None = None
    import_source: str | None = None
    requires_review: bool | None = None


class DeployResult(ContractGateModel):
    """``POST /contracts/deploy``: the contract found or created, the version made stable."""

    contract_id: str
    version_id: str | None = None
    name: str | None = None
    version: str | None = None
    source: str | None = None
    deployed_by: str | None = None
    deployed_at: str | None = None
    deprecated_count: int = 0


class VersionHash(ContractGateModel):
    """``GET /v1/contracts/{id}/version``: the latest stable version and its YAML's SHA-256."""

    version: str
    hash: str | None = None


# --- audit and stats -------------------------------------------------------------------------


class AuditEntry(ContractGateModel):
    """One audit row, newest first. ``raw_event`` is ``{}`` when payload storage is off."""

    id: str
    contract_id: str | None = None
    contract_version: str | None = None
    passed: bool = False
    violation_count: int = 0
    violation_details: Any = None
    raw_event: Any = Field(default=None, repr=False)
    validation_us: int = 0
    source_ip: str | None = None
    created_at: str | None = None


class IngestionStats(ContractGateModel):
    """``GET /stats`` (the org) or ``GET /ingest/{id}/stats`` (one contract)."""

    total_events: int = 0
    passed_events: int = 0
    failed_events: int = 0
    pass_rate: float = 0.0
    avg_validation_us: float = 0.0
    p50_validation_us: int = 0
    p95_validation_us: int = 0
    p99_validation_us: int = 0


# --- quarantine and replay -------------------------------------------------------------------


class QuarantineRow(ContractGateModel):
    """A quarantined event (``GET /quarantine``); ``raw_event`` is None when it was not stored."""

    id: str
    contract_id: str | None = None
    contract_version: str | None = None
    raw_event: Any = Field(default=None, repr=False)
    payload_redacted: bool = False
    violation_details: Any = None
    violation_count: int = 0
    source_ip: str | None = None
    quarantined_at: str | None = None
    replay_count: int = 0
    last_replayed_at: str | None = None
    last_replay_passed: bool | None = None
    status: str | None = None
    direction: str | None = None

    @property
    def violations(self) -> list[ContractGateViolation]:
        """``violation_details`` as violations (a deprecated pin's synthetic item included)."""
        details = self.violation_details
        items = details if isinstance(details, list) else [details] if isinstance(details, dict) else []
        found = []
        for item in items:
            if isinstance(item, dict):
                message = item.get("message")
                if message is None and item.get("kind") == DEPRECATED_VERSION_KIND:
                    message = f"version {item.get('pinned_version')} is deprecated"
                found.append(
                    ContractGateViolation(
                        field=str(item.get("field", "<root>")),
                        kind=str(item.get("kind", "")),
                        message=str(message or ""),
                    )
                )
        return found


class ReplayOutcome(ContractGateModel):
    """One id's outcome: replayed, still_quarantined, already_replayed, not_found,
    wrong_contract, purged, redacted (or a newer one)."""

    quarantine_id: str
    outcome: str
    replayed_into_audit_id: str | None = None
    contract_version_matched: str | None = None
    new_quarantine_id: str | None = None
    contract_version_attempted: str | None = None
    violation_count: int | None = None
    violations: list[ContractGateViolation] = Field(default_factory=list)


class ReplayResult(ContractGateModel):
    """``POST /contracts/{id}/quarantine/replay`` (spec 6.7)."""

    total: int = 0
    replayed: int = 0
    still_quarantined: int = 0
    already_replayed: int = 0
    not_found: int = 0
    wrong_contract: int = 0
    purged: int = 0
    redacted: int = 0
    target_version: str | None = None
    target_version_source: str | None = None
    target_is_draft: bool = False
    results: list[ReplayOutcome] = Field(default_factory=list)


class EventReplayOutcome(ContractGateModel):
    """One id's outcome of ``POST /quarantine/replay``; ineligible ids pass=False, no violations."""

    event_id: str
    version: str | None = None
    passed: bool = False
    violations: list[ContractGateViolation] = Field(default_factory=list)
    replayed_at: str | None = None


class EventReplayResult(ContractGateModel):
    """``POST /quarantine/replay``: outcomes in input order."""

    replayed: int = 0
    outcomes: list[EventReplayOutcome] = Field(default_factory=list)


# --- playground ------------------------------------------------------------------------------


class PlaygroundResult(ContractGateModel):
    """``POST /playground/validate``: transforms use an empty salt, so hashes are illustrative."""

    passed: bool = False
    violations: list[ContractGateViolation] = Field(default_factory=list)
    validation_us: int = 0
    transformed_event: Any = None


__all__ = [
    "DEPRECATED_VERSION_KIND",
    "KNOWN_VIOLATION_KINDS",
    "PLATFORM",
    "AuditEntry",
    "Contract",
    "ContractGateModel",
    "ContractGateViolation",
    "ContractVersion",
    "DeployResult",
    "EgressOutcome",
    "EgressResult",
    "EventReplayOutcome",
    "EventReplayResult",
    "EventResult",
    "IngestResult",
    "IngestionStats",
    "PlaygroundResult",
    "QuarantineRow",
    "RateLimitInfo",
    "ReplayOutcome",
    "ReplayResult",
    "VersionHash",
    "ViolationKind",
]
