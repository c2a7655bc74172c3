"""Contracts and versions (spec 6.1), audit and stats (spec 2), health (spec 6.8)."""

from __future__ import annotations

import hashlib
import math

from starlette.responses import Response

from ._call import Call
from ._http import (
    JSON,
    bad_request,
    field_enum,
    field_str,
    iso,
    json_response,
    new_id,
    object_body,
    path_uuid,
    query_int,
    query_uuid,
)
from ._store import RESOLUTIONS, AuditRow, Contract

SERVICE_VERSION = "0.1.0"


def _contract(call: Call) -> Contract:
    return call.world.contract(call.org_id, path_uuid(call.path_params["contract_id"]))


# --- contracts ---------------------------------------------------------------------------------


def create_contract(call: Call) -> Response:
    body = object_body(call.content_type, call.body)
    name = field_str(body, "name", required=True)
    description = field_str(body, "description", required=False)
    yaml_content = field_str(body, "yaml_content", required=True)
    resolution = field_enum(body, "multi_stable_resolution", RESOLUTIONS) or "strict"
    assert name is not None and yaml_content is not None
    contract = call.world.create_contract(
        call.org_id,
        name=name,
        description=description,
        yaml_content=yaml_content,
        multi_stable_resolution=resolution,
    )
    return json_response(contract.response(), 201)


def list_contracts(call: Call) -> Response:
    contracts = sorted(
        call.world.live_contracts(call.org_id), key=lambda c: c.created_at, reverse=True
    )
    return json_response([c.summary() for c in contracts])


def get_contract(call: Call) -> Response:
    return json_response(_contract(call).response())


def patch_contract(call: Call) -> Response:
    contract = _contract(call)
    body = object_body(call.content_type, call.body)
    name = field_str(body, "name", required=False)
    description = field_str(body, "description", required=False)
    resolution = field_enum(body, "multi_stable_resolution", RESOLUTIONS)
    world = call.world
    if name is not None and name != contract.name:
        contract.name_history.append(
            {
                "id": new_id(),
                "contract_id": contract.id,
                "old_name": contract.name,
                "new_name": name,
                "changed_at": iso(world.clock.stamp()),
            }
        )
        contract.name = name
    if description is not None:
        contract.description = description
    if resolution is not None:
        contract.multi_stable_resolution = resolution
    contract.updated_at = world.clock.stamp()
    return json_response(contract.response())


def delete_contract(call: Call) -> Response:
    contract = _contract(call)
    contract.deleted_at = call.world.clock.stamp()
    return Response(status_code=204)


def name_history(call: Call) -> Response:
    return json_response(list(_contract(call).name_history))


def deploy(call: Call) -> Response:
    body = object_body(call.content_type, call.body)
    name = field_str(body, "name", required=True)
    yaml_content = field_str(body, "yaml_content", required=True)
    source = field_str(body, "source", required=False)
    deployed_by = field_str(body, "deployed_by", required=False)
    assert name is not None and yaml_content is not None
    world = call.world
    meta = world.parse(yaml_content)
    # Names are not unique: deploy takes the newest live contract of that name.
    named = [c for c in world.live_contracts(call.org_id) if c.name == name]
    contract = max(named, key=lambda c: c.created_at) if named else None
    if contract is None:
        contract = world.create_contract(
            call.org_id,
            name=name,
            description=meta.description,
            yaml_content=yaml_content,
            first_version=None,
        )
    else:
        pending = sum(
            1
            for q in world.quarantine.values()
            if q.contract_id == contract.id and q.status == "pending"
        )
        if pending:
            raise bad_request(
                f"Contract '{name}' has {pending} pending quarantined events; "
                "replay or purge them before deploying"
            )
    version = world.add_version(contract, meta.version_label, yaml_content)
    others = [v for v in contract.stables() if v.version != version.version]
    version.state, version.promoted_at = "stable", world.clock.stamp()
    for other in others:
        other.state, other.deprecated_at = "deprecated", world.clock.stamp()
    return json_response(
        {
            "contract_id": contract.id,
            "version_id": version.id,
            "name": contract.name,
            "version": version.version,
            "source": source,
            "deployed_by": deployed_by,
            "deployed_at": iso(version.promoted_at),
            "deprecated_count": len(others),
        },
        201,
    )


# --- versions ----------------------------------------------------------------------------------


