"""Limit/offset pagination that copes with servers capping the page size."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import TransportError

if TYPE_CHECKING:
    from ._client import Transport


async def paginate(
    transport: Transport,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    items_key: str | None = "items",
    limit: int = 100,
    limit_param: str = "limit",
    offset_param: str = "offset",
    total_key: str | None = "total",
) -> AsyncIterator[Any]:
    """Yield every item of a ``{items_key: [...], total_key: N}`` listing, page by page.

    The offset advances by the number of items received, not by ``limit``: a server that caps
    the page size below ``limit`` (Velerian's SDK stops after the first page there) is walked to
    the end. Iteration stops on an empty page, when ``offset >= total``, or on a page shorter
    than both ``limit`` and the largest page seen so far (a short *first* page is ambiguous
    without ``total``, so one more request confirms the end). ``items_key=None`` means the body
    itself is the list.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    offset = 0
    largest = 0
    previous: list[Any] | None = None
    while True:
        query = {**(params or {}), limit_param: limit, offset_param: offset}
        page = await transport.request_json("GET", path, params=query)
        items = _items(page, items_key, path)
        if not items:
            return
        if items == previous:
            raise TransportError(
                f"GET {path}: the server returned the same page for offset {offset}; "
                f"it seems to ignore {offset_param!r}",
                platform=transport.platform,
            )
        previous = items
        for item in items:
            yield item
        offset += len(items)

        total = page.get(total_key) if isinstance(page, dict) and total_key else None
        if isinstance(total, int) and not isinstance(total, bool):
            if offset >= total:
                return
            continue
        echoed = page.get(limit_param) if isinstance(page, dict) else None
        if isinstance(echoed, int) and 0 < echoed < limit:
            # The server told us its cap: pages of that size are full pages.
            largest = max(largest, echoed)
        if len(items) < limit and len(items) < largest:
            return
        largest = max(largest, len(items))


def _items(page: Any, items_key: str | None, path: str) -> list[Any]:
    if items_key is None:
        items = page
    elif isinstance(page, dict):
        items = page.get(items_key)
    else:
        raise TransportError(f"GET {path}: expected a JSON object with {items_key!r}, got {type(page).__name__}")
    if items is None:
        return []
    if not isinstance(items, list):
        where = "the body" if items_key is None else repr(items_key)
        raise TransportError(f"GET {path}: expected a list in {where}, got {type(items).__name__}")
    return items


__all__ = ["paginate"]
