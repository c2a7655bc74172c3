"""Governing one step: ask, wait for a person if needed, run, and leave evidence.

The orchestrator adapters use these pieces in their own idiom (an Airflow operator defers instead
of waiting here); plain Python pipelines and the demo use :class:`Governor` directly::

    async with LocalPlatform("policy.yaml") as platform:
        governor = Governor(platform)
        async with governor.step(context, GateRequest(action="payout")) as step:
            step.output = pay(...)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .approvals import gate_and_wait
from .canonical import digest
from .errors import ApprovalRequiredError, DeniedError
from .evidence import EvidenceLedger, EvidenceRecorder
from .models import Approval, Decision, Evidence, GateRequest, RunContext, utcnow
from .platforms.base import Capability, Platform

logger = logging.getLogger("govflow.governor")


@dataclass
class GovernedStep:
    """What a governed step knows while it runs; set ``output`` to record its digest."""

    context: RunContext
    decision: Decision | None
    approval: Approval | None = None
    output: Any = None
    started_at: datetime = field(default_factory=utcnow)
    evidence: Evidence | None = None


class Governor:
    """Gate, approval waiting and evidence for steps run against one platform."""

    def __init__(
        self,
        platform: Platform,
        *,
        recorder: EvidenceRecorder | None = None,
        approval_timeout: float | None = None,
        poll: float = 2.0,
        max_poll: float = 30.0,
    ) -> None:
        platform.require(Capability.GATE)
        self.platform = platform
        if recorder is None:
            # The local platform's ledger is its evidence store; other platforms chain locally first.
            ledger = getattr(platform, "ledger", None)
            recorder = EvidenceRecorder(ledger if isinstance(ledger, EvidenceLedger) else None)
        self.recorder = recorder
        self.approval_timeout = approval_timeout
        self.poll = poll
        self.max_poll = max_poll

    async def check(
        self, context: RunContext, request: GateRequest, *, wait: bool = True, timeout: float | None = None
    ) -> tuple[Decision, Approval | None]:
        """Ask the platform; raise DeniedError, or wait for a pending approval and ask again.

        With ``wait=False`` a pending decision raises ApprovalRequiredError carrying the approval id,
        for callers that wait elsewhere (a deferred Airflow task, a Dagster sensor).
        """
        decision, approval = await self._decide(context, request, wait=wait, timeout=timeout)
        if decision.denied:
            raise _denied(request, decision)
        return decision, approval

    async def _decide(
        self, context: RunContext, request: GateRequest, *, wait: bool, timeout: float | None
    ) -> tuple[Decision, Approval | None]:
        decision, approval = await gate_and_wait(
            self.platform,
            context,
            request,
            wait=wait,
            timeout=timeout if timeout is not None else self.approval_timeout,
            poll=self.poll,
            max_poll=self.max_poll,
        )
        if decision.pending:  # not waited for, no approval to wait on, or still pending after it
            raise _required(request, decision)
        return decision, approval

    @asynccontextmanager
    async def step(
        self,
        context: RunContext,
        request: GateRequest | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> AsyncIterator[GovernedStep]:
        """Gate the step (when a request is given), run the body, and record one evidence record.

        A denial is recorded as the step's outcome ``denied`` and raised as DeniedError; a failing
        body is recorded as ``failed`` and re-raised.
        """
        started = utcnow()
        clock = time.monotonic()
        decision: Decision | None = None
        approval: Approval | None = None
        if request is not None:
            decision, approval = await self._decide(context, request, wait=wait, timeout=timeout)
            if decision.denied:
                denied = _denied(request, decision)
                await self._finish(context, started, clock, "denied", decision=decision, error=denied)
                raise denied
        handle = GovernedStep(context=context, decision=decision, approval=approval, started_at=started)
        try:
            yield handle
        except BaseException as exc:
            await self._finish(context, started, clock, "failed", decision=decision, approval=approval, error=exc)
            raise
        handle.evidence = await self._finish(
            context,
            started,
            clock,
            "success",
            decision=decision,
            approval=approval,
            output_digest=digest(handle.output) if handle.output is not None else None,
        )

    async def _finish(
        self,
        context: RunContext,
        started: datetime,
        clock: float,
        outcome: str,
        *,
        decision: Decision | None = None,
        approval: Approval | None = None,
        error: BaseException | None = None,
        output_digest: str | None = None,
    ) -> Evidence | None:
        return await self.recorder.arecord(
            context,
            event="step.finished",
            outcome=outcome,
            started_at=started,
            ended_at=utcnow(),
            decision=decision,
            approval=approval,
            output_digest=output_digest,
            error=error,
            details={"duration_ms": round((time.monotonic() - clock) * 1000, 3)},
        )


def _denied(request: GateRequest, decision: Decision) -> DeniedError:
    return DeniedError(
        f"{request.action} denied: {decision.reason or 'no reason given'}",
        platform=decision.platform,
        reason=decision.reason,
        decision_id=decision.decision_id,
        approval_id=decision.approval_id,
    )


def _required(request: GateRequest, decision: Decision) -> ApprovalRequiredError:
    return ApprovalRequiredError(
        f"{request.action} needs approval {decision.approval_id}; decide it, then run the step again",
        platform=decision.platform,
        approval_id=decision.approval_id,
    )


__all__ = ["GovernedStep", "Governor"]
