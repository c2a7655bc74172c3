"""Evidence for Prefect 3 runs: state hooks, a one-line opt-in, Prefect events and an artifact.

Prefect 3 has no global per-run hook (orchestrators.md 2.2), so a flow or task opts in with
:func:`governed` (or :func:`governed_flow`), which attaches :func:`record_flow_run` and
:func:`record_task_run` as state hooks. Each finished run leaves evidence in the ledger at
``GOVFLOW_LEDGER_URL`` (or govflow's data directory):

- tasks: event ``task.finished``, step = the task run name, with the decision id, approval id and
  platform references when the task was a govflow gate. A governed task records when it
  finishes; the other tasks of a governed flow are recorded when the flow finishes, from the
  API, so ``governed(flow)`` alone covers every task run of the flow;
- flows: event ``flow_run.finished``, on completion, failure, crash and cancellation, with the
  canonical digest of the flow run's parameters (never the values) as ``input_digest`` and every
  governance decision of the run (step, action, outcome, ids) in ``details["governance"]``.

Every record is also emitted as a ``govflow.evidence.recorded`` Prefect event, and a flow run gets
a markdown artifact listing its evidence records. Nothing here can fail a run: the recorder never
raises, and the event and artifact steps catch and log their errors.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from prefect import Flow, Task

from ..core.canonical import digest
from ..core.evidence.ledger import EvidenceLedger
from ..core.evidence.recorder import EvidenceRecorder
from ..core.models import Approval, Decision, Evidence, RunContext
from .context import Governed, decision_of_task_run, decisions_of_flow_run

logger = logging.getLogger("govflow.prefect.evidence")

TASK_EVENT = "task.finished"
FLOW_EVENT = "flow_run.finished"
PREFECT_EVENT = "govflow.evidence.recorded"
ARTIFACT_PREFIX = "govflow-evidence"
# How long the flow hook waits for the API to show task runs that finished a moment ago.
_API_CATCH_UP_SECONDS = 5.0

# Prefect state types -> govflow outcomes (the Airflow listener's vocabulary where it overlaps).
_OUTCOMES = {
    "COMPLETED": "success",
    "FAILED": "failed",
    "CRASHED": "crashed",
    "CANCELLED": "cancelled",
    "CANCELLING": "cancelled",
}
_FAILED = {"failed", "crashed", "cancelled"}

F = TypeVar("F", Flow[Any, Any], Task[Any, Any])


def outcome_for(state: Any) -> str:
    """The govflow outcome of a Prefect state: success, failed, crashed, cancelled, ..."""
    state_type = getattr(getattr(state, "type", None), "value", None) or str(
        getattr(state, "type", "unknown")
    )
    return _OUTCOMES.get(str(state_type).upper(), str(state_type).lower())


def artifact_key(flow_name: str) -> str:
    """``govflow-evidence-<flow name>`` in lowercase letters, digits and dashes (Prefect's rule)."""
    slug = re.sub(r"[^a-z0-9]+", "-", flow_name.lower()).strip("-")
    return f"{ARTIFACT_PREFIX}-{slug}" if slug else ARTIFACT_PREFIX


def _labels(tags: Any) -> dict[str, str]:
    """Prefect tags as labels: ``key:value`` tags keep their value, plain tags map to ``"true"``."""
    labels: dict[str, str] = {}
    for tag in sorted(tags or ()):
        key, sep, value = str(tag).partition(":")
        labels[key] = value if sep else "true"
    return labels


def _parameters_digest(parameters: Any) -> str | None:
    if not parameters:
        return None
    try:
        return digest(dict(parameters))
    except Exception:  # parameters that are not JSON values: no digest, never the values
        logger.info("govflow: flow run parameters are not canonical JSON, no digest recorded")
        return None


def _error(outcome: str, state: Any) -> str | None:
    if outcome not in _FAILED:
        return None
    message = getattr(state, "message", None)
    return str(message) if message else outcome


def _emit_event(record: Evidence) -> None:
    try:
        from prefect.events import emit_event

        emit_event(
            PREFECT_EVENT,
            resource={"prefect.resource.id": f"govflow.evidence.{record.digest}"},
            payload={
                "stream": record.stream,
                "seq": record.seq,
                "digest": record.digest,
                "outcome": record.outcome,
            },
        )
    except Exception:
        logger.warning("govflow: evidence event not emitted", exc_info=True)


def _record(
    context: RunContext,
    *,
    event: str,
    state: Any,
    started_at: datetime | None,
    ended_at: datetime | None,
    input_digest: str | None = None,
    decision: Decision | None = None,
    approval: Approval | None = None,
    references: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> Evidence | None:
    outcome = outcome_for(state)
    record = EvidenceRecorder().record(
        context,
        event=event,
        outcome=outcome,
        started_at=started_at,
        ended_at=ended_at or getattr(state, "timestamp", None),
        input_digest=input_digest,
        decision=decision,
        approval=approval,
        references=references,
        error=_error(outcome, state),
        details={"state": str(getattr(state, "name", "") or outcome), **(details or {})},
    )
    if record is not None:
        _emit_event(record)
    return record


def _task_context(pipeline: str, task_run: Any) -> RunContext:
    return RunContext(
        orchestrator="prefect",
        pipeline=pipeline,
        run_id=str(getattr(task_run, "flow_run_id", None) or task_run.id),
        step=str(task_run.name),
        attempt=max(1, int(getattr(task_run, "run_count", 1) or 1)),
        labels=_labels(getattr(task_run, "tags", None)),
    )


def _record_task(pipeline: str, task_name: str, task_run: Any, state: Any) -> Evidence | None:
    governed = decision_of_task_run(task_run.id)
    details: dict[str, Any] = {"task_run_id": str(task_run.id), "task": task_name}
    if governed is not None:
        details["action"] = governed.action
    return _record(
        _task_context(pipeline, task_run),
        event=TASK_EVENT,
        state=state,
        started_at=getattr(task_run, "start_time", None),
        ended_at=getattr(task_run, "end_time", None),
        decision=governed.decision if governed else None,
        approval=governed.approval if governed else None,
        details=details,
    )


def record_task_run(task: Any, task_run: Any, state: Any) -> None:
    """Task state hook (``on_completion`` / ``on_failure``): one ``task.finished`` record, with
    the decision, approval and platform references when the task was a govflow gate."""
    try:
        pipeline = _flow_name() or str(getattr(task, "name", "task"))
        _record_task(pipeline, str(getattr(task, "name", "")), task_run, state)
    except Exception:
        logger.warning("govflow: task run evidence not recorded", exc_info=True)


def _record_other_task_runs(pipeline: str, flow_run_id: Any) -> None:
    """``task.finished`` records for the flow run's finished task runs that have none yet (tasks
    without their own hooks), read from the API: this is what makes one ``governed(flow)``
    cover every task of the flow."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    stream = f"prefect/{pipeline}"
    recorded = {
        str(r.details.get("task_run_id"))
        for r in EvidenceLedger().records(stream, run_id=str(flow_run_id))
        if r.event == TASK_EVENT
    }
    _send_pending_events()
    deadline = time.monotonic() + _API_CATCH_UP_SECONDS
    schemas = (FlowRunFilter, FlowRunFilterId, TaskRunSort)
    with get_client(sync_client=True) as client:
        # Task run states reach the API through events, a moment after the tasks finished: read
        # until two reads 0.2 s apart agree.
        task_runs = _finished_task_runs(client, flow_run_id, *schemas)
        while time.monotonic() < deadline:
            time.sleep(0.2)
            again = _finished_task_runs(client, flow_run_id, *schemas)
            if len(again) == len(task_runs):
                break
            task_runs = again
    for task_run in task_runs:
        if str(task_run.id) not in recorded:
            _record_task(pipeline, str(task_run.task_key).rsplit("-", 1)[0], task_run, task_run.state)


def _send_pending_events() -> None:
    try:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=_API_CATCH_UP_SECONDS)
    except Exception:
        logger.debug("govflow: Prefect events not drained", exc_info=True)


def _finished_task_runs(client: Any, flow_run_id: Any, *schemas: Any) -> list[Any]:
    flow_run_filter, flow_run_filter_id, sort = schemas
    found: list[Any] = []
    offset, page = 0, 200
    while True:
        task_runs = client.read_task_runs(
            flow_run_filter=flow_run_filter(id=flow_run_filter_id(any_=[flow_run_id])),
            sort=sort.EXPECTED_START_TIME_ASC,
            limit=page,
            offset=offset,
        )
        found.extend(t for t in task_runs if t.state is not None and t.state.is_final())
        if len(task_runs) < page:
            return found
        offset += page


def record_flow_run(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow state hook (completion, failure, crash, cancellation): a ``task.finished`` record for
    every finished task run not recorded yet, one ``flow_run.finished`` record naming every
    governance decision of the run, then a markdown artifact summarising the run's evidence."""
    if _superseded(flow_run.id, state):
        return
    try:
        _record_other_task_runs(str(flow.name), flow_run.id)
    except Exception:
        logger.warning("govflow: task run evidence of the flow run not recorded", exc_info=True)
    try:
        context = RunContext(
            orchestrator="prefect",
            pipeline=str(flow.name),
            run_id=str(flow_run.id),
            attempt=max(1, int(getattr(flow_run, "run_count", 1) or 1)),
            labels=_labels(getattr(flow_run, "tags", None)),
        )
        details: dict[str, Any] = {"flow_run_name": str(getattr(flow_run, "name", ""))}
        if deployment_id := getattr(flow_run, "deployment_id", None):
            details["deployment_id"] = str(deployment_id)
        governance = decisions_of_flow_run(flow_run.id)
        references: dict[str, str] = {}
        if governance:
            details["governance"] = [entry.summary() for entry in governance]
            references = _joined_references(governance)
        _record(
            context,
            event=FLOW_EVENT,
            state=state,
            started_at=getattr(flow_run, "start_time", None),
            ended_at=getattr(flow_run, "end_time", None),
            input_digest=_parameters_digest(getattr(flow_run, "parameters", None)),
            references=references,
            details=details,
        )
    except Exception:
        logger.warning("govflow: flow run evidence not recorded", exc_info=True)
        return
    try:
        _create_artifact(context, flow_run.id)
    except Exception:
        logger.warning("govflow: evidence artifact not created", exc_info=True)


def _superseded(flow_run_id: Any, state: Any) -> bool:
    """True when a cancellation hook fires for a run the API already holds as finished otherwise.

    A Runner that shuts down runs ``on_cancellation`` hooks for the processes it still tracks,
    even when the run has just completed; recording "cancelled" then would contradict the run.
    """
    if outcome_for(state) != "cancelled":
        return False
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            current = client.read_flow_run(flow_run_id).state
    except Exception:
        return False
    if current is not None and current.is_final() and outcome_for(current) != "cancelled":
        logger.info(
            "govflow: flow run %s is %s; the late cancellation hook records nothing",
            flow_run_id,
            current.name,
        )
        return True
    return False


def _joined_references(governance: list[Governed]) -> dict[str, str]:
    """The run's decision and approval ids, comma separated, for lookups by reference."""
    decisions = [g.decision.decision_id for g in governance if g.decision.decision_id]
    approvals = [
        a for g in governance if (a := (g.approval.id if g.approval else g.decision.approval_id))
    ]
    references = {"platforms": ",".join(sorted({g.decision.platform for g in governance}))}
    if decisions:
        references["decision_ids"] = ",".join(dict.fromkeys(decisions))
    if approvals:
        references["approval_ids"] = ",".join(dict.fromkeys(approvals))
    return references


def summary_markdown(context: RunContext, records: list[Evidence]) -> str:
    """The artifact's markdown: one row per evidence record of the run."""
    lines = [
        f"# govflow evidence: {context.pipeline}",
        "",
        f"Flow run `{context.run_id}`, stream `{context.stream}`: {len(records)} record(s). "
        "Check the chain with `govflow evidence verify`.",
        "",
        "| seq | event | step | attempt | outcome | error | show |",
        "|---|---|---|---|---|---|---|",
    ]
    for record in records:
        error = (record.error or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {record.seq} | {record.event} | {record.context.step or '-'} | "
            f"{record.context.attempt} | {record.outcome} | {error} | "
            f"`govflow evidence show {record.stream}#{record.seq}` |"
        )
    return "\n".join(lines) + "\n"


def _create_artifact(context: RunContext, flow_run_id: Any) -> None:
    try:
        records = EvidenceLedger().records(context.stream, run_id=context.run_id)
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactCreate

        with get_client(sync_client=True) as client:
            client.create_artifact(
                ArtifactCreate(
                    key=artifact_key(context.pipeline),
                    type="markdown",
                    description=f"govflow evidence of flow run {context.run_id}",
                    data=summary_markdown(context, records),
                    flow_run_id=flow_run_id,
                )
            )
    except Exception:
        logger.warning("govflow: evidence artifact not created", exc_info=True)


def _flow_name() -> str | None:
    try:
        from prefect.runtime import flow_run

        name = flow_run.flow_name
        return str(name) if name else None
    except Exception:
        return None


def _with_hook(hooks: Any, hook: Callable[..., None]) -> list[Any]:
    existing = list(hooks or [])
    return existing if hook in existing else [*existing, hook]


def governed(flow_or_task: F) -> F:
    """A copy of the flow or task that records evidence when it finishes: the one-line opt-in.

    ``governed_flow = governed(my_flow)`` or as a decorator under ``@flow`` / ``@task``. Hooks
    the flow or task already has are kept.
    """
    if isinstance(flow_or_task, Flow):
        return flow_or_task.with_options(
            on_completion=_with_hook(flow_or_task.on_completion_hooks, record_flow_run),
            on_failure=_with_hook(flow_or_task.on_failure_hooks, record_flow_run),
            on_crashed=_with_hook(flow_or_task.on_crashed_hooks, record_flow_run),
            on_cancellation=_with_hook(flow_or_task.on_cancellation_hooks, record_flow_run),
        )
    if isinstance(flow_or_task, Task):
        # Tasks have no crashed/cancellation hooks (orchestrators.md 2.2).
        return flow_or_task.with_options(
            on_completion=_with_hook(flow_or_task.on_completion_hooks, record_task_run),
            on_failure=_with_hook(flow_or_task.on_failure_hooks, record_task_run),
        )
    raise TypeError(f"governed() takes a Prefect flow or task, not {type(flow_or_task).__name__}")


def governed_flow(**flow_kwargs: Any) -> Callable[[Callable[..., Any]], Flow[Any, Any]]:
    """``@governed_flow(name=...)``: ``@flow(**flow_kwargs)`` plus the evidence hooks."""
    from prefect import flow

    def decorate(fn: Callable[..., Any]) -> Flow[Any, Any]:
        return governed(flow(**flow_kwargs)(fn))

    return decorate


__all__ = [
    "FLOW_EVENT",
    "PREFECT_EVENT",
    "TASK_EVENT",
    "artifact_key",
    "governed",
    "governed_flow",
    "outcome_for",
    "record_flow_run",
    "record_task_run",
    "summary_markdown",
]
