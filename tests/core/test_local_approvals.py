"""The local platform's approval store, on SQLite and (when available) PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from govflow.core.errors import (
    ApprovalExpiredError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RequestValidationError,
)
from govflow.core.models import Approval, ApprovalStatus, GateRequest, RunContext, utcnow
from govflow.core.platforms.local.approvals import ApprovalStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    value: str = request.getfixturevalue(fixture)
    return value


@pytest.fixture
def store(url: str) -> ApprovalStore:
    return ApprovalStore(url)


def ctx(**overrides: Any) -> RunContext:
    fields: dict[str, Any] = {
        "orchestrator": "airflow",
        "pipeline": "etl_daily",
        "run_id": "run-A",
        "step": "export",
    }
    fields.update(overrides)
    return RunContext(**fields)


EXPORT = GateRequest(action="export", resource="s3://bucket/orders.csv", payload={"rows": 10})


def create(
    store: ApprovalStore,
    context: RunContext | None = None,
    request: GateRequest = EXPORT,
    *,
    approvers: list[str] | None = None,
    expires_in: timedelta | None = None,
) -> Approval:
    return store.create(
        context=context or ctx(),
        request=request,
        rule="exports-need-approval",
        reason="Exports leave the company",
        approvers=approvers or [],
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )


def ensure(
    store: ApprovalStore, context: RunContext, request: GateRequest = EXPORT
) -> tuple[Approval, bool]:
    return store.ensure(
        context=context,
        request=request,
        rule="exports-need-approval",
        reason="r",
        approvers=[],
        expires_at=None,
    )


def test_create_and_get(store: ApprovalStore) -> None:
    approval = create(store, approvers=["alice", "bob"], expires_in=timedelta(hours=1))
    assert re.fullmatch(r"apr_[a-z2-7]{16}", approval.id)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.platform == "local"
    assert approval.context == ctx()
    assert approval.action == "export"
    assert approval.resource == "s3://bucket/orders.csv"
    assert approval.reason == "Exports leave the company"
    assert approval.approvers == ["alice", "bob"]
    assert approval.created_at is not None and approval.created_at.tzinfo is not None
    assert approval.expires_at is not None and approval.expires_at > approval.created_at
    assert approval.raw["request_digest"] == EXPORT.request_digest()
    assert approval.raw["rule"] == "exports-need-approval"
    assert store.get(approval.id) == approval
    assert store.get(f"  {approval.id}\n") == approval  # pasted with whitespace
    assert ApprovalStore(store.url).get(approval.id) == approval  # another instance, same database


def test_ids_are_unique(store: ApprovalStore) -> None:
    ids = {create(store, ctx(run_id=f"run-{i}")).id for i in range(20)}
    assert len(ids) == 20


def test_get_unknown(store: ApprovalStore) -> None:
    with pytest.raises(NotFoundError) as info:
        store.get("apr_doesnotexist0000")
    assert info.value.approval_id == "apr_doesnotexist0000"
    assert "govflow approvals list" in str(info.value)


def test_list_filters_and_orders_newest_first(store: ApprovalStore) -> None:
    first = create(store, ctx(run_id="r1"))
    second = create(store, ctx(run_id="r2", pipeline="ml_train"))
    third = create(store, ctx(run_id="r3"))
    store.decide(second.id, approve=True, by="alice")
    assert [a.id for a in store.list()] == [third.id, second.id, first.id]
    assert [a.id for a in store.list(status=ApprovalStatus.PENDING)] == [third.id, first.id]
    assert [a.id for a in store.list(status=ApprovalStatus.APPROVED)] == [second.id]
    assert [a.id for a in store.list(pipeline="etl_daily")] == [third.id, first.id]
    assert [a.id for a in store.list(limit=1)] == [third.id]
    assert store.list(status=ApprovalStatus.DENIED) == []


def test_approve(store: ApprovalStore) -> None:
    approval = create(store)
    decided = store.decide(approval.id, approve=True, by="alice", comment="ok for Q3")
    assert decided.status is ApprovalStatus.APPROVED
    assert decided.decided_by == "alice"
    assert decided.comment == "ok for Q3"
    assert decided.decided_at is not None
    assert store.get(approval.id) == decided


def test_deny(store: ApprovalStore) -> None:
    approval = create(store)
    decided = store.decide(approval.id, approve=False, by="bob", comment="no PII exports")
    assert decided.status is ApprovalStatus.DENIED
    assert (decided.decided_by, decided.comment) == ("bob", "no PII exports")
    assert store.get(approval.id).status is ApprovalStatus.DENIED


def test_deciding_twice_is_a_conflict(store: ApprovalStore) -> None:
    approval = create(store)
    store.decide(approval.id, approve=True, by="alice")
    with pytest.raises(ConflictError) as info:
        store.decide(approval.id, approve=False, by="bob")
    assert info.value.approval_id == approval.id
    assert "already approved by alice" in str(info.value)
    assert store.get(approval.id).status is ApprovalStatus.APPROVED


def test_decide_unknown_and_without_a_name(store: ApprovalStore) -> None:
    with pytest.raises(NotFoundError):
        store.decide("apr_nope", approve=True, by="alice")
    approval = create(store)
    with pytest.raises(RequestValidationError):
        store.decide(approval.id, approve=True, by="  ")


def _race(workers: int, target: Callable[[int], None]) -> None:
    barrier = threading.Barrier(workers)

    def run(index: int) -> None:
        barrier.wait()
        target(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_racing_deciders_exactly_one_wins(store: ApprovalStore) -> None:
    approval = create(store)
    wins: list[Approval] = []
    conflicts: list[ConflictError] = []
    others: list[BaseException] = []

    def decide(index: int) -> None:
        try:
            wins.append(store.decide(approval.id, approve=index % 2 == 0, by=f"person-{index}"))
        except ConflictError as exc:
            conflicts.append(exc)
        except BaseException as exc:  # pragma: no cover - reported below
            others.append(exc)

    _race(8, decide)
    assert others == []
    assert len(wins) == 1
    assert len(conflicts) == 7
    final = store.get(approval.id)
    assert (final.status, final.decided_by) == (wins[0].status, wins[0].decided_by)


def test_approvers_are_enforced(store: ApprovalStore) -> None:
    approval = create(store, approvers=["alice", "bob"])
    with pytest.raises(ForbiddenError) as info:
        store.decide(approval.id, approve=True, by="mallory")
    assert "alice, bob" in str(info.value)
    assert info.value.approval_id == approval.id
    assert store.get(approval.id).status is ApprovalStatus.PENDING
    assert store.decide(approval.id, approve=True, by="bob").status is ApprovalStatus.APPROVED


def test_no_approvers_means_anyone(store: ApprovalStore) -> None:
    approval = create(store)
    assert store.decide(approval.id, approve=True, by="anyone").decided_by == "anyone"


def test_expires_at_the_deadline_and_is_saved(store: ApprovalStore) -> None:
    approval = create(store, expires_in=timedelta(seconds=-1))
    assert approval.status is ApprovalStatus.PENDING  # as created; expiry is noticed on read
    assert store.get(approval.id).status is ApprovalStatus.EXPIRED
    # Persisted: a plain listing of expired approvals (a fresh store) finds it.
    assert [a.id for a in ApprovalStore(store.url).list(status=ApprovalStatus.EXPIRED)] == [
        approval.id
    ]


def test_listing_marks_overdue_approvals_expired(store: ApprovalStore) -> None:
    overdue = create(store, ctx(run_id="r1"), expires_in=timedelta(seconds=-1))
    fresh = create(store, ctx(run_id="r2"), expires_in=timedelta(hours=1))
    assert [a.id for a in store.list(status=ApprovalStatus.PENDING)] == [fresh.id]
    assert [a.id for a in store.list(status=ApprovalStatus.EXPIRED)] == [overdue.id]


def test_deciding_after_the_deadline(store: ApprovalStore) -> None:
    approval = create(store, expires_in=timedelta(seconds=-1))
    with pytest.raises(ApprovalExpiredError) as info:
        store.decide(approval.id, approve=True, by="alice")
    assert info.value.approval_id == approval.id
    assert "expired" in str(info.value)
    assert store.get(approval.id).status is ApprovalStatus.EXPIRED
    with pytest.raises(ApprovalExpiredError):  # and again, now that it is marked
        store.decide(approval.id, approve=True, by="alice")


def test_not_yet_expired_can_be_decided(store: ApprovalStore) -> None:
    approval = create(store, expires_in=timedelta(hours=1))
    assert store.decide(approval.id, approve=True, by="alice").status is ApprovalStatus.APPROVED


# --- binding -------------------------------------------------------------------------------


def test_find_for_is_bound_to_run_step_and_request(store: ApprovalStore) -> None:
    approval = create(store)
    digest = EXPORT.request_digest()
    assert store.find_for(ctx(), digest) == approval
    assert store.find_for(ctx(attempt=2), digest) == approval  # a retry of the same step
    assert store.find_for(ctx(run_id="run-B"), digest) is None
    assert store.find_for(ctx(step="other"), digest) is None
    assert store.find_for(ctx(map_index=3), digest) is None
    assert store.find_for(ctx(pipeline="other"), digest) is None
    assert store.find_for(ctx(orchestrator="prefect"), digest) is None
    assert store.find_for(ctx(partition="2024-01-01"), digest) is None
    other_request = GateRequest(
        action="export", resource="s3://bucket/orders.csv", payload={"rows": 11}
    )
    assert store.find_for(ctx(), other_request.request_digest()) is None


def test_approving_one_run_does_not_unlock_another(store: ApprovalStore) -> None:
    run_a, created_a = ensure(store, ctx(run_id="run-A"))
    store.decide(run_a.id, approve=True, by="alice")
    run_b, created_b = ensure(store, ctx(run_id="run-B"))
    assert created_a and created_b
    assert run_b.id != run_a.id
    assert run_b.status is ApprovalStatus.PENDING
    other_step, created = ensure(store, ctx(run_id="run-A", step="load"))
    assert created and other_step.status is ApprovalStatus.PENDING
    again, created = ensure(store, ctx(run_id="run-A", attempt=3))
    assert (again.id, again.status, created) == (run_a.id, ApprovalStatus.APPROVED, False)


def test_find_for_returns_the_newest_and_expires_overdue(store: ApprovalStore) -> None:
    old = create(store, expires_in=timedelta(seconds=-1))
    found = store.find_for(ctx(), EXPORT.request_digest())
    assert found is not None and (found.id, found.status) == (old.id, ApprovalStatus.EXPIRED)
    new = create(store)
    found = store.find_for(ctx(), EXPORT.request_digest())
    assert found is not None and found.id == new.id


def test_only_one_pending_approval_per_binding(store: ApprovalStore) -> None:
    first = create(store)
    with pytest.raises(ConflictError) as info:
        create(store)
    assert info.value.approval_id == first.id


def test_ensure_reuses_pending_approved_and_denied_but_replaces_expired(
    store: ApprovalStore,
) -> None:
    first, created = ensure(store, ctx())
    assert created
    assert ensure(store, ctx()) == (first, False)
    store.decide(first.id, approve=False, by="bob")
    denied, created = ensure(store, ctx())
    assert (denied.id, denied.status, created) == (first.id, ApprovalStatus.DENIED, False)

    expiring = create(store, ctx(run_id="run-X"), expires_in=timedelta(seconds=-1))
    replacement, created = ensure(store, ctx(run_id="run-X"))
    assert created and replacement.id != expiring.id
    assert replacement.status is ApprovalStatus.PENDING
    assert store.get(expiring.id).status is ApprovalStatus.EXPIRED


def test_concurrent_ensure_opens_one_approval(store: ApprovalStore) -> None:
    results: list[tuple[Approval, bool]] = []
    errors: list[BaseException] = []

    def gate(_: int) -> None:
        try:
            results.append(ensure(store, ctx(run_id="run-race")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    _race(6, gate)
    assert errors == []
    assert len({approval.id for approval, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list(status=ApprovalStatus.PENDING)) == 1
