"""LatchGate as a govflow platform: the gate executes an action, approvals are LatchGate's."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import ApprovalBindingError, ConfigurationError
from ...models import Approval, ApprovalStatus, Decision, DecisionOutcome, GateRequest, RunContext
from ..base import Capability, Platform
from ._client import LatchGateClient, encode_params
from ._errors import (
    PLATFORM,
    LatchGateApprovalNotFoundError,
    LatchGateApprovalRequiredError,
    LatchGateDeniedError,
)
from ._models import ActionResult, ExecutionReceipt, LatchGateApproval

logger = logging.getLogger("govflow.latchgate")


class LatchGatePlatform(Platform):
    """Gate steps by executing LatchGate actions; wait on LatchGate approvals.

    ```python
    async with LatchGatePlatform(base_url="http://localhost:3000") as gate:
        decision = await gate.gate(context, GateRequest(action="http_fetch", payload={"url": url}))
        if decision.allowed:
            print(decision.output)
    ```

    **Which action.** ``actions[request.action]`` when mapped, else ``request.action`` itself is
    the LatchGate action id. ``request.payload`` (a JSON object, ``{}`` when None) is the
    action's params, sent as they are.

    **The decision.** The gate decides *and executes*: 200 -> ALLOW with the action's ``output``;
    ``decision_id`` is the trace id, ``references`` carry ``action_id``, ``receipt_id``,
    ``trace_id``, ``grant_id``, ``request_hash``, ``verification`` and ``fully_successful``.
    202 -> PENDING with ``approval_id``. A policy denial (403, budget included) -> DENY with the
    gate's reason and its code in ``references["code"]``. Other failures raise (auth, gate
    unavailable, ...): they are not decisions.

    **After an approval** (``request.approval_id`` set: the Governor's re-call after the wait, or
    an adapter resuming): LatchGate's approval is one-shot execution. The operator's approve
    runs the held request itself, and the poll then names that execution's ``receipt_id``.
    Executing again would run the action a second time (or ask for a second approval), so the
    re-call executes nothing: approved -> ALLOW with the receipt's provider output and
    references; pending -> PENDING; denied or failed -> DENY; expired (or gone from the gate)
    -> a fresh execute, i.e. a new approval request. An approval this client received for
    another action or other params raises ApprovalBindingError.

    **Binding to a session.** The gate shows an approval only to the lease session that received
    the 202, so :meth:`get_approval` works from the client (and lease) that gated the step. The
    client keeps that lease for polling while it lives. When it has expired,
    :class:`LatchGateApprovalNotFoundError` says so instead of a misleading "expired".
    """

    name = PLATFORM
    capabilities = frozenset({Capability.GATE, Capability.APPROVALS})

    def __init__(
        self,
        client: LatchGateClient | None = None,
        *,
        actions: Mapping[str, str] | None = None,
        **client_options: Any,
    ) -> None:
        if client is not None and client_options:
            raise ConfigurationError(
                f"pass either a LatchGateClient or client options ({', '.join(client_options)}), not both",
                platform=PLATFORM,
            )
        self._owns_client = client is None
        self.client = client if client is not None else LatchGateClient(**client_options)
        self.actions = dict(actions or {})

    def __repr__(self) -> str:
        return f"LatchGatePlatform({self.client!r}, actions={self.actions!r})"

    def action_for(self, request: GateRequest) -> str:
        """The LatchGate action id for ``request`` (see the class docstring)."""
        return self.actions.get(request.action, request.action)

    # --- gate ----------------------------------------------------------------------------------

    async def gate(self, context: RunContext, request: GateRequest) -> Decision:
        action_id = self.action_for(request)
        params = _params(request)
        if request.approval_id:
            decision = await self._gate_with_approval(request.approval_id, action_id, params)
            if decision is not None:
                return decision
        try:
            result = await self.client.execute(action_id, params)
        except LatchGateApprovalRequiredError as exc:
            logger.debug("%s/%s %s: approval %s", context.pipeline, context.run_id, action_id, exc.approval_id)
            return decision_from_pending(exc)
        except LatchGateDeniedError as exc:
            logger.debug("%s/%s %s: denied (%s)", context.pipeline, context.run_id, action_id, exc.code)
            return decision_from_denial(exc)
        logger.debug(
            "%s/%s %s: executed, receipt %s", context.pipeline, context.run_id, action_id, result.receipt_id
        )
        return decision_from_result(result, action_id)

    async def _gate_with_approval(
        self, approval_id: str, action_id: str, params: dict[str, Any] | None
    ) -> Decision | None:
        """The answer an approval gives, or None to execute afresh (it expired)."""
        pending = self.client.pending_approval(approval_id)
        if pending is not None:
            _, request_hash = encode_params(params, action_id)
            if pending.action_id != action_id or (
                pending.request_hash and request_hash and pending.request_hash != request_hash
            ):
                what = "action" if pending.action_id != action_id else "params"
                raise ApprovalBindingError(
                    f"approval {approval_id} was asked for action {pending.action_id!r} with "
                    f"request_hash {pending.request_hash}; this request differs in its {what} "
                    f"(action {action_id!r}, request_hash {request_hash})",
                    platform=PLATFORM,
                    approval_id=approval_id,
                )
        try:
            approval = await self.client.get_approval_status(approval_id)
        except LatchGateApprovalNotFoundError as exc:
            if exc.session_alive:
                logger.info("approval %s is gone from the gate (expired); executing %s again", approval_id, action_id)
                return None
            raise
        references = _compact(
            {
                "platform": PLATFORM,
                "action_id": action_id,
                "approval_id": approval_id,
                "approval_status": approval.status,
                "trace_id": pending.trace_id if pending else None,
                "request_hash": pending.request_hash if pending else None,
            }
        )
        decision_id = (pending.trace_id if pending else None) or approval_id
        status = approval.core_status
        if status is ApprovalStatus.EXPIRED:
            logger.info("approval %s expired; executing %s again for a new one", approval_id, action_id)
            return None
        if status is ApprovalStatus.PENDING:
            return Decision(
                outcome=DecisionOutcome.PENDING,
                platform=PLATFORM,
                reason=f"approval {approval_id} is still pending",
                decision_id=decision_id,
                approval_id=approval_id,
                references=references,
                raw=approval.raw,
            )
        if status is ApprovalStatus.APPROVED:
            return await self._approved(approval, references, decision_id)
        verb = "denied" if status is ApprovalStatus.DENIED else "failed"
        return Decision(
            outcome=DecisionOutcome.DENY,
            platform=PLATFORM,
            reason=f"approval {approval_id} {verb}: {approval.reason or 'no reason given'}",
            decision_id=decision_id,
            approval_id=approval_id,
            references=references,
            raw=approval.raw,
        )

    async def _approved(
        self, approval: LatchGateApproval, references: dict[str, str], decision_id: str
    ) -> Decision:
        # The operator's approve executed the action: its receipt holds the output.
        if not approval.receipt_id:
            return Decision(
                outcome=DecisionOutcome.ALLOW,
                platform=PLATFORM,
                reason=f"approval {approval.approval_id} approved; the gate named no receipt of the "
                "execution it triggered, so there is no output (the action is not executed again)",
                decision_id=decision_id,
                approval_id=approval.approval_id,
                references=references,
                raw={"approval": approval.raw},
            )
        receipt = await self.client.get_receipt(approval.receipt_id)
        references.update(_receipt_references(receipt))
        success = "" if receipt.is_fully_successful else f" (not fully successful: {_receipt_outcome(receipt)})"
        return Decision(
            outcome=DecisionOutcome.ALLOW,
            platform=PLATFORM,
            reason=f"approval {approval.approval_id} approved; executed by the approval, receipt "
            f"{receipt.receipt_id}{success}",
            decision_id=decision_id,
            approval_id=approval.approval_id,
            output=receipt.provider_receipt,
            references=references,
            raw={"approval": approval.raw, "receipt": receipt.raw},
        )

    # --- approvals -----------------------------------------------------------------------------

    async def get_approval(self, approval_id: str) -> Approval:
        """One poll as govflow's Approval; a 404 on the creating session is EXPIRED."""
        pending = self.client.pending_approval(approval_id)
        action = pending.action_id if pending is not None else None
        try:
            approval = await self.client.get_approval_status(approval_id)
        except LatchGateApprovalNotFoundError as exc:
            if not exc.session_alive:
                raise
            return Approval(
                id=approval_id,
                status=ApprovalStatus.EXPIRED,
                platform=PLATFORM,
                comment="the gate no longer has it (pending approvals expire after 300 s)",
                action=action,
                raw=exc.body,
            )
        return to_core_approval(approval, action=action)

    # --- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> LatchGatePlatform:
        return self


