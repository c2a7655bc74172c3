"""The fixtures govflow ships for users' own tests, used as a user would."""

from __future__ import annotations

import pytest

from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.lattix import LattixClient
from govflow.core.platforms.velerian import VelerianClient, VelerianPlatform
from govflow.testing import LattixEmulator, VelerianEmulator

pytestmark = pytest.mark.anyio


async def test_velerian_fixture_serves_a_seeded_emulator(velerian_emulator: VelerianEmulator) -> None:
    async with VelerianClient(api_key=velerian_emulator.api_key, base_url=velerian_emulator.base_url) as client:
        result = await client.invoke_abp(velerian_emulator.abps["allow"], payload={"q": 1})
    assert result.is_allowed
    assert len(velerian_emulator.invocations) == 1


async def test_velerian_fixture_is_reset_between_tests(velerian_emulator: VelerianEmulator) -> None:
    assert velerian_emulator.invocations == []  # the previous test's invocation is gone
    platform = VelerianPlatform(
        api_key=velerian_emulator.api_key, base_url=velerian_emulator.base_url, abp_id=velerian_emulator.abps["block"]
    )
    async with platform:
        decision = await platform.gate(RunContext(orchestrator="python", pipeline="p", run_id="r"), GateRequest(action="x"))
    assert decision.denied and decision.reason


async def test_lattix_fixture_serves_a_seeded_emulator(lattix_emulator: LattixEmulator) -> None:
    async with LattixClient(lattix_emulator.base_url, bearer_token=lattix_emulator.bearer_token) as client:
        identity = await client.whoami()
    assert identity.caller.tenant_id == lattix_emulator.tenant_id
