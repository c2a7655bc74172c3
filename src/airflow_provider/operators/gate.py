"""Gate operators: ask a governance platform whether a step may run (and, where it executes, run it).

allow -> the decision (JSON) is the task's return value and is pushed under ``govflow_decision``
(the evidence listener reads it). deny -> :class:`AirflowFailException` (a decision: no retries).
pending -> defer on :class:`ApprovalTrigger`; once approved, gate again with the approval id, as
the core Governor does. An expired or unanswered approval raises :class:`AirflowException`, so
``retries`` apply: nobody decided against the step, and a retry asks again; set ``retries=0`` if
an unanswered request must end the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ...core.approvals import gate_and_wait
from ...core.errors import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    ApprovalTimeoutError,
)
from ...core.models import Approval, Decision, GateRequest, RunContext
from ...core.models import decision_summary as decision_json
from ...core.platforms.base import Platform
from ..hooks._base import run_sync
from ..links import (
    GovernanceEvidenceLink,
    LatchGateReceiptLink,
    VelerianEvidenceLink,
)
from ..listeners.evidence import record_decision
from ..triggers.approval import ApprovalTrigger, platform_from_conn_id

# Extra time the defer timeout allows after the trigger's own deadline, so the trigger's clear
# "timeout" event arrives before Airflow's generic TaskDeferralTimeout.
_DEFER_MARGIN = 60.0


def run_context(context: Mapping[str, Any], task: BaseOperator) -> RunContext:
    """The govflow identity of this task run."""
    ti = context.get("ti") or context.get("task_instance")
    map_index = getattr(ti, "map_index", None)
    return RunContext(
        orchestrator="airflow",
        pipeline=task.dag_id,
        run_id=str(context.get("run_id") or getattr(ti, "run_id", None) or "manual"),
        step=task.task_id,
        attempt=int(getattr(ti, "try_number", None) or 1),
        map_index=map_index if isinstance(map_index, int) and map_index >= 0 else None,
    )


class GovernanceGateOperator(BaseOperator):
    """Gate a step through the platform of connection ``conn_id`` (any govflow connection type).

    ``approval_timeout`` (seconds) bounds the wait for a human; ``deferrable=False`` waits in the
    worker instead of the triggerer.
    """

    template_fields: Sequence[str] = ("action", "resource", "purpose", "labels", "payload")
    template_fields_renderers: ClassVar[dict[str, str]] = {"payload": "json", "labels": "json"}
    operator_extra_links = (GovernanceEvidenceLink(),)
    ui_color = "#dfe8f7"
    # Whether a pending decision may be waited for in the triggerer (False: session-bound approvals).
    can_defer: ClassVar[bool] = True

    def __init__(
        self,
        *,
        action: str,
        resource: str | None = None,
        purpose: str | None = None,
        labels: Mapping[str, str] | None = None,
        payload: Any = None,
        conn_id: str = "govflow_local_default",
        deferrable: bool = True,
        poll_interval: float = 5.0,
        approval_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.resource = resource
        self.purpose = purpose
        self.labels = dict(labels) if labels is not None else None
        self.payload = payload
        self.conn_id = conn_id
        self.deferrable = deferrable and self.can_defer
        self.poll_interval = poll_interval
        self.approval_timeout = approval_timeout

    # --- building blocks -----------------------------------------------------------------------

    def get_platform(self) -> Platform:
        """The platform of ``conn_id``; subclasses adjust it (which ABP, which operation)."""
        return platform_from_conn_id(self.conn_id)

    def gate_request(self, approval_id: str | None = None) -> GateRequest:
        labels = {str(k): str(v) for k, v in (self.labels or {}).items()}
        return GateRequest(
            action=self.action,
            resource=self.resource,
            purpose=self.purpose,
            labels=labels,
            payload=self.payload,
            approval_id=approval_id,
        )

    def _gate(
        self, context: Any, approval_id: str | None = None, *, wait: bool = False
    ) -> tuple[Decision, Approval | None]:
        """Gate once (``wait``: and, if pending, wait here for the approval and gate again)."""
        ctx = run_context(context, self)
        request = self.gate_request(approval_id)
        platform = self.get_platform()

        async def go() -> tuple[Decision, Approval | None]:
            async with platform:
                return await gate_and_wait(
                    platform,
                    ctx,
                    request,
                    wait=wait,
                    timeout=self.approval_timeout,
                    poll=self.poll_interval,
                    max_poll=max(60.0, self.poll_interval),
                    on_wait=lambda pending: self.log.info(
                        "%s needs approval %s; waiting in the worker", self.action, pending.approval_id
                    ),
                )

        try:
            return run_sync(go())
        except ApprovalDeniedError as exc:
            raise AirflowFailException(f"{self.action}: {exc}") from exc
        except (ApprovalExpiredError, ApprovalTimeoutError, ApprovalFailedError) as exc:
            raise AirflowException(f"{self.action}: {exc}") from exc

    def _finish(
        self, context: Any, decision: Decision, approval: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if decision.denied:
            raise AirflowFailException(
                f"{self.action} denied by {decision.platform}: "
                f"{decision.reason or 'no reason given'}"
            )
        if decision.pending:
            raise AirflowException(
                f"{self.action} is still pending approval {decision.approval_id} after it was "
                f"approved: {decision.reason or 'no reason given'}"
            )
        result = decision_json(decision, approval)
        self.log.info(
            "%s allowed by %s (decision %s): %s",
            self.action,
            decision.platform,
            decision.decision_id,
            decision.reason,
        )
        record_decision(context["ti"], result)
        return result

    # --- Airflow entry points ------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        decision, approval = self._gate(context, wait=not self.deferrable)
        if decision.pending and self.deferrable and decision.approval_id:
            self.log.info(
                "%s needs approval %s (%s); deferring",
                self.action,
                decision.approval_id,
                decision.reason,
            )
            deadline = (
                None if self.approval_timeout is None else time.time() + self.approval_timeout
            )
            self.defer(
                trigger=ApprovalTrigger(
                    decision.approval_id,
                    {"conn_id": self.conn_id},
                    poll_interval=self.poll_interval,
                    max_poll=max(60.0, self.poll_interval),
                    deadline=deadline,
                ),
                method_name="execute_complete",
                timeout=None
                if self.approval_timeout is None
                else timedelta(seconds=self.approval_timeout + _DEFER_MARGIN),
            )
        return self._finish(
            context, decision, approval.model_dump(mode="json") if approval else None
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event:
            raise AirflowException(f"{self.action}: the approval trigger sent no event")
        status = event.get("status")
        approval_id = event.get("approval_id")
        approval = event.get("approval") or {}
        if status == "approved":
            self.log.info(
                "approval %s granted by %s; gating again", approval_id, approval.get("decided_by")
            )
            decision, _ = self._gate(context, approval_id)
            return self._finish(context, decision, approval)
        if status == "denied":
            who = approval.get("decided_by") or "an approver"
            comment = approval.get("comment") or "no comment"
            raise AirflowFailException(
                f"{self.action}: approval {approval_id} was denied by {who}: {comment}"
            )
        message = event.get("message") or f"approval {approval_id} ended as {status!r}"
        raise AirflowException(f"{self.action}: {message}")


class VelerianInvokeOperator(GovernanceGateOperator):
    """Invoke Velerian ABP ``abp_id`` with ``payload``; its output is in the XCom decision."""

    operator_extra_links = (VelerianEvidenceLink(),)

    def __init__(
        self,
        *,
        abp_id: str,
        payload: Any = None,
        conn_id: str = "velerian_default",
        action: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            action=action or f"invoke:{abp_id}", payload=payload, conn_id=conn_id, **kwargs
        )
        self.abp_id = abp_id

    template_fields: Sequence[str] = (*GovernanceGateOperator.template_fields, "abp_id")

    def get_platform(self) -> Platform:
        platform = super().get_platform()
        abps = getattr(platform, "abps", None)
        if not isinstance(abps, dict):
            raise AirflowFailException(
                f"connection {self.conn_id!r} is not a Velerian connection ({type(platform).__name__})"
            )
        abps[self.action] = self.abp_id
        return platform


class LattixGateOperator(GovernanceGateOperator):
    """Ask Lattix whether ``operation`` (protect, access, rewrap) on ``resource`` may happen."""

    def __init__(
        self,
        *,
        operation: str,
        resource: str,
        conn_id: str = "lattix_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(action=operation, resource=resource, conn_id=conn_id, **kwargs)

    @property
    def operation(self) -> str:
        return self.action


class LatchGateExecuteOperator(GovernanceGateOperator):
    """Execute LatchGate action ``action`` with ``payload``; the receipt is in the XCom decision.

    Never defers: a LatchGate approval can only be polled by the lease session that got the 202,
    so the worker waits for it in-process, then gates again.
    """

    operator_extra_links = (LatchGateReceiptLink(),)
    can_defer: ClassVar[bool] = False

    def __init__(
        self,
        *,
        action: str,
        payload: Any = None,
        conn_id: str = "latchgate_default",
        approval_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("deferrable", None)
        super().__init__(
            action=action,
            payload=payload,
            conn_id=conn_id,
            approval_timeout=approval_timeout,
            deferrable=False,
            **kwargs,
        )


__all__ = [
    "GovernanceGateOperator",
    "LatchGateExecuteOperator",
    "LattixGateOperator",
    "VelerianInvokeOperator",
    "decision_json",
    "run_context",
]
