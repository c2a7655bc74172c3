"""The durable evidence outbox: records bound for a remote platform, delivered exactly once.

A record is committed to the local ledger first, and in the same transaction queued here for each
remote sink (``EvidenceLedger.append(..., forward_to=["lattix"])``). :meth:`EvidenceOutbox.deliver`
sends what is due, in chain order, with an idempotency key derived from the record's digest, so
every attempt for one record carries the same key:

- success: the row is marked ``delivered`` with the platform's reference;
- the platform is down, slow or rate-limiting (UnavailableError, TransportError, RateLimitError),
  or our credentials are refused: the row stays ``pending`` with a growing back-off (or the
  platform's Retry-After) and the batch stops, so a platform outage costs one request per flush;
- the platform rejects the record itself (any other 4xx): the row is marked ``failed`` with the
  error, kept for an operator (``govflow evidence outbox``), and delivery goes on.

Concurrent deliverers (several workers flushing at once) claim rows with a short lease, so one
record is in flight from one worker at a time; if a worker dies mid-send, the lease runs out and
the record is sent again under the same idempotency key, which the platform uses to store it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .. import db
from ..errors import (
    AuthenticationError,
    ForbiddenError,
    GovflowError,
    RateLimitError,
    TransportError,
    UnavailableError,
)
from ..models import Evidence, isoformat, utcnow
from ..platforms.base import Platform
from .schema import outbox_table, records_table

logger = logging.getLogger("govflow.evidence.outbox")

Sender = Callable[[Evidence, str], Awaitable[str]]
"""Delivers one record with an idempotency key and returns the platform's reference for it."""

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

_BACKOFF_BASE_S = 1.0
_BACKOFF_CAP_S = 300.0
# Transient failures and credential problems: keep the record and try later.
_KEEP_TRYING = (UnavailableError, TransportError, RateLimitError, AuthenticationError, ForbiddenError)


def idempotency_key(record: Evidence) -> str:
    """The same key for every attempt to deliver one record: its digest, without the prefix."""
    return "govflow-" + record.digest.removeprefix("sha256:")


def sender_for(platform: Platform) -> Sender:
    """Deliver through a platform's ``record_evidence``."""

    async def send(record: Evidence, key: str) -> str:
        return await platform.record_evidence(record, idempotency_key=key)

    return send


