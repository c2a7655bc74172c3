"""Each hook built from a real Airflow connection (AIRFLOW_CONN_* env JSON) against the emulators."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from govflow.airflow_provider.hooks import (
    ContractGateHook,
    GovflowLocalHook,
    LatchGateHook,
    LattixHook,
    VelerianHook,
)
from govflow.core.platforms.base import Capability
from govflow.core.platforms.contractgate import ContractGatePlatform, ContractGateSyncClient
from govflow.core.platforms.latchgate import LatchGatePlatform
from govflow.core.platforms.lattix import LattixPlatform
from govflow.core.platforms.local import LocalPlatform
from govflow.core.platforms.velerian import VelerianPlatform, VelerianSyncClient

POLICY = Path(__file__).parents[1] / "core" / "policies" / "example.yaml"


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    """Define a connection the way deployments do: AIRFLOW_CONN_<ID> holding JSON."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def assert_not_leaked(secret: str, hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert secret not in repr(hook)
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


# --- local ---------------------------------------------------------------------------------------


def test_local_builds_from_connection_and_tests(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    conn_id = define(
        monkeypatch,
        "gov_local",
        conn_type="govflow_local",
        extra={"policy": str(POLICY), "database_url": url},
    )
    hook = GovflowLocalHook(conn_id)
    platform = hook.get_platform()
    assert isinstance(platform, LocalPlatform)
    assert platform.policy.path == str(POLICY) and platform.database_url == url
    ok, message = hook.test_connection()
    assert ok, message
    assert "policy" in message and "ledger" in message


def test_local_bad_policy_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conn_id = define(
        monkeypatch,
        "gov_local_bad",
        conn_type="govflow_local",
        extra={
            "policy": str(tmp_path / "missing.yaml"),
            "database_url": f"sqlite:///{tmp_path / 'l.db'}",
        },
    )
    ok, message = GovflowLocalHook(conn_id).test_connection()
    assert not ok
    assert "missing.yaml" in message


def test_local_database_password_not_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-db-pass"
    conn_id = define(
        monkeypatch,
        "gov_local_pg",
        conn_type="govflow_local",
        extra={"database_url": f"postgresql+psycopg://gov:{secret}@127.0.0.1:1/none"},
    )
    hook = GovflowLocalHook(conn_id)
    ok, message = hook.test_connection()
    assert not ok
    assert secret not in message
    assert_not_leaked(secret, hook, caplog)


# --- Velerian ------------------------------------------------------------------------------------


def test_velerian(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, velerian_emulator: Any
) -> None:
    conn_id = define(
        monkeypatch,
        "velerian_test",
        conn_type="velerian",
        host=velerian_emulator.base_url,
        password=velerian_emulator.api_key,
        extra={"abps": json.dumps({"summarize": "abp_1"}), "timeout": "5"},
    )
    hook = VelerianHook(conn_id)
    platform = hook.get_platform()
    assert isinstance(platform, VelerianPlatform)
    assert platform.abps == {"summarize": "abp_1"}
    assert platform.client.base_url == velerian_emulator.base_url.rstrip("/")
    ok, message = hook.test_connection()
    assert ok, message
    with hook.get_sync_client() as client:
        assert isinstance(client, VelerianSyncClient)
        client.list_audit_log(limit=1)
    assert_not_leaked(velerian_emulator.api_key, hook, caplog)


def test_velerian_wrong_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, velerian_emulator: Any
) -> None:
    wrong = "vel_wrong_" + "x" * 24
    conn_id = define(
        monkeypatch,
        "velerian_bad",
        conn_type="velerian",
        host=velerian_emulator.base_url,
        password=wrong,
    )
    hook = VelerianHook(conn_id)
    ok, message = hook.test_connection()
    assert not ok
    assert "Auth" in message, message
    assert wrong not in message
    assert_not_leaked(wrong, hook, caplog)


# --- Lattix --------------------------------------------------------------------------------------


def lattix_conn(emulator: Any, token: str) -> dict[str, Any]:
    return {
        "conn_type": "lattix",
        "host": emulator.base_url,
        "password": token,
        "extra": {"tenant_id": emulator.tenant_id, "user_id": emulator.user_id},
    }


def test_lattix(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, lattix_emulator: Any
) -> None:
    conn_id = define(
        monkeypatch, "lattix_test", **lattix_conn(lattix_emulator, lattix_emulator.bearer_token)
    )
    hook = LattixHook(conn_id)
    platform = hook.get_platform()
    assert isinstance(platform, LattixPlatform)
    assert platform.supports(Capability.GATE)
    ok, message = hook.test_connection()
    assert ok, message
    assert lattix_emulator.tenant_id in message
    with hook.get_sync_client() as client:
        assert client.whoami().caller.tenant_id == lattix_emulator.tenant_id
    assert_not_leaked(lattix_emulator.bearer_token, hook, caplog)


