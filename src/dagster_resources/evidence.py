"""Evidence for every run and every step.

- Run level: :func:`evidence_sensors` returns a success and a failure ``run_status_sensor``
  (``monitor_all_code_locations=True``, running by default) that append one ``run.finished``
  record per run. Dagster has no global hook, so sensors are the way to reach every run.
- Step level: the hooks :data:`evidence_on_success` and :data:`evidence_on_failure` (attach them
  with ``@dg.asset(hooks=...)``, ``@dg.job(hooks=...)`` or ``define_asset_job(hooks=...)``)
  append one ``step.finished`` record per step, with the decisions the govflow resource made in
  it. Governed assets also carry the decision and its evidence reference in their
  materialization metadata (the resource adds it).

Emission never fails a run: the recorder catches every error and logs one warning.
"""

import logging
from typing import Any

import dagster as dg

from ..core.evidence.ledger import EvidenceLedger
from ..core.evidence.recorder import EvidenceRecorder
from ..core.models import Evidence, RunContext
from .context import (
    APPROVAL_TAG,
    AWAITING_TAG,
    PARTITION_TAG,
    PENDING_TAG,
    RETRY_OF_TAG,
    decisions_of_step,
    pipeline_name,
)
from .resources import GovernancePending

logger = logging.getLogger("govflow.dagster")

_GOVFLOW_TAGS = (APPROVAL_TAG, PENDING_TAG, RETRY_OF_TAG)


def _recorder(ledger_url: str | None) -> EvidenceRecorder:
    return EvidenceRecorder(EvidenceLedger(ledger_url) if ledger_url else None)


def _run_references(tags: dict[str, str]) -> dict[str, str]:
    return {key.split("/", 1)[1]: tags[key] for key in _GOVFLOW_TAGS if tags.get(key)}


# --- run level -----------------------------------------------------------------------------------


def record_run(
    run: Any, outcome: str, *, error: str | None = None, ledger_url: str | None = None
) -> Evidence | None:
    """Append the ``run.finished`` record of DagsterRun ``run`` (None if it could not be written)."""
    try:
        tags = dict(run.tags)
        if outcome == "failed" and tags.get(AWAITING_TAG) == "true":
            outcome = "pending"  # it stopped on an approval; the approval sensor continues it
        context = RunContext(
            orchestrator="dagster",
            pipeline=pipeline_name(run.job_name),
            run_id=run.run_id,
            partition=tags.get(PARTITION_TAG),
        )
        selection = sorted(key.to_user_string() for key in (run.asset_selection or ()))
        details: dict[str, Any] = {"job": run.job_name, "status": run.status.value}
        if selection:
            details["assets"] = selection
    except Exception as exc:  # a run we cannot describe must not break the sensor
        logger.warning("govflow: could not describe run for evidence: %s", exc)
        return None
    return _recorder(ledger_url).record(
        context,
        event="run.finished",
        outcome=outcome,
        references=_run_references(tags),
        details=details,
        error=error,
    )


def evidence_sensors(
    *,
    ledger_url: str | None = None,
    name_prefix: str = "govflow_evidence",
    minimum_interval_seconds: int | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations: bool = True,
) -> list[dg.SensorDefinition]:
    """A success and a failure run-status sensor recording one evidence record per run.

    ``ledger_url`` defaults to ``GOVFLOW_LEDGER_URL`` (or govflow's data directory).
    """

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=f"{name_prefix}_on_run_success",
        minimum_interval_seconds=minimum_interval_seconds,
        monitor_all_code_locations=monitor_all_code_locations,
        default_status=default_status,
        description="Records a govflow evidence record for every successful run.",
    )
    def _on_success(context: dg.RunStatusSensorContext) -> None:
        record = record_run(context.dagster_run, "success", ledger_url=ledger_url)
        if record is not None:
            context.log.info(f"govflow evidence {record.stream}#{record.seq} for {record.context.run_id}")

    @dg.run_failure_sensor(
        name=f"{name_prefix}_on_run_failure",
        minimum_interval_seconds=minimum_interval_seconds,
        monitor_all_code_locations=monitor_all_code_locations,
        default_status=default_status,
        description="Records a govflow evidence record for every failed run.",
    )
    def _on_failure(context: dg.RunFailureSensorContext) -> None:
        message = context.failure_event.message if context.failure_event else None
        record = record_run(context.dagster_run, "failed", error=message, ledger_url=ledger_url)
        if record is not None:
            context.log.info(f"govflow evidence {record.stream}#{record.seq} for {record.context.run_id}")

    return [_on_success, _on_failure]


# --- step level ----------------------------------------------------------------------------------


def _attempt(context: dg.HookContext) -> int:
    try:  # not public on HookContext; the step context knows how often the step ran before
        return int(context._step_execution_context.previous_attempt_count) + 1
    except Exception:
        return 1


def record_step(
    context: dg.HookContext, outcome: str, *, ledger_url: str | None = None
) -> Evidence | None:
    """Append the ``step.finished`` record of the step a hook fired for."""
    try:
        governed = decisions_of_step(context.run_id, context.step_key)
        run = context.instance.get_run_by_id(context.run_id)
        tags = dict(run.tags) if run is not None else {}
        error = context.op_exception
        if isinstance(error, GovernancePending):
            outcome = "pending"
        last = governed[-1] if governed else None
        ctx = RunContext(
            orchestrator="dagster",
            pipeline=pipeline_name(context.job_name),
            run_id=context.run_id,
            step=(last.step if last and last.step else context.step_key),
            attempt=_attempt(context),
            partition=tags.get(PARTITION_TAG),
        )
        references = _run_references(tags)
        if last is not None and last.evidence_ref:
            references["gate_evidence"] = last.evidence_ref
        details: dict[str, Any] = {"step_key": context.step_key}
        if governed:
            details["decisions"] = [entry.summary() for entry in governed]
    except Exception as exc:
        logger.warning("govflow: could not describe step %s for evidence: %s", context.step_key, exc)
        return None
    return _recorder(ledger_url).record(
        ctx,
        event="step.finished",
        outcome=outcome,
        decision=last.decision if last else None,
        approval=last.approval if last else None,
        references=references,
        details=details,
        error=error,
    )


def evidence_hooks(ledger_url: str | None = None) -> set[dg.HookDefinition]:
    """The success and failure hooks, recording in ``ledger_url`` (default: govflow's ledger)."""

    @dg.success_hook(name="govflow_evidence_on_success")
    def _on_success(context: dg.HookContext) -> None:
        record_step(context, "success", ledger_url=ledger_url)

    @dg.failure_hook(name="govflow_evidence_on_failure")
    def _on_failure(context: dg.HookContext) -> None:
        record_step(context, "failed", ledger_url=ledger_url)

    return {_on_success, _on_failure}


@dg.success_hook(name="govflow_evidence_on_success")
def evidence_on_success(context: dg.HookContext) -> None:
    """Record the step's evidence when it succeeded (govflow's default ledger)."""
    record_step(context, "success")


@dg.failure_hook(name="govflow_evidence_on_failure")
def evidence_on_failure(context: dg.HookContext) -> None:
    """Record the step's evidence when it failed (or stopped on a pending approval)."""
    record_step(context, "failed")


__all__ = [
    "evidence_hooks",
    "evidence_on_failure",
    "evidence_on_success",
    "evidence_sensors",
    "record_run",
    "record_step",
]
