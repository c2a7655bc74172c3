"""The ContractGate emulator over real HTTP, with plain httpx: every route, and the spec's
emulator checklist (specs/contractgate.md section 11) item by item, with the worked examples of
section 10 as the expected answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from govflow.testing.contractgate import (
    ContractGateEmulator,
    after_processing,
    example_contract,
    request_timeout,
)
from govflow.testing.faults import drop, server_error, slow

NIL = "00000000-0000-0000-0000-000000000000"
UNKNOWN = "6a1e0b7c-0000-4000-8000-000000000001"
UNAUTHORIZED = {"error": "Unauthorized: missing or invalid API key", "status": 401}

# spec 10.A
PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL_ENUM_RANGE = {
    "user_id": "u_123",
    "event_type": "delete",
    "timestamp": 1714000000,
    "amount": -5,
}
FAIL_FOUR = {"user_id": "bad id!", "timestamp": "1714000000", "amount": None}
# spec 10.B
X = {
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3401",
    "method": "CONNECT",
    "path": "proxy.internal:443",
    "status": 200,
    "latency_ms": 12,
    "timestamp": 1752000100,
}
BAD_HERO = {
    "request_id": "NOT-A-UUID",
    "method": "GET",
    "path": "/",
    "status": 700,
    "latency_ms": -1,
    "timestamp": 1,
}
CONNECT_ENUM = (
    'Field \'method\' value "CONNECT" not in allowed set: ["GET", "POST", "PUT", "PATCH", "DELETE"]'
)
HERO_V1 = example_contract("hero_events_v1.0.0.yaml")
HERO_V11 = example_contract("hero_events_v1.1.0.yaml")
SIMPLE = """version: "1.0"
name: "simple"
ontology:
  entities:
    - {name: id, type: string}
    - {name: n, type: integer, required: false, min: 0}
