"""Test helpers shipped with govflow: platform emulators on real loopback HTTP, and fixtures.

``VelerianEmulator``, ``LattixEmulator``, ``LatchGateEmulator`` and ``ContractGateEmulator`` serve
their platform's wire contract on 127.0.0.1 (``with emulator.serve() as base_url:``, or
``python -m govflow.testing.velerian``); the pytest fixtures ``velerian_emulator``,
``lattix_emulator``, ``latchgate_emulator`` and ``contractgate_emulator`` (:mod:`.pytest_plugin`)
load by themselves.

Needs the ``testing`` extra (starlette, uvicorn); the submodules are imported on first use so
``import govflow.testing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contractgate import ContractGateEmulator
    from .faults import FaultApp
    from .latchgate import LatchGateEmulator
    from .lattix import LattixEmulator
    from .server import BackgroundServer, serve_asgi
    from .velerian import VelerianEmulator

_EXPORTS = {
    "BackgroundServer": ".server",
    "serve_asgi": ".server",
    "FaultApp": ".faults",
    "ContractGateEmulator": ".contractgate",
    "LatchGateEmulator": ".latchgate",
    "LattixEmulator": ".lattix",
    "VelerianEmulator": ".velerian",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "BackgroundServer",
    "ContractGateEmulator",
    "FaultApp",
    "LatchGateEmulator",
    "LattixEmulator",
    "VelerianEmulator",
    "serve_asgi",
]
