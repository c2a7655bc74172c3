"""Prefect tasks: gate a step, wait for an approval, validate records, record evidence.

One gate task per platform shape, each returning the decision as a JSON-able dict when allowed:

- :func:`gate`: any platform block, usually the local one (policy file, approvals, ledger);
- :func:`velerian_invoke`: invoke a Velerian ABP; its output is in ``decision["output"]``;
- :func:`lattix_gate`: a Lattix policy resolution or protection plan for an operation;
- :func:`latchgate_execute`: execute a LatchGate action; the receipt is in the references.

A denial raises :class:`GovernanceDenied` (with the decision attached). The tasks are declared
with ``retries=0`` and a retry condition that never retries a governance decision, so even
``gate.with_options(retries=3)`` fails at once on a deny: a decision is not a transient error.
A pending decision is waited for in the task (core ``wait_for_approval``, polling with backoff)
and then gated again with the approval id; for approvals that take hours, pause or suspend the
flow run instead (:mod:`govflow.prefect_tasks.approvals`).

The tasks are sync and work from sync and async flows alike (their platform calls run on govflow's
own event-loop thread, never on the flow's loop); :func:`agate` is the coroutine behind them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from prefect import task

from ..core.approvals import gate_and_wait
from ..core.approvals import wait_for_approval as _core_wait_for_approval
from ..core.errors import ApprovalDeniedError
from ..core.evidence.recorder import EvidenceRecorder
from ..core.models import Approval, Decision, GateRequest, RunContext, ValidationReport
from ..core.models import decision_summary as decision_json
from ..core.platforms.base import Platform
from ..core.sync import run_sync as _run_sync
from .context import remember, run_context

if TYPE_CHECKING:
    from .blocks import (
        GovflowPlatformBlock,
        LatchGateCredentials,
        LattixCredentials,
        VelerianCredentials,
    )


class GovernanceDenied(Exception):
    """The platform said no (or a human denied the approval): fail, never retry.

    ``decision`` is the decision as JSON (None when the denial came from the approval itself),
    ``approval_id`` the approval that was denied, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        decision: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.decision = dict(decision) if decision is not None else None
        self.approval_id = approval_id

    def __reduce__(self) -> Any:  # Prefect pickles exceptions into failed states
        return (_rebuild_denied, (str(self), self.decision, self.approval_id))


def _rebuild_denied(
    message: str, decision: dict[str, Any] | None, approval_id: str | None
) -> GovernanceDenied:
    return GovernanceDenied(message, decision=decision, approval_id=approval_id)


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


def gate_request(
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    approval_id: str | None = None,
) -> GateRequest:
    """The core request for one gate call; labels become strings."""
    return GateRequest(
        action=action,
        resource=resource,
        purpose=purpose,
        payload=payload,
        labels={str(k): str(v) for k, v in (labels or {}).items()},
        approval_id=approval_id,
    )


async def agate_on(
    platform: Platform,
    request: GateRequest,
    *,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
    context: RunContext | None = None,
) -> tuple[Decision, Approval | None]:
    """Gate ``request`` on an open ``platform`` once (``wait``: and, if pending, wait for the
    approval and gate again with its id). A denied approval raises :class:`GovernanceDenied`."""
    try:
        return await gate_and_wait(
            platform,
            context or run_context(),
            request,
            wait=wait,
            timeout=approval_timeout,
            poll=poll,
        )
    except ApprovalDeniedError as exc:
        raise GovernanceDenied(f"{request.action}: {exc}", approval_id=exc.approval_id) from exc


async def agate(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    *,
    purpose: str | None = None,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
    context: RunContext | None = None,
) -> tuple[Decision, Approval | None]:
    """The coroutine behind :func:`gate`: the decision and, when one was waited for, the approval."""
    request = gate_request(action, resource, payload, labels, purpose)
    async with platform_block.get_platform() as platform:
        return await agate_on(
            platform,
            request,
            wait=wait,
            approval_timeout=approval_timeout,
            poll=poll,
            context=context,
        )


def finish(action: str, decision: Decision, approval: Approval | None = None) -> dict[str, Any]:
    """Remember the decision for the run's evidence; the JSON when allowed, else raise."""
    remember(action, decision, approval)
    result = decision_json(decision, approval.model_dump(mode="json") if approval else None)
    if decision.denied:
        raise GovernanceDenied(
            f"{action} denied by {decision.platform}: {decision.reason or 'no reason given'}",
            decision=result,
            approval_id=decision.approval_id,
        )
    if decision.pending:
        raise GovernanceDenied(
            f"{action} is pending approval {decision.approval_id} and this task does not wait "
            f"(wait=False): {decision.reason or 'no reason given'}. Wait in the task, or pause "
            "or suspend the flow run (govflow.prefect_tasks.gate_with_pause).",
            decision=result,
            approval_id=decision.approval_id,
        )
    return result


def _gate_blocking(
    platform: Platform,
    request: GateRequest,
    *,
    wait: bool,
    approval_timeout: float | None,
    poll: float,
) -> dict[str, Any]:
    async def go() -> tuple[Decision, Approval | None]:
        async with platform:
            return await agate_on(
                platform, request, wait=wait, approval_timeout=approval_timeout, poll=poll
            )

    decision, approval = _run_sync(go())
    return finish(request.action, decision, approval)


_GATE_OPTIONS: dict[str, Any] = {"retries": 0, "retry_condition_fn": _never_retry_decisions}


