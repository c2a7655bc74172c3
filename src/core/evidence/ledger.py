"""The evidence ledger: hash-chained records per stream in SQLite or PostgreSQL.

Appends are safe from many processes and hosts at once. One append is one transaction that locks
the stream's row in ``evidence_heads`` (SQLite: ``BEGIN IMMEDIATE`` already holds the database's
write lock; PostgreSQL: ``SELECT ... FOR UPDATE`` on the head row, created first with
``ON CONFLICT DO NOTHING``), reads the last ``seq`` and ``digest``, inserts the sealed record and
moves the head. Unique constraints on ``(stream, seq)`` and ``(stream, prev)`` make a fork
impossible even if that lock were bypassed; a writer that hits them, a lock timeout or a
serialisation failure retries a bounded number of times and then raises :class:`LedgerError`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Engine, Row, Select, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from .. import db
from ..canonical import canonical_str, sha256_hex
from ..errors import LedgerError, NotFoundError
from ..models import Evidence, RunContext, isoformat, utcnow
from .export import export_header, export_line, write_lines
from .outbox import enqueue
from .schema import heads_table, records_table
from .verify import ChainVerifier, Entry, Head, VerifyReport

logger = logging.getLogger("govflow.evidence")

# Bounded retries: enough to ride out a burst of contention, short enough (well under a second of
# back-off in total) that a real fault surfaces promptly.
MAX_APPEND_ATTEMPTS = 8
_BACKOFF_BASE_S = 0.005
_BACKOFF_CAP_S = 0.25

# PostgreSQL SQLSTATEs worth another try: serialization_failure, deadlock_detected,
# lock_not_available, admin/crash shutdown of the backend.
_PG_RETRY_STATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
_PG_UNIQUE_VIOLATION = "23505"

_RECORD_COLUMNS = (
    records_table.c.id,
    records_table.c.stream,
    records_table.c.seq,
    records_table.c.digest,
    records_table.c.prev,
    records_table.c.event,
    records_table.c.outcome,
    records_table.c.run_id,
    records_table.c.pipeline,
    records_table.c.recorded_at,
    records_table.c.body,
)



class StreamInfo(BaseModel):
    """One evidence stream: its length and head as the ledger appended them."""

    model_config = ConfigDict(frozen=True)

    name: str
    length: int
    head: str | None
    first_recorded_at: datetime | None = None
    last_recorded_at: datetime | None = None


class _HeadMoved(Exception):
    """The head row changed under us: another writer got in (only possible without the lock)."""


class EvidenceLedger:
    """Append, read, verify and export hash-chained evidence records.

    ``url`` is a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user@host/db``); the default
    is ``GOVFLOW_LEDGER_URL``, else a SQLite file in govflow's data directory. Ledgers are cheap:
    all ledgers of one URL share one engine per process, and a ledger pickles as its URL.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url: str = url or db.default_database_url()
        self._engine_pid = os.getpid()
        self._engine: Engine = _open(self.url)

    def __repr__(self) -> str:
        return f"EvidenceLedger(url={db.display_url(self.url)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"])  # type: ignore[misc]

    # --- writing -------------------------------------------------------------------------

    def append(
        self,
        *,
        context: RunContext,
        event: str,
        outcome: str,
        stream: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        decision_id: str | None = None,
        approval_id: str | None = None,
        references: dict[str, str] | None = None,
        input_digest: str | None = None,
        output_digest: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
        forward_to: Sequence[str] = (),
    ) -> Evidence:
        """Seal a record at the end of its stream (default ``context.stream``) and return it.

        ``forward_to`` names remote sinks (platforms) the record must also reach: it is queued in
        the evidence outbox in the same transaction, so it cannot be recorded and then forgotten.

        Raises :class:`LedgerError` when the database cannot be written; invalid fields raise
        pydantic's ``ValidationError`` and values with no canonical JSON form (NaN, huge ints)
        :class:`~govflow.core.errors.CanonicalizationError`, without touching the ledger.
        """
        name = stream or context.stream
        fields: dict[str, Any] = {
            "context": context,
            "event": event,
            "outcome": outcome,
            "started_at": started_at,
            "ended_at": ended_at,
            "decision_id": decision_id,
            "approval_id": approval_id,
            "references": references or {},
            "input_digest": input_digest,
            "output_digest": output_digest,
            "error": error,
            "details": details or {},
        }
        last: BaseException | None = None
        for attempt in range(1, MAX_APPEND_ATTEMPTS + 1):
            try:
                return self._append_once(name, fields, tuple(forward_to))
            except (_HeadMoved, SQLAlchemyError) as exc:
                if not _retryable(exc):
                    raise LedgerError(
                        f"could not append to evidence stream {name!r} in {db.display_url(self.url)}: "
                        f"{_reason(exc)}"
                    ) from exc
                last = exc
                logger.debug(
                    "append to %r conflicted (attempt %d): %s", name, attempt, _reason(exc)
                )
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)))
        assert last is not None
        raise LedgerError(
            f"could not append to evidence stream {name!r} after {MAX_APPEND_ATTEMPTS} attempts: "
            f"{_reason(last)}. Either other writers kept the stream locked, or its head and its "
            "records disagree; run `govflow evidence verify`"
        ) from last

    async def aappend(
        self,
        *,
        context: RunContext,
        event: str,
        outcome: str,
        stream: str | None = None,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        decision_id: str | None = None,
        approval_id: str | None = None,
        references: dict[str, str] | None = None,
        input_digest: str | None = None,
        output_digest: str | None = None,
        error: str | None = None,
        details: dict[str, Any] | None = None,
        forward_to: Sequence[str] = (),
    ) -> Evidence:
        """:meth:`append` in a worker thread, so the event loop never waits on a disk flush."""
        call = functools.partial(
            self.append,
            context=context,
            event=event,
            outcome=outcome,
            stream=stream,
            started_at=started_at,
            ended_at=ended_at,
            decision_id=decision_id,
            approval_id=approval_id,
            references=references,
            input_digest=input_digest,
            output_digest=output_digest,
            error=error,
            details=details,
            forward_to=forward_to,
        )
        return await asyncio.to_thread(call)

    def _append_once(self, name: str, fields: dict[str, Any], forward_to: tuple[str, ...]) -> Evidence:
        engine = self._current_engine()
        record: Evidence | None = None
        committing = False
        try:
            with engine.begin() as conn:
                head = _lock_head(conn, name)
                record, body_text = _seal(name, head[0] + 1, head[1], fields)
                conn.execute(
                    records_table.insert().values(
                        stream=name,
                        seq=record.seq,
                        digest=record.digest,
                        prev=record.prev,
                        event=record.event,
                        outcome=record.outcome,
                        run_id=record.context.run_id,
                        pipeline=record.context.pipeline,
                        recorded_at=isoformat(record.recorded_at),
                        body=body_text,
                    )
                )
                moved = conn.execute(
                    update(heads_table)
                    .where(heads_table.c.stream == name, heads_table.c.seq == head[0])
                    .values(seq=record.seq, digest=record.digest)
                )
                if moved.rowcount != 1:
                    raise _HeadMoved(f"the head of {name!r} moved during the append")
                if forward_to:
                    enqueue(conn, record, forward_to)
                committing = True
        except DBAPIError:
            # A commit that failed on the wire may still have happened; the digest is unique to
            # this attempt (it covers prev and a microsecond timestamp), so look before retrying.
            if committing and record is not None and self._has_digest(record.digest):
                return record
            raise
        assert record is not None
        return record

    def _has_digest(self, digest: str) -> bool:
        try:
            with self._reader().connect() as conn:
                found = conn.execute(
                    select(records_table.c.id).where(records_table.c.digest == digest)
                ).first()
        except SQLAlchemyError:
            return False
        return found is not None

    # --- reading -------------------------------------------------------------------------

    def records(
        self,
        stream: str | None = None,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        run_id: str | None = None,
    ) -> list[Evidence]:
        """Records in stream and seq order, optionally of one stream, after a seq, of one run."""
        query = select(
            records_table.c.stream,
            records_table.c.seq,
            records_table.c.digest,
            records_table.c.body,
        )
        if stream is not None:
            query = query.where(records_table.c.stream == stream)
        if after_seq:
            query = query.where(records_table.c.seq > after_seq)
        if run_id is not None:
            query = query.where(records_table.c.run_id == run_id)
        query = query.order_by(records_table.c.stream, records_table.c.seq, records_table.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_evidence(row[0], row[1], row[2], row[3]) for row in conn.execute(query)]

    def get(self, ref: str) -> Evidence:
        """One record by full digest, unique digest prefix (8+ hex characters) or ``stream#seq``."""
        text = ref.strip()
        query = select(
            records_table.c.stream,
            records_table.c.seq,
            records_table.c.digest,
            records_table.c.body,
        )
        stream, sep, seq_text = text.rpartition("#")
        if sep and stream and seq_text.isdigit():
            query = query.where(
                records_table.c.stream == stream, records_table.c.seq == int(seq_text)
            )
        else:
            hex_part = (
                text[len("sha256:") :] if text.lower().startswith("sha256:") else text
            ).lower()
            if (
                len(hex_part) < 8
                or len(hex_part) > 64
                or any(c not in "0123456789abcdef" for c in hex_part)
            ):
                raise NotFoundError(
                    f"{ref!r} is not an evidence reference: give a digest (sha256:...), a unique "
                    "prefix of one with at least 8 hex characters, or stream#seq"
                )
            prefix = "sha256:" + hex_part
            if len(hex_part) == 64:
                query = query.where(records_table.c.digest == prefix)
            else:
                # A range rather than LIKE, so the digest index is used on every backend:
                # every hex continuation of the prefix sorts below prefix + "g".
                query = query.where(
                    records_table.c.digest >= prefix, records_table.c.digest < prefix + "g"
                )
        with self._read() as conn:
            rows = conn.execute(query.limit(2)).all()
        if not rows:
            raise NotFoundError(f"no evidence record {ref!r} in {db.display_url(self.url)}")
        if len(rows) > 1:
            raise NotFoundError(
                f"{ref!r} matches more than one evidence record; give more of the digest"
            )
        row = rows[0]
        return _evidence(row[0], row[1], row[2], row[3])

    def streams(self) -> list[StreamInfo]:
        """Every stream with its length, head digest and first and last record times."""
        first = (
            select(records_table.c.recorded_at)
            .where(records_table.c.stream == heads_table.c.stream, records_table.c.seq == 1)
            .scalar_subquery()
        )
        last = (
            select(records_table.c.recorded_at)
            .where(
                records_table.c.stream == heads_table.c.stream,
                records_table.c.seq == heads_table.c.seq,
            )
            .scalar_subquery()
        )
        query = (
            select(heads_table.c.stream, heads_table.c.seq, heads_table.c.digest, first, last)
            .where(heads_table.c.seq > 0)
            .order_by(heads_table.c.stream)
        )
        with self._read() as conn:
            return [
                StreamInfo(
                    name=row[0],
                    length=row[1],
                    head=row[2],
                    first_recorded_at=_parse_time(row[3]),
                    last_recorded_at=_parse_time(row[4]),
                )
                for row in conn.execute(query)
            ]

    # --- checking and exporting -----------------------------------------------------------

    def verify(self, stream: str | None = None) -> VerifyReport:
        """Recompute every digest and link from the stored bodies; all streams when None.

        Reads one consistent snapshot, so appends running meanwhile cannot look like damage.
        """
        with self._snapshot() as conn:
            heads = self._heads(conn, stream)
            verifier = ChainVerifier(heads, head_required=True)
            for row in conn.execute(self._rows_query(stream)):
                verifier.feed(row.stream, _entry(row))
        report = verifier.report()
        if stream is not None and report.streams_checked == 0:
            raise NotFoundError(f"no evidence stream {stream!r} in {db.display_url(self.url)}")
        return report

    def export(self, fp: TextIO, stream: str | None = None) -> int:
        """Write JSONL (a header with the stream heads, then one record per line) to ``fp``.

        Returns the number of records written. Open ``fp`` with ``encoding="utf-8"``. The file
        verifies offline with :func:`govflow.core.evidence.verify_export`.
        """
        with self._snapshot() as conn:
            heads = self._heads(conn, stream)
            rows = conn.execute(self._rows_query(stream))
            first = rows.fetchone()
            if stream is not None and not heads and first is None:
                raise NotFoundError(f"no evidence stream {stream!r} in {db.display_url(self.url)}")

            def lines() -> Iterator[str]:
                row = first
                while row is not None:
                    yield export_line(row.stream, row.seq, row.digest, row.body)
                    row = rows.fetchone()

            return write_lines(fp, export_header(heads), lines())

    # --- plumbing ------------------------------------------------------------------------

    def _current_engine(self) -> Engine:
        pid = os.getpid()
        if pid != self._engine_pid:
            # A forked child (Airflow's LocalExecutor, Celery prefork) must not reuse the
            # parent's pooled connections; drop them without closing the parent's sockets.
            self._engine.dispose(close=False)
            self._engine_pid = pid
        return self._engine

    def _reader(self) -> Engine:
        return db.read_only(self._current_engine())

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._reader().connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(
                f"could not read the evidence ledger {db.display_url(self.url)}: {_reason(exc)}"
            ) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees one instant of the ledger (heads and records agree)."""
        try:
            with self._reader().connect() as conn:
                if conn.dialect.name == "postgresql":
                    # READ COMMITTED would take a new snapshot per statement.
                    conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise LedgerError(
                f"could not read the evidence ledger {db.display_url(self.url)}: {_reason(exc)}"
            ) from exc

    @staticmethod
    def _heads(conn: Connection, stream: str | None) -> dict[str, Head]:
        query = select(heads_table.c.stream, heads_table.c.seq, heads_table.c.digest).where(
            heads_table.c.seq > 0
        )
        if stream is not None:
            query = query.where(heads_table.c.stream == stream)
        return {row[0]: (int(row[1]), row[2]) for row in conn.execute(query)}

    @staticmethod
    def _rows_query(stream: str | None) -> Select[Any]:
        query = select(*_RECORD_COLUMNS)
        if stream is not None:
            query = query.where(records_table.c.stream == stream)
        # yield_per: stream large ledgers (a server-side cursor on PostgreSQL).
        return query.order_by(
            records_table.c.stream, records_table.c.seq, records_table.c.id
        ).execution_options(yield_per=1000)


# --- helpers -------------------------------------------------------------------------------


def _open(url: str) -> Engine:
    """The shared engine for ``url`` with the ledger's tables present."""
    try:
        return db.get_engine(url)
    except OSError as exc:
        raise LedgerError(f"cannot open the evidence ledger {db.display_url(url)}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise LedgerError(
            f"cannot open the evidence ledger {db.display_url(url)}: {_reason(exc)}"
        ) from exc


