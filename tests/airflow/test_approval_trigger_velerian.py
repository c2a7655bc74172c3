"""ApprovalTrigger against a remote platform (the Velerian emulator), resolved from a connection."""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from govflow.testing import VelerianEmulator
from govflow.testing.faults import server_error


@pytest.fixture(scope="module")
def emulator() -> Iterator[VelerianEmulator]:
    emu = VelerianEmulator()
    with emu.serve():
        yield emu


@pytest.fixture
def velerian(emulator: VelerianEmulator, monkeypatch: pytest.MonkeyPatch) -> VelerianEmulator:
    emulator.reset()
    conn = {
        "conn_type": "velerian",
        "host": emulator.base_url,
        "password": emulator.api_key,
        "extra": {"abp_id": emulator.abps["approval"]},
    }
    monkeypatch.setenv("AIRFLOW_CONN_VELERIAN_DEFAULT", json.dumps(conn))
    return emulator


def held_invocation(emu: VelerianEmulator) -> str:
    """Invoke the ABP that needs a human; returns the approval id Velerian holds it under."""
    import httpx

    response = httpx.post(
        f"{emu.base_url}/api/v2/abps/{emu.abps['approval']}/invoke",
        json={"payload": {"amount": 10}},
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )
    response.raise_for_status()
    approval_id = response.json()["approval_id"]
    assert approval_id
    return str(approval_id)


def events(approval_id: str, **kwargs: Any) -> list[Any]:
    from govflow.airflow_provider.triggers import ApprovalTrigger

    trigger = ApprovalTrigger(
        approval_id,
        {"conn_id": "velerian_default"},
        poll_interval=0.1,
        max_poll=0.3,
        deadline=kwargs.pop("deadline", time.time() + 15),
    )
    # What the triggerer does: store (classpath, kwargs), import the class again, rebuild.
    classpath, state = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(state)))

    async def collect() -> list[Any]:
        try:
            return await asyncio.wait_for(_drain(rebuilt), timeout=20)
        finally:
            await rebuilt.cleanup()

    return asyncio.run(collect())


async def _drain(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


def decide_later(emu: VelerianEmulator, approval_id: str, decision: str, delay: float = 0.5) -> threading.Thread:
    def decide() -> None:
        time.sleep(delay)
        emu.decide_approval(approval_id, decision, by="u-reviewer", reason="checked")

    thread = threading.Thread(target=decide)
    thread.start()
    return thread


@pytest.mark.parametrize("decision", ["approved", "denied", "expired"])
def test_trigger_reports_the_final_decision_once(velerian: VelerianEmulator, decision: str) -> None:
    approval_id = held_invocation(velerian)
    thread = decide_later(velerian, approval_id, decision)
    fired = events(approval_id)
    thread.join()
    assert len(fired) == 1
    assert fired[0].payload["status"] == decision
    assert fired[0].payload["approval_id"] == approval_id


def test_trigger_rides_out_a_platform_outage(velerian: VelerianEmulator) -> None:
    approval_id = held_invocation(velerian)
    velerian.inject("GET", "/api/v2/approvals/*", *[server_error(503)] * 6)
    thread = decide_later(velerian, approval_id, "approved", delay=1.0)
    fired = events(approval_id)
    thread.join()
    assert [event.payload["status"] for event in fired] == ["approved"]
    polls = velerian.requests_to("GET", "/api/v2/approvals/*")
    assert len(polls) > 6  # it kept polling through the 503s


def test_trigger_times_out_at_its_deadline(velerian: VelerianEmulator) -> None:
    approval_id = held_invocation(velerian)
    fired = events(approval_id, deadline=time.time() + 1)
    assert [event.payload["status"] for event in fired] == ["timeout"]
