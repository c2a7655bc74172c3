"""Velerian's response shapes (spec sections 4, 5 and 11).

Required fields are the SDK's; everything else has the SDK's default. Every model keeps the
whole body verbatim in ``raw`` and accepts fields it does not know (``extra="allow"``: v2 may
add fields at any time), and enumerations such as ``outcome`` or an approval's ``status`` are
plain strings, so a value introduced tomorrow never crashes a pipeline today.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ...models import ApprovalStatus
from .._response import ResponseModel
from ._errors import PLATFORM

_T = TypeVar("_T")


class VelerianModel(ResponseModel):
    """Base of the response models: unknown fields kept, numbers accepted where ids are strings."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    platform = PLATFORM
    platform_name = "Velerian"


class InvokeResult(VelerianModel):
    """``POST /api/v2/abps/{abp_id}/invoke``: the governance verdict and evidence pointers.

    ``outcome`` is free text ("allowed", "requires_approval", "blocked", "error", and whatever
    the platform adds); decide on the booleans, not on it.
    """

    invocation_id: str
    outcome: str
    is_allowed: bool
    requires_human: bool
    withheld: bool
    constraint_count: int = 0
    aggregated_conditions: list[Any] = Field(default_factory=list)
    output: Any = None
    approval_id: str | None = None
    evidence_pack_id: str | None = None
    evidence_pack_s3_key: str | None = None
    evidence_pack_chain_hash: str | None = None
    model_error: str | None = None


class EvidenceExport(VelerianModel):
    """An evidence export (R2, R3): where to download it and until when.

    ``delivery`` is ``"presigned"`` (``download_url`` is a storage link that must be fetched
    without the API key) or ``"stream"`` (an API path fetched with it); see
    :meth:`VelerianClient.download_export`.
    """

    export_id: str
    artifact_kind: str
    format: str
    s3_key: str
    download_url: str
    expires_at: str
    delivery: str = "presigned"


    @property
    def expires(self) -> datetime | None:
        """``expires_at`` as an aware datetime, None if it is not ISO 8601."""
        return parse_timestamp(self.expires_at)


class UsageSummary(VelerianModel):
    """``GET /api/v2/usage/summary``.

    ``evidence_packs`` is one page of evidence-pack rows (a list) on the servers govflow knows;
    the SDK's type hint says it is a dashboard dict, so a dict is accepted too. Page through the
    rows with :meth:`VelerianClient.iter_usage_evidence`.
    """

    tenant_id: str
    as_of: str
    governed_runs: dict[str, Any] = Field(default_factory=dict)
    evidence_packs: list[Any] | dict[str, Any] = Field(default_factory=list)
    evidence_limit: int | None = None
    evidence_offset: int | None = None
    evidence_total: int | None = None
    adoption: dict[str, Any] | None = None


class VelerianApproval(VelerianModel):
    """An approval as ``/api/v2/approvals`` lists it (spec section 11; the shape is the emulator's).

    ``status`` is kept as sent; :func:`approval_status` maps it onto govflow's statuses.
    """

    id: str
    status: str = "pending"
    abp_id: str | None = None
    invocation_id: str | None = None
    evidence_pack_id: str | None = None
    requested_at: str | None = None
    decided_at: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    expires_at: str | None = None


class Page(BaseModel, Generic[_T]):
    """One page of a ``{"items", "limit", "offset", "total"?}`` listing.

    ``next_offset`` advances by the rows received: a server may cap ``limit`` below what was
    asked, and stepping by the requested size would skip rows.
    """

    model_config = ConfigDict(extra="allow")

    items: list[_T] = Field(default_factory=list)
    limit: int = 0
    offset: int = 0
    total: int | None = None
    raw: Any = Field(default=None, exclude=True, repr=False)

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.items)

    @property
    def has_more(self) -> bool:
        """Whether another page may exist (``total`` when the server gives it, else a non-empty page)."""
        if self.total is not None:
            return self.next_offset < self.total
        return bool(self.items)


def page_from_body(body: Any, where: str) -> Page[Any]:
    """A page of plain rows; a body that is not an object yields an empty page, as in the SDK."""
    if not isinstance(body, dict):
        return Page[Any](items=[], raw=body)
    items = body.get("items")
    data = {
        "items": items if isinstance(items, list) else [],
        "limit": _int_or(body.get("limit"), 0),
        "offset": _int_or(body.get("offset"), 0),
        "total": body.get("total") if isinstance(body.get("total"), int) else None,
    }
    page = Page[Any].model_validate(data)
    page.raw = body
    return page


# Velerian's words for each govflow status; anything else is handled by approval_status.
_STATUSES: dict[str, ApprovalStatus] = {
    "pending": ApprovalStatus.PENDING,
    "approved": ApprovalStatus.APPROVED,
    "denied": ApprovalStatus.DENIED,
    "rejected": ApprovalStatus.DENIED,
    "expired": ApprovalStatus.EXPIRED,
    "failed": ApprovalStatus.FAILED,
    "error": ApprovalStatus.FAILED,
    "cancelled": ApprovalStatus.FAILED,
    "canceled": ApprovalStatus.FAILED,
    "revoked": ApprovalStatus.FAILED,
}


def approval_status(approval: VelerianApproval) -> ApprovalStatus:
    """govflow's status for a Velerian approval.

    Known words map directly. A status govflow does not know yet is never taken as approved:
    while the approval has no ``decided_at`` it is PENDING (an intermediate state such as
    "escalated" may still end in a decision, so waiting goes on); once decided it is FAILED, so
    a waiting step stops with the platform's raw status in the error instead of waiting forever.
    """
    known = _STATUSES.get(approval.status.strip().lower())
    if known is not None:
        return known
    return ApprovalStatus.FAILED if approval.decided_at else ApprovalStatus.PENDING


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset) as an aware datetime; None if unparseable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def format_timestamp(value: str | datetime) -> str:
    """A query timestamp: strings pass unchanged; datetimes become UTC ISO 8601 with ``Z``.

    A naive datetime is taken as UTC (Airflow and Dagster hand out aware ones anyway).
    """
    if isinstance(value, str):
        return value
    moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


__all__ = [
    "EvidenceExport",
    "InvokeResult",
    "Page",
    "UsageSummary",
    "VelerianApproval",
    "VelerianModel",
    "approval_status",
    "format_timestamp",
    "page_from_body",
    "parse_timestamp",
]