def test_lattix_wrong_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, lattix_emulator: Any
) -> None:
    wrong = "lx_static_wrong_" + "y" * 20
    conn_id = define(monkeypatch, "lattix_bad", **lattix_conn(lattix_emulator, wrong))
    hook = LattixHook(conn_id)
    ok, message = hook.test_connection()
    assert not ok
    assert "Authentication" in message, message
    assert_not_leaked(wrong, hook, caplog)


# --- LatchGate -----------------------------------------------------------------------------------


def test_latchgate(monkeypatch: pytest.MonkeyPatch, latchgate_emulator: Any) -> None:
    conn_id = define(
        monkeypatch,
        "latchgate_test",
        conn_type="latchgate",
        host=latchgate_emulator.base_url,
        extra={
            "public_base_url": latchgate_emulator.public_base_url,
            "actions": {"fetch": "http_fetch"},
        },
    )
    hook = LatchGateHook(conn_id)
    platform = hook.get_platform()
    assert isinstance(platform, LatchGatePlatform)
    assert platform.actions == {"fetch": "http_fetch"}
    ok, message = hook.test_connection()
    assert ok, message


def test_latchgate_wrong_public_url(
    monkeypatch: pytest.MonkeyPatch, latchgate_emulator: Any
) -> None:
    conn_id = define(
        monkeypatch,
        "latchgate_bad",
        conn_type="latchgate",
        host=latchgate_emulator.base_url,
        extra={"public_base_url": "https://not-the-gate.example"},
    )
    ok, message = LatchGateHook(conn_id).test_connection()
    assert not ok
    assert "Htu" in message or "htu" in message, message


# --- ContractGate --------------------------------------------------------------------------------


def test_contractgate(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, contractgate_emulator: Any
) -> None:
    conn_id = define(
        monkeypatch,
        "contractgate_test",
        conn_type="contractgate",
        host=contractgate_emulator.base_url,
        password=contractgate_emulator.api_key,
        extra={"dry_run": True},
    )
    hook = ContractGateHook(conn_id)
    platform = hook.get_platform()
    assert isinstance(platform, ContractGatePlatform)
    assert platform.dry_run is True
    ok, message = hook.test_connection()
    assert ok, message
    with hook.get_sync_client() as client:
        assert isinstance(client, ContractGateSyncClient)
        assert client.list_contracts() is not None
    assert_not_leaked(contractgate_emulator.api_key, hook, caplog)


def test_contractgate_wrong_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, contractgate_emulator: Any
) -> None:
    wrong = "cg_wrong_" + "z" * 24
    conn_id = define(
        monkeypatch,
        "contractgate_bad",
        conn_type="contractgate",
        host=contractgate_emulator.base_url,
        password=wrong,
    )
    hook = ContractGateHook(conn_id)
    ok, message = hook.test_connection()
    assert not ok
    assert "Auth" in message, message
    assert_not_leaked(wrong, hook, caplog)


# --- shared behaviour ----------------------------------------------------------------------------


def test_async_path_for_triggers(
    monkeypatch: pytest.MonkeyPatch, contractgate_emulator: Any
) -> None:
    conn_id = define(
        monkeypatch,
        "contractgate_async",
        conn_type="contractgate",
        host=contractgate_emulator.base_url,
        password=contractgate_emulator.api_key,
    )

    async def use() -> int:
        async with await ContractGateHook.aget_platform(conn_id) as platform:
            assert isinstance(platform, ContractGatePlatform)
            return len(await platform.client.list_contracts())

    assert asyncio.run(use()) >= 0


def test_test_connection_inside_a_running_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conn_id = define(
        monkeypatch,
        "gov_local_loop",
        conn_type="govflow_local",
        extra={"database_url": f"sqlite:///{tmp_path / 'l.db'}"},
    )

    async def call() -> tuple[bool, str]:
        return GovflowLocalHook(conn_id).test_connection()

    ok, message = asyncio.run(call())
    assert ok, message


def test_get_hook_by_conn_id_and_defaults(
    monkeypatch: pytest.MonkeyPatch, velerian_emulator: Any
) -> None:
    from airflow.sdk import BaseHook

    define(
        monkeypatch,
        VelerianHook.default_conn_name,
        conn_type="velerian",
        host=velerian_emulator.base_url,
        password=velerian_emulator.api_key,
    )
    hook = BaseHook.get_hook(VelerianHook.default_conn_name)
    assert isinstance(hook, VelerianHook)
    assert hook.conn_id == "velerian_default"
    assert VelerianHook().conn_id == "velerian_default"
