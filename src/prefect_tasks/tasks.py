"""Prefect tasks: gate a step, wait for an approval, validate records against a data contract.

``gate`` returns the decision as a JSON-able dict when allowed. A denial raises
:class:`GovernanceDenied`: the task is declared with ``retries=0`` and a retry condition that never
retries a governance decision, so even ``gate.with_options(retries=3)`` fails at once on deny
(a decision is not a transient error). Pending decisions are waited for in the task (core
``wait_for_approval``) and then gated again with the approval id.

``gate_with_pause`` is a flow-level helper (Prefect pauses flows, not tasks): it gates without
waiting and, when the decision is pending, pauses the flow run until it is resumed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from prefect import task

from ..core.approvals import wait_for_approval as _core_wait_for_approval
from ..core.errors import ApprovalDeniedError
from ..core.evidence.recorder import EvidenceRecorder
from ..core.models import Approval, Decision, GateRequest, RunContext, ValidationReport
from ..core.models import decision_summary as decision_json
from ..core.sync import run_sync as _run_sync

if TYPE_CHECKING:
    from .blocks import GovflowPlatformBlock

T = TypeVar("T")


class GovernanceDenied(Exception):
    """The platform said no (or a human denied the approval): fail, never retry."""


class ContractViolation(Exception):
    """More records failed their data contract than the task allows: fail, never retry."""


def _never_retry_decisions(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: transient errors may retry, governance decisions never do."""
    try:
        state.result()
    except (GovernanceDenied, ContractViolation):
        return False
    except Exception:
        return True
    return True


def run_context() -> RunContext:
    """The govflow identity of the current Prefect task run, from ``prefect.runtime``."""
    from prefect.runtime import flow_run, task_run

    run_id = flow_run.id or task_run.id or "manual"
    return RunContext(
        orchestrator="prefect",
        pipeline=str(flow_run.flow_name or "adhoc"),
        run_id=str(run_id),
        step=task_run.name or None,
        attempt=int(task_run.run_count or 1),
    )


def _request(
    action: str,
    resource: str | None,
    payload: Any,
    labels: Mapping[str, Any] | None,
    approval_id: str | None = None,
) -> GateRequest:
    return GateRequest(
        action=action,
        resource=resource,
        payload=payload,
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        approval_id=approval_id,
    )


async def agate(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    *,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
    context: RunContext | None = None,
) -> tuple[Decision, Approval | None]:
    """Gate once (``wait``: and, if pending, wait for the approval and gate again)."""
    ctx = context or run_context()
    request = _request(action, resource, payload, labels)
    async with platform_block.get_platform() as platform:
        decision = await platform.gate(ctx, request)
        if not (wait and decision.pending and decision.approval_id):
            return decision, None
        try:
            approval = await _core_wait_for_approval(
                platform, decision.approval_id, timeout=approval_timeout, poll=poll
            )
        except ApprovalDeniedError as exc:
            raise GovernanceDenied(f"{action}: {exc}") from exc
        again = request.model_copy(update={"approval_id": decision.approval_id})
        return await platform.gate(ctx, again), approval


def _finish(action: str, decision: Decision, approval: Approval | None) -> dict[str, Any]:
    if decision.denied:
        raise GovernanceDenied(
            f"{action} denied by {decision.platform}: {decision.reason or 'no reason given'}"
        )
    if decision.pending:
        raise GovernanceDenied(
            f"{action} is pending approval {decision.approval_id}: "
            f"{decision.reason or 'no reason given'}"
        )
    return decision_json(decision, approval.model_dump(mode="json") if approval else None)


@task(name="govflow-gate", retries=0, retry_condition_fn=_never_retry_decisions)
def gate(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Gate ``action``; the decision dict when allowed, :class:`GovernanceDenied` otherwise.

    Works from sync and async flows. With ``wait`` a pending decision is waited for (up to
    ``approval_timeout`` seconds) and gated again with the approval id.
    """
    decision, approval = _run_sync(
        agate(
            platform_block,
            action,
            resource,
            payload,
            labels,
            wait=wait,
            approval_timeout=approval_timeout,
            poll=poll,
        )
    )
    return _finish(action, decision, approval)


@task(name="govflow-wait-for-approval", retries=0, retry_condition_fn=_never_retry_decisions)
async def wait_for_approval(
    platform_block: GovflowPlatformBlock,
    approval_id: str,
    timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Wait until ``approval_id`` is approved; the approval as a dict. Denied -> GovernanceDenied."""
    async with platform_block.get_platform() as platform:
        try:
            approval = await _core_wait_for_approval(
                platform, approval_id, timeout=timeout, poll=poll
            )
        except ApprovalDeniedError as exc:
            raise GovernanceDenied(str(exc)) from exc
    return approval.model_dump(mode="json")


@task(name="govflow-validate-records", retries=0, retry_condition_fn=_never_retry_decisions)
def validate_records(
    platform_block: GovflowPlatformBlock,
    contract_id: str,
    records: Iterable[Mapping[str, Any]],
    version: str | None = None,
    max_failed: int = 0,
) -> dict[str, Any]:
    """Validate ``records`` against ``contract_id``; the report dict, or ContractViolation when
    more than ``max_failed`` records fail."""
    rows = [dict(r) for r in records]
    ctx = run_context()

    async def go() -> ValidationReport:
        async with platform_block.get_platform() as platform:
            return await platform.validate(contract_id, rows, version=version, context=ctx)

    report = _run_sync(go())
    if report.failed > max_failed:
        raise ContractViolation(
            f"contract {report.contract_id}: {report.failed}/{report.total} records failed; "
            f"over the threshold max_failed={max_failed}"
        )
    return report.model_dump(mode="json", exclude={"raw"})


@task(name="govflow-record-evidence")
def record_evidence(
    event: str,
    outcome: str,
    *,
    decision: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record one evidence record for the current run (e.g. a decision made outside govflow).

    Returns the sealed record as JSON, or None when it could not be written: evidence never fails
    a run (the recorder logs instead).
    """
    references = {f"decision.{k}": str(v) for k, v in (decision or {}).items() if v is not None and k != "raw"}
    record = EvidenceRecorder().record(
        run_context(), event=event, outcome=outcome, references=references, details=dict(details or {})
    )
    return record.model_dump(mode="json") if record is not None else None


def gate_with_pause(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    timeout: int = 3600,
    poll_interval: int = 10,
) -> dict[str, Any]:
    """Call from a (sync) FLOW: gate; when pending, pause the flow run until someone resumes it.

    After the resume the gate is asked again with the approval id, so the platform (not the
    resume button) has the last word. Deny -> :class:`GovernanceDenied`.
    """
    from prefect.flow_runs import pause_flow_run

    decision, _ = _run_sync(agate(platform_block, action, resource, payload, labels, wait=False))
    if decision.pending and decision.approval_id:
        pause_flow_run(timeout=timeout, poll_interval=poll_interval)
        decision, _ = _run_sync(
            _regate(platform_block, action, resource, payload, labels, decision.approval_id)
        )
    return _finish(action, decision, None)


async def _regate(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None,
    payload: Any,
    labels: Mapping[str, Any] | None,
    approval_id: str,
) -> tuple[Decision, None]:
    async with platform_block.get_platform() as platform:
        request = _request(action, resource, payload, labels, approval_id)
        return await platform.gate(run_context(), request), None


__all__ = [
    "ContractViolation",
    "GovernanceDenied",
    "agate",
    "decision_json",
    "gate",
    "gate_with_pause",
    "run_context",
    "validate_records",
    "wait_for_approval",
]
