"""The official ``contractgate`` SDK 0.4.0, driven against the emulator over real HTTP.

If the SDK's documented usage works here, the emulator speaks the contract the SDK was written
for; the SDK's known defects (specs/contractgate.md section 14) must be observable here too, so
that tests of govflow's own client can show it avoids them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import contractgate as cg
import httpx
import pytest

from govflow.testing.contractgate import ContractGateEmulator, example_contract, request_timeout
from govflow.testing.faults import drop, server_error

PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL = {"user_id": "u_123", "event_type": "delete", "timestamp": 1714000000, "amount": -5}
X = {
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3401",
    "method": "CONNECT",
    "path": "proxy.internal:443",
    "status": 200,
    "latency_ms": 12,
    "timestamp": 1752000100,
}
UNKNOWN = "6a1e0b7c-0000-4000-8000-000000000001"
QUALITY = """version: "1.0"
name: "quality_{kind}"
ontology:
  entities:
    - {{name: id, type: string}}
    - {{name: ts, type: integer, required: false}}
quality:
  - {{field: {field}, type: {kind}, max_age_seconds: 60}}
"""
LEAKY = """version: "1.0"
name: "leaky"
egress_leakage_mode: fail
ontology:
  entities:
    - {name: id, type: string}
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
def sdk(emu: ContractGateEmulator) -> Iterator[cg.Client]:
    assert emu.base_url is not None
    with cg.Client(base_url=emu.base_url + "/", api_key=emu.api_key, timeout=5) as client:
        yield client