def create_version(call: Call) -> Response:
    contract = _contract(call)
    body = object_body(call.content_type, call.body)
    version = field_str(body, "version", required=True)
    yaml_content = field_str(body, "yaml_content", required=True)
    assert version is not None and yaml_content is not None
    row = call.world.add_version(contract, version, yaml_content)
    return json_response(row.response(), 201)


def list_versions(call: Call) -> Response:
    contract = _contract(call)
    rows = sorted(contract.versions.values(), key=lambda v: v.created_at, reverse=True)
    return json_response([v.summary() for v in rows])


def get_version(call: Call) -> Response:
    return json_response(_contract(call).version(call.path_params["version"]).response())


def latest_stable(call: Call) -> Response:
    return json_response(_contract(call).require_latest_stable().response())


def patch_version(call: Call) -> Response:
    contract = _contract(call)
    body = object_body(call.content_type, call.body)
    yaml_content = field_str(body, "yaml_content", required=True)
    assert yaml_content is not None
    row = call.world.patch_version(contract, call.path_params["version"], yaml_content)
    return json_response(row.response())


def delete_version(call: Call) -> Response:
    call.world.delete_version(_contract(call), call.path_params["version"])
    return Response(status_code=204)


def promote(call: Call) -> Response:
    return json_response(
        call.world.promote(_contract(call), call.path_params["version"]).response()
    )


def deprecate(call: Call) -> Response:
    row = call.world.deprecate(_contract(call), call.path_params["version"])
    return json_response(row.response())


def v1_contract_version(call: Call) -> Response:
    latest = _contract(call).require_latest_stable()
    digest = hashlib.sha256(latest.yaml_content.encode()).hexdigest()
    return json_response({"version": latest.version, "hash": digest})


# --- audit and stats ---------------------------------------------------------------------------


def audit(call: Call) -> Response:
    limit = min(query_int(call.query, "limit", 50), 500)
    offset = query_int(call.query, "offset", 0)
    contract_id = query_uuid(call.query, "contract_id")
    rows = [
        a
        for a in call.world.audit
        if a.org_id == call.org_id and (contract_id is None or a.contract_id == contract_id)
    ]
    rows.sort(key=lambda a: a.created_at, reverse=True)
    page = rows[max(0, offset) : max(0, offset) + max(0, limit)]
    return json_response([a.wire() for a in page])


def _percentile(ordered: list[int], p: float) -> int:
    """``percentile_disc``: the first value whose cumulative share reaches ``p``."""
    if not ordered:
        return 0
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def stats_body(rows: list[AuditRow]) -> JSON:
    total = len(rows)
    passed = sum(1 for r in rows if r.passed)
    timings = sorted(r.validation_us for r in rows)
    return {
        "total_events": total,
        "passed_events": passed,
        "failed_events": total - passed,
        "pass_rate": passed / total if total else 0.0,
        "avg_validation_us": sum(timings) / total if total else 0.0,
        "p50_validation_us": _percentile(timings, 0.50),
        "p95_validation_us": _percentile(timings, 0.95),
        "p99_validation_us": _percentile(timings, 0.99),
    }


def stats(call: Call) -> Response:
    return json_response(stats_body([a for a in call.world.audit if a.org_id == call.org_id]))


def contract_stats(call: Call) -> Response:
    contract = _contract(call)
    return json_response(stats_body([a for a in call.world.audit if a.contract_id == contract.id]))


# --- health (no auth) ----------------------------------------------------------------------------


def health() -> Response:
    return json_response({"status": "ok", "version": SERVICE_VERSION, "service": "contractgate"})


def ready(database_up: bool) -> Response:
    if not database_up:
        return json_response({"status": "degraded", "db": "error"}, 503)
    return json_response(
        {"status": "ready", "db": "ok", "version": SERVICE_VERSION, "pool": {"size": 10, "idle": 9}}
    )


__all__ = [
    "SERVICE_VERSION",
    "audit",
    "contract_stats",
    "create_contract",
    "create_version",
    "delete_contract",
    "delete_version",
    "deploy",
    "deprecate",
    "get_contract",
    "get_version",
    "health",
    "latest_stable",
    "list_contracts",
    "list_versions",
    "name_history",
    "patch_contract",
    "patch_version",
    "promote",
    "ready",
    "stats",
    "stats_body",
    "v1_contract_version",
]
