"""The high-level evidence API the orchestrator adapters call at the end of every step.

Emission must never slow or fail a task: :meth:`EvidenceRecorder.record` catches every error,
logs one warning on the ``govflow.evidence`` logger and returns None. ``strict=True`` (tests, the
CLI) raises instead. Nothing secret is recorded: an exception becomes a one-line summary, and the
summary, ``details`` and ``references`` pass through the process-wide :data:`default_redactor`,
which knows every credential the platform clients were given.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..models import Approval, Decision, Evidence, RunContext
from ..platforms.base import Capability, Platform
from ..redaction import Redactor, default_redactor
from .ledger import EvidenceLedger
from .outbox import DeliveryReport, EvidenceOutbox, sender_for

logger = logging.getLogger("govflow.evidence")

ERROR_SUMMARY_LIMIT = 500


def error_summary(error: BaseException | str, redactor: Redactor | None = None) -> str:
    """``"TypeName: message"`` (or the text given), redacted, then cut to ~500 characters.

    Redaction comes first: cutting first could leave half a secret that no longer matches.
    """
    if isinstance(error, BaseException):
        message = str(error).strip()
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    else:
        text = error
    text = (redactor or default_redactor).redact(text)
    if len(text) > ERROR_SUMMARY_LIMIT:
        text = text[: ERROR_SUMMARY_LIMIT - 1] + "…"
    return text


class EvidenceRecorder:
    """Record one evidence record per step run or governance event, without ever failing the step.

    ``ledger`` defaults to the ledger at ``GOVFLOW_LEDGER_URL`` (or govflow's data directory),
    opened on first use, so creating a recorder never touches a database.

    ``forward_to`` lists remote evidence sinks (platforms with the evidence capability, such as
    Lattix): each record is chained locally and queued for them in the same transaction, then
    :meth:`flush` (called by :meth:`arecord`) delivers the queue through the durable outbox.
    """

    def __init__(
        self,
        ledger: EvidenceLedger | None = None,
        *,
        strict: bool = False,
        redactor: Redactor | None = None,
        forward_to: Sequence[Platform] = (),
    ) -> None:
        for platform in forward_to:
            platform.require(Capability.EVIDENCE)  # fail now, not at the end of a run
        self._ledger = ledger
        self._ledger_lock = threading.Lock()
        self.strict = strict
        self.redactor = redactor or default_redactor
        self.forward_to = tuple(forward_to)

    @property
    def ledger(self) -> EvidenceLedger:
        if self._ledger is None:
            with self._ledger_lock:
                if self._ledger is None:
                    self._ledger = EvidenceLedger()
        return self._ledger

    def record(
        self,
        context: RunContext,
        *,
        event: str,
        outcome: str,
        stream: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        decision: Decision | None = None,
        approval: Approval | None = None,
        references: dict[str, str] | None = None,
        input_digest: str | None = None,
        output_digest: str | None = None,
        error: BaseException | str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Evidence | None:
        """Append a record; returns it, or None (after a warning) if it could not be recorded."""
        try:
            refs: dict[str, str] = {}
            decision_id: str | None = None
            approval_id: str | None = None
            extra: dict[str, Any] = {}
            if decision is not None:
                decision_id = decision.decision_id
                approval_id = decision.approval_id
                refs.update(decision.references)
                refs.setdefault("platform", decision.platform)
            if approval is not None:
                approval_id = approval.id
                extra["approval_status"] = approval.status.value
                if approval.decided_by is not None:
                    extra["approval_decided_by"] = approval.decided_by
            refs.update(references or {})
            merged = {**extra, **(details or {})}
            return self.ledger.append(
                context=context,
                event=event,
                outcome=outcome,
                stream=stream,
                started_at=started_at,
                ended_at=ended_at,
                decision_id=decision_id,
                approval_id=approval_id,
                references={key: self.redactor.redact(str(value)) for key, value in refs.items()},
                input_digest=input_digest,
                output_digest=output_digest,
                error=error_summary(error, self.redactor) if error is not None else None,
                details=self.redactor.redact_value(merged),
                forward_to=[platform.name for platform in self.forward_to],
            )
        except Exception as exc:
            if self.strict:
                raise
            _warn(context, event, exc, self.redactor)
            return None

    async def arecord(
        self,
        context: RunContext,
        *,
        event: str,
        outcome: str,
        stream: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        decision: Decision | None = None,
        approval: Approval | None = None,
        references: dict[str, str] | None = None,
        input_digest: str | None = None,
        output_digest: str | None = None,
        error: BaseException | str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Evidence | None:
        """:meth:`record` in a worker thread: the event loop never waits on the disk."""
        call = functools.partial(
            self.record,
            context,
            event=event,
            outcome=outcome,
            stream=stream,
            started_at=started_at,
            ended_at=ended_at,
            decision=decision,
            approval=approval,
            references=references,
            input_digest=input_digest,
            output_digest=output_digest,
            error=error,
            details=details,
        )
        try:
            record = await asyncio.to_thread(call)
        except Exception as exc:  # e.g. the loop's executor already shut down
            if self.strict:
                raise
            _warn(context, event, exc, self.redactor)
            return None
        if record is not None and self.forward_to:
            await self.flush()
        return record

    @property
    def outbox(self) -> EvidenceOutbox:
        return EvidenceOutbox(self.ledger.url)

    async def flush(self) -> list[DeliveryReport]:
        """Deliver what the outbox holds for every ``forward_to`` platform; never raises.

        A platform that is down keeps its records queued for the next flush; nothing is sent twice.
        """
        reports = []
        outbox = self.outbox
        for platform in self.forward_to:
            try:
                reports.append(await outbox.deliver(platform.name, sender_for(platform)))
            except Exception as exc:  # the outbox's own database failing must not fail the step
                if self.strict:
                    raise
                logger.warning("evidence outbox for %s not flushed: %s", platform.name, error_summary(exc, self.redactor))
        return reports


def _warn(context: Any, event: str, exc: Exception, redactor: Redactor) -> None:
    try:
        logger.warning(
            "evidence not recorded (%s in %s, run %s); the step goes on: %s",
            event,
            getattr(context, "stream", "?"),
            getattr(context, "run_id", "?"),
            error_summary(exc, redactor),
        )
    except Exception:  # a broken context or exception must not escape the recorder either
        logger.warning("evidence not recorded (%s); the step goes on", event)


__all__ = ["ERROR_SUMMARY_LIMIT", "EvidenceRecorder", "error_summary"]
