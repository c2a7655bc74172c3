"""ContractGateClient over real HTTP against the emulator: ingest semantics, every route, versions,
quarantine and replay, audit, stats, egress, playground.

Errors, retries, idempotency and secrets: test_contractgate_client_faults.py; the sync client:
test_contractgate_client_sync.py; pieces without a server: test_contractgate_client_config.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from govflow.core.platforms.contractgate import (
    KNOWN_VIOLATION_KINDS,
    ContractGateClient,
    ContractGateConflictError,
    ContractGateNotFoundError,
    IngestResult,
    ViolationKind,
)
from govflow.core.transport import USER_AGENT, RetryPolicy
from govflow.testing.contractgate import ContractGateEmulator
from govflow.testing.faults import respond

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)

# Spec 10.A
PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL_ENUM_RANGE = {"user_id": "u_123", "event_type": "delete", "timestamp": 1714000000, "amount": -5}
FAIL_FOUR = {"user_id": "bad id!", "timestamp": "1714000000", "amount": None}
# Spec 10.B: passes under hero_events 1.1.0, fails under 1.0.0.
HERO_X = {
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3401",
    "method": "CONNECT",
    "path": "proxy.internal:443",
    "status": 200,
    "latency_ms": 12,
    "timestamp": 1752000100,
}
HERO_GET = {**HERO_X, "method": "GET"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ContractGateEmulator, str]]:
    emu = ContractGateEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def emu(served: tuple[ContractGateEmulator, str]) -> ContractGateEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
async def client(emu: ContractGateEmulator, served: tuple[ContractGateEmulator, str]) -> AsyncIterator[ContractGateClient]:
    async with ContractGateClient(emu.api_key, base_url=served[1], retry=FAST, timeout=10.0) as cg:
        yield cg


def kinds(result: IngestResult) -> list[list[str]]:
    return [[v.kind for v in r.violations] for r in result.results]


# --- ingest: statuses and the result model ---------------------------------------------------


async def test_a_mixed_batch_is_a_207_result_with_quarantine_ids(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE, FAIL_FOUR])
    assert (result.status_code, result.partial) == (207, True)
    assert (result.total, result.passed, result.failed) == (3, 1, 2)
    assert (result.resolved_version, result.version_pin_source, result.dry_run, result.atomic) == (
        "1.0.0",
        "default_stable",
        False,
        False,
    )
    assert [r.index for r in result.results] == [0, 1, 2]
    assert kinds(result) == [
        [],
        ["enum_violation", "range_violation"],
        ["pattern_mismatch", "missing_required_field", "type_mismatch", "type_mismatch"],
    ]
    enum, below = result.results[1].violations
    assert enum.message == """Field 'event_type' value "delete" not in allowed set: ["click", "view", "purchase", "login"]"""
    assert (below.field, below.message) == ("amount", "Field 'amount' value -5 is below minimum 0")
    assert enum.known_kind is ViolationKind.ENUM_VIOLATION
    assert result.results[0].quarantine_id is None and result.results[0].forwarded
    assert len(result.quarantine_ids) == 2 and [f.index for f in result.failures] == [1, 2]
    assert result.results[2].transformed_event == {"amount": None, "timestamp": "1714000000", "user_id": "bad id!"}
    assert result.contract_versions == {"1.0.0"}
    assert not result.replayed and result.idempotency_key is not None
    assert result.rate_limit is not None and result.rate_limit.limit == 100
    assert sorted(row["id"] for row in emu.quarantine) == sorted(result.quarantine_ids)
    assert len(emu.accepted) == 1


async def test_all_passed_is_200(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [PASS, {**PASS, "event_type": "click"}])
    assert (result.status_code, result.all_passed, result.failed) == (200, True, 0)
    assert result.quarantine_ids == [] and len(emu.accepted) == 2


async def test_all_failed_is_a_422_result_not_an_error(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [FAIL_ENUM_RANGE, FAIL_FOUR])
    assert (result.status_code, result.passed, result.failed) == (422, 0, 2)
    assert len(result.quarantine_ids) == 2 and not result.atomic_rejected


async def test_an_atomic_rejection_is_a_422_result_that_stores_nothing(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE, FAIL_FOUR], atomic=True)
    assert (result.status_code, result.atomic, result.atomic_rejected) == (422, True, True)
    assert result.quarantine_ids == [] and not any(r.forwarded for r in result.results)
    assert emu.quarantine == [] and emu.accepted == []
    request = emu.requests_to("POST", "/v1/ingest/*")[-1]
    assert request.params == {"atomic": "true"}


async def test_a_dry_run_validates_without_storing(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE], dry_run=True)
    assert (result.status_code, result.dry_run, result.passed, result.failed) == (207, True, 1, 1)
    assert result.quarantine_ids == [] and emu.quarantine == [] and emu.accepted == []
    assert emu.requests_to("POST", "/v1/ingest/*")[-1].params == {"dry_run": "true"}


async def test_ndjson_bodies(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE], ndjson=True)
    assert (result.status_code, result.passed, result.failed) == (207, 1, 1)
    request = emu.requests_to("POST", "/v1/ingest/*")[-1]
    assert request.header("content-type") == "application/x-ndjson"
    assert [json.loads(line) for line in request.body.decode().splitlines()] == [PASS, FAIL_ENUM_RANGE]


async def test_one_object_is_a_batch_of_one(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], PASS)
    assert (result.total, result.passed) == (1, 1)
    assert json.loads(emu.requests_to("POST", "/v1/ingest/*")[-1].body) == PASS
    generated = await client.ingest(emu.contracts["user_events"], (dict(PASS) for _ in range(3)))
    assert generated.total == 3


async def test_a_batch_that_is_not_objects_gets_root_type_mismatches(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [1, "x"])
    assert [(v.field, v.kind, v.message) for r in result.results for v in r.violations] == [
        ("<root>", "type_mismatch", "Event must be a JSON object")
    ] * 2


async def test_the_request_carries_the_key_the_user_agent_and_an_idempotency_key(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    await client.ingest(emu.contracts["user_events"], [PASS])
    request = emu.requests_to("POST", "/v1/ingest/*")[-1]
    assert request.header("x-api-key") == emu.api_key
    assert request.header("user-agent") == f"{USER_AGENT} (contractgate)"
    assert request.header("accept") == "application/json"
    assert request.header("content-type") == "application/json"
    uuid.UUID(request.header("idempotency-key") or "")
    await client.ingest(emu.contracts["user_events"], [PASS])
    first, second = emu.requests_to("POST", "/v1/ingest/*")[-2:]
    assert first.header("idempotency-key") != second.header("idempotency-key")  # one per logical call


# --- versions on ingest ----------------------------------------------------------------------


async def test_a_version_pin_by_argument_or_at_suffix(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    hero = emu.contracts["hero_events"]
    unpinned = await client.ingest(hero, [HERO_X], dry_run=True)
    assert (unpinned.passed, unpinned.resolved_version, unpinned.version_pin_source) == (1, "1.1.0", "default_stable")

    pinned = await client.ingest(hero, [HERO_X], version="1.0.0", dry_run=True)
    assert (pinned.status_code, pinned.resolved_version, pinned.version_pin_source) == (422, "1.0.0", "query_param")
    assert pinned.results[0].violations[0].message == (
        """Field 'method' value "CONNECT" not in allowed set: ["GET", "POST", "PUT", "PATCH", "DELETE"]"""
    )
    by_suffix = await client.ingest(f"{hero}@1.0.0", [HERO_X], dry_run=True)
    assert by_suffix.resolved_version == "1.0.0"
    assert emu.requests_to("POST", "/v1/ingest/*")[-1].path == f"/v1/ingest/{hero}"
    explicit_wins = await client.ingest(f"{hero}@1.0.0", [HERO_X], version="1.1.0", dry_run=True)
    assert (explicit_wins.resolved_version, explicit_wins.passed) == ("1.1.0", 1)


async def test_a_deprecated_pin_is_a_result_without_resolved_version(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    hero = emu.contracts["hero_events"]
    emu.deprecate(hero, "1.0.0")
    result = await client.ingest(hero, [HERO_X, HERO_GET], version="1.0.0")
    assert (result.status_code, result.deprecated_pin, result.resolved_version, result.atomic) == (422, True, None, None)
    assert (result.total, result.passed, result.failed) == (2, 0, 2)
    assert result.error is not None and "deprecated" in result.error
    assert [r.quarantine_id for r in result.results] == [None, None]
    records = result.records()
    assert [v.kind for r in records for v in r.violations] == ["deprecated_contract_version"] * 2
    # The gateway quarantined the whole batch, unvalidated.
    rows = await client.list_quarantine(contract_id=hero)
    assert len(rows) == 2 and {v.kind for row in rows for v in row.violations} == {"deprecated_contract_version"}


async def test_an_unknown_pinned_version_is_404_and_no_stable_version_is_409(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    with pytest.raises(ContractGateNotFoundError, match=r"9\.9\.9"):
        await client.ingest(emu.contracts["user_events"], [PASS], version="9.9.9")
    draft_only = emu.add_contract(_yaml("drafty"), state="draft")
    with pytest.raises(ContractGateConflictError, match="no stable version"):
        await client.ingest(draft_only, [{"id": "a"}])
    result = await client.ingest(draft_only, [{"id": "a"}], version="1.0.0")  # a draft may be pinned
    assert result.passed == 1


# --- violation kinds -------------------------------------------------------------------------

KINDS_YAML = """
version: "1.0"
name: "kinds"
compliance_mode: true
ontology:
  entities:
    - {name: id, type: string, pattern: "^[a-z]+$"}
    - {name: kind, type: string, enum: ["a", "b"]}
    - {name: n, type: integer, min: 0, max: 10}
    - {name: s, type: string, min_length: 2, max_length: 4}
    - {name: ts, type: integer}
    - {name: score, type: number, required: false}
    - {name: note, type: string, required: false}
