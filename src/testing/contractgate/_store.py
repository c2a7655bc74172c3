"""The emulator's data: keys, contracts and versions, audit, quarantine and forward rows.

Everything here runs under the emulator's lock; the domain rules (version states, resolution,
error texts) raise :class:`ApiError` so the HTTP routes and the test-facing API share them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from ._http import JSON, ApiError, iso, new_id, not_found
from ._ratelimit import DEFAULT_BURST, DEFAULT_RPS, SESSION_BURST, SESSION_RPS, Bucket
from ._validation import Compiled, ContractYamlError, Meta, compile_version, parse_version

VersionState = Literal["draft", "stable", "deprecated"]
STATES: tuple[str, ...] = ("draft", "stable", "deprecated")
RESOLUTIONS: tuple[str, ...] = ("strict", "fallback")
IDEMPOTENCY_TTL = 24 * 3600.0


class Clock:
    """Wall and monotonic time, both movable by ``advance``; ``stamp`` never repeats."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._last = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def mono(self) -> float:
        return time.monotonic() + self.offset

    def stamp(self) -> float:
        # Strictly increasing to the microsecond, so "newest first" and "greatest promoted_at"
        # are total orders even for rows written in the same instant.
        moment = max(self.now(), self._last + 1e-6)
        self._last = moment
        return moment


def key_hash(raw_key: str) -> str:
    """What the gateway stores: base64 of the SHA-256 of the raw key."""
    return base64.b64encode(hashlib.sha256(raw_key.encode()).digest()).decode()


def new_api_key() -> str:
    return "cg_live_" + secrets.token_hex(24)


@dataclass
class Credential:
    """An API key (looked up by its 12-character prefix) or a dashboard session token."""

    id: str
    org_id: str
    user_id: str
    kind: Literal["api_key", "session"]
    key_hash: str
    allowed_contract_ids: frozenset[str] | None = None
    rate_limit_rps: int | None = None
    rate_limit_burst: int | None = None
    enforce_rate_limit: bool = False
    revoked: bool = False
    bucket: Bucket | None = None

    def permits(self, contract_id: str) -> bool:
        return self.allowed_contract_ids is None or contract_id in self.allowed_contract_ids

    def limits(self) -> tuple[int, int]:
        if self.kind == "session":
            return SESSION_RPS, SESSION_BURST
        return self.rate_limit_rps or DEFAULT_RPS, self.rate_limit_burst or DEFAULT_BURST


@dataclass
class Version:
    id: str
    contract_id: str
    version: str
    state: str
    yaml_content: str
    meta: Meta
    created_at: float
    promoted_at: float | None = None
    deprecated_at: float | None = None
    import_source: str = "native"
    requires_review: bool = False
    compiled: Compiled | None = None

    def compile(self) -> Compiled:
        """Compiled on first use, as the gateway does: a bad regex is a 422 here, not at create."""
        if self.compiled is None:
            try:
                self.compiled = compile_version(self.yaml_content)
            except ContractYamlError as exc:
                raise ApiError(422, f"Invalid contract YAML: {exc.message}") from None
        return self.compiled

    def response(self) -> JSON:
        return {
            "id": self.id,
            "contract_id": self.contract_id,
            "version": self.version,
            "state": self.state,
            "yaml_content": self.yaml_content,
            "created_at": iso(self.created_at),
            "promoted_at": iso(self.promoted_at),
            "deprecated_at": iso(self.deprecated_at),
            "compliance_mode": self.meta.compliance_mode,
            "egress_leakage_mode": self.meta.egress_leakage_mode,
            "import_source": self.import_source,
            "requires_review": self.requires_review,
        }

    def summary(self) -> JSON:
        return {
            "version": self.version,
            "state": self.state,
            "created_at": iso(self.created_at),
            "promoted_at": iso(self.promoted_at),
            "deprecated_at": iso(self.deprecated_at),
            "import_source": self.import_source,
            "requires_review": self.requires_review,
        }


@dataclass
class Contract:
    id: str
    org_id: str
    name: str
    description: str | None
    multi_stable_resolution: str
    created_at: float
    updated_at: float
    store_event_payloads: bool = True
    pii_salt: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    deleted_at: float | None = None
    versions: dict[str, Version] = field(default_factory=dict)
    name_history: list[JSON] = field(default_factory=list)

    def stables(self) -> list[Version]:
        """Stable versions, latest (greatest ``promoted_at``) first."""
        found = [v for v in self.versions.values() if v.state == "stable"]
        return sorted(found, key=lambda v: v.promoted_at or 0.0, reverse=True)

    def latest_stable(self) -> Version | None:
        stables = self.stables()
        return stables[0] if stables else None

    def require_latest_stable(self) -> Version:
        latest = self.latest_stable()
        if latest is None:
            raise ApiError(409, f"Contract {self.id} has no stable version yet")
        return latest

    def version(self, version: str) -> Version:
        found = self.versions.get(version)
        if found is None:
            raise not_found(f"Version {version} not found on contract {self.id}")
        return found

    def response(self) -> JSON:
        latest = self.latest_stable()
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "multi_stable_resolution": self.multi_stable_resolution,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "version_count": len(self.versions),
            "latest_stable_version": latest.version if latest else None,
        }

    def summary(self) -> JSON:
        latest = self.latest_stable()
        return {
            "id": self.id,
            "name": self.name,
            "multi_stable_resolution": self.multi_stable_resolution,
            "latest_stable_version": latest.version if latest else None,
            "version_count": len(self.versions),
            "store_event_payloads": self.store_event_payloads,
        }


