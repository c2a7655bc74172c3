"""The local platform validates records with the ContractGate validator and records the evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govflow.core.canonical import digest
from govflow.core.errors import CapabilityNotSupportedError, ConfigurationError, NotFoundError
from govflow.core.models import RunContext
from govflow.core.platforms.base import Capability
from govflow.core.platforms.contractgate import LocalContracts
from govflow.core.platforms.contractgate import validator as validator_module
from govflow.core.platforms.local import LocalPlatform
from govflow.testing.contractgate import example_contract

pytestmark = pytest.mark.anyio

PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL = {"user_id": "bad id!", "timestamp": "1714000000", "amount": None}
HERO_X = {
    "request_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3401",
    "method": "CONNECT",
    "path": "proxy.internal:443",
    "status": 200,
    "latency_ms": 12,
    "timestamp": 1752000100,
}


@pytest.fixture(autouse=True)
def _no_contracts_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVFLOW_CONTRACTS", raising=False)


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    (folder / "hero").mkdir(parents=True)
    (folder / "user_events.yaml").write_text(example_contract("api_user_events.yaml"))
    (folder / "hero" / "hero_events_v1.0.0.yaml").write_text(example_contract("hero_events_v1.0.0.yaml"))
    (folder / "hero" / "hero_events_v1.1.0.yml").write_text(example_contract("hero_events_v1.1.0.yaml"))
    (folder / "README.md").write_text("not a contract")
    return folder


@pytest.fixture
async def platform(contracts: Path, sqlite_url: str) -> LocalPlatform:
    return LocalPlatform(database_url=sqlite_url, contracts=contracts)


def validated(platform: LocalPlatform, stream: str = "python/contracts") -> list[dict[str, object]]:
    return [r.model_dump(mode="json") for r in platform.ledger.records(stream) if r.event == "contract.validated"]


async def test_validate_returns_a_report_and_records_evidence_without_the_records(platform: LocalPlatform) -> None:
    platform.require(Capability.VALIDATE, Capability.GATE)
    report = await platform.validate("user_events", [PASS, FAIL, PASS])
    assert (report.contract_id, report.contract_version, report.platform) == ("user_events", "1.0", "local")
    assert (report.total, report.failed, report.passed) == (3, 1, False)
    assert [v.kind for v in report.records[1].violations] == [
        "pattern_mismatch",
        "missing_required_field",
        "type_mismatch",
        "type_mismatch",
    ]
    [record] = validated(platform)
    assert record["outcome"] == "failed"
    assert record["references"] == {"platform": "local", "contract": "user_events", "contract_version": "1.0"}
    details = record["details"]
    assert isinstance(details, dict)
    assert {k: details[k] for k in ("contract", "contract_version", "total", "failed", "passed", "violations")} == {
        "contract": "user_events",
        "contract_version": "1.0",
        "total": 3,
        "failed": 1,
        "passed": 2,
        "violations": 4,
    }
    assert details["violation_kinds"] == {"pattern_mismatch": 1, "missing_required_field": 1, "type_mismatch": 2}
    assert str(details["contract_digest"]).startswith("sha256:")
    assert record["input_digest"] == digest([PASS, FAIL, PASS])
    text = json.dumps(record)
    assert "bad id!" not in text and "u_123" not in text  # never the records
    assert platform.ledger.verify().ok


async def test_the_run_context_decides_the_stream(platform: LocalPlatform) -> None:
    run = RunContext(orchestrator="airflow", pipeline="ingest_daily", run_id="r1", step="check")
    report = await platform.validate("user_events", [PASS], context=run)
    assert report.passed
    [record] = validated(platform, run.stream)
    assert record["outcome"] == "passed" and record["context"]["run_id"] == "r1"  # type: ignore[index]


async def test_versions_names_aliases_and_pins(platform: LocalPlatform) -> None:
    assert platform.contracts is not None
    assert platform.contracts.names == ["hero_events", "user_events"]
    assert platform.contracts.versions("hero_events") == ["1.0.0", "1.1.0"]
    latest = await platform.validate("hero_events", [HERO_X])
    assert (latest.contract_version, latest.passed) == ("1.1.0", True)
    pinned = await platform.validate("hero_events", [HERO_X], version="1.0.0")
    assert (pinned.contract_version, pinned.passed) == ("1.0.0", False)
    assert pinned.records[0].violations[0].kind == "enum_violation"
    by_suffix = await platform.validate("hero_events@1.0.0", [HERO_X])
    assert by_suffix.contract_version == "1.0.0"
    by_stem = await platform.validate("hero_events_v1.0.0", [HERO_X])
    assert (by_stem.contract_id, by_stem.contract_version) == ("hero_events", "1.0.0")
    with pytest.raises(NotFoundError, match="known: hero_events, user_events"):
        await platform.validate("orders", [PASS])
    with pytest.raises(NotFoundError, match=r"versions: 1\.0\.0, 1\.1\.0"):
        await platform.validate("hero_events", [HERO_X], version="2.0.0")


async def test_without_contracts_validation_is_not_offered(sqlite_url: str) -> None:
    platform = LocalPlatform(database_url=sqlite_url)
    assert Capability.VALIDATE not in platform.capabilities
    with pytest.raises(CapabilityNotSupportedError, match="GOVFLOW_CONTRACTS"):
        platform.require("validate")
    with pytest.raises(CapabilityNotSupportedError):
        await platform.validate("user_events", [PASS])
    assert Capability.VALIDATE not in LocalPlatform.capabilities  # the class is untouched


async def test_contracts_from_the_environment(contracts: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CONTRACTS", str(contracts / "user_events.yaml"))
    platform = LocalPlatform(database_url=sqlite_url)
    platform.require(Capability.VALIDATE)
    assert (await platform.validate("user_events", [PASS])).passed


async def test_contracts_are_compiled_once(contracts: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []
    real = validator_module.compile_contract

    def counting(text: str, **kw: object) -> object:
        calls.append(kw.get("source"))  # type: ignore[arg-type]
        return real(text, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(validator_module, "compile_contract", counting)
    platform = LocalPlatform(database_url=sqlite_url, contracts=contracts)
    assert len(calls) == 3
    for _ in range(5):
        await platform.validate("hero_events", [HERO_X])
    assert len(calls) == 3


def test_bad_contract_files_fail_at_configuration(tmp_path: Path, sqlite_url: str) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    with pytest.raises(ConfigurationError, match="no contract files"):
        LocalPlatform(database_url=sqlite_url, contracts=folder)
    with pytest.raises(ConfigurationError, match="does not exist"):
        LocalPlatform(database_url=sqlite_url, contracts=tmp_path / "missing")
    (folder / "a.yaml").write_text(example_contract("api_user_events.yaml"))
    (folder / "b.yaml").write_text(example_contract("api_user_events.yaml"))
    with pytest.raises(ConfigurationError, match="defined twice"):
        LocalPlatform(database_url=sqlite_url, contracts=folder)
    (folder / "b.yaml").write_text('version: "1.0"\nname: x\nontology:\n  entities:\n    - {name: a, type: strng}\n')
    with pytest.raises(ConfigurationError, match=r"b\.yaml"):
        LocalPlatform(database_url=sqlite_url, contracts=folder)


def test_strict_mode_catches_typos_and_can_be_relaxed(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        'version: "1.0"\nname: typo\nontology:\n  entities:\n    - {name: a, type: string, requried: false}\n'
    )
    with pytest.raises(ConfigurationError, match="requried"):
        LocalContracts(path)
    relaxed = LocalContracts(path, strict=False)
    report, _ = relaxed.validate("typo", [{}])
    assert report.records[0].violations[0].kind == "missing_required_field"  # `required` kept its default