metrics:
  - {name: score_range, field: score, min: 0, max: 1}
quality:
  - {field: note, type: completeness}
  - {field: ts, type: freshness, max_age_seconds: 3600}
  - {field: id, type: uniqueness}
"""

LEAKY_YAML = """
version: "1.0"
name: "leaky"
egress_leakage_mode: fail
ontology:
  entities:
    - {name: id, type: string}
"""


async def test_every_violation_kind_on_the_wire(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    contract = emu.add_contract(KINDS_YAML)
    now = int(time.time())
    events = [
        {"id": "abc", "kind": "c", "n": 11, "s": "x", "ts": 1, "score": 2, "note": "", "utm": "x"},
        {"id": "ABC", "n": "x", "s": "okay", "ts": now, "score": 0.5, "note": "y"},
        {"id": "abc", "kind": "a", "n": 1, "s": "ok", "ts": now, "score": 0.5, "note": "z"},
    ]
    result = await client.ingest(contract, events)
    seen = {v.kind for r in result.results for v in r.violations}
    assert seen == {
        "enum_violation",
        "range_violation",
        "length_violation",
        "freshness_violation",
        "metric_range_violation",
        "completeness_violation",
        "undeclared_field",
        "pattern_mismatch",
        "missing_required_field",
        "type_mismatch",
        "uniqueness_violation",
    }
    assert kinds(result)[2] == ["uniqueness_violation"]

    leaky = emu.add_contract(LEAKY_YAML)
    egress = await client.egress(leaky, [{"id": "a", "secret": "s"}], disposition="tag")
    assert [v.kind for v in egress.outcomes[0].violations] == ["leakage_violation"]
    assert egress.payload == [{"id": "a"}]

    # unknown_field exists in the enum though the gateway never emits it; and a kind from the future.
    crafted = {
        "total": 1, "passed": 0, "failed": 1, "dry_run": False, "atomic": False,
        "resolved_version": "1.0.0", "version_pin_source": "default_stable",
        "results": [{
            "index": 0, "passed": False, "validation_us": 3, "forwarded": False,
            "contract_version": "1.0.0", "quarantine_id": str(uuid.uuid4()), "transformed_event": {},
            "violations": [
                {"field": "a", "kind": "unknown_field", "message": "declared, never sent"},
                {"field": "b", "kind": "semantic_drift_violation", "message": "from the future", "hint": "new"},
            ],
        }],
    }
    emu.inject("POST", "/v1/ingest/*", respond(422, crafted, {"X-RateLimit-Limit": "100"}))
    future = await client.ingest(contract, [{}])
    unknown, drift = future.results[0].violations
    assert unknown.known_kind is ViolationKind.UNKNOWN_FIELD
    assert (drift.kind, drift.known_kind, drift.model_extra) == ("semantic_drift_violation", None, {"hint": "new"})
    assert seen | {"leakage_violation", "unknown_field"} == KNOWN_VIOLATION_KINDS


# --- contracts and versions ------------------------------------------------------------------


def _yaml(name: str, version: str = "1.0.0", extra_enum: str = "") -> str:
    return f"""
