"""Faults for the LatchGate emulator: the server's own error answers, and how a fault is applied.

The generic builders (``rate_limited``, ``server_error``, ``slow``, ``drop``, ``truncate``,
``malformed_json``, ``respond``) come from :mod:`govflow.testing.faults`. This module adds:

- ``gate_error(code)``: the exact answer the real server gives for one code of its error
  catalogue (spec §4.3), e.g. ``gate_error("rate_limited")`` is 429 ``{"error":
  "rate_limited"}`` with ``Retry-After: 1``, ``gate_error("draining")`` is 503;
- ``after_accept(fault)``: the request takes effect first (the action executes, a receipt is
  written), then the client gets ``fault``: the "response lost" case in which a blind retry of
  an execute runs the action twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from ..faults import Fault, client_left, drop_connection, faults_from, respond
from ..server import Message, Receive, Scope, Send

# code -> (status, extra headers): the server's catalogue (spec §2.2 and §4.3).
ERROR_CATALOGUE: dict[str, tuple[int, dict[str, str]]] = {
    "bad_request": (400, {}),
    "invalid_request": (400, {}),
    "invalid_fs_root": (400, {}),
    "lease_expired": (401, {}),
    "invalid_lease": (401, {}),
    "invalid_dpop": (401, {}),
    "replay_detected": (401, {}),
    "missing_auth_header": (401, {}),
    "invalid_auth_scheme": (401, {}),
    "invalid_operator_token": (401, {}),
    "missing_dpop_header": (401, {}),
    "key_binding_failed": (401, {}),
    "identity_unauthenticated": (401, {}),
    "policy_denied": (403, {}),
    "action_not_registered": (403, {}),
    "action_digest_mismatch": (403, {}),
    "budget_exhausted": (403, {}),
    "budget_session_not_found": (403, {}),
    "identity_forbidden": (403, {}),
    "scope_not_permitted": (403, {}),
    "fs_root_denied": (403, {}),
    "not_found": (404, {}),
    "action_not_found": (404, {}),
    "grant_consumed": (409, {}),
    "conflict": (409, {}),
    "budget_already_initialised": (409, {}),
    "schema_violation": (422, {}),
    "rate_limited": (429, {"Retry-After": "1"}),
    "operator_throttled": (429, {"Retry-After": "2"}),
    "rate_limit_exceeded": (429, {}),
    "internal_error": (500, {}),
    "evidence_persistence_failed": (500, {}),
    "action_execution_failed": (502, {}),
    "draining": (503, {}),
    "clock_error": (503, {}),
    "replay_cache_unavailable": (503, {}),
    "policy_engine_unavailable": (503, {}),
    "policy_engine_timeout": (503, {}),
    "policy_engine_invalid_response": (503, {}),
    "budget_store_unavailable": (503, {}),
    "store_unavailable": (503, {}),
    "identity_provider_unavailable": (503, {}),
}


def gate_error(code: str, **fields: Any) -> Fault:
    """The real server's answer for error ``code`` (status, ``{"error": code, **fields}``,
    headers), e.g. ``gate_error("policy_denied", deny_reason="...")``."""
    if code not in ERROR_CATALOGUE:
        raise ValueError(f"unknown LatchGate error code {code!r}; known: {sorted(ERROR_CATALOGUE)}")
    status, headers = ERROR_CATALOGUE[code]
    return respond(status, {"error": code, **fields}, headers)


@dataclass(frozen=True)
class AfterAccept:
    """Process the request (side effects happen), then answer with ``fault`` instead.

    With a ``slow`` fault the real answer is sent after the delay, so a client whose timeout is
    shorter gives up on a request that did take effect.
    """

    fault: Fault


def after_accept(fault: Fault) -> AfterAccept:
    """E.g. ``after_accept(drop())``: the action executes but the response is lost."""
    return AfterAccept(fault)


AnyFault = Fault | AfterAccept


def fault_from_dict(spec: Mapping[str, Any]) -> AnyFault:
    """The JSON form of ``POST /_emulator/inject``: ``faults.py``'s form, ``{"kind": "gate_error",
    "code": "draining"}``, and ``"after_accept": true`` on any of them."""
    if spec.get("kind") == "gate_error":
        extra = {k: v for k, v in spec.items() if k not in ("kind", "code", "after_accept")}
        inner = gate_error(str(spec["code"]), **extra)
    else:
        inner = faults_from([{k: v for k, v in spec.items() if k != "after_accept"}])[0]
    return AfterAccept(inner) if spec.get("after_accept") else inner


# A 200 whose JSON is cut short: what a crashing proxy or a truncated write delivers.
MALFORMED_BODY = b'{"decision":"executed","trace_id":"0197'


async def apply_fault(
    fault: Fault, scope: Scope, receive: Receive, send: Send, captured: list[Message] | None
) -> bool:
    """Answer with ``fault``; False means "go on with the normal answer" (after a delay).

    ``captured`` holds the real answer when the request was processed first (AfterAccept).
    """
    if fault.kind == "delay":
        if await client_left(receive, fault.seconds):
            return True
        if captured is None:
            return False
        for message in captured:
            await send(message)
        return True
    if fault.kind in ("drop", "truncate"):
        await drop_connection(send, receive, truncated=fault.kind == "truncate")
        return True
    response: Response
    if fault.kind == "malformed":
        response = Response(MALFORMED_BODY, status_code=fault.status, media_type="application/json")
    else:
        response = JSONResponse(fault.body, status_code=fault.status, headers=dict(fault.headers))
    await response(scope, receive, send)
    return True


__all__ = [
    "ERROR_CATALOGUE",
    "MALFORMED_BODY",
    "AfterAccept",
    "AnyFault",
    "after_accept",
    "apply_fault",
    "fault_from_dict",
    "gate_error",
]