"""


@pytest.fixture(scope="module")
def served() -> Iterator[ContractGateEmulator]:
    emulator = ContractGateEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def emu(served: ContractGateEmulator) -> ContractGateEmulator:
    served.reset()
    return served


@pytest.fixture
def http(emu: ContractGateEmulator) -> Iterator[httpx.Client]:
    assert emu.base_url is not None
    with httpx.Client(base_url=emu.base_url, headers={"x-api-key": emu.api_key}) as client:
        yield client


def ingest(http: httpx.Client, contract_id: str, events: Any, **params: str) -> httpx.Response:
    return http.post(f"/v1/ingest/{contract_id}", json=events, params=params)


def messages(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v["field"], v["kind"], v["message"]) for v in result["violations"]]


def fallback_hero(emu: ContractGateEmulator) -> str:
    """Spec 10.B fallback variant: 1.0.0 promoted after 1.1.0, so 1.0.0 is the latest stable."""
    cid = emu.add_contract(HERO_V1, state="draft", name="hero_fallback")
    emu.add_version(cid, HERO_V11, state="stable")
    emu.promote(cid, "1.0.0")
    emu.set_resolution(cid, "fallback")
    return cid


# --- seeded world ----------------------------------------------------------------------------


def test_seeded_key_and_contracts(emu: ContractGateEmulator, http: httpx.Client) -> None:
    assert re.fullmatch(r"cg_live_[0-9a-f]{48}", emu.api_key)
    assert set(emu.contracts) == {"user_events", "hero_events", "order_events", "user_events_pii"}
    listed = {c["id"]: c for c in http.get("/contracts").json()}
    assert set(listed) == set(emu.contracts.values())
    assert listed[emu.contracts["order_events"]]["name"] == "order_events_nested"
    hero = listed[emu.contracts["hero_events"]]
    assert hero == {
        "id": emu.contracts["hero_events"],
        "name": "hero_events",
        "multi_stable_resolution": "strict",
        "latest_stable_version": "1.1.0",
        "version_count": 2,
        "store_event_payloads": True,
    }
    versions = http.get(f"/contracts/{emu.contracts['hero_events']}/versions").json()
    assert [(v["version"], v["state"]) for v in versions] == [
        ("1.1.0", "stable"),
        ("1.0.0", "stable"),
    ]
    assert versions[0]["promoted_at"] > versions[1]["promoted_at"]


def test_reset_keeps_key_and_contract_ids(emu: ContractGateEmulator, http: httpx.Client) -> None:
    ids = dict(emu.contracts)
    ingest(http, ids["user_events"], [FAIL_ENUM_RANGE])
    extra = emu.add_contract(SIMPLE)
    emu.reset()
    assert emu.contracts == ids and emu.quarantine == [] and emu.audit == []
    assert http.get(f"/contracts/{extra}").status_code == 404
    assert http.get("/stats").status_code == 200


def test_pytest_plugin_fixture(contractgate_emulator: ContractGateEmulator) -> None:
    """The fixture users get from ``govflow.testing.pytest_plugin``: served, seeded, reset."""
    assert contractgate_emulator.base_url is not None
    assert contractgate_emulator.quarantine == []
    response = httpx.post(
        f"{contractgate_emulator.base_url}/v1/ingest/{contractgate_emulator.contracts['user_events']}",
        json=[FAIL_FOUR],
        headers={"x-api-key": contractgate_emulator.api_key},
    )
    assert response.status_code == 422 and len(contractgate_emulator.quarantine) == 1


# --- auth (spec 1, 11.7) -----------------------------------------------------------------------


def test_health_and_ready_need_no_key(emu: ContractGateEmulator) -> None:
    assert httpx.get(f"{emu.base_url}/health").json() == {
        "status": "ok",
        "version": "0.1.0",
        "service": "contractgate",
    }
    ready = httpx.get(f"{emu.base_url}/ready").json()
    assert (
        ready["status"] == "ready"
        and ready["db"] == "ok"
        and set(ready["pool"]) == {"size", "idle"}
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "cg_short"},
        {"x-api-key": "xx_live_" + "0" * 48},
        {"x-api-key": "cg_live_" + "0" * 48},
        {"X-Api-Key": "cg_live_" + "f" * 48},
    ],
    ids=["missing", "too-short", "wrong-prefix", "unknown", "unknown-capitalised-header"],
)
def test_bad_keys_are_401(emu: ContractGateEmulator, headers: dict[str, str]) -> None:
    response = httpx.get(f"{emu.base_url}/contracts", headers=headers)
    assert response.status_code == 401 and response.json() == UNAUTHORIZED


def test_same_prefix_wrong_hash_and_revoked_key(emu: ContractGateEmulator) -> None:
    forged = emu.api_key[:12] + "0" * 44
    assert httpx.get(f"{emu.base_url}/stats", headers={"x-api-key": forged}).status_code == 401
    key = emu.add_api_key()
    assert httpx.get(f"{emu.base_url}/stats", headers={"X-Api-Key": key}).status_code == 200
    emu.revoke_key(key)
    assert httpx.get(f"{emu.base_url}/stats", headers={"x-api-key": key}).json() == UNAUTHORIZED


def test_key_scope_and_org_scoping(emu: ContractGateEmulator) -> None:
    scoped = emu.add_api_key(allowed_contract_ids=[emu.contracts["hero_events"]])
    url = f"{emu.base_url}/v1/ingest/{emu.contracts['user_events']}"
    response = httpx.post(url, json=[PASS], headers={"x-api-key": scoped})
    assert response.status_code == 401 and response.json() == UNAUTHORIZED
    other_org = emu.add_api_key(org_id="11111111-1111-4111-8111-111111111111")
    response = httpx.post(url, json=[PASS], headers={"x-api-key": other_org})
    assert response.status_code == 404
    assert response.json() == {
        "error": f"Contract not found: {emu.contracts['user_events']}",
        "status": 404,
    }
    assert httpx.get(f"{emu.base_url}/contracts", headers={"x-api-key": other_org}).json() == []


def test_bearer_session_takes_precedence(emu: ContractGateEmulator) -> None:
    token = emu.add_session_token()
    ok = httpx.get(f"{emu.base_url}/stats", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    bad = httpx.get(
        f"{emu.base_url}/stats",
        headers={"Authorization": "Bearer not-a-jwt", "x-api-key": emu.api_key},
    )
    assert bad.status_code == 401 and bad.json() == UNAUTHORIZED


def test_database_down(emu: ContractGateEmulator, http: httpx.Client) -> None:
    emu.database_down = True
    ready = httpx.get(f"{emu.base_url}/ready")
    assert ready.status_code == 503 and ready.json() == {"status": "degraded", "db": "error"}
    down = http.get("/contracts")
    assert down.status_code == 500 and down.json() == {"error": "Database error", "status": 500}


# --- error shapes ------------------------------------------------------------------------------


def test_unknown_route_and_method_have_empty_bodies(http: httpx.Client) -> None:
    missing = http.get("/nope")
    assert missing.status_code == 404 and missing.content == b""
    wrong = http.delete("/stats")
    assert wrong.status_code == 405 and wrong.content == b"" and "GET" in wrong.headers["allow"]
    assert http.get("/contracts/").status_code == 404  # no trailing-slash redirect


def test_extractor_rejections_are_plain_text(http: httpx.Client) -> None:
    bad_path = http.get("/contracts/not-a-uuid")
    assert bad_path.status_code == 400 and bad_path.headers["content-type"].startswith("text/plain")
    assert bad_path.text.startswith("Invalid URL: UUID parsing failed")
    no_type = http.post("/contracts", content=b"{}")
    assert no_type.status_code == 415
    assert no_type.text == "Expected request with `Content-Type: application/json`"
    syntax = http.post("/contracts", content=b"{", headers={"content-type": "application/json"})
    assert syntax.status_code == 400
    assert syntax.text.startswith("Failed to parse the request body as JSON: ")
    missing = http.post("/contracts", json={"name": "x"})
    assert missing.status_code == 422
    assert missing.text == (
        "Failed to deserialize the JSON body into the target type: missing field `yaml_content`"
    )
    query = http.get("/audit", params={"limit": "many"})
    assert query.status_code == 400 and query.text.startswith(
        "Failed to deserialize query string: "
    )


def test_v1_bad_contract_id_is_json_400(http: httpx.Client) -> None:
    response = http.post("/v1/ingest/not-a-uuid", json=[PASS])
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid request: invalid contract_id: not-a-uuid",
        "status": 400,
    }
    flags = http.post("/v1/ingest/not-a-uuid?dry_run=yes", json=[PASS])
    assert flags.status_code == 400 and flags.text == (
        "Failed to deserialize query string: dry_run: provided string was not `true` or `false`"
    )


# --- 11.1 batch ----------------------------------------------------------------------------------


def test_batch_bounds(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    empty = ingest(http, cid, [])
    assert empty.status_code == 400
    assert empty.json() == {"error": "Invalid request: Empty event batch", "status": 400}
    big = ingest(http, cid, [PASS] * 1001)
    assert big.status_code == 400 and big.json()["error"] == (
        "Invalid request: Batch too large: 1001 events submitted, maximum is 1000"
    )
    full = ingest(http, cid, [PASS] * 1000)
    assert full.status_code == 200 and full.json()["total"] == 1000
    one = ingest(http, cid, PASS)  # not an array: a batch of one
    assert one.status_code == 200 and one.json()["total"] == 1


def test_batch_limit_is_configurable() -> None:
    emu = ContractGateEmulator(batch_limit=3)
    with emu.serve() as url:
        response = httpx.post(
            f"{url}/v1/ingest/{emu.contracts['user_events']}",
            json=[PASS] * 4,
            headers={"x-api-key": emu.api_key},
        )
    assert response.status_code == 400
    assert "4 events submitted, maximum is 3" in response.json()["error"]


def test_size_limits(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    huge_event = {**PASS, "blob": "x" * (1024 * 1024)}
    per_event = ingest(http, cid, [PASS, huge_event])
    assert per_event.status_code == 413
    size = len(json.dumps(huge_event, separators=(",", ":")))
    assert per_event.json() == {
        "error": f"Payload too large: Event at index 1 exceeds the 1 MB per-event limit ({size} bytes)",
        "status": 413,
    }
    body = b"[" + b",".join([json.dumps({"blob": "y" * 900_000}).encode()] * 12) + b"]"
    too_big = http.post(
        f"/v1/ingest/{cid}", content=body, headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.text == "length limit exceeded"
    assert too_big.headers["content-type"].startswith("text/plain")
    # 1 MB on the other protected routes
    legacy = http.post(f"/ingest/{cid}", json=[huge_event])
    assert legacy.status_code == 413 and legacy.text == "length limit exceeded"


def test_ndjson_bodies(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    lines = b"\n".join(
        [json.dumps(PASS).encode(), b"", b"\r", json.dumps(FAIL_ENUM_RANGE).encode(), b""]
    )
    response = http.post(
        f"/v1/ingest/{cid}", content=lines, headers={"content-type": "application/x-ndjson"}
    )
    assert response.status_code == 207 and response.json()["total"] == 2
    bad = http.post(
        f"/v1/ingest/{cid}",
        content=json.dumps(PASS).encode() + b"\nnot json\n",
        headers={"content-type": "application/x-ndjson"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("Invalid request: NDJSON parse error at line 1: ")
    syntax = http.post(
        f"/v1/ingest/{cid}", content=b"[{", headers={"content-type": "application/json"}
    )
    assert syntax.status_code == 400
    assert syntax.json()["error"].startswith("Invalid request: JSON parse error: ")


def test_non_object_elements_are_root_type_mismatches(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    response = ingest(http, emu.contracts["user_events"], [PASS, 7])
    assert response.status_code == 207
    result = response.json()["results"][1]
    assert messages(result) == [("<root>", "type_mismatch", "Event must be a JSON object")]
    assert result["validation_us"] == 0


# --- spec 3 and 10.A: the ingest answer --------------------------------------------------------


def test_worked_example_a_mixed_batch(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    response = ingest(http, cid, [PASS, FAIL_ENUM_RANGE, FAIL_FOUR])
    assert response.status_code == 207
    body = response.json()
    assert list(body) == sorted(body)  # a serde_json::Value: keys sorted
    assert {k: body[k] for k in body if k != "results"} == {
        "atomic": False,
        "dry_run": False,
        "failed": 2,
        "passed": 1,
        "resolved_version": "1.0.0",
        "total": 3,
        "version_pin_source": "default_stable",
    }
    first, second, third = body["results"]
    assert list(first) == sorted(first)
    assert first["passed"] and first["forwarded"] and first["quarantine_id"] is None
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert messages(second) == [
        (
            "event_type",
            "enum_violation",
            'Field \'event_type\' value "delete" not in allowed set: ["click", "view", "purchase", "login"]',
        ),
        ("amount", "range_violation", "Field 'amount' value -5 is below minimum 0"),
    ]
    assert [k for f, k, _ in messages(third)] == [
        "pattern_mismatch",
        "missing_required_field",
        "type_mismatch",
        "type_mismatch",
    ]
    assert messages(third)[1][2] == "Required field 'event_type' is missing"
    assert messages(third)[2][2] == "Field 'timestamp' expected type Integer, got string"
    assert messages(third)[3][2] == "Field 'amount' expected type Float, got null"
    assert second["quarantine_id"] and third["quarantine_id"]
    assert not second["forwarded"] and second["contract_version"] == "1.0.0"
    # stored: one audit row per event, quarantine rows under the pre-assigned ids, one forward
    assert [q["id"] for q in emu.quarantine] == [second["quarantine_id"], third["quarantine_id"]]
    assert len(emu.audit) == 3 and emu.accepted == [PASS]


def test_worked_example_a_atomic(emu: ContractGateEmulator, http: httpx.Client) -> None:
    response = ingest(
        http, emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE, FAIL_FOUR], atomic="true"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["atomic"] is True and body["failed"] == 2
    assert [r["quarantine_id"] for r in body["results"]] == [None, None, None]
    assert not any(r["forwarded"] for r in body["results"])
    assert emu.quarantine == [] and emu.accepted == []
    [summary] = emu.audit
    assert summary["passed"] is False and summary["violation_count"] == 2
    assert [d["index"] for d in summary["violation_details"]] == [1, 2]
    assert summary["raw_event"] == {
        "atomic": True,
        "batch_rejected": True,
        "batch_size": 3,
        "failing_count": 2,
    }


def test_status_rules(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    assert ingest(http, cid, [PASS, PASS]).status_code == 200
    all_failed = ingest(http, cid, [FAIL_FOUR])
    assert all_failed.status_code == 422 and all_failed.json()["results"][0]["quarantine_id"]
    assert ingest(http, cid, [PASS], atomic="true").status_code == 200


def test_dry_run_stores_nothing(emu: ContractGateEmulator, http: httpx.Client) -> None:
    response = ingest(http, emu.contracts["user_events"], [PASS, FAIL_FOUR], dry_run="true")
    assert response.status_code == 207  # dry_run does not change the status
    body = response.json()
    assert body["dry_run"] is True
    assert [(r["forwarded"], r["quarantine_id"]) for r in body["results"]] == [
        (False, None),
        (False, None),
    ]
    assert emu.audit == [] and emu.quarantine == [] and emu.accepted == []


def test_transformed_event_and_source_ip(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events_pii"]
    response = http.post(
        f"/v1/ingest/{cid}",
        json=[{"user_id": "u_1", "event_type": "click", "z": 1, "a": 2}],
        headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"},
    )
    event = response.json()["results"][0]["transformed_event"]
    assert event == {"a": 2, "event_type": "click", "user_id": "****", "z": 1}
    assert list(event) == ["a", "event_type", "user_id", "z"]
    assert emu.accepted == [{"user_id": "****", "event_type": "click", "z": 1, "a": 2}]
    assert emu.audit[-1]["source_ip"] == "203.0.113.9"
    http.post(f"/v1/ingest/{cid}", json=[{"user_id": 5}], headers={"X-Real-IP": "198.51.100.7"})
    assert emu.quarantine[-1]["source_ip"] == "198.51.100.7"
    assert emu.quarantine[-1]["direction"] == "ingress"


def test_uniqueness_per_batch(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.add_contract(SIMPLE + "quality:\n  - {field: id, type: uniqueness}\n")
    body = ingest(http, cid, [{"id": "a"}, {"id": "b"}, {"id": "a"}, {"n": 1}]).json()
    assert [r["passed"] for r in body["results"]] == [True, True, False, False]
    assert messages(body["results"][2]) == [
        (
            "id",
            "uniqueness_violation",
            'Quality uniqueness: duplicate value "\\"a\\"" for field \'id\' in batch',
        )
    ]


def test_payload_storage_off(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    emu.set_store_payloads(cid, False)
    ingest(http, cid, [PASS, FAIL_FOUR])
    assert all(a["raw_event"] == {} for a in emu.audit)
    [row] = emu.quarantine
    assert row["payload"] is None and row["payload_redacted"] is True
    replay = http.post(f"/contracts/{cid}/quarantine/replay", json={"ids": [row["id"]]}).json()
    assert replay["redacted"] == 1 and replay["results"][0]["outcome"] == "redacted"


def test_plan_cap() -> None:
    emu = ContractGateEmulator(monthly_event_cap=2)
    with emu.serve() as url:
        client = httpx.Client(base_url=url, headers={"x-api-key": emu.api_key})
        cid = emu.contracts["user_events"]
        assert client.post(f"/v1/ingest/{cid}", json=[PASS, PASS]).status_code == 200
        capped = client.post(f"/v1/ingest/{cid}", json=[PASS])
        assert client.post(f"/v1/ingest/{cid}?dry_run=true", json=[PASS]).status_code == 200
        client.close()
    assert capped.status_code == 429
    body = capped.json()
    assert body["error"] == "plan_limit_exceeded" and body["status"] == 429
    assert (body["plan"], body["limit"], body["used"]) == ("free", 2, 2)
    assert {"detail", "period", "upgrade_url"} <= set(body)


# --- 11.2 versions, spec 6.1-6.4 ---------------------------------------------------------------


def test_version_lifecycle(emu: ContractGateEmulator, http: httpx.Client) -> None:
    created = http.post("/contracts", json={"name": "simple", "yaml_content": SIMPLE})
    assert created.status_code == 201
    contract = created.json()
    cid = contract["id"]
    assert contract["latest_stable_version"] is None and contract["version_count"] == 1
    assert set(contract) == {
        "id", "name", "description", "multi_stable_resolution",
        "created_at", "updated_at", "version_count", "latest_stable_version",
    }  # fmt: skip
    draft = http.get(f"/contracts/{cid}/versions/1.0.0").json()
    assert draft["state"] == "draft" and draft["promoted_at"] is None
    no_stable = ingest(http, cid, [{"id": "a"}])
    assert no_stable.status_code == 409
    assert no_stable.json() == {"error": f"Contract {cid} has no stable version yet", "status": 409}
    assert http.get(f"/contracts/{cid}/versions/latest-stable").status_code == 409
    pinned_draft = ingest(http, cid, [{"id": "a"}], version="1.0.0")
    assert (
        pinned_draft.status_code == 200
        and pinned_draft.json()["version_pin_source"] == "query_param"
    )
    missing = ingest(http, cid, [{"id": "a"}], version="9.9.9")
    assert missing.status_code == 404
    assert missing.json()["error"] == f"Version 9.9.9 not found on contract {cid}"

    assert (
        http.patch(f"/contracts/{cid}/versions/1.0.0", json={"yaml_content": SIMPLE}).status_code
        == 200
    )
    promoted = http.post(f"/contracts/{cid}/versions/1.0.0/promote")
    assert promoted.status_code == 200 and promoted.json()["state"] == "stable"
    again = http.post(f"/contracts/{cid}/versions/1.0.0/promote")
    assert again.status_code == 409
    assert again.json()["error"] == "Invalid state transition stable → stable for version 1.0.0"
    frozen = http.patch(f"/contracts/{cid}/versions/1.0.0", json={"yaml_content": SIMPLE})
    assert frozen.status_code == 409
    assert frozen.json()["error"] == "Version 1.0.0 is stable and cannot be modified"
    assert http.delete(f"/contracts/{cid}/versions/1.0.0").status_code == 409

    second = http.post(
        f"/contracts/{cid}/versions", json={"version": "2.0.0", "yaml_content": SIMPLE}
    )
    assert second.status_code == 201 and second.json()["state"] == "draft"
    duplicate = http.post(
        f"/contracts/{cid}/versions", json={"version": "2.0.0", "yaml_content": SIMPLE}
    )
    assert duplicate.status_code == 409
    bad_deprecate = http.post(f"/contracts/{cid}/versions/2.0.0/deprecate")
    assert (
        bad_deprecate.json()["error"]
        == "Invalid state transition draft → deprecated for version 2.0.0"
    )
    assert http.delete(f"/contracts/{cid}/versions/2.0.0").status_code == 204
    assert http.get(f"/contracts/{cid}/versions/2.0.0").status_code == 404

    deprecated = http.post(f"/contracts/{cid}/versions/1.0.0/deprecate")
    assert deprecated.status_code == 200 and deprecated.json()["deprecated_at"]
    assert http.post(f"/contracts/{cid}/versions/1.0.0/promote").status_code == 409  # forward only


def test_several_stables_latest_is_greatest_promoted_at(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    cid = emu.add_contract(HERO_V1, state="draft", name="hero2")
    emu.add_version(cid, HERO_V11, state="draft")
    emu.promote(cid, "1.1.0")
    emu.promote(cid, "1.0.0")  # promoting never deprecates the other stable
    states = {v["version"]: v["state"] for v in http.get(f"/contracts/{cid}/versions").json()}
    assert states == {"1.0.0": "stable", "1.1.0": "stable"}
    assert http.get(f"/contracts/{cid}/versions/latest-stable").json()["version"] == "1.0.0"
    assert http.get(f"/contracts/{cid}").json()["latest_stable_version"] == "1.0.0"
    assert http.get(f"/v1/contracts/{cid}/version").json() == {
        "version": "1.0.0",
        "hash": __import__("hashlib").sha256(HERO_V1.encode()).hexdigest(),
    }


def test_yaml_parse_errors_at_create_compile_errors_at_ingest(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    broken = http.post("/contracts", json={"name": "broken", "yaml_content": "name: [unclosed"})
    assert broken.status_code == 422 and broken.json()["error"].startswith(
        "Invalid contract YAML: "
    )
    bad_regex = SIMPLE.replace(
        "{name: id, type: string}", '{name: id, type: string, pattern: "(?<=a)b"}'
    )
    created = http.post("/contracts", json={"name": "lookbehind", "yaml_content": bad_regex})
    assert created.status_code == 201  # the gateway compiles on first use
    response = ingest(http, created.json()["id"], [{"id": "b"}], version="1.0.0")
    assert response.status_code == 422
    assert response.json()["error"].startswith("Invalid contract YAML: Invalid regex")


def test_contract_patch_name_history_and_soft_delete(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    cid = emu.add_contract(SIMPLE)
    patched = http.patch(
        f"/contracts/{cid}", json={"name": "renamed", "multi_stable_resolution": "fallback"}
    )
    assert (
        patched.json()["name"] == "renamed"
        and patched.json()["multi_stable_resolution"] == "fallback"
    )
    [entry] = http.get(f"/contracts/{cid}/name-history").json()
    assert (entry["old_name"], entry["new_name"], entry["contract_id"]) == (
        "simple",
        "renamed",
        cid,
    )
    bad = http.patch(f"/contracts/{cid}", json={"multi_stable_resolution": "loose"})
    assert bad.status_code == 422 and "unknown variant `loose`" in bad.text
    assert http.delete(f"/contracts/{cid}").status_code == 204
    assert http.get(f"/contracts/{cid}").status_code == 404


def test_deploy(emu: ContractGateEmulator, http: httpx.Client) -> None:
    first = http.post(
        "/contracts/deploy",
        json={
            "name": "hero_events",
            "yaml_content": HERO_V11.replace('"1.1.0"', '"2.0.0"'),
            "source": "ci",
        },
    )
    assert first.status_code == 201
    body = first.json()
    assert body["contract_id"] == emu.contracts["hero_events"]
    assert (body["version"], body["deprecated_count"], body["source"]) == ("2.0.0", 2, "ci")
    states = {
        v["version"]: v["state"]
        for v in http.get(f"/contracts/{body['contract_id']}/versions").json()
    }
    assert states == {"1.0.0": "deprecated", "1.1.0": "deprecated", "2.0.0": "stable"}
    fresh = http.post(
        "/contracts/deploy", json={"name": "brand_new", "yaml_content": SIMPLE}
    ).json()
    assert [
        v["version"] for v in http.get(f"/contracts/{fresh['contract_id']}/versions").json()
    ] == ["1.0"]
    ingest(http, emu.contracts["user_events"], [FAIL_FOUR])
    blocked = http.post(
        "/contracts/deploy",
        json={
            "name": "user_events",
            "yaml_content": example_contract("api_user_events.yaml").replace('"1.0"', '"1.1"'),
        },
    )
    assert blocked.status_code == 400 and "pending quarantined events" in blocked.json()["error"]


# --- spec 6.3, 6.4 and 10.B ----------------------------------------------------------------------


def test_worked_example_b_messages(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["hero_events"]
    old = ingest(http, cid, [X], version="1.0.0").json()["results"][0]
    assert messages(old) == [("method", "enum_violation", CONNECT_ENUM)]
    assert ingest(http, cid, [X], version="1.1.0").status_code == 200
    bad = ingest(http, cid, [BAD_HERO]).json()["results"][0]
    assert [m for _, _, m in messages(bad)][1:] == [
        "Field 'status' value 700 exceeds maximum 599",
        "Field 'latency_ms' value -1 is below minimum 0",
    ]
    assert messages(bad)[0][:2] == ("request_id", "pattern_mismatch")


def test_fallback_resolution(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = fallback_hero(emu)
    body = ingest(http, cid, [X, BAD_HERO]).json()
    assert body["resolved_version"] == "1.0.0" and body["version_pin_source"] == "default_stable"
    passed, failed = body["results"]
    assert passed["passed"] and passed["contract_version"] == "1.1.0"
    assert (
        not failed["passed"] and failed["contract_version"] == "1.0.0"
    )  # the original failure stands
    assert emu.accepted == [X] and emu.forwarded[0]["contract_version"] == "1.1.0"
    # no fallback when pinned, nor under strict
    assert ingest(http, cid, [X], version="1.0.0").status_code == 422
    emu.set_resolution(cid, "strict")
    strict = ingest(http, cid, [X])
    assert strict.status_code == 422 and strict.json()["results"][0]["contract_version"] == "1.0.0"


def test_deprecated_pin(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = fallback_hero(emu)
    emu.deprecate(cid, "1.0.0")
    dry = ingest(http, cid, [X], version="1.0.0", dry_run="true")
    assert dry.status_code == 422 and emu.quarantine == []
    response = ingest(http, cid, [X, BAD_HERO], version="1.0.0")
    assert response.status_code == 422
    body = response.json()
    # exactly these keys: no resolved_version, no atomic (spec 6.4, the SDK 0.4.0 KeyError)
    assert set(body) == {
        "error",
        "total",
        "passed",
        "failed",
        "dry_run",
        "version_pin_source",
        "results",
    }
    assert body["error"] == f"Version 1.0.0 on contract {cid} is deprecated; batch quarantined."
    assert (body["total"], body["passed"], body["failed"]) == (2, 0, 2)
    assert body["version_pin_source"] == "pinned_deprecated"
    for index, result in enumerate(body["results"]):
        assert result == {
            "contract_version": "1.0.0",
            "forwarded": False,
            "index": index,
            "passed": False,
            "quarantine_id": None,
            "transformed_event": [X, BAD_HERO][index],
            "validation_us": 0,
            "violations": [],
        }
    rows = emu.quarantine
    assert len(rows) == 2 and emu.audit == []
    assert rows[0]["violation_details"] == {
        "kind": "deprecated_contract_version",
        "pinned_version": "1.0.0",
        "latest_stable": "1.1.0",
    }
    assert rows[0]["violation_count"] == 1


# --- 11.3 quarantine and replay (spec 6.7, 10.B flow) -------------------------------------------


def test_hero_replay_flow(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["hero_events"]
    rejected = ingest(http, cid, [X], version="1.0.0")
    assert rejected.status_code == 422
    qid = rejected.json()["results"][0]["quarantine_id"]
    listed = http.get("/quarantine", params={"contract_id": cid}).json()
    assert [row["id"] for row in listed] == [qid]
    assert set(listed[0]) == {
        "id", "contract_id", "contract_version", "raw_event", "payload_redacted",
        "violation_details", "violation_count", "source_ip", "quarantined_at",
        "replay_count", "last_replayed_at", "last_replay_passed",
    }  # fmt: skip
    assert listed[0]["contract_version"] == "1.0.0" and listed[0]["raw_event"] == X

    replay = http.post(
        f"/contracts/{cid}/quarantine/replay", json={"ids": [qid], "target_version": "1.1.0"}
    )
    assert replay.status_code == 200
    body = replay.json()
    assert body["replayed"] == 1 and body["total"] == 1
    assert (body["target_version"], body["target_version_source"], body["target_is_draft"]) == (
        "1.1.0",
        "explicit",
        False,
    )
    [result] = body["results"]
    assert result["outcome"] == "replayed" and result["contract_version_matched"] == "1.1.0"
    source = next(q for q in emu.quarantine if q["id"] == qid)
    assert (
        source["status"] == "replayed"
        and source["replayed_into_audit_id"] == result["replayed_into_audit_id"]
    )
    assert emu.accepted == [X] and emu.forwarded[0]["replay_of_quarantine_id"] == qid

    again = http.post(f"/contracts/{cid}/quarantine/replay", json={"ids": [qid]}).json()
    assert again["already_replayed"] == 1 and again["results"] == [
        {"quarantine_id": qid, "outcome": "already_replayed"}
    ]
    assert emu.accepted == [X]  # replay of a replayed row is a no-op

    history = http.get(f"/contracts/{cid}/quarantine/{qid}/replay-history").json()
    assert [h["kind"] for h in history] == ["source", "passed_replay"]
    after = http.get("/quarantine").json()[0]
    assert (after["replay_count"], after["last_replay_passed"]) == (1, True)


def test_replay_still_quarantined_and_classification(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    cid = emu.contracts["hero_events"]
    qid = ingest(http, cid, [BAD_HERO]).json()["results"][0]["quarantine_id"]
    other = ingest(http, emu.contracts["user_events"], [FAIL_FOUR]).json()["results"][0][
        "quarantine_id"
    ]
    purged = ingest(http, cid, [BAD_HERO]).json()["results"][0]["quarantine_id"]
    emu.set_quarantine_status(purged, "purged")
    body = http.post(
        f"/contracts/{cid}/quarantine/replay", json={"ids": [qid, other, purged, UNKNOWN]}
    ).json()
    assert (
        body["still_quarantined"],
        body["wrong_contract"],
        body["purged"],
        body["not_found"],
    ) == (1, 1, 1, 1)
    assert body["target_version_source"] == "default_stable" and body["target_version"] == "1.1.0"
    still = body["results"][0]
    assert still["outcome"] == "still_quarantined" and still["new_quarantine_id"] == NIL
    assert still["contract_version_attempted"] == "1.1.0" and still["violation_count"] == 3
    child = next(q for q in emu.quarantine if q["replay_of_quarantine_id"] == qid)
    assert child["status"] == "pending"
    assert (
        next(q for q in emu.quarantine if q["id"] == qid)["status"] == "pending"
    )  # source untouched
    history = http.get(f"/contracts/{cid}/quarantine/{qid}/replay-history").json()
    assert [h["kind"] for h in history] == ["source", "failed_replay"]
    assert [row["id"] for row in http.get("/quarantine").json()] == [
        purged,
        other,
        qid,
    ]  # sources only
    attempts = http.get("/quarantine/replay-history", params={"event_id": qid}).json()
    assert [a["passed"] for a in attempts] == [False]
    unknown = http.get(f"/contracts/{cid}/quarantine/{UNKNOWN}/replay-history")
    assert unknown.status_code == 400


def test_replay_body_rules(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["hero_events"]
    legacy_key = http.post(
        f"/contracts/{cid}/quarantine/replay", json={"quarantine_ids": [UNKNOWN]}
    )
    assert legacy_key.status_code == 422 and legacy_key.text.endswith("missing field `ids`")
    empty = http.post(f"/contracts/{cid}/quarantine/replay", json={"ids": []})
    assert empty.status_code == 400
    draft_target = emu.add_contract(SIMPLE, state="draft")
    no_stable = http.post(f"/contracts/{draft_target}/quarantine/replay", json={"ids": [UNKNOWN]})
    assert no_stable.status_code == 409
    flagged = http.post(
        f"/contracts/{draft_target}/quarantine/replay",
        json={"ids": [UNKNOWN], "target_version": "1.0.0"},
    ).json()
    assert flagged["target_is_draft"] is True


def test_global_replay(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["hero_events"]
    qid = ingest(http, cid, [X], version="1.0.0").json()["results"][0]["quarantine_id"]
    other = ingest(http, emu.contracts["user_events"], [FAIL_FOUR]).json()["results"][0][
        "quarantine_id"
    ]
    mixed = http.post("/quarantine/replay", json={"event_ids": [qid, other], "contract_id": cid})
    assert mixed.status_code == 400
    body = http.post(
        "/quarantine/replay", json={"event_ids": [UNKNOWN, qid], "version": "1.1.0"}
    ).json()
    assert body["replayed"] == 1
    missing, done = body["outcomes"]
    assert missing == {
        "event_id": UNKNOWN,
        "version": None,
        "passed": False,
        "violations": [],
        "replayed_at": None,
    }
    assert done["passed"] and done["version"] == "1.1.0" and done["replayed_at"]


def test_deploy_refused_after_replay_is_fine(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["hero_events"]
    qid = ingest(http, cid, [X], version="1.0.0").json()["results"][0]["quarantine_id"]
    http.post(f"/contracts/{cid}/quarantine/replay", json={"ids": [qid]})
    deploy = http.post(
        "/contracts/deploy",
        json={"name": "hero_events", "yaml_content": HERO_V11.replace('"1.1.0"', '"1.2.0"')},
    )
    assert deploy.status_code == 201


# --- 11.4 idempotency ----------------------------------------------------------------------------


def test_idempotent_replay_and_conflict(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    body = json.dumps([PASS, FAIL_FOUR]).encode()
    headers = {"Idempotency-Key": "batch-1", "content-type": "application/json"}
    first = http.post(f"/v1/ingest/{cid}", content=body, headers=headers)
    again = http.post(f"/v1/ingest/{cid}", content=body, headers=headers)
    assert first.status_code == again.status_code == 207
    assert again.json() == first.json() and again.headers["X-Idempotency-Replay"] == "true"
    assert "X-Idempotency-Replay" not in first.headers
    assert (
        len(emu.audit) == 2 and len(emu.quarantine) == 1 and len(emu.accepted) == 1
    )  # no double write
    # the hash is over the raw bytes: the same JSON spelled differently is another body
    spaced = http.post(
        f"/v1/ingest/{cid}",
        content=json.dumps([PASS, FAIL_FOUR], indent=1).encode(),
        headers=headers,
    )
    assert spaced.status_code == 422
    assert spaced.json() == {
        "error": "idempotency_conflict",
        "detail": "A different request body was already submitted with this Idempotency-Key.",
    }
    assert "X-RateLimit-Limit" in spaced.headers
    assert (
        emu.idempotency_keys["batch-1"]["body_hash"]
        == __import__("hashlib").sha256(body).hexdigest()
    )


def test_idempotency_details(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid, hero = emu.contracts["user_events"], emu.contracts["hero_events"]
    too_long = http.post(f"/v1/ingest/{cid}", json=[PASS], headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["error"] == "Invalid request: Idempotency-Key must be ≤ 255 characters"
    assert (
        http.post(
            f"/v1/ingest/{cid}", json=[PASS], headers={"Idempotency-Key": "k" * 255}
        ).status_code
        == 200
    )
    # never stored for a dry run
    http.post(f"/v1/ingest/{cid}?dry_run=true", json=[PASS], headers={"Idempotency-Key": "dry"})
    assert "dry" not in emu.idempotency_keys
    # 422 outcomes are stored and replayed too
    failed = http.post(f"/v1/ingest/{cid}", json=[FAIL_FOUR], headers={"Idempotency-Key": "fails"})
    replayed = http.post(
        f"/v1/ingest/{cid}", json=[FAIL_FOUR], headers={"Idempotency-Key": "fails"}
    )
    assert (
        failed.status_code == replayed.status_code == 422
        and replayed.headers["X-Idempotency-Replay"] == "true"
    )
    # unique on the key alone: another contract overwrites the record (and misses on the first)
    http.post(f"/v1/ingest/{hero}", json=[X], headers={"Idempotency-Key": "fails"})
    assert emu.idempotency_keys["fails"]["contract_id"] == hero
    fresh = http.post(f"/v1/ingest/{cid}", json=[FAIL_FOUR], headers={"Idempotency-Key": "fails"})
    assert "X-Idempotency-Replay" not in fresh.headers
    # 24 h
    emu.advance_time(24 * 3600 + 1)
    late = http.post(f"/v1/ingest/{cid}", json=[FAIL_FOUR], headers={"Idempotency-Key": "fails"})
    assert "X-Idempotency-Replay" not in late.headers


def test_lost_response_then_retry_with_key_writes_once(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    cid = emu.contracts["user_events"]
    emu.inject("POST", "/v1/ingest/*", after_processing(drop()))
    with pytest.raises(httpx.TransportError):
        http.post(f"/v1/ingest/{cid}", json=[PASS], headers={"Idempotency-Key": "once"})
    retry = http.post(f"/v1/ingest/{cid}", json=[PASS], headers={"Idempotency-Key": "once"})
    assert retry.status_code == 200 and retry.headers["X-Idempotency-Replay"] == "true"
    assert emu.accepted == [PASS]
    # without a key the same retry double-writes: there is no dedup without the header
    emu.inject("POST", "/v1/ingest/*", after_processing(drop()))
    with pytest.raises(httpx.TransportError):
        http.post(f"/v1/ingest/{cid}", json=[PASS])
    http.post(f"/v1/ingest/{cid}", json=[PASS])
    assert emu.accepted == [PASS, PASS, PASS]


# --- 11.5 rate limits ------------------------------------------------------------------------------


def test_rate_limit_headers_when_off(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    first = ingest(http, cid, [PASS])
    assert first.headers["X-RateLimit-Limit"] == "100"
    remaining = int(first.headers["X-RateLimit-Remaining"])
    assert remaining == 998  # two tokens: the auth middleware's and the ingest route's
    assert abs(int(first.headers["X-RateLimit-Reset"]) - time.time()) < 5
    error = ingest(http, cid, [])
    assert error.status_code == 400 and int(error.headers["X-RateLimit-Remaining"]) <= remaining - 2
    assert "X-RateLimit-Limit" not in http.get("/stats").headers  # v1 responses only
    assert "X-RateLimit-Limit" in http.get(f"/v1/contracts/{cid}/version").headers


def test_rate_limits_when_on() -> None:
    emu = ContractGateEmulator(rate_limit_rps=1, rate_limit_burst=3)
    with emu.serve() as url, httpx.Client(base_url=url, headers={"x-api-key": emu.api_key}) as http:
        cid = emu.contracts["user_events"]
        ok = ingest(http, cid, [PASS])
        assert ok.status_code == 200 and ok.headers["X-RateLimit-Remaining"] == "1"
        assert ok.headers["X-RateLimit-Limit"] == "1"
        limited = ingest(http, cid, [PASS])  # auth takes the last token, ingest finds none
        assert limited.status_code == 429
        body = limited.json()
        assert body["error"] == "rate_limit_exceeded" and 0 < body["retry_after_ms"] <= 1000
        assert (
            body["detail"]
            == f"Rate limit of 1 req/sec exceeded. Retry after {body['retry_after_ms']}ms."
        )
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert int(limited.headers["X-RateLimit-Reset"]) > time.time()
        bare = http.get("/contracts")
        assert bare.status_code == 429
        assert bare.json() == {"error": "Rate limit exceeded — too many requests", "status": 429}
        assert "X-RateLimit-Limit" not in bare.headers
        emu.advance_time(10)
        assert ingest(http, cid, [PASS]).status_code == 200
        assert len(emu.accepted) == 2


def test_per_key_rate_limit(emu: ContractGateEmulator) -> None:
    key = emu.add_api_key(rate_limit_rps=1, rate_limit_burst=2)
    headers = {"x-api-key": key}
    url = f"{emu.base_url}/v1/ingest/{emu.contracts['user_events']}"
    assert httpx.post(url, json=[PASS], headers=headers).headers["X-RateLimit-Limit"] == "1"
    assert httpx.get(f"{emu.base_url}/stats", headers=headers).status_code == 429
    assert httpx.get(f"{emu.base_url}/stats", headers={"x-api-key": emu.api_key}).status_code == 200


# --- egress, legacy ingest, playground (spec 6.5, 6.6, 6.8) --------------------------------------

LEAKY = """version: "1.0"
name: "leaky"
egress_leakage_mode: fail
ontology:
  entities:
    - {name: id, type: string}
    - {name: email, type: string, required: false, transform: {kind: redact}}
