"""The ledger's two tables, on the shared :data:`govflow.core.db.metadata`.

``evidence_records`` keeps each sealed record twice: the canonical JSON ``body`` that was hashed
(the truth, which verification recomputes) and indexed columns copied from it (for queries).
``evidence_heads`` holds one row per stream with the last ``seq`` and ``digest``: appends lock that
row, which serialises the appends of one stream without blocking other streams, and verification
uses it to notice a chain whose end was deleted.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from ..db import metadata

# SQLite only gives an INTEGER PRIMARY KEY the rowid (autoincrement) behaviour; PostgreSQL gets a
# 64-bit identity.
_Id = BigInteger().with_variant(Integer(), "sqlite")

records_table = Table(
    "evidence_records",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("stream", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("prev", String(80), nullable=True),
    Column("event", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("pipeline", Text, nullable=False),
    # The record's own ISO 8601 text ("...Z"): identical on every backend and sorts by time.
    Column("recorded_at", String(32), nullable=False),
    Column("body", Text, nullable=False),
    # Backstops behind the head lock: one record per position, and no two records claiming the
    # same predecessor (a fork).
    UniqueConstraint("stream", "seq", name="uq_evidence_records_stream_seq"),
    UniqueConstraint("stream", "prev", name="uq_evidence_records_stream_prev"),
    Index("ix_evidence_records_digest", "digest", unique=True),
    Index("ix_evidence_records_run_id", "run_id"),
)

heads_table = Table(
    "evidence_heads",
    metadata,
    Column("stream", Text, primary_key=True),
    # 0 and NULL mean "no record yet" (a head row is created just before the first append).
    Column("seq", BigInteger, nullable=False),
    Column("digest", String(80), nullable=True),
)

outbox_table = Table(
    "evidence_outbox",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("sink", Text, nullable=False),  # the platform the record goes to, e.g. "lattix"
    Column("digest", String(80), nullable=False),
    Column("stream", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    # pending -> delivered, or failed when the platform rejected the record as invalid.
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(32), nullable=False),
    # A delivering worker's lease: another worker leaves the row alone until it runs out.
    Column("claim_token", String(40), nullable=True),
    Column("claimed_until", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("reference", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("delivered_at", String(32), nullable=True),
    # One delivery per record and platform, however often it is enqueued.
    UniqueConstraint("sink", "digest", name="uq_evidence_outbox_sink_digest"),
    Index("ix_evidence_outbox_due", "sink", "status", "next_attempt_at"),
)

LEDGER_TABLES = (records_table, heads_table, outbox_table)

__all__ = ["LEDGER_TABLES", "heads_table", "outbox_table", "records_table"]
