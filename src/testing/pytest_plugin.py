"""pytest fixtures for testing your own pipelines against the platform emulators.

Installed with govflow (``pip install 'govflow[testing]'``) and loaded by pytest automatically::

    def test_my_step(velerian_emulator):
        client = VelerianClient(api_key=velerian_emulator.api_key, base_url=velerian_emulator.base_url)
        ...

Each emulator serves on loopback once per test session; every test gets it reset to its seeded
state (keys, ABPs, tenants stay; invocations, approvals, evidence, faults and requests go).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .contractgate import ContractGateEmulator
    from .latchgate import LatchGateEmulator
    from .lattix import LattixEmulator
    from .velerian import VelerianEmulator


@pytest.fixture(scope="session")
def _govflow_velerian_server() -> Iterator[VelerianEmulator]:
    from .velerian import VelerianEmulator

    emulator = VelerianEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def velerian_emulator(_govflow_velerian_server: VelerianEmulator) -> VelerianEmulator:
    """A Velerian emulator serving on 127.0.0.1 (``.base_url``, ``.api_key``, ``.abps``)."""
    _govflow_velerian_server.reset()
    return _govflow_velerian_server


@pytest.fixture(scope="session")
def _govflow_lattix_server() -> Iterator[LattixEmulator]:
    from .lattix import LattixEmulator

    emulator = LattixEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def lattix_emulator(_govflow_lattix_server: LattixEmulator) -> LattixEmulator:
    """A Lattix emulator serving on 127.0.0.1 (``.base_url``, ``.bearer_token``, ``.tenant_id``)."""
    _govflow_lattix_server.reset()
    return _govflow_lattix_server


@pytest.fixture(scope="session")
def _govflow_latchgate_server() -> Iterator[LatchGateEmulator]:
    from .latchgate import LatchGateEmulator

    emulator = LatchGateEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def latchgate_emulator(_govflow_latchgate_server: LatchGateEmulator) -> LatchGateEmulator:
    """A LatchGate emulator serving on 127.0.0.1 (``.base_url``, ``.public_base_url``, ``.actions``)."""
    _govflow_latchgate_server.reset()
    return _govflow_latchgate_server


@pytest.fixture(scope="session")
def _govflow_contractgate_server() -> Iterator[ContractGateEmulator]:
    from .contractgate import ContractGateEmulator

    emulator = ContractGateEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def contractgate_emulator(
    _govflow_contractgate_server: ContractGateEmulator,
) -> ContractGateEmulator:
    """A ContractGate emulator serving on 127.0.0.1 (``.base_url``, ``.api_key``, ``.contracts``)."""
    _govflow_contractgate_server.reset()
    return _govflow_contractgate_server