def decision_from_result(result: ActionResult, action_id: str) -> Decision:
    """ALLOW for an executed action (see :class:`LatchGatePlatform`)."""
    references = _compact(
        {
            "platform": PLATFORM,
            "action_id": result.action_id or action_id,
            "receipt_id": result.receipt_id,
            "trace_id": result.trace_id,
            "grant_id": result.grant_id,
            "request_hash": result.request_hash,
            "verification": result.outcome,
            "fully_successful": "true" if result.is_fully_successful else "false",
        }
    )
    reason = f"executed (receipt {result.receipt_id}"
    reason += f", verification {result.outcome})" if result.outcome else ")"
    return Decision(
        outcome=DecisionOutcome.ALLOW,
        platform=PLATFORM,
        reason=reason,
        decision_id=result.trace_id,
        output=result.output,
        references=references,
        raw=result.raw,
    )


def decision_from_pending(error: LatchGateApprovalRequiredError) -> Decision:
    """PENDING for a 202 (the approval id, the gate's trace id and request hash in references)."""
    return Decision(
        outcome=DecisionOutcome.PENDING,
        platform=PLATFORM,
        reason=f"action {error.action_id!r} waits for a human approval ({error.approval_id})",
        decision_id=error.trace_id,
        approval_id=error.approval_id,
        references=_compact(
            {
                "platform": PLATFORM,
                "action_id": error.action_id,
                "approval_id": error.approval_id,
                "trace_id": error.trace_id,
                "request_hash": error.request_hash,
            }
        ),
        raw=error.body,
    )