def _lock_head(conn: Connection, name: str) -> Head:
    """Lock the stream's head row (creating it if needed) and return (seq, digest)."""
    query = (
        select(heads_table.c.seq, heads_table.c.digest)
        .where(heads_table.c.stream == name)
        .with_for_update()  # rendered on PostgreSQL; SQLite already holds the write lock
    )
    row = conn.execute(query).first()
    if row is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(
            dialect.insert(heads_table)
            .values(stream=name, seq=0, digest=None)
            .on_conflict_do_nothing(index_elements=[heads_table.c.stream])
        )
        row = conn.execute(query).one()
    return int(row[0]), row[1]


def _seal(name: str, seq: int, prev: str | None, fields: dict[str, Any]) -> tuple[Evidence, str]:
    """The sealed record and the exact canonical text its digest covers."""
    unsealed = Evidence(stream=name, seq=seq, prev=prev, recorded_at=utcnow(), digest="", **fields)
    body_text = canonical_str(unsealed.body())
    record = unsealed.model_copy(
        update={"digest": "sha256:" + sha256_hex(body_text.encode("utf-8"))}
    )
    return record, body_text


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _HeadMoved):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _PG_RETRY_STATES or sqlstate == _PG_UNIQUE_VIOLATION
    message = str(exc.orig).lower()
    if isinstance(exc, IntegrityError):
        return "unique" in message
    if isinstance(exc, OperationalError):
        # SQLite gave up waiting for the write lock (busy_timeout) or hit a busy snapshot.
        return "locked" in message or "busy" in message
    return False