def test_sdk_version() -> None:
    assert cg.__version__ == "0.4.0"


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_pass(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    response = sdk.ingest(contract_id=emu.contracts["user_events"], events=[PASS])
    assert isinstance(response, cg.BatchIngestResponse)
    assert (response.total, response.passed, response.failed) == (1, 1, 0)
    assert (response.resolved_version, response.version_pin_source) == ("1.0.0", "default_stable")
    [result] = response.results
    assert result.passed and result.forwarded and result.index == 0 and result.quarantine_id is None
    assert result.transformed_event == PASS and result.contract_version == "1.0.0"
    [request] = emu.requests_to("POST", "/v1/ingest/*")
    assert request.header("user-agent") == "contractgate-python/0.4.0"
    assert request.header("x-api-key") == emu.api_key and request.json() == [PASS]


def test_ingest_all_failed_422_is_returned_not_raised(
    emu: ContractGateEmulator, sdk: cg.Client
) -> None:
    response = sdk.ingest(contract_id=emu.contracts["user_events"], events=[FAIL])
    assert response.failed == 1 and response.passed == 0
    [result] = response.results
    assert [(v.field, v.kind) for v in result.violations] == [
        ("event_type", cg.ViolationKind.ENUM_VIOLATION),
        ("amount", cg.ViolationKind.RANGE_VIOLATION),
    ]
    assert result.violations[1].message == "Field 'amount' value -5 is below minimum 0"
    assert result.quarantine_id == emu.quarantine[0]["id"]


def test_ingest_mixed_207_per_event_results(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    response = sdk.ingest(contract_id=emu.contracts["user_events"], events=[PASS, FAIL, 7])
    assert (response.total, response.passed, response.failed) == (3, 1, 2)
    assert [r.index for r in response.results] == [0, 1, 2]
    assert [r.passed for r in response.results] == [True, False, False]
    assert response.results[2].violations == [
        cg.Violation("<root>", "Event must be a JSON object", cg.ViolationKind.TYPE_MISMATCH)
    ]
    assert [r.quarantine_id is not None for r in response.results] == [False, True, True]


def test_ingest_atomic_and_dry_run(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    cid = emu.contracts["user_events"]
    atomic = sdk.ingest(contract_id=cid, events=[PASS, FAIL], atomic=True)
    assert atomic.atomic and atomic.failed == 1
    assert [r.quarantine_id for r in atomic.results] == [None, None]
    dry = sdk.ingest(contract_id=cid, events=[PASS, FAIL], dry_run=True)
    assert dry.dry_run and not any(r.forwarded for r in dry.results)
    assert emu.quarantine == [] and emu.accepted == []
    assert emu.requests_to("POST", "/v1/ingest/*")[1].params == {"dry_run": "true"}


def test_single_event_body(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    response = sdk.ingest(contract_id=emu.contracts["user_events"], events=PASS)
    assert response.total == 1 and response.passed == 1


def test_pinned_versions(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    hero = emu.contracts["hero_events"]
    by_suffix = sdk.ingest(contract_id=f"{hero}@1.0.0", events=[X])
    assert by_suffix.version_pin_source == "query_param" and by_suffix.resolved_version == "1.0.0"
    assert by_suffix.failed == 1
    assert by_suffix.results[0].violations[0].message == (
        'Field \'method\' value "CONNECT" not in allowed set: ["GET", "POST", "PUT", "PATCH", "DELETE"]'
    )
    explicit_wins = sdk.ingest(contract_id=f"{hero}@1.0.0", events=[X], version="1.1.0")
    assert explicit_wins.resolved_version == "1.1.0" and explicit_wins.passed == 1
    by_kwarg = sdk.ingest(contract_id=hero, events=[X], version="1.0.0")
    assert by_kwarg.failed == 1
    unpinned = sdk.ingest(contract_id=hero, events=[X])
    assert unpinned.resolved_version == "1.1.0" and unpinned.version_pin_source == "default_stable"
    assert [r.params.get("version") for r in emu.requests_to("POST", "/v1/ingest/*")] == [
        "1.0.0",
        "1.1.0",
        "1.0.0",
        None,
    ]


def test_fallback_contract_version_is_surfaced(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    cid = emu.add_contract(
        example_contract("hero_events_v1.0.0.yaml"), state="draft", name="hero_fb"
    )
    emu.add_version(cid, example_contract("hero_events_v1.1.0.yaml"), state="stable")
    emu.promote(cid, "1.0.0")
    emu.set_resolution(cid, "fallback")
    response = sdk.ingest(contract_id=cid, events=[X])
    assert response.resolved_version == "1.0.0" and response.results[0].contract_version == "1.1.0"
    assert sdk.get_contract(cid).multi_stable_resolution == "fallback"


def test_async_client(emu: ContractGateEmulator) -> None:
    async def run() -> cg.BatchIngestResponse:
        assert emu.base_url is not None
        async with cg.AsyncClient(base_url=emu.base_url, api_key=emu.api_key) as client:
            return await client.ingest(
                contract_id=emu.contracts["user_events"], events=[PASS, FAIL]
            )

    response = asyncio.run(run())
    assert (response.passed, response.failed) == (1, 1)


# --- contract reads, audit, stats, playground ------------------------------------------------------


def test_contracts_and_versions(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    hero = emu.contracts["hero_events"]
    listed = {c.id: c for c in sdk.list_contracts()}
    assert set(listed) == set(emu.contracts.values())
    assert listed[hero].latest_stable_version == "1.1.0" and listed[hero].version_count == 2
    assert listed[hero].created_at is None  # list rows carry no timestamps
    contract = sdk.get_contract(hero)
    assert contract.name == "hero_events" and contract.created_at and contract.description
    versions = sdk.list_versions(hero)
    assert [(v.version, v.state) for v in versions] == [("1.1.0", "stable"), ("1.0.0", "stable")]
    version = sdk.get_version(hero, "1.0.0")
    assert version.yaml_content == example_contract("hero_events_v1.0.0.yaml")
    assert version.state == "stable" and version.promoted_at and not version.compliance_mode
    assert sdk.get_latest_stable(hero).version == "1.1.0"


def test_latest_stable_409(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    draft_only = emu.add_contract(
        example_contract("api_user_events.yaml"), state="draft", name="drafty"
    )
    with pytest.raises(cg.ConflictError) as info:
        sdk.get_latest_stable(draft_only)
    assert info.value.status == 409
    assert str(info.value) == f"Contract {draft_only} has no stable version yet"
    with pytest.raises(cg.ConflictError):
        sdk.ingest(contract_id=draft_only, events=[PASS])


def test_audit_and_stats(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    cid = emu.contracts["user_events"]
    sdk.ingest(contract_id=cid, events=[PASS, FAIL])
    sdk.ingest(contract_id=emu.contracts["hero_events"], events=[X])
    entries = sdk.audit()
    assert len(entries) == 3 and all(isinstance(e, cg.AuditEntry) for e in entries)
    assert entries[0].contract_id == emu.contracts["hero_events"]  # newest first
    scoped = sdk.audit(contract_id=cid, limit=1, offset=0)
    assert len(scoped) == 1 and scoped[0].passed is False and scoped[0].violation_count == 2
    assert scoped[0].raw_event == FAIL
    assert emu.requests_to("GET", "/audit")[1].params == {
        "limit": "1",
        "offset": "0",
        "contract_id": cid,
    }
    stats = sdk.stats()
    assert (stats.total_events, stats.passed_events, stats.failed_events) == (3, 2, 1)
    assert stats.pass_rate == pytest.approx(2 / 3) and stats.p99_validation_us > 0


def test_playground(sdk: cg.Client) -> None:
    yaml_content = example_contract("user_events_pii_transform.yaml")
    answer = sdk.playground_validate(
        yaml_content=yaml_content, event={"user_id": "u1", "event_type": "x"}
    )
    assert answer["passed"] is True and answer["transformed_event"] == {
        "event_type": "x",
        "user_id": "****",
    }
    failing = sdk.playground_validate(yaml_content=yaml_content, event={"user_id": "u1"})
    assert failing["violations"] == [
        {
            "field": "event_type",
            "kind": "missing_required_field",
            "message": "Required field 'event_type' is missing",
        }
    ]


# --- error classes (spec 4) -----------------------------------------------------------------------


def test_error_classes(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    assert emu.base_url is not None
    with pytest.raises(cg.AuthError) as auth:
        cg.Client(base_url=emu.base_url, api_key="cg_live_" + "0" * 48).stats()
    assert (
        auth.value.status == 401 and str(auth.value) == "Unauthorized: missing or invalid API key"
    )
    with pytest.raises(cg.AuthError):
        cg.Client(base_url=emu.base_url).list_contracts()
    with pytest.raises(cg.NotFoundError) as missing:
        sdk.get_contract(UNKNOWN)
    assert str(missing.value) == f"Contract not found: {UNKNOWN}"
    with pytest.raises(cg.NotFoundError):
        sdk.get_version(emu.contracts["hero_events"], "9.9.9")
    with pytest.raises(cg.BadRequestError) as empty:
        sdk.ingest(contract_id=emu.contracts["user_events"], events=[])
    assert empty.value.body == {"error": "Invalid request: Empty event batch", "status": 400}
    with pytest.raises(cg.BadRequestError) as plain_text:
        sdk.get_contract("not-a-uuid")
    assert isinstance(plain_text.value.body, str) and str(plain_text.value) == "HTTP 400"
    with pytest.raises(cg.ValidationFailedError) as bad_yaml:
        sdk.playground_validate(yaml_content="version: 1", event={})
    assert bad_yaml.value.status == 422 and str(bad_yaml.value).startswith("Invalid contract YAML")
    emu.database_down = True
    with pytest.raises(cg.ServerError) as down:
        sdk.stats()
    assert str(down.value) == "Database error"


def test_422_without_results_raises(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    bad_regex = example_contract("api_user_events.yaml").replace("^[a-zA-Z0-9_-]+$", "(?<=a)b")
    cid = emu.add_contract(bad_regex, name="lookbehind")
    with pytest.raises(cg.ValidationFailedError) as info:
        sdk.ingest(contract_id=cid, events=[PASS])
    assert str(info.value).startswith("Invalid contract YAML: ")


def test_no_retries_and_connection_error(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    emu.inject("GET", "/stats", server_error(503))
    with pytest.raises(cg.ServerError):
        sdk.stats()
    emu.inject("POST", "/v1/ingest/*", drop())
    with pytest.raises(cg.ConnectionError):
        sdk.ingest(contract_id=emu.contracts["user_events"], events=[PASS])
    assert len(emu.requests_to("GET", "/stats")) == 1
    assert len(emu.requests_to("POST", "/v1/ingest/*")) == 1


# --- the SDK 0.4.0 defects of spec section 14 ------------------------------------------------------


def test_defect_1_deprecated_pin_raises_key_error(
    emu: ContractGateEmulator, sdk: cg.Client
) -> None:
    hero = emu.contracts["hero_events"]
    emu.deprecate(hero, "1.0.0")
    with pytest.raises(KeyError, match="resolved_version"):
        sdk.ingest(contract_id=hero, events=[X], version="1.0.0")
    # the batch was quarantined all the same: the caller crashed on a stored outcome
    assert len(emu.quarantine) == 1
    assert emu.quarantine[0]["violation_details"]["kind"] == "deprecated_contract_version"


@pytest.mark.parametrize("kind", ["leakage", "completeness", "freshness", "uniqueness"])
def test_defect_2_violation_kind_rejects_four_kinds(kind: str) -> None:
    with pytest.raises(ValueError):
        cg.ViolationKind(f"{kind}_violation")


def _raw_and_sdk(
    emu: ContractGateEmulator, sdk: cg.Client, kind: str
) -> tuple[dict[str, Any], Any]:
    """One answer carrying ``<kind>_violation``, read raw and through the SDK."""
    assert emu.base_url is not None
    headers = {"x-api-key": emu.api_key}
    events: list[dict[str, Any]]
    if kind == "leakage":
        cid = emu.add_contract(LEAKY)
        events = [{"id": "ok"}, {"id": "a", "extra": 1}]  # 207: the SDK parses it
        url = f"{emu.base_url}/egress/{cid}?disposition=tag&dry_run=true"
        call: Any = lambda: sdk.egress(  # noqa: E731
            contract_id=cid, events=events, disposition="tag", dry_run=True
        )
    else:
        field = "id" if kind != "freshness" else "ts"
        cid = emu.add_contract(QUALITY.format(kind=kind, field=field))
        events = {
            "completeness": [{"id": ""}, {"id": "b"}],
            "freshness": [{"id": "a", "ts": 1}, {"id": "b"}],
            "uniqueness": [{"id": "a"}, {"id": "a"}],
        }[kind]
        url = f"{emu.base_url}/v1/ingest/{cid}?dry_run=true"
        call = lambda: sdk.ingest(contract_id=cid, events=events, dry_run=True)  # noqa: E731
    raw = httpx.post(url, json=events, headers=headers).json()
    return raw, call


@pytest.mark.parametrize("kind", ["leakage", "completeness", "freshness", "uniqueness"])
def test_defect_2_responses_with_newer_kinds_crash_the_sdk(
    emu: ContractGateEmulator, sdk: cg.Client, kind: str
) -> None:
    raw, call = _raw_and_sdk(emu, sdk, kind)
    items = raw.get("results") or raw["outcomes"]
    assert f"{kind}_violation" in {v["kind"] for item in items for v in item["violations"]}
    with pytest.raises(ValueError, match=f"{kind}_violation"):
        call()


def test_defect_3_egress_fail_422_raises(emu: ContractGateEmulator, sdk: cg.Client) -> None:
    with pytest.raises(cg.ValidationFailedError) as info:
        sdk.egress(
            contract_id=emu.contracts["user_events"], events=[PASS, FAIL], disposition="fail"
        )
    assert info.value.body["outcomes"][1]["action"] == "rejected"  # the results were there


def test_defect_4_413_429_408_are_plain_http_errors(
    emu: ContractGateEmulator, sdk: cg.Client
) -> None:
    cid = emu.contracts["user_events"]
    with pytest.raises(cg.HTTPError) as too_large:
        sdk.ingest(contract_id=cid, events=[{**PASS, "blob": "x" * (1024 * 1024)}])
    assert type(too_large.value) is cg.HTTPError and too_large.value.status == 413
    assert str(too_large.value).startswith("Payload too large: Event at index 0")

    emu.inject("POST", "/v1/ingest/*", request_timeout())
    with pytest.raises(cg.HTTPError) as timeout:
        sdk.ingest(contract_id=cid, events=[PASS])
    assert type(timeout.value) is cg.HTTPError and timeout.value.status == 408
    assert str(timeout.value) == "HTTP 408"

    limited = ContractGateEmulator(rate_limit_rps=1, rate_limit_burst=2)
    with limited.serve() as url, cg.Client(base_url=url, api_key=limited.api_key) as client:
        client.ingest(contract_id=limited.contracts["user_events"], events=[PASS])
        with pytest.raises(cg.HTTPError) as rate:
            client.ingest(contract_id=limited.contracts["user_events"], events=[PASS])
    assert type(rate.value) is cg.HTTPError and rate.value.status == 429
    assert str(rate.value) == "Rate limit exceeded — too many requests"
    # nothing carries the response headers (Retry-After, X-RateLimit-*)
    assert not hasattr(rate.value, "headers") and not hasattr(rate.value, "response")


def test_defect_4_response_headers_are_not_exposed(
    emu: ContractGateEmulator, sdk: cg.Client
) -> None:
    response = sdk.ingest(contract_id=emu.contracts["user_events"], events=[PASS])
    assert not any(
        "rate" in name.lower() or "idempotency" in name.lower() for name in vars(response)
    )


def test_defect_5_no_idempotency_key_and_json_only(
    emu: ContractGateEmulator, sdk: cg.Client
) -> None:
    sdk.ingest(contract_id=emu.contracts["user_events"], events=[PASS])
    [request] = emu.requests_to("POST", "/v1/ingest/*")
    assert request.header("idempotency-key") is None
    assert request.header("content-type") == "application/json"
    for missing in ("create_contract", "promote", "deprecate", "deploy", "quarantine", "replay"):
        assert not any(missing in name for name in dir(sdk))


def test_defect_6_org_id_header_is_sent_and_ignored(emu: ContractGateEmulator) -> None:
    assert emu.base_url is not None
    with cg.Client(base_url=emu.base_url, api_key=emu.api_key, org_id=UNKNOWN) as client:
        assert len(client.list_contracts()) == len(emu.contracts)
    assert emu.requests[-1].header("x-org-id") == UNKNOWN