"""


def test_egress_dispositions(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    block = http.post(f"/egress/{cid}", json=[PASS, FAIL_FOUR])
    assert block.status_code == 207
    body = block.json()
    assert body["payload"] == [PASS] and [o["action"] for o in body["outcomes"]] == [
        "included",
        "blocked",
    ]
    assert (body["disposition"], body["egress_leakage_mode"], body["resolved_version"]) == (
        "block",
        "off",
        "1.0.0",
    )
    fail = http.post(f"/egress/{cid}?disposition=fail", json=[PASS, FAIL_FOUR])
    assert fail.status_code == 422 and fail.json()["payload"] == []
    assert [o["action"] for o in fail.json()["outcomes"]] == ["rejected", "rejected"]
    tag = http.post(f"/egress/{cid}?disposition=tag", json=[PASS, FAIL_FOUR]).json()
    assert [o["action"] for o in tag["outcomes"]] == ["included", "tagged"] and len(
        tag["payload"]
    ) == 2
    assert http.post(f"/egress/{cid}?disposition=drop", json=[PASS]).status_code == 400
    assert http.post(f"/egress/{cid}", json=[FAIL_FOUR]).status_code == 422
    assert {a["direction"] for a in emu.audit} == {"egress"}
    assert {q["direction"] for q in emu.quarantine} == {"egress"}
    before = len(emu.audit)
    http.post(f"/egress/{cid}?dry_run=true", json=[PASS])
    assert len(emu.audit) == before


def test_egress_leakage_and_versions(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.add_contract(LEAKY)
    body = http.post(f"/egress/{cid}", json=[{"id": "a", "email": "a@x.com", "cost": 1}]).json()
    [outcome] = body["outcomes"]
    assert outcome["stripped_fields"] == ["cost"] and outcome["action"] == "blocked"
    assert outcome["violations"] == [
        {
            "field": "cost",
            "kind": "leakage_violation",
            "message": "Undeclared field 'cost' found in egress payload (egress_leakage_mode=fail); field stripped from response",
        }
    ]
    tagged = http.post(
        f"/egress/{cid}?disposition=tag", json=[{"id": "a", "email": "a@x.com", "cost": 1}]
    ).json()
    assert tagged["payload"] == [{"id": "a", "email": "<REDACTED>"}]
    hero = emu.contracts["hero_events"]
    pinned = http.post(f"/egress/{hero}@1.0.0", json=[X], headers={"X-Contract-Version": "1.1.0"})
    assert pinned.json()["resolved_version"] == "1.1.0"  # the header wins over the suffix
    assert http.post(f"/egress/{hero}@1.0.0", json=[X]).json()["resolved_version"] == "1.0.0"
    emu.deprecate(hero, "1.0.0")
    refused = http.post(f"/egress/{hero}@1.0.0", json=[X])
    assert (
        refused.status_code == 400
        and "is deprecated; pin a stable version for egress" in refused.json()["error"]
    )


def test_legacy_ingest(emu: ContractGateEmulator, http: httpx.Client) -> None:
    hero = emu.contracts["hero_events"]
    by_path = http.post(f"/ingest/{hero}@1.0.0", json=[X]).json()
    assert by_path["version_pin_source"] == "path" and by_path["resolved_version"] == "1.0.0"
    assert "index" not in by_path["results"][0] and "quarantine_id" not in by_path["results"][0]
    by_header = http.post(
        f"/ingest/{hero}@1.0.0", json=[X], headers={"X-Contract-Version": "1.1.0"}
    ).json()
    assert by_header["version_pin_source"] == "header" and by_header["passed"] == 1
    bare = http.post(f"/ingest/{hero}@", json=[X]).json()
    assert bare["version_pin_source"] == "default_stable"
    emu.deprecate(hero, "1.0.0")
    deprecated = http.post(f"/ingest/{hero}@1.0.0", json=[X])
    assert deprecated.status_code == 422
    assert set(deprecated.json()) == {"error", "status", "batch"}
    assert deprecated.json()["batch"]["version_pin_source"] == "pinned_deprecated"


def test_playground(http: httpx.Client) -> None:
    pii = example_contract("user_events_pii_transform.yaml")
    ok = http.post(
        "/playground/validate",
        json={"yaml_content": pii, "event": {"user_id": "u", "event_type": "x"}},
    )
    assert ok.status_code == 200
    assert ok.json()["passed"] is True and ok.json()["transformed_event"]["user_id"] == "****"
    assert set(ok.json()) == {"passed", "violations", "validation_us", "transformed_event"}
    failing = http.post("/playground/validate", json={"yaml_content": pii, "event": {}}).json()
    assert failing["passed"] is False and len(failing["violations"]) == 2
    broken = http.post("/playground/validate", json={"yaml_content": "version: 1", "event": {}})
    assert broken.status_code == 422 and broken.json()["error"].startswith(
        "Invalid contract YAML: "
    )


SIGNUPS_PII = """version: "1.0"
name: "signups_pii"
compliance_mode: true
null_as_absent: true
ontology:
  entities:
    - {name: user_id, type: string, pattern: "^u_[0-9]+$"}
    - {name: email, type: string, transform: {kind: hash}}
    - {name: phone, type: string, required: false, transform: {kind: mask, style: format_preserving}}
    - {name: ssn, type: string, required: false, transform: {kind: redact}}
    - {name: signup_date, type: date}
    - {name: plan, type: string, required: false, enum: ["free", "pro"]}
