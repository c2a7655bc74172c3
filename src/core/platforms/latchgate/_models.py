"""LatchGate's response shapes (specs/latchgate.md sections 1.5, 2.2 and 5).

Required fields are the SDK's (a body without them is a :class:`LatchGateTransportError`, where
the SDK raises ``KeyError``); everything else has the SDK's default. Every model keeps the body
verbatim in ``raw`` and accepts fields it does not know, and tags such as a verification outcome
or an approval status are plain strings, so a value the gate adds tomorrow never crashes a run.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ...models import ApprovalStatus
from .._response import ResponseModel
from ._errors import PLATFORM, LatchGateTransportError

# A receipt counts as fully successful for these verification outcomes (the gate's own rule).
SUCCESSFUL_VERIFICATIONS = frozenset({"verified", "unverifiable_declared"})


class LatchGateModel(ResponseModel):
    """Base of the response models: unknown fields kept, the body kept in ``raw``."""

    model_config = ConfigDict(frozen=True)

    platform = PLATFORM
    platform_name = "LatchGate"
    transport_error = LatchGateTransportError

    @classmethod
    def _fields_from_body(cls, body: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        # A model may be given fields the body lacks (an ActionResult's own request_hash).
        return {**body, **extra}


class ActionResult(LatchGateModel):
    """``POST /v1/actions/{id}/execute`` answered 200: the action ran (section 1.5).

    ``output`` is what the provider produced; ``receipt_id`` fetches the durable receipt;
    ``trace_id`` correlates with the gate's audit; ``request_hash`` is govflow's own
    ``"sha256:" + hex(SHA-256(JCS(params)))``, the value the gate records for the request
    (None when the params cannot be canonicalised, e.g. an integer beyond 2**53).
    """

    receipt_id: str
    trace_id: str
    grant_id: str
    output: Any = None
    decision: str = "executed"
    action_id: str = ""
    verification_outcome: str | None = None
    verification: dict[str, Any] = Field(default_factory=dict)
    runtime: dict[str, Any] = Field(default_factory=dict)
    approval: dict[str, Any] | None = None
    request_hash: str | None = None

    @property
    def outcome(self) -> str | None:
        """The verification tag (``verified``, ``verification_failed``, ...)."""
        tag = self.verification.get("outcome")
        return tag if isinstance(tag, str) else self.verification_outcome

    @property
    def is_fully_successful(self) -> bool:
        """The gate's own verdict (``verification.is_fully_successful``)."""
        return self.verification.get("is_fully_successful") is True


class ExecutionReceipt(LatchGateModel):
    """``GET /v1/receipts/{id}``: the durable, signed record of one execution (section 5.2).

    Timestamps stay strings as the gate sent them (``started``/``finished`` parse them).
    """

    receipt_id: str
    grant_id: str
    result_hash: str
    started_at: str
    finished_at: str
    provider_module_digest: str = ""
    provider_receipt: Any = None
    normalized_result: dict[str, Any] = Field(default_factory=dict)
    verification_outcome: dict[str, Any] = Field(default_factory=dict)
    effect_evidence: list[Any] = Field(default_factory=list)
    failure_class: str | None = None
    receipt_signature: str | None = None
    signing_key_id: str | None = None
    signature_status: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_module_key(cls, data: Any) -> Any:
        # Older gates send "provider_module" (the SDK reads it as a fallback too).
        if isinstance(data, dict) and "provider_module_digest" not in data and "provider_module" in data:
            return {**data, "provider_module_digest": data["provider_module"]}
        return data

    @property
    def provider_module(self) -> str:
        """Deprecated SDK alias of :attr:`provider_module_digest`."""
        return self.provider_module_digest

    @property
    def is_fully_successful(self) -> bool:
        """``normalized_result.kind == "success"`` and verification ``verified`` or ``unverifiable_declared``."""
        return (
            self.normalized_result.get("kind") == "success"
            and self.verification_outcome.get("status") in SUCCESSFUL_VERIFICATIONS
        )

    @property
    def started(self) -> datetime | None:
        return parse_timestamp(self.started_at)

    @property
    def finished(self) -> datetime | None:
        return parse_timestamp(self.finished_at)


# The poll's words for govflow's statuses; "expired" is not sent by the gate (an expired
# approval disappears, see LatchGateApprovalNotFoundError) but emulators and later gates may.
_STATUSES: dict[str, ApprovalStatus] = {
    "pending": ApprovalStatus.PENDING,
    "approved": ApprovalStatus.APPROVED,
    "denied": ApprovalStatus.DENIED,
    "failed": ApprovalStatus.FAILED,
    "expired": ApprovalStatus.EXPIRED,
}


