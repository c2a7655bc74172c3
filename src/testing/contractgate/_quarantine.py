"""Quarantine listing, replay and replay history (spec section 6.7)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.responses import Response

from ._call import Call
from ._http import (
    JSON,
    NIL_UUID,
    ApiError,
    bad_request,
    field_str,
    field_uuids,
    iso,
    json_response,
    new_id,
    object_body,
    parse_uuid,
    path_uuid,
    query_int,
    query_uuid,
)
from ._store import AuditRow, Contract, ForwardRow, QuarantineRow, Version

MAX_REPLAY_IDS = 1000
OUTCOMES = (
    "replayed",
    "still_quarantined",
    "already_replayed",
    "not_found",
    "wrong_contract",
    "purged",
    "redacted",
)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def list_quarantine(call: Call) -> Response:
    contract_id = query_uuid(call.query, "contract_id")
    limit = _clamp(query_int(call.query, "limit", 100), 1, 500)
    offset = max(0, query_int(call.query, "offset", 0))
    world = call.world
    rows = [
        r
        for r in world.quarantine.values()
        if r.org_id == call.org_id
        and r.replay_of_quarantine_id is None
        and (contract_id is None or r.contract_id == contract_id)
    ]
    rows.sort(key=lambda r: r.created_at, reverse=True)
    return json_response([world.quarantine_wire(r) for r in rows[offset : offset + limit]])


def _check_id_count(ids: list[str]) -> None:
    if not 1 <= len(ids) <= MAX_REPLAY_IDS:
        raise bad_request(
            f"ids must contain between 1 and {MAX_REPLAY_IDS} entries, got {len(ids)}"
        )


def replay(call: Call, contract: Contract, ids: list[str], target_version: str | None) -> JSON:
    """The replay engine shared by both replay routes."""
    world, clock = call.world, call.world.clock
    if target_version is not None:
        target, source = contract.version(target_version), "explicit"
    else:
        target, source = contract.require_latest_stable(), "default_stable"
    # Fallback only for an implicit target under the fallback policy.
    candidates: list[Version] = [target]
    if target_version is None and contract.multi_stable_resolution == "fallback":
        candidates += [v for v in contract.stables() if v.version != target.version]
    results: list[JSON] = []
    for quarantine_id in ids:
        row = world.quarantine_row(call.org_id, quarantine_id)
        outcome = _classify(row, contract)
        if outcome is not None or row is None:
            results.append({"quarantine_id": quarantine_id, "outcome": outcome or "not_found"})
            continue
        now = clock.now()
        first = target.compile().check(row.payload, now)
        matched, verdict = target, first
        if not first.passed:
            for candidate in candidates[1:]:
                retry = candidate.compile().check(row.payload, now)
                if retry.passed:
                    matched, verdict = candidate, retry
                    break
        now = clock.stamp()
        if verdict.passed:
            audit_id = new_id()
            world.audit.append(
                AuditRow(
                    id=audit_id,
                    contract_id=contract.id,
                    org_id=call.org_id,
                    contract_version=matched.version,
                    passed=True,
                    violation_count=0,
                    violation_details=[],
                    raw_event=row.payload,
                    validation_us=verdict.validation_us,
                    source_ip=call.source_ip(),
                    created_at=now,
                    direction=row.direction,
                    replay_of_quarantine_id=row.id,
                )
            )
            world.forwarded.append(
                ForwardRow(new_id(), contract.id, matched.version, row.payload, now, row.id)
            )
            row.status, row.replayed_at, row.replayed_into_audit_id = "replayed", now, audit_id
            results.append(
                {
                    "quarantine_id": quarantine_id,
                    "outcome": "replayed",
                    "replayed_into_audit_id": audit_id,
                    "contract_version_matched": matched.version,
                }
            )
        else:
            child = QuarantineRow(
                id=new_id(),
                contract_id=contract.id,
                org_id=call.org_id,
                contract_version=target.version,
                payload=row.payload,
                payload_redacted=False,
                violation_details=first.violations,
                violation_count=len(first.violations),
                validation_us=first.validation_us,
                source_ip=call.source_ip(),
                created_at=now,
                direction=row.direction,
                replay_of_quarantine_id=row.id,
            )
            world.quarantine[child.id] = child
            results.append(
                {
                    "quarantine_id": quarantine_id,
                    "outcome": "still_quarantined",
                    # The gateway answers the nil UUID here, not the new row's id (spec 6.7).
                    "new_quarantine_id": NIL_UUID,
                    "contract_version_attempted": target.version,
                    "violation_count": len(first.violations),
                    "violations": first.violations,
                }
            )
    counts = Counter(r["outcome"] for r in results)
    return {
        "total": len(ids),
        **{name: counts.get(name, 0) for name in OUTCOMES},
        "target_version": target.version,
        "target_version_source": source,
        "target_is_draft": target.state == "draft",
        "results": results,
    }


def _classify(row: QuarantineRow | None, contract: Contract) -> str | None:
    if row is None:
        return "not_found"
    if row.contract_id != contract.id:
        return "wrong_contract"
    if row.status == "purged":
        return "purged"
    if row.status == "replayed" or row.replayed_at is not None:
        return "already_replayed"
    if row.payload is None:
        return "redacted"
    return None


def contract_replay(call: Call) -> Response:
    contract_id = path_uuid(call.path_params["contract_id"])
    body = object_body(call.content_type, call.body)
    ids = field_uuids(body, "ids", required=True) or []
    target_version = field_str(body, "target_version", required=False)
    contract = call.world.contract(call.org_id, contract_id)
    _check_id_count(ids)
    return json_response(replay(call, contract, ids, target_version))


def global_replay(call: Call) -> Response:
    body = object_body(call.content_type, call.body)
    ids = field_uuids(body, "event_ids", required=True) or []
    version = field_str(body, "version", required=False)
    raw_contract = field_str(body, "contract_id", required=False)
    _check_id_count(ids)
    world = call.world
    only: Contract | None = None
    if raw_contract is not None:
        parsed = parse_uuid(raw_contract)
        if parsed is None:
            raise bad_request(f"invalid contract_id: {raw_contract}")
        only = world.contract(call.org_id, parsed)
    groups: dict[str, list[str]] = {}
    for event_id in ids:
        row = world.quarantine_row(call.org_id, event_id)
        if row is None:
            continue
        if only is not None and row.contract_id != only.id:
            raise bad_request(f"quarantine event {event_id} does not belong to contract {only.id}")
        groups.setdefault(row.contract_id, []).append(event_id)
    by_id: dict[str, JSON] = {}
    replayed_at: dict[str, str | None] = {}
    for contract_id, members in groups.items():
        contract = world.contracts[contract_id]
        if contract.deleted_at is not None:
            continue
        answer = replay(call, contract, members, version)
        for result in answer["results"]:
            by_id[result["quarantine_id"]] = result
            if result["outcome"] == "replayed":
                audit = next(a for a in world.audit if a.id == result["replayed_into_audit_id"])
                replayed_at[result["quarantine_id"]] = iso(audit.created_at)
    outcomes = []
    for event_id in ids:
        result = by_id.get(event_id, {"outcome": "not_found"})
        outcome = result["outcome"]
        outcomes.append(
            {
                "event_id": event_id,
                "version": result.get("contract_version_matched")
                or result.get("contract_version_attempted"),
                "passed": outcome == "replayed",
                "violations": result.get("violations", []),
                "replayed_at": replayed_at.get(event_id),
            }
        )
    replayed = sum(1 for o in outcomes if o["passed"])
    return json_response({"replayed": replayed, "outcomes": outcomes})


def replay_history(call: Call) -> Response:
    contract_id = path_uuid(call.path_params["contract_id"])
    quarantine_id = path_uuid(call.path_params["quarantine_id"])
    world = call.world
    contract = world.contract(call.org_id, contract_id)
    source = world.quarantine_row(call.org_id, quarantine_id)
    if source is None or source.contract_id != contract.id:
        raise bad_request(f"quarantine event {quarantine_id} not found on contract {contract.id}")
    entries: list[JSON] = [
        {
            "kind": "source",
            "id": source.id,
            "contract_version": source.contract_version,
            "status": source.status,
            "violation_count": source.violation_count,
            "replayed_at": iso(source.replayed_at),
            "replayed_into_audit_id": source.replayed_into_audit_id,
            "created_at": iso(source.created_at),
        }
    ]
    failed = sorted(
        (q for q in world.quarantine.values() if q.replay_of_quarantine_id == source.id),
        key=lambda q: q.created_at,
    )
    entries += [
        {
            "kind": "failed_replay",
            "id": q.id,
            "contract_version": q.contract_version,
            "violation_count": q.violation_count,
            "violations": q.violation_details,
            "created_at": iso(q.created_at),
        }
        for q in failed
    ]
    passed = sorted(
        (a for a in world.audit if a.replay_of_quarantine_id == source.id),
        key=lambda a: a.created_at,
    )
    entries += [
        {
            "kind": "passed_replay",
            "id": a.id,
            "contract_version": a.contract_version,
            "created_at": iso(a.created_at),
        }
        for a in passed
    ]
    return json_response(entries)


def replay_attempts(call: Call) -> Response:
    """``GET /quarantine/replay-history``: the attempts only, ReplayOutcome-shaped, newest first."""
    event_id = query_uuid(call.query, "event_id")
    limit = _clamp(query_int(call.query, "limit", 50), 1, 500)
    world = call.world
    attempts: list[tuple[float, JSON]] = []
    for row in world.quarantine.values():
        source = row.replay_of_quarantine_id
        if row.org_id != call.org_id or source is None or event_id not in (None, source):
            continue
        attempts.append(
            (
                row.created_at,
                _attempt(
                    source, row.contract_version, False, row.violation_details, row.created_at
                ),
            )
        )
    for audit in world.audit:
        source = audit.replay_of_quarantine_id
        if audit.org_id != call.org_id or source is None or event_id not in (None, source):
            continue
        attempts.append(
            (audit.created_at, _attempt(source, audit.contract_version, True, [], audit.created_at))
        )
    attempts.sort(key=lambda pair: pair[0], reverse=True)
    return json_response([a for _, a in attempts[:limit]])


def _attempt(event_id: str, version: str | None, passed: bool, violations: Any, at: float) -> JSON:
    return {
        "event_id": event_id,
        "version": version,
        "passed": passed,
        "violations": violations,
        "replayed_at": iso(at),
    }


def set_status(row: QuarantineRow, status: str) -> None:
    if status not in ("pending", "reviewed", "purged", "replayed"):
        raise ApiError(422, f"unknown quarantine status {status!r}")
    row.status = status


__all__ = [
    "MAX_REPLAY_IDS",
    "OUTCOMES",
    "contract_replay",
    "global_replay",
    "list_quarantine",
    "replay",
    "replay_attempts",
    "replay_history",
    "set_status",
]
