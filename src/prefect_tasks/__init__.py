"""govflow for Prefect 3: credential blocks, tasks, state hooks and evidence artifacts.

Install with ``pip install 'govflow[prefect]'``. The adapter is thin: every platform call, retry
and digest happens in :mod:`govflow.core`, so it behaves the same under Airflow and Dagster.
"""

from __future__ import annotations

try:
    import prefect  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "prefect":
        raise  # Prefect is there but broken: show the real error, not an install hint.
    raise ModuleNotFoundError(
        "govflow.prefect_tasks needs Prefect 3, which is not installed: "
        "pip install 'govflow[prefect]'",
        name="prefect",
    ) from None

from .approvals import (
    agate_with_pause,
    aresume_decided_flow_runs,
    gate_with_pause,
    resume_approved_flow_runs,
    resume_decided_flow_runs,
)
from .blocks import (
    ContractGateCredentials,
    GovflowLocalPlatform,
    LatchGateCredentials,
    LattixCredentials,
    VelerianCredentials,
)
from .context import run_context
from .evidence import governed, governed_flow, record_flow_run, record_task_run
from .tasks import (
    ContractViolation,
    GovernanceDenied,
    agate,
    gate,
    latchgate_execute,
    lattix_gate,
    record_evidence,
    validate_records,
    velerian_invoke,
    wait_for_approval,
)

__all__ = [
    "ContractGateCredentials",
    "ContractViolation",
    "GovernanceDenied",
    "GovflowLocalPlatform",
    "LatchGateCredentials",
    "LattixCredentials",
    "VelerianCredentials",
    "agate",
    "agate_with_pause",
    "aresume_decided_flow_runs",
    "gate",
    "gate_with_pause",
    "governed",
    "governed_flow",
    "latchgate_execute",
    "lattix_gate",
    "record_evidence",
    "record_flow_run",
    "record_task_run",
    "resume_approved_flow_runs",
    "resume_decided_flow_runs",
    "run_context",
    "validate_records",
    "velerian_invoke",
    "wait_for_approval",
]
