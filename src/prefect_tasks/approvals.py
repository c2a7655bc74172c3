"""Long approvals in Prefect: pause or suspend the flow run while a human decides.

Prefect pauses flow runs, not task runs, so these helpers are called from the flow body:

```python
@flow
def payouts(block: GovflowLocalPlatform) -> None:
    decision = gate_with_pause(block, "payout", resource="bank", timeout=24 * 3600)
    ...
```

- **pause** (the default): the gate is asked once; when it answers *pending*, the flow run is
  paused (``Paused`` in the UI, the process keeps waiting) and govflow polls the approval on the
  same event loop, resuming the run as soon as it is decided. A person may also resume it by
  hand: the gate is then asked again, and the run pauses again while the approval is pending.
- **suspend** (``suspend=True``, deployed flows only): the approval id is stored as flow-run input
  and the run is suspended: its process exits and no worker slot is held. Resuming it re-runs the
  flow from the top (use ``persist_result=True`` so finished tasks are not run again); the helper
  then finds the stored approval id and asks the gate again *with it* instead of gating anew, so
  a Velerian ABP is not invoked twice and no second approval is requested. Nobody has to watch:
  serve :func:`resume_approved_flow_runs` (``.serve(interval=60)``), which resumes every suspended
  govflow run whose approval has been decided, or call :func:`aresume_decided_flow_runs`.

In both modes the platform, not the resume button, has the last word: after every resume the
gate is asked again with the approval id; approved -> the decision dict, denied ->
:class:`GovernanceDenied`. ``timeout`` (seconds) bounds each pause; Prefect fails the run when
it runs out. LatchGate approvals belong to the lease session that asked, so for LatchGate use
:func:`latchgate_execute`, which waits in the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ..core.approvals import wait_for_approval as _core_wait_for_approval
from ..core.errors import ConfigurationError, GovflowError
from ..core.models import Approval, Decision, GateRequest
from ..core.platforms.base import Platform
from ..core.sync import run_sync as _run_sync
from .context import run_context
from .tasks import finish, gate_request

if TYPE_CHECKING:
    from .blocks import GovflowPlatformBlock

logger = logging.getLogger("govflow.prefect.approvals")

PAUSE_KEY_PREFIX = "govflow-approval"
_INPUT_KEY_PREFIX = "govflow-approval"


def pause_key(platform: str, approval_id: str, pause: int) -> str:
    """The Prefect pause key of the ``pause``-th pause for an approval, parseable by the resumer
    (the approval id goes last, so it may contain any character). Prefect refuses a key it has
    seen in the run, so a re-run after a resume moves on to the next number by itself."""
    return f"{PAUSE_KEY_PREFIX}:{platform}:{pause}:{approval_id}"


def parse_pause_key(key: str | None) -> tuple[str, str] | None:
    """``(platform, approval_id)`` of a govflow pause key, None for any other key."""
    if not key or not key.startswith(PAUSE_KEY_PREFIX + ":"):
        return None
    parts = key.split(":", 3)
    if len(parts) != 4 or not parts[3]:
        return None
    return parts[1], parts[3]


def _input_key(request: GateRequest) -> str:
    # Flow-run input keys allow letters, digits and dashes; one per distinct gate request.
    return f"{_INPUT_KEY_PREFIX}-{request.request_digest().split(':')[-1][:32]}"


def _flow_run_context() -> Any:
    from prefect.context import FlowRunContext, TaskRunContext

    if TaskRunContext.get() is not None:
        raise RuntimeError(
            "gate_with_pause runs in a flow, not in a task: Prefect pauses flow runs only. Call it "
            "from the flow body, or wait inside the task with gate(..., wait=True)."
        )
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("gate_with_pause must be called while a Prefect flow runs")
    return context


async def _remembered_approval(key: str) -> str | None:
    from prefect.input.actions import aread_flow_run_input

    stored = await aread_flow_run_input(key)
    if isinstance(stored, Mapping) and isinstance(stored.get("approval_id"), str):
        return str(stored["approval_id"])
    return None


async def _remember_approval(key: str, approval_id: str, platform: str) -> None:
    from prefect.input.actions import acreate_flow_run_input

    with contextlib.suppress(Exception):  # already stored by an earlier pass of this run
        await acreate_flow_run_input(key, {"approval_id": approval_id, "platform": platform})


async def _resume_when_decided(
    platform: Platform, approval_id: str, flow_run_id: UUID, poll: float, timeout: float | None
) -> None:
    """Resume the paused run once ``approval_id`` is decided, whatever the decision."""
    from prefect.flow_runs import aresume_flow_run

    try:
        await _core_wait_for_approval(platform, approval_id, timeout=timeout, poll=poll)
    except asyncio.CancelledError:
        raise
    except GovflowError as exc:  # denied / expired / failed: resume so the gate says so at once
        logger.info("approval %s ended (%s); resuming the flow run", approval_id, exc)
    except Exception:
        logger.warning("govflow: stopped watching approval %s", approval_id, exc_info=True)
        return
    for _ in range(50):  # the pause may not have reached the API yet
        try:
            await aresume_flow_run(flow_run_id)
            return
        except Exception:
            await asyncio.sleep(0.2)


async def agate_with_pause(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    *,
    suspend: bool = False,
    timeout: int = 3600,
    poll_interval: int = 10,
    approval_poll: float = 2.0,
) -> dict[str, Any]:
    """:func:`gate_with_pause` for async flows: ``await agate_with_pause(block, "payout")``."""
    from prefect.flow_runs import apause_flow_run, asuspend_flow_run

    flow_context = _flow_run_context()
    flow_run = flow_context.flow_run
    if suspend and flow_run.deployment_id is None:
        raise ConfigurationError(
            "gate_with_pause(suspend=True) needs a deployed flow run (Prefect re-runs a suspended "
            "flow from its deployment); this run has no deployment. Deploy the flow "
            "(flow.serve() or a work pool), or pause in-process with suspend=False."
        )
    request = gate_request(action, resource, payload, labels, purpose)
    context = run_context()
    input_key = _input_key(request)
    approval: Approval | None = None
    async with platform_block.get_platform() as platform:
        known = await _remembered_approval(input_key) if suspend else None
        if known:
            logger.info("%s: asking again with approval %s after the resume", action, known)
        decision: Decision = await platform.gate(
            context, request.model_copy(update={"approval_id": known}) if known else request
        )
        watcher: asyncio.Task[None] | None = None
        try:
            for pause in itertools.count():
                if not (decision.pending and decision.approval_id):
                    break
                approval_id = decision.approval_id
                key = pause_key(platform.name, approval_id, pause)
                if suspend:
                    await _remember_approval(input_key, approval_id, platform.name)
                    logger.info(
                        "%s needs approval %s (%s); suspending the flow run until it is decided",
                        action,
                        approval_id,
                        decision.reason,
                    )
                    await asuspend_flow_run(timeout=timeout, key=key)  # exits this process
                else:
                    logger.info(
                        "%s needs approval %s (%s); pausing the flow run until it is decided",
                        action,
                        approval_id,
                        decision.reason,
                    )
                    if watcher is None:
                        watcher = asyncio.create_task(
                            _resume_when_decided(
                                platform, approval_id, flow_run.id, approval_poll, timeout
                            )
                        )
                    await apause_flow_run(timeout=timeout, poll_interval=poll_interval, key=key)
                decision = await platform.gate(
                    context, request.model_copy(update={"approval_id": approval_id})
                )
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(BaseException):
                    await watcher
        if decision.approval_id and not decision.pending:
            with contextlib.suppress(Exception):
                approval = await platform.get_approval(decision.approval_id)
    return finish(action, decision, approval)


def gate_with_pause(
    platform_block: GovflowPlatformBlock,
    action: str,
    resource: str | None = None,
    payload: Any = None,
    labels: Mapping[str, Any] | None = None,
    purpose: str | None = None,
    *,
    suspend: bool = False,
    timeout: int = 3600,
    poll_interval: int = 10,
    approval_poll: float = 2.0,
) -> dict[str, Any]:
    """Call from a sync FLOW: gate; while pending, pause (or suspend) the flow run until the
    approval is decided. The decision dict when allowed; deny -> :class:`GovernanceDenied`.

    ``timeout`` bounds each pause (seconds), ``poll_interval`` is how often Prefect checks for
    the resume, ``approval_poll`` how often govflow checks the approval (with backoff).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("in an async flow, use: await agate_with_pause(...)")
    # asyncio.run in this thread keeps the flow run's context (contextvars) for Prefect's calls.
    return _run_sync(
        agate_with_pause(
            platform_block,
            action,
            resource,
            payload,
            labels,
            purpose,
            suspend=suspend,
            timeout=timeout,
            poll_interval=poll_interval,
            approval_poll=approval_poll,
        )
    )


