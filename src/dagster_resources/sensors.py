"""The approval sensor: govflow's answer to Dagster having no pause primitive.

A step gated with ``wait=False`` that needs a human stops: its run fails with
:class:`~govflow.dagster_resources.GovernancePending` and is tagged
``govflow/awaiting_approval=true`` and ``govflow/pending_approval=<approval id>``. No run, worker
or slot is held while the human decides. :func:`approval_sensor` watches those runs, asks the
platform about each approval and, once one is approved, requests a new run of the job with
``run_key=<approval id>`` (Dagster launches one run per key per sensor) and the tag
``govflow/approval_id``; the gate in that run continues with the granted approval. Denied and
expired approvals are reported and dropped. The cursor remembers the approvals it has settled,
so an approval never launches two runs, even where run keys are not deduplicated (tests).
"""

import json
from typing import Any

import dagster as dg

from ..core.models import ApprovalStatus
from .context import (
    APPROVAL_TAG,
    APPROVED_BY_TAG,
    AWAITING_TAG,
    PARTITION_TAG,
    PENDING_TAG,
    RETRY_OF_TAG,
)
from .resources import GovflowResource

# Settled approval ids kept in the cursor; older ones are long past their runs' lookback.
_MAX_SETTLED = 1000
# Runs looked at per evaluation, newest first.
_LOOKBACK_RUNS = 200


def _load_cursor(cursor: str | None) -> list[str]:
    if not cursor:
        return []
    try:
        settled = json.loads(cursor).get("settled", [])
    except (ValueError, AttributeError):
        return []
    return [str(s) for s in settled]


def approval_sensor(
    job: Any,
    *,
    resource_key: str = "govflow",
    name: str | None = None,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: str | None = None,
) -> dg.SensorDefinition:
    """A sensor that launches ``job`` again for each approval its runs were waiting for, once
    approved on the platform of resource ``resource_key`` (any govflow resource with approvals).

    ``job`` is a job definition or an asset job (``dg.define_asset_job``); the gated assets must
    run through it, so the new run reaches the same steps. The new run keeps the partition.
    """
    job_name: str = job.name
    sensor_name = name or f"govflow_approvals_{job_name}"

    @dg.sensor(
        name=sensor_name,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        description=description
        or f"Launches {job_name} once a govflow approval its runs were waiting for is granted.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        governance: GovflowResource = getattr(context.resources, resource_key)
        settled = _load_cursor(context.cursor)
        done = set(settled)
        runs = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job_name, tags={AWAITING_TAG: "true"}),
            limit=_LOOKBACK_RUNS,
        )
        requests: list[dg.RunRequest] = []
        waiting: list[str] = []
        ended: list[str] = []
        for run in reversed(list(runs)):  # oldest first: launch in the order they were asked
            approval_id = run.tags.get(PENDING_TAG)
            if not approval_id or approval_id in done:
                continue
            try:
                approval = governance.get_approval(approval_id)
            except Exception as exc:  # the platform is down: ask again next tick
                context.log.warning(f"approval {approval_id}: could not read it ({exc})")
                waiting.append(approval_id)
                continue
            if approval.status is ApprovalStatus.PENDING:
                waiting.append(approval_id)
                continue
            done.add(approval_id)
            settled.append(approval_id)
            if approval.status is not ApprovalStatus.APPROVED:
                who = f" by {approval.decided_by}" if approval.decided_by else ""
                ended.append(f"{approval_id} {approval.status.value}{who}")
                context.log.info(f"approval {approval_id} was {approval.status.value}{who}; not launching")
                continue
            tags = {
                APPROVAL_TAG: approval_id,
                APPROVED_BY_TAG: approval.decided_by or "",
                RETRY_OF_TAG: run.run_id,
            }
            context.log.info(
                f"approval {approval_id} granted by {approval.decided_by}; launching {job_name}"
            )
            requests.append(
                dg.RunRequest(
                    run_key=approval_id,
                    tags=tags,
                    partition_key=run.tags.get(PARTITION_TAG),
                )
            )
        cursor = json.dumps({"settled": settled[-_MAX_SETTLED:]})
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        parts = []
        if waiting:
            parts.append(f"{len(waiting)} approval(s) still pending: {', '.join(waiting[:5])}")
        if ended:
            parts.append(f"not approved: {', '.join(ended[:5])}")
        reason = "; ".join(parts) or f"no run of {job_name} is waiting for a govflow approval"
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor)

    return _sensor


__all__ = ["approval_sensor"]
