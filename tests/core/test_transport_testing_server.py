"""The loopback ASGI server and the fault app's HTTP control routes that transport tests rely on."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from govflow.testing.faults import FaultApp
from govflow.testing.server import BackgroundServer, ServerError, serve_asgi


def test_serve_asgi_yields_a_working_url_and_stops_cleanly() -> None:
    before = set(threading.enumerate())
    with serve_asgi(FaultApp()) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/ping").json()["path"] == "/ping"
    assert {t for t in threading.enumerate() if t.name.startswith("govflow-asgi")} - before == set()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping")


def test_a_failing_startup_is_reported() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(ServerError, match="failed to start"):
        BackgroundServer(broken, lifespan="on").start()


def test_control_routes_drive_the_fault_app_from_outside() -> None:
    faults = FaultApp()
    with serve_asgi(faults) as url, httpx.Client(base_url=url) as http:
        injected = http.post(
            "/_faults/inject",
            json={"path": "/x", "faults": [{"kind": "respond", "status": 429, "headers": {"Retry-After": "3"}}]},
        )
        assert injected.json() == {"pending": 1}
        limited = http.get("/x", headers={"Idempotency-Key": "k1"})
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
        assert http.get("/x").status_code == 200
        recorded = http.get("/_faults/requests", params={"path": "/x"}).json()
        assert [r["headers"].get("idempotency-key") for r in recorded] == ["k1", None]
        http.post("/_faults/reset")
        assert http.get("/_faults/requests").json() == []
