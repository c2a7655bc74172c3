"""Who is running inside Dagster, and what governance decided for it.

:func:`run_context` turns an op, asset or asset-check context into a govflow :class:`RunContext`.
The resources :func:`remember` each decision under the run and step it was made in, so the
evidence hooks (which run in the step's process, after the step) can put the decision and the
approval into the step's evidence record. The registry is bounded: a process whose steps have no
evidence hooks cannot grow it without limit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..core.models import Approval, Decision, RunContext

# Run tags govflow reads and writes.
APPROVAL_TAG = "govflow/approval_id"  # set by the approval sensor on the run it launches
PENDING_TAG = "govflow/pending_approval"  # set on a run that stopped on a pending approval
AWAITING_TAG = "govflow/awaiting_approval"  # "true" on such runs: RunsFilter needs a fixed value
APPROVED_BY_TAG = "govflow/approved_by"
RETRY_OF_TAG = "govflow/retry_of"
PARTITION_TAG = "dagster/partition"

# Dagster names its implicit asset jobs "__ASSET_JOB..." (UI materializations, dg.materialize):
# they all become one pipeline, so ad-hoc materializations of an asset share a stream.
IMPLICIT_PIPELINE = "assets"

_MAX_STEPS = 1024


def pipeline_name(job_name: str | None) -> str:
    """The govflow pipeline of a Dagster job."""
    if not job_name or job_name.startswith("__"):
        return IMPLICIT_PIPELINE
    return job_name


def op_context(context: Any) -> Any:
    """The OpExecutionContext behind an asset or asset-check context (or the context itself)."""
    return getattr(context, "op_execution_context", context)


def step_name(context: Any) -> str:
    """The asset key of a single-asset step, else the op handle (``graph.op``)."""
    op = op_context(context)
    try:
        if op.has_assets_def:
            keys = list(op.assets_def.keys)
            if len(keys) == 1:
                return str(keys[0].to_user_string())
    except Exception:  # an op outside any asset, or a check-only step
        pass
    return str(op.op_handle)


def step_key(context: Any) -> str:
    """What a HookContext calls this step (``step_key``): the op handle."""
    return str(op_context(context).op_handle)


def run_tags(context: Any) -> dict[str, str]:
    return dict(op_context(context).run.tags)


def run_context(context: Any) -> RunContext:
    """The govflow identity of the step running under ``context``."""
    op = op_context(context)
    partition = op.partition_key if op.has_partition_key else None
    return RunContext(
        orchestrator="dagster",
        pipeline=pipeline_name(op.job_name),
        run_id=op.run.run_id,
        step=step_name(context),
        attempt=int(op.retry_number) + 1,
        partition=partition,
    )


class Governed:
    """One decision made in a step: the action, the decision, the approval if any."""

    __slots__ = ("action", "approval", "decision", "evidence_ref", "step")

    def __init__(
        self,
        step: str | None,
        action: str,
        decision: Decision,
        approval: Approval | None,
        evidence_ref: str | None = None,
    ) -> None:
        self.step = step
        self.action = action
        self.decision = decision
        self.approval = approval
        self.evidence_ref = evidence_ref

    def summary(self) -> dict[str, Any]:
        """JSON for the step's evidence details: identifiers only, never payloads."""
        return {
            "action": self.action,
            "outcome": self.decision.outcome.value,
            "platform": self.decision.platform,
            "decision_id": self.decision.decision_id,
            "approval_id": self.approval.id if self.approval else self.decision.approval_id,
            "evidence": self.evidence_ref,
        }


_lock = threading.Lock()
_by_step: OrderedDict[tuple[str, str], list[Governed]] = OrderedDict()


def remember(context: Any, entry: Governed) -> None:
    """Note ``entry`` for the step running under ``context`` (for its evidence hook)."""
    key = (op_context(context).run.run_id, step_key(context))
    with _lock:
        _by_step.setdefault(key, []).append(entry)
        while len(_by_step) > _MAX_STEPS:
            _by_step.popitem(last=False)


def decisions_of_step(run_id: str, key: str) -> list[Governed]:
    """The decisions made in step ``key`` of run ``run_id`` (and forget them)."""
    base = key.split("[", 1)[0]  # a mapped step "op[k]" was remembered under its op handle
    with _lock:
        return _by_step.pop((run_id, key), None) or _by_step.pop((run_id, base), [])


__all__ = [
    "APPROVAL_TAG",
    "AWAITING_TAG",
    "PENDING_TAG",
    "Governed",
    "decisions_of_step",
    "op_context",
    "pipeline_name",
    "remember",
    "run_context",
    "step_name",
]