"""


def test_worked_example_c_gateway_only_features(
    emu: ContractGateEmulator, http: httpx.Client
) -> None:
    """Compliance mode, null_as_absent, date and transforms (spec 10.C), through ingest and the
    playground (whose salt is empty, so the hash is the spec's)."""
    good = {
        "user_id": "u_1",
        "email": "a@x.com",
        "phone": "+1 (555) 010-9999",
        "ssn": "123-45-6789",
        "signup_date": "2026-02-28",
        "plan": None,
    }
    bad = {"user_id": "u_2", "email": None, "signup_date": "2026-02-30", "plan": "gold", "utm": "x"}
    played = http.post(
        "/playground/validate", json={"yaml_content": SIGNUPS_PII, "event": good}
    ).json()
    assert played["passed"] is True
    stored = played["transformed_event"]
    assert list(stored) == sorted(stored)
    assert stored["email"].startswith("hmac-sha256:b7a02a93") and stored["email"].endswith("1c5e")
    assert (stored["ssn"], stored["plan"], stored["signup_date"]) == (
        "<REDACTED>",
        None,
        "2026-02-28",
    )
    assert (
        re.fullmatch(r"\+\d \(\d{3}\) \d{3}-\d{4}", stored["phone"])
        and stored["phone"] != good["phone"]
    )

    cid = emu.add_contract(SIGNUPS_PII)
    body = ingest(http, cid, [good, bad]).json()
    ok, failed = body["results"]
    assert (
        ok["passed"] and ok["transformed_event"]["email"] != stored["email"]
    )  # the contract's salt
    assert [(f, k) for f, k, _ in messages(failed)] == [
        ("email", "missing_required_field"),
        ("signup_date", "pattern_mismatch"),
        ("plan", "enum_violation"),
        ("utm", "undeclared_field"),
    ]
    assert messages(failed)[1][2] == (
        "Field 'signup_date' value \"2026-02-30\" is not a valid calendar date (expected YYYY-MM-DD)"
    )
    assert "utm" not in failed["transformed_event"]
    assert "utm" not in emu.quarantine[0]["payload"]


# --- audit and stats (spec 2) --------------------------------------------------------------------


def test_audit_and_stats(emu: ContractGateEmulator, http: httpx.Client) -> None:
    assert http.get("/stats").json() == {
        "total_events": 0, "passed_events": 0, "failed_events": 0, "pass_rate": 0.0,
        "avg_validation_us": 0.0, "p50_validation_us": 0, "p95_validation_us": 0, "p99_validation_us": 0,
    }  # fmt: skip
    cid, hero = emu.contracts["user_events"], emu.contracts["hero_events"]
    ingest(http, cid, [PASS, FAIL_ENUM_RANGE, FAIL_FOUR])
    ingest(http, hero, [X])
    rows = http.get("/audit").json()
    assert len(rows) == 4 and rows[0]["contract_id"] == hero  # newest first
    assert set(rows[0]) == {
        "id", "contract_id", "contract_version", "passed", "violation_count", "violation_details",
        "raw_event", "validation_us", "source_ip", "created_at",
    }  # fmt: skip
    page = http.get("/audit", params={"contract_id": cid, "limit": 2, "offset": 1}).json()
    assert [r["violation_count"] for r in page] == [2, 0]
    stats = http.get("/stats").json()
    assert (stats["total_events"], stats["passed_events"], stats["failed_events"]) == (4, 2, 2)
    assert stats["pass_rate"] == 0.5
    timings = sorted(r["validation_us"] for r in rows)
    assert stats["p50_validation_us"] == timings[1] and stats["p99_validation_us"] == timings[3]
    per_contract = http.get(f"/ingest/{cid}/stats").json()
    assert per_contract["total_events"] == 3


# --- faults, control routes, process -------------------------------------------------------------


def test_injected_faults(emu: ContractGateEmulator, http: httpx.Client) -> None:
    cid = emu.contracts["user_events"]
    emu.inject("POST", f"/v1/ingest/{cid}", server_error(503), request_timeout())
    assert ingest(http, cid, [PASS]).status_code == 503
    timeout = ingest(http, cid, [PASS])
    assert timeout.status_code == 408 and timeout.content == b""
    assert emu.accepted == []  # faults apply before processing
    assert ingest(http, cid, [PASS]).status_code == 200
    emu.inject("*", "/stats", slow(0.05))
    assert http.get("/stats").status_code == 200
    assert len(emu.requests_to("POST", "/v1/ingest/*")) == 3 and emu.pending_faults() == 0


def test_control_routes(emu: ContractGateEmulator) -> None:
    base = f"{emu.base_url}/_emulator"
    state = httpx.get(f"{base}/state").json()
    assert state["api_key"] == emu.api_key and state["contracts"] == emu.contracts
    created = httpx.post(
        f"{base}/contracts", json={"yaml_content": SIMPLE, "state": "draft"}
    ).json()
    httpx.post(f"{base}/contracts/{created['id']}/versions/1.0.0/promote")
    assert emu.version(created["id"], "1.0.0")["state"] == "stable"
    httpx.post(
        f"{base}/inject", json={"method": "GET", "path": "/stats", "faults": [{"kind": "timeout"}]}
    )
    assert httpx.get(f"{emu.base_url}/stats", headers={"x-api-key": emu.api_key}).status_code == 408
    key = httpx.post(f"{base}/keys", json={}).json()["api_key"]
    assert httpx.get(f"{emu.base_url}/stats", headers={"x-api-key": key}).status_code == 200
    assert (
        httpx.post(
            f"{base}/contracts", json={"yaml_content": "x: [", "state": "stable"}
        ).status_code
        == 422
    )
    assert httpx.get(f"{base}/requests").json()[0]["path"] == "/stats"
    assert httpx.post(f"{base}/reset").json()["contracts"] == emu.contracts


def test_python_dash_m_prints_url_key_and_contracts() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "govflow.testing.contractgate", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert re.fullmatch(r"cg_live_[0-9a-f]{48}", info["api_key"])
        assert set(info["contracts"]) == {
            "user_events",
            "hero_events",
            "order_events",
            "user_events_pii",
        }
        health = httpx.get(f"{info['base_url']}/health").json()
        assert health["service"] == "contractgate"
    finally:
        process.terminate()
        process.wait(10)