version: "{version}"
name: "{name}"
ontology:
  entities:
    - {{name: id, type: string, enum: ["a"{extra_enum}]}}
"""


async def test_contract_reads(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    contracts = await client.list_contracts()
    assert {c.name for c in contracts} >= {"user_events", "hero_events", "order_events_nested", "user_events_pii"}
    hero_id = emu.contracts["hero_events"]
    hero = await client.get_contract(hero_id)
    assert (hero.name, hero.latest_stable_version, hero.version_count, hero.multi_stable_resolution) == (
        "hero_events",
        "1.1.0",
        2,
        "strict",
    )
    assert hero.created_at is not None and hero.raw["id"] == hero_id
    found = await client.find_contract("hero_events")
    assert found is not None and found.id == hero_id
    assert await client.find_contract("nope") is None

    versions = await client.list_versions(hero_id)
    assert [(v.version, v.state) for v in versions] == [("1.1.0", "stable"), ("1.0.0", "stable")]
    one = await client.get_version(hero_id, "1.0.0")
    assert one.yaml_content is not None and "CONNECT is NOT allowed" in one.yaml_content
    latest = await client.get_latest_stable(hero_id)
    assert latest.version == "1.1.0" and latest.promoted_at is not None
    hashed = await client.latest_version_hash(hero_id)
    assert hashed.version == "1.1.0" and hashed.hash is not None and len(hashed.hash) == 64
    with pytest.raises(ContractGateNotFoundError):
        await client.get_contract(str(uuid.uuid4()))


async def test_the_version_lifecycle(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    created = await client.create_contract("lifecycle", _yaml("lifecycle"), description="demo")
    assert (created.name, created.description, created.latest_stable_version) == ("lifecycle", "demo", None)
    [draft] = await client.list_versions(created.id)
    assert (draft.version, draft.state) == ("1.0.0", "draft")
    with pytest.raises(ContractGateConflictError):
        await client.get_latest_stable(created.id)

    updated = await client.update_version(created.id, "1.0.0", _yaml("lifecycle", extra_enum=', "b"'))
    assert updated.yaml_content is not None and '"b"' in updated.yaml_content
    stable = await client.promote_version(created.id, "1.0.0")
    assert stable.state == "stable"
    with pytest.raises(ContractGateConflictError, match="stable"):
        await client.update_version(created.id, "1.0.0", _yaml("lifecycle"))
    with pytest.raises(ContractGateConflictError):
        await client.promote_version(created.id, "1.0.0")

    second = await client.create_version(created.id, "1.1.0", _yaml("lifecycle", "1.1.0"))
    assert second.state == "draft"
    with pytest.raises(ContractGateConflictError):
        await client.create_version(created.id, "1.1.0", _yaml("lifecycle", "1.1.0"))
    await client.delete_version(created.id, "1.1.0")
    assert [v.version for v in await client.list_versions(created.id)] == ["1.0.0"]

    deprecated = await client.deprecate_version(created.id, "1.0.0")
    assert deprecated.state == "deprecated" and deprecated.deprecated_at is not None

    renamed = await client.update_contract(created.id, name="lifecycle2", multi_stable_resolution="fallback")
    assert (renamed.name, renamed.multi_stable_resolution) == ("lifecycle2", "fallback")
    history = await client.name_history(created.id)
    assert [(h["old_name"], h["new_name"]) for h in history] == [("lifecycle", "lifecycle2")]

    await client.delete_contract(created.id)
    with pytest.raises(ContractGateNotFoundError):
        await client.get_contract(created.id)


async def test_deploy(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    deployed = await client.deploy_contract("deployed", _yaml("deployed", "2.0.0"), source="ci", deployed_by="me")
    assert (deployed.name, deployed.version, deployed.source, deployed.deprecated_count) == ("deployed", "2.0.0", "ci", 0)
    again = await client.deploy_contract("deployed", _yaml("deployed", "2.1.0"))
    assert again.contract_id == deployed.contract_id and again.deprecated_count == 1
    states = {v.version: v.state for v in await client.list_versions(deployed.contract_id)}
    assert states == {"2.0.0": "deprecated", "2.1.0": "stable"}


# --- quarantine and replay -------------------------------------------------------------------


async def test_the_hero_flow_quarantine_then_replay(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    hero = emu.contracts["hero_events"]
    result = await client.ingest(hero, [HERO_X], version="1.0.0")
    assert result.status_code == 422
    [qid] = result.quarantine_ids

    rows = await client.list_quarantine(contract_id=hero)
    assert [row.id for row in rows] == [qid]
    row = rows[0]
    assert (row.contract_version, row.violation_count, row.replay_count, row.payload_redacted) == ("1.0.0", 1, 0, False)
    assert row.raw_event == HERO_X and row.violations[0].kind == "enum_violation"

    replay = await client.replay_quarantine(hero, [qid], target_version="1.1.0")
    assert (replay.total, replay.replayed, replay.target_version, replay.target_version_source) == (1, 1, "1.1.0", "explicit")
    [outcome] = replay.results
    assert (outcome.quarantine_id, outcome.outcome, outcome.contract_version_matched) == (qid, "replayed", "1.1.0")
    assert outcome.replayed_into_audit_id is not None
    assert len(emu.accepted) == 1

    again = await client.replay_quarantine(hero, [qid])
    assert (again.already_replayed, again.results[0].outcome) == (1, "already_replayed")
    assert len(emu.accepted) == 1

    history = await client.replay_history(hero, qid)
    assert [entry["kind"] for entry in history] == ["source", "passed_replay"]
    attempts = await client.replay_attempts(event_id=qid)
    assert len(attempts) == 1
    [after] = await client.list_quarantine(contract_id=hero)
    assert after.replay_count == 1 and after.last_replay_passed is True


async def test_replay_outcomes_for_failures_and_strangers(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    hero = emu.contracts["hero_events"]
    bad = {**HERO_GET, "status": 700}
    result = await client.ingest(hero, [bad, HERO_X], version="1.0.0")
    still, passes = result.quarantine_ids
    unknown = str(uuid.uuid4())
    replay = await client.replay_quarantine(hero, [still, unknown])
    assert (replay.still_quarantined, replay.not_found, replay.target_version_source) == (1, 1, "default_stable")
    by_id = {r.quarantine_id: r for r in replay.results}
    assert by_id[still].outcome == "still_quarantined" and by_id[still].violations[0].kind == "range_violation"
    assert by_id[still].contract_version_attempted == "1.1.0" and by_id[unknown].outcome == "not_found"

    events = await client.replay_events([passes, unknown], version="1.1.0")
    assert events.replayed == 1
    assert [(o.event_id, o.passed) for o in events.outcomes] == [(passes, True), (unknown, False)]
    with pytest.raises(ValueError, match="1 to 1000"):
        await client.replay_quarantine(hero, [])


async def test_quarantine_paging(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    result = await client.ingest(emu.contracts["user_events"], [FAIL_ENUM_RANGE] * 5)
    page = await client.list_quarantine(limit=2, offset=1)
    assert len(page) == 2
    every = [row.id async for row in client.iter_quarantine(page_size=2)]
    assert sorted(every) == sorted(result.quarantine_ids)
    assert len(set(every)) == 5


# --- audit, stats, egress, playground, health ------------------------------------------------


async def test_audit_and_stats(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    user_events = emu.contracts["user_events"]
    await client.ingest(user_events, [PASS, FAIL_ENUM_RANGE, FAIL_FOUR])
    rows = await client.audit(contract_id=user_events, limit=2)
    assert len(rows) == 2 and all(r.contract_id == user_events for r in rows)
    every = [row async for row in client.iter_audit(contract_id=user_events, page_size=2)]
    assert len(every) == 3 and sorted(r.passed for r in every) == [False, False, True]
    assert {r.violation_count for r in every} == {0, 2, 4}
    stats = await client.stats()
    assert (stats.total_events, stats.passed_events, stats.failed_events) == (3, 1, 2)
    assert stats.pass_rate == pytest.approx(1 / 3)
    one = await client.contract_stats(user_events)
    assert one.total_events == 3


async def test_egress_returns_the_fail_disposition_422_as_a_result(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    user_events = emu.contracts["user_events"]
    blocked = await client.egress(user_events, [PASS, FAIL_ENUM_RANGE])
    assert (blocked.status_code, blocked.disposition, blocked.payload) == (207, "block", [PASS])
    assert [o.action for o in blocked.outcomes] == ["included", "blocked"]
    failed = await client.egress(user_events, [PASS, FAIL_ENUM_RANGE], disposition="fail", dry_run=True)
    assert (failed.status_code, failed.payload) == (422, [])
    pinned = await client.egress(f"{emu.contracts['hero_events']}@1.0.0", [HERO_X], disposition="tag")
    assert pinned.resolved_version == "1.0.0"
    assert emu.requests_to("POST", "/egress/*")[-1].header("x-contract-version") == "1.0.0"


async def test_playground_and_health(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    played = await client.playground_validate(_yaml("p"), {"id": "z"})
    assert not played.passed and played.violations[0].kind == "enum_violation"
    assert played.transformed_event == {"id": "z"}
    assert (await client.health())["status"] == "ok"
    assert emu.requests_to("GET", "/health")[-1].header("x-api-key") is None
