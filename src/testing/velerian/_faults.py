"""Faults the Velerian emulator adds to :mod:`govflow.testing.faults`, and how any fault is applied.

The generic builders (``rate_limited``, ``server_error``, ``slow``, ``drop``, ``truncate``,
``malformed_json``, ``respond``, ...) come from ``faults.py``. Two things a Velerian client must
survive need more than they offer:

- a gateway's HTML error page (``gateway_error(502)``): not JSON, so the SDK's ``detail`` is the
  page text and ``body`` is None;
- a failure *after* the server accepted the request (``after_accept(server_error(502))``): the
  route runs and its side effects happen (an invocation is created), then the client gets the
  fault instead of the answer. This is what makes a blind POST retry create a duplicate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, Response

from ..faults import Fault, client_left, drop_connection, faults_from
from ..server import Receive, Scope, Send


@dataclass(frozen=True)
class RawResponse:
    """Answer with these exact bytes (not JSON) instead of the route's answer."""

    status: int
    body: bytes
    media_type: str = "text/html"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AfterAccept:
    """Run the route (its side effects happen), then answer with ``fault`` instead.

    With a ``slow`` fault the route's own answer is sent after the delay, so a client whose
    timeout is shorter gives up on a request that did take effect.
    """

    fault: Fault | RawResponse


AnyFault = Fault | RawResponse | AfterAccept


def gateway_error(status: int = 502, server: str = "nginx") -> RawResponse:
    """The HTML error page a load balancer or gateway sends (502, 503, 504, ...)."""
    phrase = f"{status} {HTTPStatus(status).phrase}"
    page = (
        f"<html>\r\n<head><title>{phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{phrase}</h1></center>\r\n<hr><center>{server}</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return RawResponse(status, page.encode(), "text/html")


def after_accept(fault: Fault | RawResponse) -> AfterAccept:
    """The request takes effect, then the client sees ``fault`` (see :class:`AfterAccept`)."""
    return AfterAccept(fault)


def fault_from_dict(spec: Mapping[str, Any]) -> AnyFault:
    """The JSON form used by ``POST /_emulator/inject``.

    ``faults.py``'s form (``{"kind": "respond", "status": 429, ...}``), plus ``{"kind": "html",
    "status": 502}`` for :func:`gateway_error` and ``"after_accept": true`` on any of them.
    """
    inner: Fault | RawResponse
    if spec.get("kind") == "html":
        inner = gateway_error(int(spec.get("status", 502)))
    else:
        inner = faults_from([spec])[0]
    return AfterAccept(inner) if spec.get("after_accept") else inner


async def send_fault(
    fault: Fault | RawResponse,
    scope: Scope,
    receive: Receive,
    send: Send,
    proceed: Callable[[], Awaitable[None]],
) -> None:
    """Answer one request with ``fault``; ``proceed`` sends the normal answer (after a delay)."""
    if isinstance(fault, RawResponse):
        raw = Response(
            fault.body,
            status_code=fault.status,
            media_type=fault.media_type,
            headers=dict(fault.headers),
        )
        await raw(scope, receive, send)
    elif fault.kind == "delay":
        if not await client_left(receive, fault.seconds):
            await proceed()
    elif fault.kind in ("drop", "truncate"):
        await drop_connection(send, receive, truncated=fault.kind == "truncate")
    elif fault.kind == "malformed":
        # the same broken body as faults.FaultApp, so client tests read alike for every platform
        bad = Response(b'{"items": [1, 2,', status_code=fault.status, media_type="application/json")
        await bad(scope, receive, send)
    else:
        answer = JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))
        await answer(scope, receive, send)


__all__ = [
    "AfterAccept",
    "AnyFault",
    "RawResponse",
    "after_accept",
    "fault_from_dict",
    "gateway_error",
    "send_fault",
]