async def aresume_decided_flow_runs(
    platform_block: GovflowPlatformBlock, *, limit: int = 200
) -> list[dict[str, Any]]:
    """Resume every paused or suspended flow run that waits, through govflow, for an approval
    of this platform that has been decided (approved, denied, expired). One row per waiting run:
    ``flow_run_id``, ``flow_run_name``, ``approval_id``, ``status`` and ``resumed``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.flow_runs import aresume_flow_run

    rows: list[dict[str, Any]] = []
    async with get_client() as client, platform_block.get_platform() as platform:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
            limit=limit,
        )
        for run in runs:
            parsed = parse_pause_key(run.state.state_details.pause_key if run.state else None)
            if parsed is None or parsed[0] != platform.name:
                continue
            approval_id = parsed[1]
            row: dict[str, Any] = {
                "flow_run_id": str(run.id),
                "flow_run_name": run.name,
                "approval_id": approval_id,
                "status": None,
                "resumed": False,
            }
            try:
                status = (await platform.get_approval(approval_id)).status
                row["status"] = status.value
                if status.final:
                    await aresume_flow_run(run.id)
                    row["resumed"] = True
                    logger.info(
                        "approval %s is %s: resumed flow run %s", approval_id, status.value, run.name
                    )
            except Exception as exc:  # one bad run must not stop the others
                row["error"] = f"{type(exc).__name__}: {exc}"
                logger.warning("govflow: flow run %s not resumed: %s", run.name, row["error"])
            rows.append(row)
    return rows


def resume_decided_flow_runs(
    platform_block: GovflowPlatformBlock, *, limit: int = 200
) -> list[dict[str, Any]]:
    """Blocking :func:`aresume_decided_flow_runs`."""
    return _run_sync(aresume_decided_flow_runs(platform_block, limit=limit))


def _resumer_flow() -> Any:
    from prefect import flow
    from prefect.blocks.core import Block

    @flow(name="govflow-approval-resumer", log_prints=False)
    def resume_approved_flow_runs(platform_block: str) -> list[dict[str, Any]]:
        """Resume the suspended flow runs whose approval is decided; ``platform_block`` is a
        saved block as ``"<block type slug>/<name>"``, e.g. ``"govflow-local-platform/default"``."""
        block = Block.load(platform_block)
        return resume_decided_flow_runs(block)

    return resume_approved_flow_runs


resume_approved_flow_runs = _resumer_flow()

__all__ = [
    "PAUSE_KEY_PREFIX",
    "agate_with_pause",
    "aresume_decided_flow_runs",
    "gate_with_pause",
    "parse_pause_key",
    "pause_key",
    "resume_approved_flow_runs",
    "resume_decided_flow_runs",
]
