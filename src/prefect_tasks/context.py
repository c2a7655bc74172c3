"""Who is running, and what governance decided for it, inside a Prefect process.

:func:`run_context` turns ``prefect.runtime`` into a govflow :class:`RunContext`. The gate tasks
:func:`remember` each decision under the task run and the flow run it was made in, so the evidence
hooks can put the decision, approval and platform references into the run's evidence record
without pulling results from the API. The registry lives in this process only: a hook runs in the
process that ran the task (Prefect calls state hooks in-process), and it is bounded so a process
that never finishes its flows cannot grow it without limit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..core.models import Approval, Decision, RunContext

# Entries of runs whose hooks never ran (flows without evidence hooks) are dropped oldest first.
_MAX_RUNS = 1024


class Governed:
    """One decision made in a run: the step that asked, the decision, the approval if any."""

    __slots__ = ("action", "approval", "decision", "step")

    def __init__(
        self, step: str | None, action: str, decision: Decision, approval: Approval | None
    ) -> None:
        self.step = step
        self.action = action
        self.decision = decision
        self.approval = approval

    def summary(self) -> dict[str, Any]:
        """JSON for the flow run's evidence details: identifiers only, never payloads."""
        return {
            "step": self.step,
            "action": self.action,
            "outcome": self.decision.outcome.value,
            "platform": self.decision.platform,
            "decision_id": self.decision.decision_id,
            "approval_id": self.approval.id if self.approval else self.decision.approval_id,
            "references": dict(self.decision.references),
        }


_lock = threading.Lock()
_by_task_run: OrderedDict[str, Governed] = OrderedDict()
_by_flow_run: OrderedDict[str, list[Governed]] = OrderedDict()


def _bounded(store: OrderedDict[str, Any]) -> None:
    while len(store) > _MAX_RUNS:
        store.popitem(last=False)


def remember(action: str, decision: Decision, approval: Approval | None = None) -> None:
    """Note ``decision`` for the current task run and flow run (no-op outside a run)."""
    from prefect.runtime import flow_run, task_run

    entry = Governed(task_run.name or None, action, decision, approval)
    task_run_id, flow_run_id = task_run.id, flow_run.id
    with _lock:
        if task_run_id:
            _by_task_run[str(task_run_id)] = entry
            _bounded(_by_task_run)
        if flow_run_id:
            _by_flow_run.setdefault(str(flow_run_id), []).append(entry)
            _bounded(_by_flow_run)


def decision_of_task_run(task_run_id: Any) -> Governed | None:
    """The decision made in task run ``task_run_id`` (and forget it)."""
    with _lock:
        return _by_task_run.pop(str(task_run_id), None)


def decisions_of_flow_run(flow_run_id: Any) -> list[Governed]:
    """Every decision made in flow run ``flow_run_id`` (and forget them)."""
    with _lock:
        return _by_flow_run.pop(str(flow_run_id), [])


def run_context() -> RunContext:
    """The govflow identity of the current Prefect task run (or flow run), from ``prefect.runtime``."""
    from prefect.runtime import flow_run, task_run

    run_id = flow_run.id or task_run.id or "manual"
    return RunContext(
        orchestrator="prefect",
        pipeline=str(flow_run.flow_name or "adhoc"),
        run_id=str(run_id),
        step=task_run.name or None,
        attempt=int(task_run.run_count or flow_run.run_count or 1),
    )


__all__ = ["Governed", "decision_of_task_run", "decisions_of_flow_run", "remember", "run_context"]
