"""LatchGate's errors (specs/latchgate.md section 4), each also a member of govflow's hierarchy.

Every class derives from :class:`LatchGateError` and from the govflow error of the same meaning,
so ``except DeniedError`` in an adapter and ``except LatchGateDeniedError`` in user code both
work. Each keeps the gate's own ``error`` string as ``code``, its ``deny_reason`` (when sent) as
``deny_reason``, the SDK-style ``reason`` and the ``action_id`` (or ``<connect>``,
``<receipt>``, ``<approval>`` as in the SDK); ``body`` is the redacted JSON answer.

The mapping (section 4.2), with govflow's deliberate differences from the SDK marked *:

=========================================  ===============================================
HTTP answer                                error
=========================================  ===============================================
202 on execute                             LatchGateApprovalRequiredError (approval_id, request_hash)
400, 413, 415, 422                         LatchGateRequestError (RequestValidationError) *SDK: Denied
401 ``lease_expired``                      LatchGateLeaseExpiredError (AuthenticationError)
401 ``replay_detected``                    LatchGateReplayDetectedError (AuthenticationError)
401 ``invalid_dpop`` naming ``htu``        LatchGateHtuMismatchError (also ConfigurationError) *
401 otherwise (poll: bare 401)             LatchGateAuthError (AuthenticationError)
403 ``budget_exhausted``, or a denial
    whose reason says "budget exhausted"   LatchGateBudgetExhaustedError (a DeniedError) *
403 otherwise                              LatchGateDeniedError (DeniedError)
404                                        LatchGateNotFoundError / LatchGateApprovalNotFoundError *SDK: Denied or Unavailable
409                                        LatchGateConflictError (ConflictError) *SDK: Unavailable
429                                        LatchGateRateLimitError (RateLimitError, retry_after) *SDK: Unavailable
5xx                                        LatchGateUnavailableError (UnavailableError)
other statuses                             LatchGateAPIError (PlatformError)
no usable answer                           LatchGateTransportError (TransportError)
=========================================  ===============================================

Budget exhaustion is a denial, not a rate limit: waiting does not refill a lease's call budget,
and a new lease (which would) must be the caller's decision, not an automatic retry.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from ...errors import (
    ApprovalRequiredError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DeniedError,
    GovflowError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from ...transport import parse_retry_after, response_body

PLATFORM = "latchgate"

# 401 codes after which a new lease (and a new proof) may succeed: the gate rejected the lease
# itself before acting, e.g. it expired early or the gate restarted with a new signing key.
RELEASE_CODES = frozenset({"lease_expired", "invalid_lease"})

_MAX_TEXT = 500
_EXPECTED_HTU = re.compile(r"expected\s+'([^']*)'")
_GOT_HTU = re.compile(r"got\s+'([^']*)'")


class LatchGateError(GovflowError):
    """Base class of every LatchGate error; ``action_id``, ``reason`` and ``deny_reason`` on all."""

    def __init__(
        self,
        message: str,
        *,
        action_id: str | None = None,
        reason: str | None = None,
        deny_reason: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        # After super(): DeniedError's own __init__ (in the MRO of the denials) resets reason.
        self.platform = self.platform or PLATFORM
        self.action_id = action_id
        self.reason = reason
        self.deny_reason = deny_reason


class LatchGateAPIError(LatchGateError, PlatformError):
    """A non-2xx answer without a more specific class."""


class LatchGateDeniedError(LatchGateError, DeniedError):
    """403: the gate's policy denied the action; ``reason`` is ``"{code}: {deny_reason}"``."""


class LatchGateBudgetExhaustedError(LatchGateDeniedError):
    """403: the lease's call budget is used up (``budget_exhausted``, or ``policy_denied`` saying so)."""


