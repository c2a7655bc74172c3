"""Test helpers shipped with govflow: real HTTP servers on loopback for platform emulators.

Needs the ``testing`` extra (starlette, uvicorn); the submodules are imported on first use so
``import govflow.testing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import FaultApp
    from .server import BackgroundServer, serve_asgi

_EXPORTS = {
    "BackgroundServer": ".server",
    "serve_asgi": ".server",
    "FaultApp": ".faults",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = ["BackgroundServer", "FaultApp", "serve_asgi"]
