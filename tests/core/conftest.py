"""Fixtures of the core tests: a fault-injecting HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govflow.testing.faults import FaultApp
from govflow.testing.server import serve_asgi


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FaultApp, str]]:
    app = FaultApp()
    with serve_asgi(app) as url:
        yield app, url


@pytest.fixture
def faults(server: tuple[FaultApp, str]) -> FaultApp:
    server[0].reset()
    return server[0]


@pytest.fixture
def url(server: tuple[FaultApp, str]) -> str:
    return server[1]