def _reason(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's echo of the SQL and its parameters (the body)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
        return text.splitlines()[0] if text else type(exc.orig).__name__
    return str(exc) or type(exc).__name__


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _evidence(stream: str, seq: int, digest: str, body_text: str) -> Evidence:
    try:
        return Evidence.model_validate({**json.loads(body_text), "digest": digest})
    except ValueError as exc:
        raise LedgerError(
            f"evidence record {stream}#{seq} is unreadable ({type(exc).__name__}); "
            "run `govflow evidence verify` to see what was changed"
        ) from exc


def _entry(row: Row[Any]) -> Entry:
    columns = {
        "stream": row.stream,
        "seq": row.seq,
        "prev": row.prev,
        "event": row.event,
        "outcome": row.outcome,
        "run_id": row.run_id,
        "pipeline": row.pipeline,
        "recorded_at": row.recorded_at,
    }
    where = f"row id {row.id}"
    try:
        body = json.loads(row.body)
    except ValueError as exc:
        return Entry(
            body=None,
            claimed=row.digest,
            where=where,
            error=f"its body is not JSON ({exc})",
            columns=columns,
        )
    if not isinstance(body, dict):
        return Entry(
            body=None,
            claimed=row.digest,
            where=where,
            error="its body is not a JSON object",
            columns=columns,
        )
    return Entry(body=body, claimed=row.digest, where=where, columns=columns)


__all__ = ["MAX_APPEND_ATTEMPTS", "EvidenceLedger", "StreamInfo"]
