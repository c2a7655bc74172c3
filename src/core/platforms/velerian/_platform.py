"""Velerian as a govflow platform: the gate invokes a pack, approvals are Velerian's approvals."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import ApprovalBindingError, ConfigurationError
from ...models import Approval, ApprovalStatus, Decision, DecisionOutcome, GateRequest, RunContext
from ..base import Capability, Platform
from ._client import VelerianClient
from ._errors import PLATFORM
from ._models import InvokeResult, VelerianApproval, approval_status, parse_timestamp

logger = logging.getLogger("govflow.velerian")


class VelerianPlatform(Platform):
    """Gate steps through governed invocations of Velerian ABPs; wait on Velerian approvals.

    ```python
    async with VelerianPlatform(abps={"summarize": summarizer_abp}) as velerian:
        decision = await velerian.gate(context, GateRequest(action="summarize", payload={...}))
    ```

    **Which ABP.** ``abps[request.action]`` if the action is mapped, else ``abp_id``; a request
    matching neither is a ConfigurationError naming the action. ``request.resource`` keeps its
    meaning on every platform (what the step acts on), so one GateRequest works unchanged on
    the local platform and on Velerian; which pack governs an action is platform configuration.

    **What is sent.** ``request.payload`` as the invocation's ``payload`` (``{}`` when None),
    nothing added: the body has no room for metadata besides the pack's own input, and an extra
    key (say ``_govflow``) would change what the pack sees and what its evidence pack hashes.
    The run's identity goes into govflow's own evidence instead, next to the references below.

    **The decision.** ``requires_human`` -> PENDING with ``approval_id``; ``is_allowed`` ->
    ALLOW with the pack's ``output``, ``aggregated_conditions`` as obligations; anything else
    (withheld, blocked, a model error, an outcome govflow does not know) -> DENY with a reason
    built from the outcome, the model error and the conditions. ``decision_id`` is the
    invocation id; ``references`` carry ``abp_id``, ``invocation_id``, ``outcome``,
    ``evidence_pack_id`` and ``evidence_pack_chain_hash``; ``raw`` is Velerian's whole answer.

    **After an approval.** Velerian holds the invocation itself and an approval releases it;
    invoking again would create a new invocation held for a new approval. So a request that
    carries ``approval_id`` (the Governor sets it on its re-call after the wait; an adapter
    resuming a deferred task sets it from the trigger's event) is answered from that approval
    and invokes nothing: approved -> ALLOW referencing the approval and the held invocation;
    denied or failed -> DENY; still pending -> PENDING on the same approval; expired -> a fresh
    invocation, i.e. a new approval request. An approval for another ABP raises
    ApprovalBindingError. Velerian approvals record no run identity, so binding an approval to
    its run is the caller's part: pass only the approval id this run obtained.
    """

    name = PLATFORM
    capabilities = frozenset({Capability.GATE, Capability.APPROVALS})

    def __init__(
        self,
        client: VelerianClient | None = None,
        *,
        abp_id: str | None = None,
        abps: Mapping[str, str] | None = None,
        **client_options: Any,
    ) -> None:
        if client is not None and client_options:
            raise ConfigurationError(
                f"pass either a VelerianClient or client options ({', '.join(client_options)}), not both",
                platform=PLATFORM,
            )
        self._owns_client = client is None
        self.client = client if client is not None else VelerianClient(**client_options)
        self.abp_id = abp_id
        self.abps = dict(abps or {})

    def __repr__(self) -> str:
        return f"VelerianPlatform(base_url={self.client.base_url!r}, abp_id={self.abp_id!r}, abps={self.abps!r})"

    def abp_for(self, request: GateRequest) -> str:
        """The ABP that governs ``request`` (see the class docstring)."""
        abp = self.abps.get(request.action) or self.abp_id
        if not abp:
            mapped = ", ".join(sorted(self.abps)) or "none"
            raise ConfigurationError(
                f"no Velerian ABP for action {request.action!r}: pass abp_id=... or "
                f"abps={{{request.action!r}: '<abp id>'}} to VelerianPlatform (mapped actions: {mapped})",
                platform=PLATFORM,
            )
        return abp

    # --- gate ----------------------------------------------------------------------------------

    async def gate(self, context: RunContext, request: GateRequest) -> Decision:
        abp_id = self.abp_for(request)
        if request.approval_id:
            decision = await self._gate_with_approval(request, request.approval_id, abp_id)
            if decision is not None:
                return decision
        payload = request.payload if request.payload is not None else {}
        result = await self.client.invoke_abp(abp_id, payload)
        logger.debug(
            "%s/%s %s: ABP %s invocation %s -> %s",
            context.pipeline,
            context.run_id,
            request.action,
            abp_id,
            result.invocation_id,
            result.outcome,
        )
        return decision_from_invoke(result, abp_id)

    async def _gate_with_approval(
        self, request: GateRequest, approval_id: str, abp_id: str
    ) -> Decision | None:
        """The answer an existing approval gives, or None to invoke afresh (it expired)."""
        approval = await self.client.get_approval(approval_id)
        if approval.abp_id is not None and approval.abp_id != abp_id:
            raise ApprovalBindingError(
                f"approval {approval_id} was granted for ABP {approval.abp_id}, not for "
                f"{abp_id} (action {request.action!r})",
                platform=PLATFORM,
                approval_id=approval_id,
            )
        status = approval_status(approval)
        references = _compact(
            {
                "platform": PLATFORM,
                "abp_id": approval.abp_id or abp_id,
                "approval_id": approval.id,
                "approval_status": approval.status,
                "invocation_id": approval.invocation_id,
                "evidence_pack_id": approval.evidence_pack_id,
            }
        )
        who = approval.decided_by or "an approver"
        comment = f": {approval.reason}" if approval.reason else ""
        if status is ApprovalStatus.EXPIRED:
            logger.info("approval %s expired; invoking ABP %s again for a new one", approval_id, abp_id)
            return None
        if status is ApprovalStatus.APPROVED:
            extra = approval.model_extra or {}
            return Decision(
                outcome=DecisionOutcome.ALLOW,
                platform=PLATFORM,
                reason=f"approval {approval_id} approved by {who}{comment}",
                decision_id=approval.invocation_id or approval.id,
                approval_id=approval.id,
                output=extra.get("output"),
                references=references,
                raw=approval.raw,
            )
        if status is ApprovalStatus.PENDING:
            return Decision(
                outcome=DecisionOutcome.PENDING,
                platform=PLATFORM,
                reason=f"approval {approval_id} is still {approval.status}",
                decision_id=approval.invocation_id or approval.id,
                approval_id=approval.id,
                references=references,
                raw=approval.raw,
            )
        verb = "denied" if status is ApprovalStatus.DENIED else f"ended as {approval.status!r}"
        return Decision(
            outcome=DecisionOutcome.DENY,
            platform=PLATFORM,
            reason=f"approval {approval_id} {verb} by {who}{comment}",
            decision_id=approval.invocation_id or approval.id,
            approval_id=approval.id,
            references=references,
            raw=approval.raw,
        )

    # --- approvals -----------------------------------------------------------------------------

    async def get_approval(self, approval_id: str) -> Approval:
        return to_core_approval(await self.client.get_approval(approval_id))

    # --- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> VelerianPlatform:
        return self


def decision_from_invoke(result: InvokeResult, abp_id: str) -> Decision:
    """govflow's Decision for an invocation's answer (see :class:`VelerianPlatform`)."""
    references = _compact(
        {
            "platform": PLATFORM,
            "abp_id": abp_id,
            "invocation_id": result.invocation_id,
            "outcome": result.outcome,
            "evidence_pack_id": result.evidence_pack_id,
            "evidence_pack_chain_hash": result.evidence_pack_chain_hash,
        }
    )
    conditions = _conditions(result.aggregated_conditions, failing_only=False)
    if result.requires_human:
        if result.approval_id:
            reason = f"held for human approval {result.approval_id}"
            references["approval_id"] = result.approval_id
        else:
            reason = "held for human approval, but Velerian gave no approval_id to wait on"
        if conditions:
            reason += f" ({conditions})"
        return Decision(
            outcome=DecisionOutcome.PENDING,
            platform=PLATFORM,
            reason=reason,
            decision_id=result.invocation_id,
            approval_id=result.approval_id,
            references=references,
            raw=result.raw,
        )
    if result.is_allowed:
        reason = f"outcome {result.outcome!r}"
        if conditions:
            reason += f"; conditions: {conditions}"
        return Decision(
            outcome=DecisionOutcome.ALLOW,
            platform=PLATFORM,
            reason=reason,
            decision_id=result.invocation_id,
            obligations=list(result.aggregated_conditions),
            output=result.output,
            references=references,
            raw=result.raw,
        )
    parts = [f"outcome {result.outcome!r}" + (" (withheld)" if result.withheld else "")]
    if result.model_error:
        parts.append(f"model error: {result.model_error}")
    failing = _conditions(result.aggregated_conditions, failing_only=True) or conditions
    if failing:
        parts.append(f"conditions: {failing}")
    return Decision(
        outcome=DecisionOutcome.DENY,
        platform=PLATFORM,
        reason="; ".join(parts),
        decision_id=result.invocation_id,
        references=references,
        raw=result.raw,
    )


def to_core_approval(approval: VelerianApproval) -> Approval:
    """govflow's Approval for a Velerian one (statuses as in :func:`approval_status`)."""
    status = approval_status(approval)
    comment = approval.reason
    if status is ApprovalStatus.FAILED or (
        status is ApprovalStatus.PENDING and approval.status.strip().lower() != "pending"
    ):
        # A status govflow had to interpret: keep Velerian's word where people will read it.
        note = f"Velerian status {approval.status!r}"
        comment = f"{note}: {comment}" if comment else note
    return Approval(
        id=approval.id,
        status=status,
        platform=PLATFORM,
        decided_by=approval.decided_by,
        decided_at=parse_timestamp(approval.decided_at),
        comment=comment,
        created_at=parse_timestamp(approval.requested_at),
        expires_at=parse_timestamp(approval.expires_at),
        resource=approval.abp_id,
        raw=approval.raw,
    )


def _conditions(conditions: list[Any], *, failing_only: bool) -> str:
    """``restricted-data (block), ...``; with ``failing_only`` only those not satisfied."""
    names = []
    for item in conditions:
        if not isinstance(item, dict):
            if not failing_only:
                names.append(str(item))
            continue
        if failing_only and item.get("satisfied") is not False:
            continue
        name = str(item.get("constraint_id") or item.get("id") or "condition")
        effect = item.get("effect")
        names.append(f"{name} ({effect})" if effect else name)
    return ", ".join(names)


def _compact(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


__all__ = ["VelerianPlatform", "decision_from_invoke", "to_core_approval"]
