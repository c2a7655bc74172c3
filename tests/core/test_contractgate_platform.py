"""ContractGatePlatform: validate through ingest (remote) or govflow's validator (local)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.core.errors import (
    CapabilityNotSupportedError,
    ConfigurationError,
    NotFoundError,
)
from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.base import Capability
from govflow.core.platforms.contractgate import ContractGateClient, ContractGatePlatform
from govflow.core.transport import RetryPolicy
from govflow.testing.contractgate import ContractGateEmulator, after_processing, example_contract
from govflow.testing.faults import drop, respond

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL_ENUM_RANGE = {"user_id": "u_123", "event_type": "delete", "timestamp": 1714000000, "amount": -5}
FAIL_FOUR = {"user_id": "bad id!", "timestamp": "1714000000", "amount": None}
HERO_X = {
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3401",
    "method": "CONNECT",
    "path": "proxy.internal:443",
    "status": 200,
    "latency_ms": 12,
    "timestamp": 1752000100,
}
RUN = RunContext(orchestrator="python", pipeline="p", run_id="r", step="check")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ContractGateEmulator, str]]:
    emu = ContractGateEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def emu(served: tuple[ContractGateEmulator, str]) -> ContractGateEmulator:
    served[0].reset()
    served[0].reset_faults()
    return served[0]


@pytest.fixture
def url(served: tuple[ContractGateEmulator, str]) -> str:
    return served[1]


def remote(emu: ContractGateEmulator, url: str, **options: object) -> ContractGatePlatform:
    return ContractGatePlatform(ContractGateClient(emu.api_key, base_url=url, retry=FAST), **options)  # type: ignore[arg-type]


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    for name in ("api_user_events.yaml", "hero_events_v1.0.0.yaml", "hero_events_v1.1.0.yaml"):
        (folder / name).write_text(example_contract(name))
    return folder


# --- remote ----------------------------------------------------------------------------------


async def test_validate_is_an_ingest_that_records_to_the_gateway(emu: ContractGateEmulator, url: str) -> None:
    async with remote(emu, url) as platform:
        platform.require(Capability.VALIDATE)
        report = await platform.validate(emu.contracts["user_events"], [PASS, FAIL_ENUM_RANGE, FAIL_FOUR], context=RUN)
    assert (report.platform, report.contract_id, report.contract_version) == (
        "contractgate",
        emu.contracts["user_events"],
        "1.0.0",
    )
    assert [r.passed for r in report.records] == [True, False, False] and report.failed == 2
    assert [v.kind for v in report.records[1].violations] == ["enum_violation", "range_violation"]
    assert len(emu.accepted) == 1 and len(emu.quarantine) == 2  # dry_run=False: quarantined for replay
    [answer] = report.raw
    assert answer["status_code"] == 207 and not answer["replayed"] and len(answer["results"]) == 3


async def test_dry_run_and_atomic_options(emu: ContractGateEmulator, url: str) -> None:
    async with remote(emu, url, dry_run=True) as platform:
        report = await platform.validate(emu.contracts["user_events"], [PASS, FAIL_FOUR])
    assert report.failed == 1 and emu.accepted == [] and emu.quarantine == []
    async with remote(emu, url, atomic=True) as platform:
        report = await platform.validate(emu.contracts["user_events"], [PASS, FAIL_FOUR])
        assert report.failed == 1 and emu.accepted == [] and emu.quarantine == []
        with pytest.raises(ConfigurationError, match="atomic"):
            await platform.validate(emu.contracts["user_events"], [PASS] * 1001)


async def test_contracts_by_name_and_pinned_versions(emu: ContractGateEmulator, url: str) -> None:
    async with remote(emu, url, dry_run=True) as platform:
        latest = await platform.validate("hero_events", [HERO_X])
        pinned = await platform.validate("hero_events", [HERO_X], version="1.0.0")
        suffix = await platform.validate("hero_events@1.0.0", [HERO_X])
        with pytest.raises(NotFoundError, match="no ContractGate contract named 'orders'"):
            await platform.validate("orders", [PASS])
    assert latest.contract_id == emu.contracts["hero_events"]
    assert (latest.contract_version, latest.passed) == ("1.1.0", True)
    assert (pinned.contract_version, pinned.passed) == ("1.0.0", False)
    assert suffix.contract_version == "1.0.0"
    assert len(emu.requests_to("GET", "/contracts")) == 2  # once for hero_events (cached), once for orders


async def test_a_deprecated_pin_reports_every_record_failed_with_the_reason(emu: ContractGateEmulator, url: str) -> None:
    emu.deprecate(emu.contracts["hero_events"], "1.0.0")
    async with remote(emu, url) as platform:
        report = await platform.validate("hero_events", [HERO_X, HERO_X], version="1.0.0")
    assert report.failed == 2 and report.contract_version == "1.0.0"
    assert {(v.field, v.kind) for v in report.violations} == {("<root>", "deprecated_contract_version")}
    assert "deprecated" in report.violations[0].message


async def test_large_inputs_are_split_and_indexed_in_input_order(emu: ContractGateEmulator, url: str) -> None:
    records = [{**PASS, "timestamp": i} for i in range(2300)]
    records[1500] = FAIL_FOUR
    async with remote(emu, url) as platform:
        report = await platform.validate(emu.contracts["user_events"], records)
    assert [r.index for r in report.records] == list(range(2300))
    assert [r.index for r in report.records if not r.passed] == [1500]
    assert len(emu.requests_to("POST", "/v1/ingest/*")) == 3 and len(emu.accepted) == 2299
    assert [answer["offset"] for answer in report.raw] == [0, 1000, 2000]


async def test_a_retried_validation_stores_once_and_unknown_kinds_pass_through(emu: ContractGateEmulator, url: str) -> None:
    emu.inject("POST", "/v1/ingest/*", after_processing(drop()))
    async with remote(emu, url) as platform:
        report = await platform.validate(emu.contracts["user_events"], [PASS])
        assert report.passed and report.raw[0]["replayed"] and len(emu.accepted) == 1
        crafted = {
            "total": 1, "passed": 0, "failed": 1, "resolved_version": "1.0.0",
            "version_pin_source": "default_stable", "atomic": False, "dry_run": False,
            "results": [{"index": 0, "passed": False, "contract_version": "1.0.0",
                         "violations": [{"field": "x", "kind": "toxicity_violation", "message": "m"}]}],
        }
        emu.inject("POST", "/v1/ingest/*", respond(422, crafted))
        future = await platform.validate(emu.contracts["user_events"], [PASS])
    assert [(v.field, v.kind) for v in future.violations] == [("x", "toxicity_violation")]


async def test_empty_input_sends_nothing(emu: ContractGateEmulator, url: str) -> None:
    async with remote(emu, url) as platform:
        report = await platform.validate(emu.contracts["user_events"], [])
    assert report.total == 0 and report.passed and emu.requests_to("POST", "/v1/ingest/*") == []


async def test_capabilities_and_configuration(emu: ContractGateEmulator, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRACTGATE_API_KEY", emu.api_key)
    monkeypatch.setenv("CONTRACTGATE_BASE_URL", url)
    monkeypatch.delenv("GOVFLOW_CONTRACTS", raising=False)
    async with ContractGatePlatform() as platform:  # a client from the environment, closed with it
        assert platform.name == "contractgate" and platform.client is not None
        with pytest.raises(CapabilityNotSupportedError, match="contractgate does not support gate"):
            platform.require("gate")
        with pytest.raises(CapabilityNotSupportedError):
            await platform.gate(RUN, GateRequest(action="x"))
        client = platform.client
    assert client.is_closed
    shared = ContractGateClient(emu.api_key, base_url=url)
    async with ContractGatePlatform(shared):
        pass
    assert not shared.is_closed  # not ours to close
    await shared.aclose()
    with pytest.raises(ConfigurationError, match="not both"):
        ContractGatePlatform(shared, timeout=3)
    with pytest.raises(ConfigurationError, match="local=True needs contract files"):
        ContractGatePlatform(local=True)
    with pytest.raises(ConfigurationError, match="not a ContractGate client"):
        ContractGatePlatform(shared, local=True)


# --- local -----------------------------------------------------------------------------------


async def test_local_mode_gives_the_same_verdicts_as_the_gateway(emu: ContractGateEmulator, url: str, contracts: Path) -> None:
    records = [PASS, FAIL_ENUM_RANGE, FAIL_FOUR]
    async with ContractGatePlatform(contracts=contracts) as local:
        assert local.client is None and local.local
        offline = await local.validate("user_events", records)
        pinned = await local.validate("hero_events", [HERO_X], version="1.0.0")
    async with remote(emu, url, dry_run=True) as platform:
        online = await platform.validate("user_events", records)
        remote_pinned = await platform.validate("hero_events", [HERO_X], version="1.0.0")
    assert offline.platform == "contractgate" and offline.contract_id == "user_events"
    assert offline.records == online.records
    assert pinned.records == remote_pinned.records and pinned.contract_version == "1.0.0"
    assert len(emu.requests_to("POST", "/v1/ingest/*")) == 2  # only the remote platform's


async def test_local_mode_from_the_environment(contracts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CONTRACTS", str(contracts))
    async with ContractGatePlatform(local=True) as platform:
        report = await platform.validate("hero_events", [HERO_X])
        assert platform.client is None
    assert (report.contract_version, report.passed) == ("1.1.0", True)