@dataclass
class AuditRow:
    id: str
    contract_id: str
    org_id: str
    contract_version: str | None
    passed: bool
    violation_count: int
    violation_details: Any
    raw_event: Any
    validation_us: int
    source_ip: str | None
    created_at: float
    direction: str = "ingress"
    replay_of_quarantine_id: str | None = None

    def wire(self) -> JSON:
        return {
            "id": self.id,
            "contract_id": self.contract_id,
            "contract_version": self.contract_version,
            "passed": self.passed,
            "violation_count": self.violation_count,
            "violation_details": self.violation_details,
            "raw_event": self.raw_event,
            "validation_us": self.validation_us,
            "source_ip": self.source_ip,
            "created_at": iso(self.created_at),
        }

    def record(self) -> JSON:
        return {
            **self.wire(),
            "direction": self.direction,
            "replay_of_quarantine_id": self.replay_of_quarantine_id,
        }


@dataclass
class QuarantineRow:
    id: str
    contract_id: str
    org_id: str
    contract_version: str
    payload: Any
    payload_redacted: bool
    violation_details: Any
    violation_count: int
    validation_us: int
    source_ip: str | None
    created_at: float
    direction: str = "ingress"
    status: str = "pending"
    replay_of_quarantine_id: str | None = None
    replayed_at: float | None = None
    replayed_into_audit_id: str | None = None

    def record(self) -> JSON:
        return {
            "id": self.id,
            "contract_id": self.contract_id,
            "contract_version": self.contract_version,
            "status": self.status,
            "payload": self.payload,
            "payload_redacted": self.payload_redacted,
            "violation_details": self.violation_details,
            "violation_count": self.violation_count,
            "validation_us": self.validation_us,
            "source_ip": self.source_ip,
            "direction": self.direction,
            "created_at": iso(self.created_at),
            "replay_of_quarantine_id": self.replay_of_quarantine_id,
            "replayed_at": iso(self.replayed_at),
            "replayed_into_audit_id": self.replayed_into_audit_id,
        }


@dataclass
class ForwardRow:
    id: str
    contract_id: str
    contract_version: str
    payload: Any
    created_at: float
    replay_of_quarantine_id: str | None = None

    def record(self) -> JSON:
        return {
            "id": self.id,
            "contract_id": self.contract_id,
            "contract_version": self.contract_version,
            "payload": self.payload,
            "created_at": iso(self.created_at),
            "replay_of_quarantine_id": self.replay_of_quarantine_id,
        }


@dataclass
class IdempotencyRecord:
    key: str
    contract_id: str
    body_hash: str
    status: int
    body: Any
    created_at: float