def enqueue(conn: Connection, record: Evidence, sinks: Sequence[str]) -> None:
    """Queue ``record`` for each sink inside the caller's transaction (idempotent)."""
    now = isoformat(utcnow())
    rows = [
        {
            "sink": sink,
            "digest": record.digest,
            "stream": record.stream,
            "seq": record.seq,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for sink in dict.fromkeys(sinks)
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(outbox_table).values(rows).on_conflict_do_nothing())


@dataclass
class DeliveryReport:
    """What one :meth:`EvidenceOutbox.deliver` call did."""

    sink: str
    delivered: int = 0
    failed: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.deferred == 0


@dataclass(frozen=True)
class OutboxEntry:
    sink: str
    digest: str
    stream: str
    seq: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    reference: str | None


class EvidenceOutbox:
    """Evidence records waiting for, or delivered to, remote sinks; same database as the ledger."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or db.default_database_url()
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = db.get_engine(self.url)
        return self._engine

    def enqueue(self, record: Evidence, sinks: Sequence[str]) -> None:
        """Queue an already-recorded record for delivery (``append(forward_to=...)`` does it in one go)."""
        with self.engine.begin() as conn:
            enqueue(conn, record, sinks)

    def entries(self, sink: str | None = None, *, status: str | None = None, limit: int | None = None) -> list[OutboxEntry]:
        query = select(outbox_table).order_by(outbox_table.c.id)
        if sink is not None:
            query = query.where(outbox_table.c.sink == sink)
        if status is not None:
            query = query.where(outbox_table.c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with db.read_only(self.engine).begin() as conn:
            return [_entry(row._mapping) for row in conn.execute(query)]

    def counts(self, sink: str | None = None) -> dict[str, int]:
        """Rows per status, e.g. ``{"pending": 3, "delivered": 120}``."""
        query = select(outbox_table.c.status, func.count()).group_by(outbox_table.c.status)
        if sink is not None:
            query = query.where(outbox_table.c.sink == sink)
        with db.read_only(self.engine).begin() as conn:
            return {status: int(count) for status, count in conn.execute(query)}

    def retry_now(self, sink: str | None = None) -> int:
        """Make every pending record due now (after an outage is fixed); returns how many."""
        query = update(outbox_table).where(outbox_table.c.status == PENDING)
        if sink is not None:
            query = query.where(outbox_table.c.sink == sink)
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(next_attempt_at=isoformat(utcnow()))).rowcount)

    async def deliver(self, sink: str, send: Sender, *, limit: int = 100, lease: float = 60.0) -> DeliveryReport:
        """Send the due records of ``sink`` in chain order; never raises for a delivery failure."""
        report = DeliveryReport(sink=sink)
        token = secrets.token_hex(8)
        claimed = await asyncio.to_thread(self._claim, sink, token, limit, lease)
        for index, (row_id, record, attempts) in enumerate(claimed):
            where = f"{record.stream}#{record.seq}"
            try:
                reference = await send(record, idempotency_key(record))
            except GovflowError as exc:
                if not isinstance(exc, _KEEP_TRYING):
                    # The platform rejected this record itself: keep it for an operator, go on.
                    report.failed += 1
                    report.errors.append(f"{where}: {exc}")
                    await asyncio.to_thread(self._finish, row_id, token, FAILED, attempts, error=str(exc))
                    logger.error("%s rejected evidence %s: %s", sink, where, exc)
                    continue
                logger.warning("evidence delivery to %s deferred at %s: %s", sink, where, exc)
                await self._stop(report, claimed[index:], token, exc)
                break
            except Exception as exc:  # a bug in a sender must not lose the record either
                logger.exception("evidence delivery to %s failed unexpectedly at %s", sink, where)
                await self._stop(report, claimed[index:], token, exc)
                break
            report.delivered += 1
            await asyncio.to_thread(self._finish, row_id, token, DELIVERED, attempts, reference=reference)
        return report

    async def _stop(
        self, report: DeliveryReport, rest: list[tuple[int, Evidence, int]], token: str, exc: BaseException
    ) -> None:
        """Back off the record that failed and hand the rest of the batch back unsent."""
        row_id, record, attempts = rest[0]
        report.deferred += len(rest)
        report.errors.append(f"{record.stream}#{record.seq}: {type(exc).__name__}: {exc}")
        await asyncio.to_thread(self._defer, row_id, token, attempts, exc)
        await asyncio.to_thread(self._release, [entry[0] for entry in rest[1:]], token)

    # --- rows ----------------------------------------------------------------------------

    def _claim(self, sink: str, token: str, limit: int, lease: float) -> list[tuple[int, Evidence, int]]:
        now = utcnow()
        now_text = isoformat(now)
        with self.engine.begin() as conn:
            due = select(outbox_table.c.id).where(
                outbox_table.c.sink == sink,
                outbox_table.c.status == PENDING,
                outbox_table.c.next_attempt_at <= now_text,
                (outbox_table.c.claimed_until.is_(None)) | (outbox_table.c.claimed_until < now_text),
            )
            ids = [row[0] for row in conn.execute(due.order_by(outbox_table.c.id).limit(limit))]
            if not ids:
                return []
            # The WHERE is re-checked row by row, so two deliverers never claim the same row.
            conn.execute(
                update(outbox_table)
                .where(
                    outbox_table.c.id.in_(ids),
                    outbox_table.c.status == PENDING,
                    (outbox_table.c.claimed_until.is_(None)) | (outbox_table.c.claimed_until < now_text),
                )
                .values(claim_token=token, claimed_until=isoformat(now + timedelta(seconds=lease)))
            )
            rows = conn.execute(
                select(outbox_table.c.id, outbox_table.c.attempts, records_table.c.body, outbox_table.c.digest)
                .join(records_table, records_table.c.digest == outbox_table.c.digest)
                .where(outbox_table.c.claim_token == token)
                .order_by(outbox_table.c.id)
            ).all()
        # The stored body is what was hashed, so it holds everything but the digest itself.
        return [
            (int(row[0]), Evidence.model_validate({**json.loads(row[2]), "digest": row[3]}), int(row[1]))
            for row in rows
        ]

    def _finish(
        self,
        row_id: int,
        token: str,
        status: str,
        attempts: int,
        *,
        reference: str | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts + 1,
            "claim_token": None,
            "claimed_until": None,
            "last_error": error,
        }
        if status == DELIVERED:
            values.update(reference=reference, delivered_at=isoformat(utcnow()))
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row_id, outbox_table.c.claim_token == token)
                .values(**values)
            )

    def _defer(self, row_id: int, token: str, attempts: int, exc: BaseException) -> None:
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = min(float(retry_after), _BACKOFF_CAP_S)
        else:
            delay = random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempts))
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == row_id, outbox_table.c.claim_token == token)
                .values(
                    attempts=attempts + 1,
                    next_attempt_at=isoformat(utcnow() + timedelta(seconds=delay)),
                    claim_token=None,
                    claimed_until=None,
                    last_error=f"{type(exc).__name__}: {exc}"[:1000],
                )
            )

    def _release(self, row_ids: list[int], token: str) -> None:
        if not row_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id.in_(row_ids), outbox_table.c.claim_token == token)
                .values(claim_token=None, claimed_until=None)
            )


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        sink=row["sink"],
        digest=row["digest"],
        stream=row["stream"],
        seq=int(row["seq"]),
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00")),
        last_error=row["last_error"],
        reference=row["reference"],
    )


__all__ = [
    "DeliveryReport",
    "EvidenceOutbox",
    "OutboxEntry",
    "Sender",
    "enqueue",
    "idempotency_key",
    "sender_for",
]
