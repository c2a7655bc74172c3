"""Approvals of the local platform, kept in the same database as the evidence ledger.

An approval is bound to the step run that asked for it (orchestrator, pipeline, run id, step, map
index, partition) and to the request's digest: the ``binding`` column is a digest of all of them,
so an approval granted to one run can never unlock another run, another step or another request.
The attempt is deliberately not part of the binding: a retry of the same step reuses its approval.

Deciding is a conditional ``UPDATE ... WHERE status = 'pending'``: of two people deciding at once
exactly one wins and the other gets :class:`ConflictError`. A partial unique index allows at most
one pending approval per binding, so concurrent gates of the same step cannot open duplicates.
Expiry is lazy: a pending approval read after its deadline is marked ``expired`` there and then.
"""

from __future__ import annotations

import base64
import builtins
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from ... import db
from ...canonical import digest
from ...errors import (
    ApprovalExpiredError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RequestValidationError,
)
from ...models import Approval, ApprovalStatus, GateRequest, RunContext, isoformat, utcnow

_PLATFORM = "local"
_Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys
_PENDING = text("status = 'pending'")

approvals_table = Table(
    "approvals",
    db.metadata,
    Column("pk", _Id, primary_key=True, autoincrement=True),  # creation order, for "newest"
    Column("id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("binding", String(80), nullable=False),
    Column("request_digest", String(80), nullable=False),
    Column("orchestrator", Text, nullable=False),
    Column("pipeline", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("step", Text, nullable=True),
    Column("map_index", Integer, nullable=True),
    Column("context", Text, nullable=False),  # the RunContext as JSON
    Column("action", Text, nullable=False),
    Column("resource", Text, nullable=True),
    Column("purpose", Text, nullable=True),
    Column("rule", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("approvers", Text, nullable=False),  # JSON list; [] = anyone
    # Times as the models' ISO 8601 text ("...Z"): identical on every backend and sorts by time.
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=True),
    Column("decided_at", String(32), nullable=True),
    Column("decided_by", Text, nullable=True),
    Column("comment", Text, nullable=True),
    Index("ux_approvals_id", "id", unique=True),
    Index("ix_approvals_binding", "binding"),
    Index("ix_approvals_status", "status"),
    Index("ix_approvals_pipeline", "pipeline"),
    # At most one pending approval per binding: the backstop against duplicate requests.
    Index(
        "ux_approvals_pending_binding",
        "binding",
        unique=True,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    ),
)



def new_approval_id() -> str:
    """``apr_`` + 16 lowercase base32 characters (80 random bits): short and copy-pasteable."""
    return "apr_" + base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


def binding_digest(context: RunContext, request_digest: str) -> str:
    """What an approval is bound to: the step run (without attempt) and the request."""
    return digest(
        {
            "orchestrator": context.orchestrator,
            "pipeline": context.pipeline,
            "run_id": context.run_id,
            "step": context.step,
            "map_index": context.map_index,
            "partition": context.partition,
            "request": request_digest,
        }
    )


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


class ApprovalStore:
    """Approvals in SQL: create, read, list, decide; all bound to a run, step and request."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or db.default_database_url()
        self.engine = db.get_engine(self.url)
        self._reader = db.read_only(self.engine)

    # creating

    def create(
        self,
        *,
        context: RunContext,
        request: GateRequest,
        rule: str | None,
        reason: str | None,
        approvers: Sequence[str],
        expires_at: datetime | None,
    ) -> Approval:
        """A new pending approval; ConflictError if one is already pending for the same binding."""
        request_digest = request.request_digest()
        binding = binding_digest(context, request_digest)
        try:
            with self.engine.begin() as conn:
                self._expire_due(conn, binding=binding)
                pending = self._newest(conn, binding, status=ApprovalStatus.PENDING)
                if pending is not None:
                    raise ConflictError(
                        f"approval {pending.id} is already pending for this run, step and request",
                        platform=_PLATFORM,
                        approval_id=pending.id,
                    )
                return self._insert(
                    conn,
                    context,
                    request,
                    request_digest,
                    binding,
                    rule,
                    reason,
                    approvers,
                    expires_at,
                )
        except IntegrityError:
            # Lost a race with a concurrent create on PostgreSQL: report the winner.
            winner = self.find_for(context, request_digest)
            raise ConflictError(
                "an approval is already pending for this run, step and request",
                platform=_PLATFORM,
                approval_id=winner.id if winner else None,
            ) from None

    def ensure(
        self,
        *,
        context: RunContext,
        request: GateRequest,
        rule: str | None,
        reason: str | None,
        approvers: Sequence[str],
        expires_at: datetime | None,
    ) -> tuple[Approval, bool]:
        """The newest pending, approved or denied approval of this binding, else a new pending one.

        Returns ``(approval, created)``. Looking up and creating happen in one write transaction,
        so concurrent gates of the same step share one approval instead of opening duplicates.
        """
        request_digest = request.request_digest()
        binding = binding_digest(context, request_digest)
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    self._expire_due(conn, binding=binding)
                    newest = self._newest(conn, binding)
                    if newest is not None and newest.status in (
                        ApprovalStatus.PENDING,
                        ApprovalStatus.APPROVED,
                        ApprovalStatus.DENIED,
                    ):
                        return newest, False
                    created = self._insert(
                        conn,
                        context,
                        request,
                        request_digest,
                        binding,
                        rule,
                        reason,
                        approvers,
                        expires_at,
                    )
                    return created, True
            except IntegrityError:
                # A concurrent gate (PostgreSQL) inserted the pending approval first: read it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # reading

    def get(self, approval_id: str) -> Approval:
        """The approval; a pending one past its deadline is marked expired (and saved) first."""
        approval_id = approval_id.strip()
        with self._reader.connect() as conn:
            row = conn.execute(
                select(approvals_table).where(approvals_table.c.id == approval_id)
            ).first()
        if row is None:
            raise NotFoundError(
                f"no approval {approval_id!r} here; `govflow approvals list` shows the pending ones "
                "(is the database URL the one the pipeline uses?)",
                platform=_PLATFORM,
                approval_id=approval_id,
            )
        approval = _to_approval(row)
        if _is_due(approval):
            with self.engine.begin() as conn:
                self._expire_due(conn, approval_id=approval_id)
                row = conn.execute(
                    select(approvals_table).where(approvals_table.c.id == approval_id)
                ).one()
            approval = _to_approval(row)
        return approval

    def list(
        self,
        *,
        status: ApprovalStatus | None = None,
        pipeline: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[Approval]:
        """Approvals, newest first; overdue pending ones are marked expired first."""
        with self.engine.begin() as conn:
            self._expire_due(conn)
        query = select(approvals_table).order_by(approvals_table.c.pk.desc())
        if status is not None:
            query = query.where(approvals_table.c.status == ApprovalStatus(status).value)
        if pipeline is not None:
            query = query.where(approvals_table.c.pipeline == pipeline)
        if limit is not None:
            query = query.limit(limit)
        with self._reader.connect() as conn:
            return [_to_approval(row) for row in conn.execute(query)]

    def find_for(self, context: RunContext, request_digest: str) -> Approval | None:
        """The newest approval bound to this run, step and request (any status), or None."""
        binding = binding_digest(context, request_digest)
        with self._reader.connect() as conn:
            approval = self._newest(conn, binding)
        if approval is not None and _is_due(approval):
            return self.get(approval.id)
        return approval

    # deciding

    def decide(
        self, approval_id: str, *, approve: bool, by: str, comment: str | None = None
    ) -> Approval:
        """Approve or deny a pending approval.

        Raises NotFoundError, ConflictError (already decided), ApprovalExpiredError (past its
        deadline; it is marked expired) or ForbiddenError (``by`` is not one of its approvers).
        """
        approval_id = approval_id.strip()
        if not by or not by.strip():
            raise RequestValidationError(
                "say who decides the approval (by=...)", platform=_PLATFORM, approval_id=approval_id
            )
        by = by.strip()
        expired = False
        with self.engine.begin() as conn:
            row = conn.execute(
                select(approvals_table).where(approvals_table.c.id == approval_id)
            ).first()
            if row is None:
                raise NotFoundError(
                    f"no approval {approval_id!r} here; `govflow approvals list` shows the pending ones",
                    platform=_PLATFORM,
                    approval_id=approval_id,
                )
            current = _to_approval(row)
            if current.status is ApprovalStatus.PENDING and _is_due(current):
                self._expire_due(conn, approval_id=approval_id)
                expired = True  # raised after the commit, so the expiry is saved
            elif current.status is ApprovalStatus.EXPIRED:
                expired = True
            elif current.status is not ApprovalStatus.PENDING:
                raise _already_decided(current)
            elif current.approvers and by not in current.approvers:
                raise ForbiddenError(
                    f"{by} may not decide approval {approval_id}; its approvers are "
                    f"{', '.join(current.approvers)}",
                    platform=_PLATFORM,
                    approval_id=approval_id,
                )
            else:
                now = utcnow()
                status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
                # The WHERE on status makes the decision atomic: one of two racing deciders wins.
                result = conn.execute(
                    update(approvals_table)
                    .where(
                        approvals_table.c.id == approval_id, approvals_table.c.status == "pending"
                    )
                    .values(
                        status=status.value,
                        decided_by=by,
                        decided_at=isoformat(now),
                        comment=comment,
                    )
                )
                row = conn.execute(
                    select(approvals_table).where(approvals_table.c.id == approval_id)
                ).one()
                if result.rowcount != 1:
                    raise _already_decided(_to_approval(row))
        if expired:
            assert current.expires_at is not None
            raise ApprovalExpiredError(
                f"approval {approval_id} expired at {isoformat(current.expires_at)} before anybody "
                "decided it; the step must ask again",
                platform=_PLATFORM,
                approval_id=approval_id,
            )
        return _to_approval(row)

    # internals

    def _newest(
        self, conn: Connection, binding: str, *, status: ApprovalStatus | None = None
    ) -> Approval | None:
        query = (
            select(approvals_table)
            .where(approvals_table.c.binding == binding)
            .order_by(approvals_table.c.pk.desc())
            .limit(1)
        )
        if status is not None:
            query = query.where(approvals_table.c.status == status.value)
        row = conn.execute(query).first()
        return _to_approval(row) if row is not None else None

    def _expire_due(
        self, conn: Connection, *, approval_id: str | None = None, binding: str | None = None
    ) -> int:
        now = isoformat(utcnow())
        statement = update(approvals_table).where(
            approvals_table.c.status == "pending",
            approvals_table.c.expires_at.is_not(None),
            approvals_table.c.expires_at <= now,
        )
        if approval_id is not None:
            statement = statement.where(approvals_table.c.id == approval_id)
        if binding is not None:
            statement = statement.where(approvals_table.c.binding == binding)
        return conn.execute(statement.values(status=ApprovalStatus.EXPIRED.value)).rowcount

    def _insert(
        self,
        conn: Connection,
        context: RunContext,
        request: GateRequest,
        request_digest: str,
        binding: str,
        rule: str | None,
        reason: str | None,
        approvers: Sequence[str],
        expires_at: datetime | None,
    ) -> Approval:
        values: dict[str, Any] = {
            "id": new_approval_id(),
            "status": ApprovalStatus.PENDING.value,
            "binding": binding,
            "request_digest": request_digest,
            "orchestrator": context.orchestrator,
            "pipeline": context.pipeline,
            "run_id": context.run_id,
            "step": context.step,
            "map_index": context.map_index,
            "context": context.model_dump_json(),
            "action": request.action,
            "resource": request.resource,
            "purpose": request.purpose,
            "rule": rule,
            "reason": reason,
            "approvers": json.dumps(list(approvers)),
            "created_at": isoformat(utcnow()),
            "expires_at": isoformat(expires_at) if expires_at is not None else None,
        }
        conn.execute(insert(approvals_table).values(**values))
        row = conn.execute(
            select(approvals_table).where(approvals_table.c.id == values["id"])
        ).one()
        return _to_approval(row)


def _is_due(approval: Approval) -> bool:
    return (
        approval.status is ApprovalStatus.PENDING
        and approval.expires_at is not None
        and approval.expires_at <= utcnow()
    )


def _already_decided(approval: Approval) -> ConflictError:
    when = f" at {isoformat(approval.decided_at)}" if approval.decided_at else ""
    by = f" by {approval.decided_by}" if approval.decided_by else ""
    return ConflictError(
        f"approval {approval.id} is already {approval.status.value}{by}{when}",
        platform=_PLATFORM,
        approval_id=approval.id,
    )


def _to_approval(row: Row[Any]) -> Approval:
    m = row._mapping
    return Approval(
        id=m["id"],
        status=ApprovalStatus(m["status"]),
        platform=_PLATFORM,
        decided_by=m["decided_by"],
        decided_at=_parse_time(m["decided_at"]),
        comment=m["comment"],
        created_at=_parse_time(m["created_at"]),
        expires_at=_parse_time(m["expires_at"]),
        approvers=json.loads(m["approvers"]),
        context=RunContext.model_validate_json(m["context"]),
        action=m["action"],
        resource=m["resource"],
        reason=m["reason"],
        raw={
            "request_digest": m["request_digest"],
            "binding": m["binding"],
            "rule": m["rule"],
            "purpose": m["purpose"],
        },
    )


__all__ = ["ApprovalStore", "approvals_table", "binding_digest", "new_approval_id"]