@task(name="govflow-gate", **_GATE_OPTIONS)
def gate(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Gate ``action`` on ``resource`` with any platform block (the local policy, typically).

    Allowed: the decision dict. Denied: :class:`GovernanceDenied`. Pending: with ``wait`` the
    approval is waited for (up to ``approval_timeout`` seconds, polling from ``poll`` seconds with
    backoff) and the request gated again with its id; without, :class:`GovernanceDenied`.
    """
    return _gate_blocking(
        platform_block.get_platform(),
        gate_request(action, resource, payload, labels, purpose),
        wait=wait,
        approval_timeout=approval_timeout,
        poll=poll,
    )


@task(name="govflow-velerian-invoke", **_GATE_OPTIONS)
def velerian_invoke(
    credentials: VelerianCredentials,
    abp_id: str,
    payload: Any = None,
    action: str | None = None,
    labels: Mapping[str, Any] | None = None,
    wait: bool = True,
    approval_timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Invoke Velerian ABP ``abp_id`` with ``payload``: a governed run with its evidence pack.

    The ABP's output is ``decision["output"]``, the invocation and evidence-pack ids are in
    ``decision["references"]``. A blocked invocation raises :class:`GovernanceDenied`; one that
    requires a human is waited for (``wait``), then asked again with the approval id, which does
    not invoke the ABP a second time.
    """
    platform = credentials.get_platform()
    name = action or f"invoke:{abp_id}"
    platform.abps[name] = abp_id
    return _gate_blocking(
        platform,
        gate_request(name, payload=payload, labels=labels),
        wait=wait,
        approval_timeout=approval_timeout,
        poll=poll,
    )


@task(name="govflow-lattix-gate", **_GATE_OPTIONS)
def lattix_gate(
    credentials: LattixCredentials,
    operation: str,
    resource: str,
    purpose: str | None = None,
    labels: Mapping[str, Any] | None = None,
    payload: Any = None,
    decision: Literal["policy_resolve", "protection_plan"] | None = None,
) -> dict[str, Any]:
    """Ask Lattix whether ``operation`` (protect, access, rewrap) on ``resource`` may happen.

    ``decision`` picks the Lattix route (default: the block's, ``policy_resolve``). Labels carry
    the resource description: ``resource_kind``, ``classification`` (comma separated),
    ``mime_type``; the others are sent as attributes. Only the payload's digest is sent. What
    Lattix requires of the step is ``decision["obligations"]``; the references name the route,
    operation, resource, tenant and principal.
    """
    block = credentials if decision is None else credentials.model_copy(update={"decision": decision})
    return _gate_blocking(
        block.get_platform(),
        gate_request(operation, resource, payload, labels, purpose),
        wait=False,
        approval_timeout=None,
        poll=2.0,
    )


@task(name="govflow-latchgate-execute", **_GATE_OPTIONS)
def latchgate_execute(
    credentials: LatchGateCredentials,
    action: str,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    approval_timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Execute LatchGate action ``action`` with ``payload``; its output is ``decision["output"]``
    and the receipt id is ``decision["references"]["receipt_id"]``.

    Always waits in the task when the gate asks for an approval: a LatchGate approval can only be
    polled by the lease session that got the 202, so pausing or suspending the flow would lose it.
    """
    return _gate_blocking(
        credentials.get_platform(),
        gate_request(action, payload=payload, labels=labels),
        wait=True,
        approval_timeout=approval_timeout,
        poll=poll,
    )


@task(name="govflow-wait-for-approval", **_GATE_OPTIONS)
async def wait_for_approval(
    platform_block: GovflowPlatformBlock,
    approval_id: str,
    timeout: float | None = None,
    poll: float = 2.0,
) -> dict[str, Any]:
    """Wait until ``approval_id`` is approved; the approval as a dict.

    Polls the platform from ``poll`` seconds with backoff, for up to ``timeout`` seconds. Denied:
    :class:`GovernanceDenied` (no retries); expired or timed out: the core error, which says so.
    """
    async with platform_block.get_platform() as platform:
        try:
            approval = await _core_wait_for_approval(
                platform, approval_id, timeout=timeout, poll=poll
            )
        except ApprovalDeniedError as exc:
            raise GovernanceDenied(str(exc), approval_id=approval_id) from exc
    return approval.model_dump(mode="json")


@task(name="govflow-validate-records", **_GATE_OPTIONS)
def validate_records(
    platform_block: GovflowPlatformBlock,
    contract_id: str,
    records: Iterable[Mapping[str, Any]],
    version: str | None = None,
    max_failed: int = 0,
) -> dict[str, Any]:
    """Validate ``records`` against data contract ``contract_id``: remotely with a ContractGate
    block, in-process with the local platform. The report as a dict, or
    :class:`ContractViolation` when more than ``max_failed`` records fail."""
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
    references = {
        f"decision.{k}": str(v) for k, v in (decision or {}).items() if v is not None and k != "raw"
    }
    record = EvidenceRecorder().record(
        run_context(), event=event, outcome=outcome, references=references, details=dict(details or {})
    )
    return record.model_dump(mode="json") if record is not None else None


__all__ = [
    "ContractViolation",
    "GovernanceDenied",
    "agate",
    "agate_on",
    "decision_json",
    "finish",
    "gate",
    "gate_request",
    "latchgate_execute",
    "lattix_gate",
    "record_evidence",
    "run_context",
    "validate_records",
    "velerian_invoke",
    "wait_for_approval",
]