class World:
    """All state of one emulator (one gateway, its database)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.credentials: dict[str, Credential] = {}  # key_prefix (or session token) -> credential
        self.contracts: dict[str, Contract] = {}
        self.audit: list[AuditRow] = []
        self.quarantine: dict[str, QuarantineRow] = {}
        self.forwarded: list[ForwardRow] = []
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self.usage: dict[str, int] = {}  # org -> events metered this month

    # --- contracts -----------------------------------------------------------------------------

    def contract(self, org_id: str, contract_id: str) -> Contract:
        """Org-scoped lookup: unknown, deleted and other orgs' contracts are all 404."""
        found = self.contracts.get(contract_id)
        if found is None or found.deleted_at is not None or found.org_id != org_id:
            raise not_found(f"Contract not found: {contract_id}")
        return found

    def live_contracts(self, org_id: str) -> list[Contract]:
        return [c for c in self.contracts.values() if c.deleted_at is None and c.org_id == org_id]

    def create_contract(
        self,
        org_id: str,
        *,
        name: str,
        description: str | None,
        yaml_content: str,
        multi_stable_resolution: str = "strict",
        first_version: str | None = "1.0.0",
        contract_id: str | None = None,
        store_event_payloads: bool = True,
    ) -> Contract:
        meta = self.parse(yaml_content)
        now = self.clock.stamp()
        contract = Contract(
            id=contract_id or new_id(),
            org_id=org_id,
            name=name,
            description=description,
            multi_stable_resolution=multi_stable_resolution,
            created_at=now,
            updated_at=now,
            store_event_payloads=store_event_payloads,
        )
        self.contracts[contract.id] = contract
        if first_version is not None:
            self._insert_version(contract, first_version, yaml_content, meta)
        return contract

    def parse(self, yaml_content: str) -> Meta:
        try:
            return parse_version(yaml_content)
        except ContractYamlError as exc:
            raise ApiError(422, f"Invalid contract YAML: {exc.message}") from None

    def add_version(self, contract: Contract, version: str, yaml_content: str) -> Version:
        meta = self.parse(yaml_content)
        if version in contract.versions:
            raise ApiError(409, f"Version {version} already exists on contract {contract.id}")
        return self._insert_version(contract, version, yaml_content, meta)

    def _insert_version(
        self, contract: Contract, version: str, yaml_content: str, meta: Meta
    ) -> Version:
        row = Version(
            id=new_id(),
            contract_id=contract.id,
            version=version,
            state="draft",
            yaml_content=yaml_content,
            meta=meta,
            created_at=self.clock.stamp(),
        )
        contract.versions[version] = row
        contract.updated_at = row.created_at
        return row

    @staticmethod
    def _immutable(row: Version) -> ApiError:
        return ApiError(409, f"Version {row.version} is {row.state} and cannot be modified")

    def patch_version(self, contract: Contract, version: str, yaml_content: str) -> Version:
        row = contract.version(version)
        if row.state != "draft":
            raise self._immutable(row)
        row.meta = self.parse(yaml_content)
        row.yaml_content = yaml_content
        row.compiled = None
        return row

    def delete_version(self, contract: Contract, version: str) -> None:
        row = contract.version(version)
        if row.state != "draft":
            raise self._immutable(row)
        del contract.versions[version]

    def promote(self, contract: Contract, version: str) -> Version:
        row = contract.version(version)
        if row.state != "draft":
            raise ApiError(
                409, f"Invalid state transition {row.state} → stable for version {version}"
            )
        row.state, row.promoted_at = "stable", self.clock.stamp()
        return row

    def deprecate(self, contract: Contract, version: str) -> Version:
        row = contract.version(version)
        if row.state != "stable":
            raise ApiError(
                409, f"Invalid state transition {row.state} → deprecated for version {version}"
            )
        row.state, row.deprecated_at = "deprecated", self.clock.stamp()
        return row

    # --- credentials -----------------------------------------------------------------------------

    def add_credential(self, raw: str, cred: Credential) -> None:
        self.credentials[raw[:12] if cred.kind == "api_key" else raw] = cred

    def authenticate_key(self, raw: str) -> Credential | None:
        if len(raw) < 12 or not raw.startswith("cg_"):
            return None
        cred = self.credentials.get(raw[:12])
        if cred is None or cred.kind != "api_key" or cred.revoked or cred.key_hash != key_hash(raw):
            return None
        return cred

    def authenticate_session(self, token: str) -> Credential | None:
        cred = self.credentials.get(token)
        if cred is None or cred.kind != "session" or cred.revoked:
            return None
        return cred

    def bucket(self, cred: Credential) -> Bucket:
        rate, burst = cred.limits()
        if cred.bucket is None:
            cred.bucket = Bucket(rate, burst, self.clock.mono())
        cred.bucket.rate, cred.bucket.burst = rate, burst
        return cred.bucket

    # --- rows -----------------------------------------------------------------------------------

    def quarantine_row(self, org_id: str, quarantine_id: str) -> QuarantineRow | None:
        row = self.quarantine.get(quarantine_id)
        return row if row is not None and row.org_id == org_id else None

    def attempts(self, source_id: str) -> list[tuple[float, bool]]:
        """(when, passed) of every replay of a quarantined event."""
        found = [(a.created_at, True) for a in self.audit if a.replay_of_quarantine_id == source_id]
        found += [
            (q.created_at, False)
            for q in self.quarantine.values()
            if q.replay_of_quarantine_id == source_id
        ]
        return sorted(found)

    def quarantine_wire(self, row: QuarantineRow) -> JSON:
        attempts = self.attempts(row.id)
        return {
            "id": row.id,
            "contract_id": row.contract_id,
            "contract_version": row.contract_version,
            "raw_event": row.payload,
            "payload_redacted": row.payload_redacted,
            "violation_details": row.violation_details,
            "violation_count": row.violation_count,
            "source_ip": row.source_ip,
            "quarantined_at": iso(row.created_at),
            "replay_count": len(attempts),
            "last_replayed_at": iso(attempts[-1][0]) if attempts else None,
            "last_replay_passed": attempts[-1][1] if attempts else None,
        }

    def expire_idempotency(self) -> None:
        horizon = self.clock.now() - IDEMPOTENCY_TTL
        for key in [k for k, r in self.idempotency.items() if r.created_at < horizon]:
            del self.idempotency[key]


__all__ = [
    "IDEMPOTENCY_TTL",
    "RESOLUTIONS",
    "STATES",
    "AuditRow",
    "Clock",
    "Contract",
    "Credential",
    "ForwardRow",
    "IdempotencyRecord",
    "QuarantineRow",
    "Version",
    "VersionState",
    "World",
    "key_hash",
    "new_api_key",
]