class LatchGateApprovalRequiredError(LatchGateError, ApprovalRequiredError):
    """202: the action waits for a human; poll ``approval_id`` (``request_hash``, ``trace_id`` kept)."""

    def __init__(
        self,
        message: str,
        *,
        request_hash: str | None = None,
        trace_id: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.request_hash = request_hash
        self.trace_id = trace_id


class LatchGateAuthError(LatchGateError, AuthenticationError):
    """401: the lease or the DPoP proof was refused (``code`` says which check failed)."""


class LatchGateLeaseExpiredError(LatchGateAuthError):
    """401 ``lease_expired``: the client re-leases once by itself; this means that did not help."""


class LatchGateReplayDetectedError(LatchGateAuthError):
    """401 ``replay_detected``: a proof's ``jti`` was seen before. Never retried: investigate."""


class LatchGateHtuMismatchError(LatchGateAuthError, ConfigurationError):
    """401 ``invalid_dpop`` over the ``htu``: ``public_base_url`` differs from the gate's.

    ``expected_base_url`` is the gate's public base URL when its ``deny_reason`` names it.
    """

    def __init__(
        self,
        message: str,
        *,
        expected_base_url: str | None = None,
        signed_base_url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.expected_base_url = expected_base_url
        self.signed_base_url = signed_base_url


class LatchGateRequestError(LatchGateError, RequestValidationError):
    """400/413/415/422: the request was malformed (``schema_violation``, ``invalid_request``...)."""


class LatchGateNotFoundError(LatchGateError, NotFoundError):
    """404: the action, receipt or approval does not exist (``code`` ``action_not_found``...)."""


class LatchGateApprovalNotFoundError(LatchGateNotFoundError):
    """404 on an approval poll: unknown id, expired, or owned by another lease session.

    ``session_alive`` is True when the poll used the lease session that created the approval (so
    the gate really no longer has it: pending approvals expire after 300 s), False when that
    session's lease has expired (LatchGate binds approvals to their session, so nobody can poll
    it now), None when this client did not create it.
    """

    def __init__(self, message: str, *, session_alive: bool | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.session_alive = session_alive


class LatchGateConflictError(LatchGateError, ConflictError):
    """409: ``grant_consumed``, ``conflict``, ``budget_already_initialised``."""


class LatchGateRateLimitError(LatchGateError, RateLimitError):
    """429: ``rate_limited`` / ``rate_limit_exceeded``; ``retry_after`` from the header."""


class LatchGateUnavailableError(LatchGateError, UnavailableError):
    """5xx: the gate or one of its dependencies failed (``draining``, ``policy_engine_timeout``...)."""


class LatchGateTransportError(LatchGateError, TransportError):
    """No usable answer: refused or dropped connection, missing socket, timeout, malformed body."""


class LatchGateIdentifierError(LatchGateError, ValueError):
    """An action, receipt or approval id that cannot be put in a URL path; raised before any I/O."""


# --- mapping -----------------------------------------------------------------------------------


def subject_of(path: str) -> str:
    """The SDK's ``action_id`` argument for a route: the action id, or ``<receipt>``/``<approval>``/``<connect>``."""
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "v1" and parts[1] == "actions":
        return parts[2]
    if len(parts) >= 2 and parts[0] == "v1":
        return {"receipts": "<receipt>", "approvals": "<approval>", "leases": "<connect>"}.get(parts[1], "<request>")
    return "<request>"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."


def route_of(request: httpx.Request, base_path: str = "") -> str:
    """The route path of a request (no query), without the transport's base path prefix."""
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return path


def map_error(
    response: httpx.Response,
    *,
    base_path: str = "",
    public_base_url: str | None = None,
) -> LatchGateError:
    """The typed error for a non-2xx answer (see the module docstring for the table)."""
    status = response.status_code
    request = response.request
    path = route_of(request, base_path)
    where = f"{request.method} {path}"
    subject = subject_of(path)
    action_id = subject if not subject.startswith("<") else None
    parsed = response_body(response)
    body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    code = body.get("error") if isinstance(body.get("error"), str) else None
    deny_reason = _text(body.get("deny_reason"))
    message_field = _text(body.get("message"))
    body_reason = _text(body.get("reason"))
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "status": status,
        "code": code,
        "body": parsed,
        "action_id": action_id,
        "deny_reason": deny_reason,
    }
    label = code or "unknown"
    # What the gate said, most specific first (a plain-text framework error becomes the detail).
    said = deny_reason or message_field or (body_reason if body_reason != code else None)
    if said is None and isinstance(parsed, str):
        said = _text(parsed)
    detail = f"{label}: {said}" if said else label
    common["detail"] = said

    if status == 401:
        if code == "invalid_dpop" and deny_reason and "htu" in deny_reason.lower():
            return _htu_mismatch(where, path, deny_reason, public_base_url, common)
        cls: type[LatchGateAuthError] = LatchGateAuthError
        if code == "lease_expired":
            cls = LatchGateLeaseExpiredError
        elif code == "replay_detected":
            cls = LatchGateReplayDetectedError
        if code is None and not response.content:
            detail = "the gate gave no reason (the poll route answers a bare 401 to any auth failure)"
        return cls(f"{where}: authentication failed: {detail}", reason=label, **common)
    if status == 403:
        reason = f"{code}: {deny_reason}" if code and deny_reason else (deny_reason or label)
        if code == "budget_exhausted" or (deny_reason or "").lower().startswith("budget exhausted"):
            return LatchGateBudgetExhaustedError(
                f"{where}: budget exhausted for action {subject!r} ({reason})", reason=reason, **common
            )
        return LatchGateDeniedError(f"{where}: action {subject!r} denied: {reason}", reason=reason, **common)
    if status == 404:
        return not_found(where, subject, path, label, common)
    if status in (400, 413, 415, 422):
        reason = f"{label}: {said}" if said and said != label else label
        return LatchGateRequestError(f"{where}: request rejected: {reason}", reason=reason, **common)
    if status == 409:
        return LatchGateConflictError(f"{where}: conflict: {detail}", reason=label, **common)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return LatchGateRateLimitError(
            f"{where}: rate limited: {detail}", reason=label, retry_after=retry_after, **common
        )
    if status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if status == 503 else None
        return LatchGateUnavailableError(
            f"{where}: gateway unavailable: {detail}", reason=label, retry_after=retry_after, **common
        )
    return LatchGateAPIError(f"{where}: unexpected status {status}: {detail}", reason=label, **common)


def not_found(where: str, subject: str, path: str, label: str, common: dict[str, Any]) -> LatchGateNotFoundError:
    ident = path.rstrip("/").split("/")
    if subject == "<receipt>":
        return LatchGateNotFoundError(
            f"{where}: receipt {ident[-1]!r} not found", reason=f"receipt '{ident[-1]}' not found", **common
        )
    if subject == "<approval>":
        approval_id = ident[3] if len(ident) > 3 else ident[-1]
        return LatchGateApprovalNotFoundError(
            f"{where}: approval {approval_id!r} not found for this lease session (it expired, or "
            "it was created under another lease: LatchGate binds approvals to the session that asked)",
            reason=f"approval '{approval_id}' not found",
            approval_id=approval_id,
            **common,
        )
    what = f"action {subject!r}" if not subject.startswith("<") else "route"
    return LatchGateNotFoundError(f"{where}: {what} not found ({label})", reason=label, **common)


def _htu_mismatch(
    where: str,
    path: str,
    deny_reason: str,
    public_base_url: str | None,
    common: dict[str, Any],
) -> LatchGateHtuMismatchError:
    expected = _EXPECTED_HTU.search(deny_reason)
    got = _GOT_HTU.search(deny_reason)
    expected_base = _base_of(expected.group(1), path) if expected else None
    signed_base = public_base_url or (_base_of(got.group(1), path) if got else None)
    fix = (
        f"pass public_base_url={expected_base!r}"
        if expected_base
        else "pass public_base_url= the gate's configured public_base_url"
    )
    message = (
        f"{where}: the gate checks each DPoP proof's htu against its own public_base_url"
        f"{f' ({expected_base})' if expected_base else ''}, but this client signs for "
        f"{signed_base or 'another URL'}: {fix} to LatchGateClient (or set "
        "LATCHGATE_PUBLIC_BASE_URL). The gate said: " + deny_reason
    )
    return LatchGateHtuMismatchError(
        message,
        reason="invalid_dpop",
        expected_base_url=expected_base,
        signed_base_url=signed_base,
        **common,
    )


def _base_of(htu: str, path: str) -> str:
    """The base URL part of a full ``htu`` for ``path`` (the whole value if it does not end so)."""
    return htu[: -len(path)] if path and htu.endswith(path) else htu


__all__ = [
    "PLATFORM",
    "RELEASE_CODES",
    "LatchGateAPIError",
    "LatchGateApprovalNotFoundError",
    "LatchGateApprovalRequiredError",
    "LatchGateAuthError",
    "LatchGateBudgetExhaustedError",
    "LatchGateConflictError",
    "LatchGateDeniedError",
    "LatchGateError",
    "LatchGateHtuMismatchError",
    "LatchGateIdentifierError",
    "LatchGateLeaseExpiredError",
    "LatchGateNotFoundError",
    "LatchGateRateLimitError",
    "LatchGateReplayDetectedError",
    "LatchGateRequestError",
    "LatchGateTransportError",
    "LatchGateUnavailableError",
    "map_error",
    "route_of",
    "subject_of",
]
