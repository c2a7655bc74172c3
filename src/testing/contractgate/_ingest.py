"""Ingest (``/v1/ingest``, legacy ``/ingest``), egress and the playground (spec 3, 6.2-6.6, 6.8)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.responses import Response

from ._call import Call
from ._http import (
    JSON,
    ApiError,
    bad_request,
    field_str,
    json_body,
    loads,
    new_id,
    object_body,
    parse_uuid,
    query_bool,
    query_error,
    serde_message,
    struct_error,
    value_response,
)
from ._ratelimit import v1_limited_body
from ._store import AuditRow, Contract, ForwardRow, IdempotencyRecord, QuarantineRow, Version
from ._validation import ContractYamlError, Outcome, compile_version

MAX_EVENT_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255
UPGRADE_URL = "https://app.datacontractgate.com/settings/billing"
PLAN_LIMITS = {"free": 1_000_000, "growth": 50_000_000}


def _compact_size(event: Any) -> int:
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())


def _too_large(detail: str) -> ApiError:
    return ApiError(413, f"Payload too large: {detail}")


# --- bodies ------------------------------------------------------------------------------------


def parse_v1_body(content_type: str, raw: bytes) -> list[Any]:
    """JSON array, one JSON value (a batch of one), or NDJSON (by Content-Type)."""
    if "application/x-ndjson" in content_type:
        events = []
        for index, line in enumerate(raw.split(b"\n")):
            if not line or line == b"\r":
                continue
            if len(line) > MAX_EVENT_BYTES:
                raise _too_large(
                    f"NDJSON line {index} exceeds the 1 MB per-event limit ({len(line)} bytes)"
                )
            try:
                events.append(loads(line))
            except (UnicodeDecodeError, ValueError) as exc:
                raise bad_request(
                    f"NDJSON parse error at line {index}: {serde_message(exc)}"
                ) from None
        return events
    try:
        value = loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"JSON parse error: {serde_message(exc)}") from None
    events = value if isinstance(value, list) else [value]
    for index, event in enumerate(events):
        size = _compact_size(event)
        if size > MAX_EVENT_BYTES:
            raise _too_large(
                f"Event at index {index} exceeds the 1 MB per-event limit ({size} bytes)"
            )
    return events


def check_batch_size(events: list[Any], limit: int) -> None:
    if not events:
        raise bad_request("Empty event batch")
    if len(events) > limit:
        raise bad_request(f"Batch too large: {len(events)} events submitted, maximum is {limit}")


def enforce_plan_cap(call: Call) -> None:
    cap = call.settings.monthly_event_cap
    used = call.world.usage.get(call.org_id, 0)
    if cap is None or used < cap:
        return
    period = datetime.fromtimestamp(call.world.clock.now(), timezone.utc).strftime("%Y-%m")
    raise ApiError(
        429,
        "plan_limit_exceeded",
        body={
            "error": "plan_limit_exceeded",
            "detail": f"Your {call.settings.plan} plan includes {cap} events per month; "
            f"{used} have been used this period.",
            "plan": call.settings.plan,
            "limit": cap,
            "used": used,
            "period": period,
            "upgrade_url": UPGRADE_URL,
            "status": 429,
        },
    )


# --- validation of a batch ---------------------------------------------------------------------


@dataclass
class Verdict:
    """One event after validation, fallback and uniqueness."""

    outcome: Outcome
    version: Version

    @property
    def passed(self) -> bool:
        return self.outcome.passed


def evaluate(
    contract: Contract, resolved: Version, pin_source: str, events: list[Any], now: float
) -> list[Verdict]:
    compiled = resolved.compile()
    verdicts = [Verdict(compiled.check(event, now), resolved) for event in events]
    if (
        contract.multi_stable_resolution == "fallback"
        and pin_source == "default_stable"
        and any(not v.passed for v in verdicts)
    ):
        apply_fallback(contract, resolved, events, verdicts, now)
    # Uniqueness uses the resolved (latest) version's quality rules, after fallback.
    for index, violation in compiled.uniqueness(events):
        outcome = verdicts[index].outcome
        verdicts[index].outcome = Outcome(
            False, [*outcome.violations, violation], outcome.validation_us
        )
    return verdicts


def apply_fallback(
    contract: Contract, resolved: Version, events: list[Any], verdicts: list[Verdict], now: float
) -> None:
    """Failed events retried against the other stable versions, latest promoted first."""
    candidates = [v for v in contract.stables() if v.version != resolved.version]
    if not candidates:
        return
    compiled = [(v, v.compile()) for v in candidates]
    for index, verdict in enumerate(verdicts):
        if verdict.passed:
            continue
        for version, candidate in compiled:
            outcome = candidate.check(events[index], now)
            if outcome.passed:
                verdicts[index] = Verdict(outcome, version)
                break


def ingest_status(total: int, failed: int, atomic: bool) -> int:
    if atomic and failed:
        return 422
    if failed == 0:
        return 200
    if failed == total:
        return 422
    return 207


@dataclass
class Batch:
    """A validated, persisted (or not) ingest batch and its response body."""

    status: int
    body: JSON


def run_ingest(
    call: Call,
    contract: Contract,
    resolved: Version,
    pin_source: str,
    events: list[Any],
    *,
    dry_run: bool,
    atomic: bool,
    v1: bool,
) -> Batch:
    world, clock = call.world, call.world.clock
    verdicts = evaluate(contract, resolved, pin_source, events, clock.now())
    transformed = [
        v.version.compile().transform(event, contract.pii_salt)
        for v, event in zip(verdicts, events, strict=True)
    ]
    total = len(events)
    failed = sum(1 for v in verdicts if not v.passed)
    atomic_rejected = atomic and failed > 0
    persist = not dry_run and not atomic_rejected
    source_ip = call.source_ip()
    stored = contract.store_event_payloads
    quarantine_ids: list[str | None] = [None] * total

    if persist:
        for index, (verdict, payload) in enumerate(zip(verdicts, transformed, strict=True)):
            now = clock.stamp()
            world.audit.append(
                AuditRow(
                    id=new_id(),
                    contract_id=contract.id,
                    org_id=call.org_id,
                    contract_version=verdict.version.version,
                    passed=verdict.passed,
                    violation_count=len(verdict.outcome.violations),
                    violation_details=verdict.outcome.violations,
                    raw_event=payload if stored else {},
                    validation_us=verdict.outcome.validation_us,
                    source_ip=source_ip,
                    created_at=now,
                )
            )
            if verdict.passed:
                world.forwarded.append(
                    ForwardRow(new_id(), contract.id, verdict.version.version, payload, now)
                )
            else:
                row = QuarantineRow(
                    id=new_id(),
                    contract_id=contract.id,
                    org_id=call.org_id,
                    contract_version=verdict.version.version,
                    payload=payload if stored else None,
                    payload_redacted=not stored,
                    violation_details=verdict.outcome.violations,
                    violation_count=len(verdict.outcome.violations),
                    validation_us=verdict.outcome.validation_us,
                    source_ip=source_ip,
                    created_at=now,
                )
                world.quarantine[row.id] = row
                quarantine_ids[index] = row.id
        world.usage[call.org_id] = world.usage.get(call.org_id, 0) + total
    elif not dry_run:
        # Atomic rejection: one summary audit row, nothing quarantined or forwarded.
        failing = [
            {"index": i, "violations": v.outcome.violations}
            for i, v in enumerate(verdicts)
            if not v.passed
        ]
        world.audit.append(
            AuditRow(
                id=new_id(),
                contract_id=contract.id,
                org_id=call.org_id,
                contract_version=resolved.version,
                passed=False,
                violation_count=len(failing),
                violation_details=failing,
                raw_event={
                    "atomic": True,
                    "batch_rejected": True,
                    "batch_size": total,
                    "failing_count": len(failing),
                }
                if stored
                else {},
                validation_us=0,
                source_ip=source_ip,
                created_at=clock.stamp(),
            )
        )

    results = []
    for index, (verdict, payload) in enumerate(zip(verdicts, transformed, strict=True)):
        result: JSON = {
            "passed": verdict.passed,
            "violations": verdict.outcome.violations,
            "validation_us": verdict.outcome.validation_us,
            "forwarded": verdict.passed and persist,
            "contract_version": verdict.version.version,
            "transformed_event": payload,
        }
        if v1:
            result["index"] = index
            result["quarantine_id"] = quarantine_ids[index]
        results.append(result)
    body = {
        "total": total,
        "passed": total - failed,
        "failed": failed,
        "dry_run": dry_run,
        "atomic": atomic,
        "resolved_version": resolved.version,
        "version_pin_source": pin_source,
        "results": results,
    }
    return Batch(ingest_status(total, failed, atomic), body)


def deprecated_batch(
    call: Call,
    contract: Contract,
    pinned: Version,
    events: list[Any],
    *,
    dry_run: bool,
    v1: bool,
) -> list[JSON]:
    """No validation: every event is quarantined with a synthetic violation (not on a dry run)."""
    compiled = pinned.compile()
    transformed = [compiled.transform(event, contract.pii_salt) for event in events]
    if not dry_run:
        latest = contract.latest_stable()
        details: JSON = {"kind": "deprecated_contract_version", "pinned_version": pinned.version}
        if latest is not None:
            details["latest_stable"] = latest.version
        stored = contract.store_event_payloads
        for payload in transformed:
            row = QuarantineRow(
                id=new_id(),
                contract_id=contract.id,
                org_id=call.org_id,
                contract_version=pinned.version,
                payload=payload if stored else None,
                payload_redacted=not stored,
                violation_details=details,
                violation_count=1,
                validation_us=0,
                source_ip=call.source_ip(),
                created_at=call.world.clock.stamp(),
            )
            call.world.quarantine[row.id] = row
    results = []
    for index, payload in enumerate(transformed):
        result: JSON = {
            "passed": False,
            "violations": [],
            "validation_us": 0,
            "forwarded": False,
            "contract_version": pinned.version,
            "transformed_event": payload,
        }
        if v1:
            result["index"] = index
            result["quarantine_id"] = None
        results.append(result)
    return results


def deprecated_message(pinned: Version, contract: Contract) -> str:
    return f"Version {pinned.version} on contract {contract.id} is deprecated; batch quarantined."


# --- POST /v1/ingest/{contract_id} -----------------------------------------------------------


def v1_ingest(call: Call) -> Response:
    raw_id = call.path_params["contract_id"]
    version_param = call.query.get("version")
    dry_run = query_bool(call.query, "dry_run")
    atomic = query_bool(call.query, "atomic")
    contract_id = parse_uuid(raw_id)
    if contract_id is None:
        raise bad_request(f"invalid contract_id: {raw_id}")

    # The second token of this request (the auth middleware spent the first).
    world = call.world
    bucket = world.bucket(call.cred)
    call.rate = bucket.spend(
        world.clock.mono(), world.clock.now(), enforce=call.cred.enforce_rate_limit
    )
    if not call.rate.allowed:
        raise ApiError(429, "rate_limit_exceeded", body=v1_limited_body(call.rate))

    key = call.headers.get("idempotency-key")
    if key is not None and len(key.encode("latin-1")) > MAX_IDEMPOTENCY_KEY:
        raise bad_request("Idempotency-Key must be ≤ 255 characters")
    body_hash = hashlib.sha256(call.body).hexdigest()
    if key is not None:
        world.expire_idempotency()
        record = world.idempotency.get(key)
        # The lookup is on (key, contract); a record of another contract is a miss.
        if record is not None and record.contract_id == contract_id:
            if record.body_hash != body_hash:
                raise ApiError(
                    422,
                    "idempotency_conflict",
                    body={
                        "error": "idempotency_conflict",
                        "detail": "A different request body was already submitted with this "
                        "Idempotency-Key.",
                    },
                )
            return value_response(record.body, record.status, {"X-Idempotency-Replay": "true"})

    events = parse_v1_body(call.content_type or "application/json", call.body)
    check_batch_size(events, call.settings.batch_limit)
    if not dry_run:
        enforce_plan_cap(call)
    contract = world.contract(call.org_id, contract_id)
    if not call.cred.permits(contract_id):
        raise ApiError(401, "Unauthorized: missing or invalid API key")
    if version_param is not None:
        resolved, pin_source = contract.version(version_param), "query_param"
    else:
        resolved, pin_source = contract.require_latest_stable(), "default_stable"

    if resolved.state == "deprecated":
        results = deprecated_batch(call, contract, resolved, events, dry_run=dry_run, v1=True)
        return value_response(
            {
                "error": deprecated_message(resolved, contract),
                "total": len(events),
                "passed": 0,
                "failed": len(events),
                "dry_run": dry_run,
                "version_pin_source": "pinned_deprecated",
                "results": results,
            },
            422,
        )

    batch = run_ingest(
        call, contract, resolved, pin_source, events, dry_run=dry_run, atomic=atomic, v1=True
    )
    if key is not None and not dry_run:
        # Synchronous here (the gateway writes it after answering): see the package docstring.
        world.idempotency[key] = IdempotencyRecord(
            key, contract_id, body_hash, batch.status, batch.body, world.clock.now()
        )
    return value_response(batch.body, batch.status)


# --- POST /ingest/{contract_id}[@version] (legacy) -------------------------------------------


def split_pinned_path(raw: str) -> tuple[str, str | None]:
    """``uuid[@version]``; a bare ``uuid@`` is unpinned."""
    uuid_part, _, suffix = raw.partition("@")
    contract_id = parse_uuid(uuid_part)
    if contract_id is None:
        raise bad_request(f"invalid contract_id in path: {uuid_part}")
    return contract_id, suffix or None


def header_version(call: Call) -> str | None:
    value = call.headers.get("x-contract-version")
    value = value.strip() if value is not None else None
    return value or None


def legacy_ingest(call: Call) -> Response:
    dry_run = query_bool(call.query, "dry_run")
    atomic = query_bool(call.query, "atomic")
    value = json_body(call.content_type, call.body)
    contract_id, path_version = split_pinned_path(call.path_params["raw_id"])
    events = value if isinstance(value, list) else [value]
    check_batch_size(events, call.settings.batch_limit)
    if not dry_run:
        enforce_plan_cap(call)
    contract = call.world.contract(call.org_id, contract_id)
    if not call.cred.permits(contract_id):
        raise ApiError(401, "Unauthorized: missing or invalid API key")
    pinned = header_version(call)
    if pinned is not None:
        resolved, pin_source = contract.version(pinned), "header"
    elif path_version is not None:
        resolved, pin_source = contract.version(path_version), "path"
    else:
        resolved, pin_source = contract.require_latest_stable(), "default_stable"
    if resolved.state == "deprecated":
        results = deprecated_batch(call, contract, resolved, events, dry_run=dry_run, v1=False)
        batch = {
            "total": len(events),
            "passed": 0,
            "failed": len(events),
            "dry_run": dry_run,
            "atomic": atomic,
            "resolved_version": resolved.version,
            "version_pin_source": "pinned_deprecated",
            "results": results,
        }
        message = deprecated_message(resolved, contract)
        return value_response({"error": message, "status": 422, "batch": batch}, 422)
    result = run_ingest(
        call, contract, resolved, pin_source, events, dry_run=dry_run, atomic=atomic, v1=False
    )
    return value_response(result.body, result.status)


# --- POST /egress/{contract_id}[@version] ----------------------------------------------------

DISPOSITIONS = ("block", "fail", "tag")


def egress(call: Call) -> Response:
    disposition = call.query.get("disposition", "block")
    if disposition not in DISPOSITIONS:
        raise query_error(
            f"disposition: unknown variant `{disposition}`, expected one of `block`, `fail`, `tag`"
        )
    dry_run = query_bool(call.query, "dry_run")
    value = json_body(call.content_type, call.body)
    contract_id, path_version = split_pinned_path(call.path_params["raw_id"])
    if not call.cred.permits(contract_id):
        raise ApiError(401, "Unauthorized: missing or invalid API key")
    world = call.world
    contract = world.contract(call.org_id, contract_id)
    pinned = header_version(call) or path_version
    resolved = contract.version(pinned) if pinned is not None else contract.require_latest_stable()
    events = value if isinstance(value, list) else [value]
    check_batch_size(events, call.settings.batch_limit)
    if resolved.state == "deprecated":
        raise bad_request(
            f"Version {resolved.version} on contract {contract.id} is deprecated; "
            "pin a stable version for egress"
        )
    compiled = resolved.compile()
    now = world.clock.now()
    outcomes = [compiled.check(event, now) for event in events]
    stored_payloads, cleaned, stripped = [], [], []
    for index, event in enumerate(events):
        payload = compiled.transform(event, contract.pii_salt)
        stored_payloads.append(payload)
        kept, removed, leaks = compiled.leakage(payload)
        cleaned.append(kept)
        stripped.append(removed)
        if leaks:
            old = outcomes[index]
            outcomes[index] = Outcome(False, [*old.violations, *leaks], old.validation_us)
    total = len(events)
    failed = sum(1 for o in outcomes if not o.passed)
    payload_out: list[Any] = []
    wire_outcomes = []
    for index, outcome in enumerate(outcomes):
        if disposition == "block":
            action = "included" if outcome.passed else "blocked"
            if outcome.passed:
                payload_out.append(cleaned[index])
        elif disposition == "fail":
            action = "included" if not failed else "rejected"
            if not failed:
                payload_out.append(cleaned[index])
        else:
            action = "included" if outcome.passed else "tagged"
            payload_out.append(cleaned[index])
        item: JSON = {
            "index": index,
            "passed": outcome.passed,
            "violations": outcome.violations,
            "validation_us": outcome.validation_us,
            "action": action,
        }
        if stripped[index]:
            item["stripped_fields"] = stripped[index]
        wire_outcomes.append(item)
    if not dry_run:
        stored = contract.store_event_payloads
        for index, outcome in enumerate(outcomes):
            now = world.clock.stamp()
            payload = stored_payloads[index]
            world.audit.append(
                AuditRow(
                    id=new_id(),
                    contract_id=contract.id,
                    org_id=call.org_id,
                    contract_version=resolved.version,
                    passed=outcome.passed,
                    violation_count=len(outcome.violations),
                    violation_details=outcome.violations,
                    raw_event=payload if stored else {},
                    validation_us=outcome.validation_us,
                    source_ip=call.source_ip(),
                    created_at=now,
                    direction="egress",
                )
            )
            if not outcome.passed:
                row = QuarantineRow(
                    id=new_id(),
                    contract_id=contract.id,
                    org_id=call.org_id,
                    contract_version=resolved.version,
                    payload=payload if stored else None,
                    payload_redacted=not stored,
                    violation_details=outcome.violations,
                    violation_count=len(outcome.violations),
                    validation_us=outcome.validation_us,
                    source_ip=call.source_ip(),
                    created_at=now,
                    direction="egress",
                )
                world.quarantine[row.id] = row
    if (disposition == "fail" and failed) or (failed and failed == total):
        status = 422
    elif failed:
        status = 207
    else:
        status = 200
    body = {
        "total": total,
        "passed": total - failed,
        "failed": failed,
        "dry_run": dry_run,
        "disposition": disposition,
        "egress_leakage_mode": compiled.meta.egress_leakage_mode,
        "resolved_version": resolved.version,
        "payload": payload_out,
        "outcomes": wire_outcomes,
    }
    return value_response(body, status)


# --- POST /playground/validate -----------------------------------------------------------------


def playground(call: Call) -> Response:
    body = object_body(call.content_type, call.body)
    yaml_content = field_str(body, "yaml_content", required=True)
    if "event" not in body:
        raise struct_error("missing field `event`")
    assert yaml_content is not None
    try:
        compiled = compile_version(yaml_content)
    except ContractYamlError as exc:
        raise ApiError(422, f"Invalid contract YAML: {exc.message}") from None
    event = body["event"]
    outcome = compiled.check(event, call.world.clock.now())
    return value_response(
        {
            "passed": outcome.passed,
            "violations": outcome.violations,
            "validation_us": outcome.validation_us,
            # Illustrative only: an empty salt, not the contract's secret one (spec 6.8).
            "transformed_event": compiled.transform(event, b""),
        }
    )


__all__ = [
    "DISPOSITIONS",
    "MAX_EVENT_BYTES",
    "PLAN_LIMITS",
    "egress",
    "evaluate",
    "legacy_ingest",
    "parse_v1_body",
    "playground",
    "v1_ingest",
]