def decision_from_denial(error: LatchGateDeniedError) -> Decision:
    """DENY for a policy denial (budget exhaustion included); the gate's code in references."""
    return Decision(
        outcome=DecisionOutcome.DENY,
        platform=PLATFORM,
        reason=error.reason or error.code or "denied by policy",
        references=_compact(
            {
                "platform": PLATFORM,
                "action_id": error.action_id,
                "code": error.code,
                "deny_reason": error.deny_reason,
            }
        ),
        raw=error.body,
    )


def to_core_approval(approval: LatchGateApproval, *, action: str | None = None) -> Approval:
    """govflow's Approval for one poll; the poll names no approver, so ``decided_by`` stays None."""
    comment = approval.reason
    if approval.core_status is ApprovalStatus.FAILED and approval.status != "failed":
        note = f"LatchGate status {approval.status!r}"
        comment = f"{note}: {comment}" if comment else note
    return Approval(
        id=approval.approval_id,
        status=approval.core_status,
        platform=PLATFORM,
        comment=comment,
        action=action or approval.action_id or None,
        raw=approval.raw,
    )


def _params(request: GateRequest) -> dict[str, Any] | None:
    payload = request.payload
    if payload is None:
        return None
    if not isinstance(payload, Mapping):
        raise ConfigurationError(
            f"a LatchGate action takes a JSON object as params; the payload of {request.action!r} "
            f"is a {type(payload).__name__}",
            platform=PLATFORM,
        )
    return dict(payload)


def _receipt_outcome(receipt: ExecutionReceipt) -> str:
    kind = receipt.normalized_result.get("kind")
    status = receipt.verification_outcome.get("status")
    return f"result {kind}, verification {status}"


def _receipt_references(receipt: ExecutionReceipt) -> dict[str, str]:
    status = receipt.verification_outcome.get("status")
    return _compact(
        {
            "receipt_id": receipt.receipt_id,
            "grant_id": receipt.grant_id,
            "result_hash": receipt.result_hash,
            "verification": status if isinstance(status, str) else None,
            "fully_successful": "true" if receipt.is_fully_successful else "false",
        }
    )


def _compact(values: Mapping[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


__all__ = [
    "LatchGatePlatform",
    "decision_from_denial",
    "decision_from_pending",
    "decision_from_result",
    "to_core_approval",
]
