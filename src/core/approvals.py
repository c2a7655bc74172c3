"""Waiting for a human decision on an approval, on any platform that offers approvals.

::

    decision = await platform.gate(context, request)
    if decision.pending:
        approval = await wait_for_approval(platform, decision.approval_id, timeout=3600)

Polling starts every ``poll`` seconds and backs off (times ``backoff``, with a little jitter) to at
most ``max_poll`` seconds, so a wait of hours costs few requests; it never sleeps past the
deadline, and it polls once more at the deadline before giving up. A platform that is briefly
down or rate limiting does not end the wait: those errors are logged and polling goes on until
the deadline (a rate limit's ``retry_after`` is honoured).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from .errors import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    ApprovalTimeoutError,
    ConfigurationError,
    RateLimitError,
    TransportError,
    UnavailableError,
)
from .models import Approval, ApprovalStatus, Decision, GateRequest, RunContext, isoformat
from .platforms.base import Platform

logger = logging.getLogger("govflow.approvals")

_TRANSIENT = (UnavailableError, TransportError, RateLimitError)


async def wait_for_approval(
    platform: Platform,
    approval_id: str,
    *,
    timeout: float | None = None,
    poll: float = 2.0,
    max_poll: float = 30.0,
    backoff: float = 1.5,
) -> Approval:
    """Poll ``platform.get_approval`` until the approval is decided; return it once approved.

    ``timeout`` is in seconds (None waits as long as it takes). Raises ApprovalDeniedError (who
    denied it and their comment are in the message), ApprovalExpiredError, ApprovalTimeoutError
    (govflow stopped waiting; the approval is still pending) and, for an approval the platform
    marks ``failed``, ApprovalFailedError. All carry ``approval_id``. When the platform stays
    unreachable until the deadline, its last transient error is raised.
    """
    if poll <= 0 or max_poll <= 0:
        raise ConfigurationError(
            f"poll ({poll}) and max_poll ({max_poll}) must be positive seconds"
        )
    if backoff < 1:
        raise ConfigurationError(
            f"backoff ({backoff}) must be at least 1 (1 = poll at a fixed rate)"
        )
    if timeout is not None and timeout < 0:
        raise ConfigurationError(f"timeout ({timeout}) must be zero or more seconds, or None")
    platform_name = getattr(platform, "name", None)
    started = time.monotonic()
    deadline = started + timeout if timeout is not None else None
    delay = min(poll, max_poll)
    last_error: Exception | None = None
    polls = 0
    approval: Approval | None = None  # the last state seen
    logger.info(
        "waiting for approval %s on %s (%s)",
        approval_id,
        platform_name,
        f"timeout {timeout:g}s" if timeout is not None else "no timeout",
    )
    while True:
        polls += 1
        floor = 0.0  # a rate limit's Retry-After: sleep at least this long
        try:
            approval = await platform.get_approval(approval_id)
            last_error = None
        except _TRANSIENT as exc:
            last_error = exc
            if isinstance(exc, RateLimitError) and exc.retry_after:
                floor = exc.retry_after
            logger.warning(
                "approval %s: %s while polling (%s); still waiting",
                approval_id,
                type(exc).__name__,
                exc,
            )
        else:
            if approval.status is not ApprovalStatus.PENDING:
                return _finish(approval, approval_id, platform_name, time.monotonic() - started)

        now = time.monotonic()
        if deadline is not None and now >= deadline:
            waited = now - started
            logger.info(
                "stopped waiting for approval %s after %.1fs (%d polls)", approval_id, waited, polls
            )
            if approval is None and last_error is not None:
                raise last_error  # never reached the platform: that, not "pending", is the news
            raise ApprovalTimeoutError(
                f"approval {approval_id} is still pending after {waited:.0f}s of waiting"
                f"{_expiry_note(approval)}; it stays open: call wait_for_approval again (or with a "
                "longer timeout) to keep waiting",
                platform=platform_name,
                approval_id=approval_id,
            )
        # Jitter spreads the polls of many waiting steps so they do not arrive in lockstep.
        pause = max(floor, min(delay * random.uniform(0.85, 1.0), max_poll))
        if deadline is not None:
            pause = min(pause, deadline - now)
        await asyncio.sleep(pause)
        delay = min(delay * backoff, max_poll)


def _finish(approval: Approval, approval_id: str, platform: str | None, waited: float) -> Approval:
    status = approval.status
    logger.info(
        "approval %s %s%s after %.1fs",
        approval_id,
        status.value,
        f" by {approval.decided_by}" if approval.decided_by else "",
        waited,
    )
    if status is ApprovalStatus.APPROVED:
        return approval
    if status is ApprovalStatus.DENIED:
        comment = f": {approval.comment}" if approval.comment else " (no comment)"
        raise ApprovalDeniedError(
            f"approval {approval_id} was denied by {approval.decided_by or 'an approver'}{comment}",
            platform=platform,
            approval_id=approval_id,
            detail=approval.raw,
        )
    if status is ApprovalStatus.EXPIRED:
        when = f" at {isoformat(approval.expires_at)}" if approval.expires_at else ""
        raise ApprovalExpiredError(
            f"approval {approval_id} expired{when} before anybody decided it; run the step again "
            "to ask for a new approval",
            platform=platform,
            approval_id=approval_id,
            detail=approval.raw,
        )
    # FAILED: the platform gave up on the approval itself; waiting longer cannot help.
    comment = f": {approval.comment}" if approval.comment else ""
    raise ApprovalFailedError(
        f"approval {approval_id} failed on the platform{comment}",
        platform=platform,
        approval_id=approval_id,
        detail=approval.raw,
    )


def _expiry_note(approval: Approval | None) -> str:
    if approval is not None and approval.expires_at is not None:
        return f" (it expires at {isoformat(approval.expires_at)})"
    return ""


async def gate_and_wait(
    platform: Platform,
    context: RunContext,
    request: GateRequest,
    *,
    wait: bool = True,
    timeout: float | None = None,
    poll: float = 2.0,
    max_poll: float = 30.0,
    on_wait: Callable[[Decision], None] | None = None,
) -> tuple[Decision, Approval | None]:
    """Gate ``request``; when pending and ``wait``, wait for the approval and gate again with its id.

    ``on_wait`` is called with the pending decision just before the wait (adapters log there).

    Returns the last decision (allow, deny, or pending when not waiting) and the approval waited
    for, if any; raising on a deny is the caller's choice. The second gate names the approval
    because the approval is bound to this run and step, and platforms whose approval releases a
    held call (Velerian) need to be told which one. Errors of the wait are
    :func:`wait_for_approval`'s.
    """
    decision = await platform.gate(context, request)
    if not (wait and decision.pending and decision.approval_id):
        return decision, None
    if on_wait is not None:
        on_wait(decision)
    approval = await wait_for_approval(
        platform, decision.approval_id, timeout=timeout, poll=poll, max_poll=max_poll
    )
    again = request.model_copy(update={"approval_id": decision.approval_id})
    return await platform.gate(context, again), approval


__all__ = ["gate_and_wait", "wait_for_approval"]