class LatchGateApproval(LatchGateModel):
    """``GET /v1/approvals/{id}/poll`` (section 5.3); the SDK's ``ApprovalStatus``.

    ``approval_id`` comes from the request path (the gate does not send it). ``receipt_id`` is
    the receipt of the execution the operator's approval triggered: an approved action has
    already run once, so it must not be executed again.
    """

    approval_id: str
    status: str = "pending"
    action_id: str = ""
    receipt_id: str | None = None
    reason: str | None = None
    retry_after_seconds: int | None = None

    @property
    def is_pending(self) -> bool:
        return self.status == "pending"

    @property
    def is_approved(self) -> bool:
        return self.status == "approved"

    @property
    def is_denied(self) -> bool:
        return self.status == "denied"

    @property
    def is_failed(self) -> bool:
        return self.status == "failed"

    @property
    def is_expired(self) -> bool:
        return self.status == "expired"

    @property
    def core_status(self) -> ApprovalStatus:
        """govflow's status; a word govflow does not know is FAILED (waiting on it could never end)."""
        return _STATUSES.get(self.status.strip().lower(), ApprovalStatus.FAILED)


class EgressProfile(LatchGateModel):
    """Where an action may connect (section 5.4): ``none`` or ``proxy_allowlist`` with domains."""

    profile: str = "none"
    allowed_domains: list[str] = Field(default_factory=list)

    @property
    def has_egress(self) -> bool:
        return self.profile != "none"

    @classmethod
    def from_wire(cls, value: Any) -> EgressProfile:
        """The gate's externally tagged enum (``"none"``, ``{"proxy_allowlist": {...}}``, null).

        The manifest's YAML shape ``{"profile": ..., "allowed_domains": [...]}`` is read too (the
        integrations expect it from the API and never match); anything else is ``none``, as in the SDK.
        """
        if isinstance(value, dict):
            if len(value) == 1:
                ((tag, inner),) = value.items()
                if isinstance(tag, str) and tag != "none":
                    domains = inner.get("allowed_domains") if isinstance(inner, dict) else None
                    return cls(profile=tag, allowed_domains=_strings(domains), raw=value)
            if isinstance(value.get("profile"), str):
                return cls(
                    profile=value["profile"], allowed_domains=_strings(value.get("allowed_domains")), raw=value
                )
        return cls(profile="none", raw=value)


class ActionSummary(LatchGateModel):
    """One row of ``GET /v1/actions``."""

    action_id: str
    version: str | None = None
    risk_level: str | None = None
    database_mode: str | None = None


class ActionInfo(LatchGateModel):
    """``GET /v1/actions/{id}``: the registered action, its limits and its egress profile."""

    action_id: str
    version: str | None = None
    provider_module_digest: str | None = None
    risk_level: str | None = None
    resource_limits: dict[str, Any] = Field(default_factory=dict)
    io: dict[str, Any] = Field(default_factory=dict)
    declared_side_effects: list[str] = Field(default_factory=list)
    database: dict[str, Any] | None = None
    egress_profile: EgressProfile = Field(default_factory=EgressProfile)

    @model_validator(mode="before")
    @classmethod
    def _egress(cls, data: Any) -> Any:
        if isinstance(data, dict) and "egress_profile" not in data:
            return {**data, "egress_profile": EgressProfile.from_wire(data.get("egress"))}
        return data


class LeaseInfo(LatchGateModel):
    """The lease a client holds (section 2.2), without its JWT (that is a secret)."""

    session_id: str | None = None
    lease_jti: str | None = None
    expires_at: datetime
    scopes: list[str] = Field(default_factory=list)
    budgets: dict[str, int] | None = None
    jkt: str = Field(description="RFC 7638 thumbprint of the lease's DPoP key")
    fs_root: str | None = None


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


_FRACTION = re.compile(r"\.(\d+)")


def parse_timestamp(value: str | None) -> datetime | None:
    """RFC 3339 (``Z`` or an offset; nanoseconds cut to microseconds) as an aware datetime, else None."""
    if not value:
        return None
    # Python 3.10 parses only 3 or 6 fraction digits; chrono may send up to 9.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip(), count=1)
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


__all__ = [
    "SUCCESSFUL_VERIFICATIONS",
    "ActionInfo",
    "ActionResult",
    "ActionSummary",
    "EgressProfile",
    "ExecutionReceipt",
    "LatchGateApproval",
    "LatchGateModel",
    "LeaseInfo",
    "parse_timestamp",
]
