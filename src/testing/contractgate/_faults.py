"""Faults the ContractGate emulator adds to :mod:`govflow.testing.faults`, and how one is sent.

- ``request_timeout()``: the gateway's ``TimeoutLayer`` answer, 408 with an empty body (SDK
  0.4.0 turns it into a plain ``HTTPError``, spec 14.4).
- ``after_processing(fault)``: the request takes effect (events audited, quarantined,
  forwarded; the idempotency record written) and then the client gets ``fault`` instead of the
  answer: the lost response that makes a blind ingest retry double-write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from ..faults import Fault, client_left, drop_connection, faults_from
from ..server import Receive, Scope, Send


@dataclass(frozen=True)
class RawResponse:
    """Answer with these exact bytes instead of the route's answer."""

    status: int
    body: bytes = b""
    media_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AfterProcessing:
    """Run the route (its side effects happen), then answer with ``fault`` instead."""

    fault: Fault | RawResponse


AnyFault = Fault | RawResponse | AfterProcessing


def request_timeout() -> RawResponse:
    """The 408 tower-http's ``TimeoutLayer`` sends after 30 s: no body at all."""
    return RawResponse(408)


def after_processing(fault: Fault | RawResponse) -> AfterProcessing:
    return AfterProcessing(fault)


def fault_from_dict(spec: Mapping[str, Any]) -> AnyFault:
    """The JSON form of ``POST /_emulator/inject``: ``faults.py``'s, plus ``{"kind":
    "timeout"}`` for :func:`request_timeout` and ``"after_processing": true`` on any."""
    inner: Fault | RawResponse
    inner = request_timeout() if spec.get("kind") == "timeout" else faults_from([spec])[0]
    return AfterProcessing(inner) if spec.get("after_processing") else inner


_MALFORMED = b'{"total": 2, "passed": 1, "results": [{"index": 0,'


async def send_fault(
    fault: Fault | RawResponse,
    scope: Scope,
    receive: Receive,
    send: Send,
    proceed: Callable[[], Awaitable[None]],
) -> None:
    """Answer one request with ``fault``; ``proceed`` sends the normal answer (after a delay)."""
    response: Response
    if isinstance(fault, RawResponse):
        response = Response(
            fault.body,
            status_code=fault.status,
            media_type=fault.media_type,
            headers=dict(fault.headers),
        )
    elif fault.kind == "delay":
        if not await client_left(receive, fault.seconds):
            await proceed()
        return
    elif fault.kind in ("drop", "truncate"):
        await drop_connection(send, receive, truncated=fault.kind == "truncate")
        return
    elif fault.kind == "malformed":
        response = Response(_MALFORMED, status_code=fault.status, media_type="application/json")
    else:
        response = JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))
    await response(scope, receive, send)


__all__ = [
    "AfterProcessing",
    "AnyFault",
    "RawResponse",
    "after_processing",
    "fault_from_dict",
    "request_timeout",
    "send_fault",
]
