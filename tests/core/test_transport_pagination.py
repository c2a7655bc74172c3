"""Limit/offset pagination against a server that caps the page size, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from govflow.core.errors import TransportError
from govflow.core.transport import RetryPolicy, Transport
from govflow.testing.faults import FaultApp, respond, server_error
from govflow.testing.server import serve_asgi

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FaultApp, str]]:
    app = FaultApp()
    with serve_asgi(app) as url:
        yield app, url


@pytest.fixture
def faults(server: tuple[FaultApp, str]) -> FaultApp:
    app = server[0]
    app.reset()
    app.item_count, app.page_cap = 250, 50
    return app


@pytest.fixture
def url(server: tuple[FaultApp, str]) -> str:
    return server[1]


async def collect(url: str, path: str = "/items", **kwargs: Any) -> list[Any]:
    async with Transport("p", url, retry=FAST) as http:
        return [item async for item in http.paginate(path, **kwargs)]


def offsets(faults: FaultApp) -> list[tuple[str, str]]:
    return [(r.params["limit"], r.params["offset"]) for r in faults.requests("/items")]


async def test_server_cap_below_the_requested_limit(faults: FaultApp, url: str) -> None:
    items = await collect(url, limit=100)
    assert [item["id"] for item in items] == list(range(250))
    assert offsets(faults) == [("100", str(o)) for o in (0, 50, 100, 150, 200)]


@pytest.mark.parametrize("hints", [{"with_total": "false"}, {"with_total": "false", "echo_limit": "false"}])
async def test_without_total_stops_on_an_empty_or_short_page(
    faults: FaultApp, url: str, hints: dict[str, str]
) -> None:
    faults.item_count = 230
    items = await collect(url, params=hints, limit=100)
    assert [item["id"] for item in items] == list(range(230))
    # 50-item pages are full pages once seen; the 30-item page ends the listing.
    assert [o for _, o in offsets(faults)] == ["0", "50", "100", "150", "200"]
    assert all(r.params["with_total"] == "false" for r in faults.requests("/items"))


async def test_without_total_an_exact_multiple_needs_one_empty_page(faults: FaultApp, url: str) -> None:
    items = await collect(url, params={"with_total": "false"}, limit=100)
    assert len(items) == 250
    assert [o for _, o in offsets(faults)][-1] == "250"


async def test_limit_below_the_cap(faults: FaultApp, url: str) -> None:
    items = await collect(url, limit=40)
    assert [item["id"] for item in items] == list(range(250))
    assert len(faults.requests("/items")) == 7


async def test_short_first_page_without_hints_is_confirmed(faults: FaultApp, url: str) -> None:
    faults.item_count = 30
    items = await collect(url, params={"with_total": "false", "echo_limit": "false"}, limit=100)
    assert len(items) == 30
    assert [o for _, o in offsets(faults)] == ["0", "30"]


async def test_empty_listing(faults: FaultApp, url: str) -> None:
    faults.item_count = 0
    assert await collect(url) == []
    assert len(faults.requests("/items")) == 1


async def test_a_failing_page_is_retried(faults: FaultApp, url: str) -> None:
    faults.inject("/items", server_error(503))
    assert len(await collect(url)) == 250


async def test_custom_names_and_bare_list_body(faults: FaultApp, url: str) -> None:
    faults.inject("/usage", respond(200, {"evidence_packs": [{"id": 1}, {"id": 2}]}), respond(200, {"evidence_packs": []}))
    items = await collect(
        url, "/usage", items_key="evidence_packs", limit_param="evidence_limit", offset_param="evidence_offset"
    )
    assert items == [{"id": 1}, {"id": 2}]
    assert [r.params for r in faults.requests("/usage")] == [
        {"evidence_limit": "100", "evidence_offset": "0"},
        {"evidence_limit": "100", "evidence_offset": "2"},
    ]
    faults.inject("/bare", respond(200, [1, 2, 3]), respond(200, []))
    assert await collect(url, "/bare", items_key=None) == [1, 2, 3]


async def test_a_server_ignoring_the_offset_is_detected(faults: FaultApp, url: str) -> None:
    page = respond(200, {"items": [{"id": 1}]})
    faults.inject("/stuck", page, page, page)
    with pytest.raises(TransportError, match="ignore"):
        await collect(url, "/stuck", limit=1)


async def test_a_non_list_items_value_is_a_transport_error(faults: FaultApp, url: str) -> None:
    faults.inject("/odd", respond(200, {"items": {"a": 1}}))
    with pytest.raises(TransportError, match="expected a list"):
        await collect(url, "/odd")
