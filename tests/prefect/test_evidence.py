"""Evidence hooks under a real Prefect API server (the session's test harness)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import Artifact

from govflow.core.canonical import digest
from govflow.core.evidence.ledger import EvidenceLedger
from govflow.prefect_tasks import evidence
from govflow.prefect_tasks.evidence import artifact_key, governed, governed_flow

pytestmark = pytest.mark.usefixtures("prefect_server")


@governed
@task
def succeed(x: int) -> int:
    return x * 2


@governed
@task
def fail() -> None:
    raise ValueError("boom")


@governed_flow(name="Govflow Evidence Test")
def pipeline(n: int = 3) -> int:
    value = succeed(n)
    with contextlib.suppress(ValueError):
        fail()
    return value


@governed_flow(name="govflow-failing")
def failing_pipeline() -> None:
    fail()


@pytest.fixture()
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", url)
    return url


@pytest.fixture()
def events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    emitted: list[dict[str, Any]] = []
    import prefect.events

    real = prefect.events.emit_event

    def spy(event: str, **kwargs: Any) -> Any:
        emitted.append({"event": event, **kwargs})
        return real(event, **kwargs)

    monkeypatch.setattr(prefect.events, "emit_event", spy)
    return emitted


def test_governed_flow_records_evidence_artifact_and_events(
    ledger_url: str, events: list[dict[str, Any]]
) -> None:
    state = pipeline(n=3, return_state=True)
    assert state.is_completed()
    flow_run_id = str(state.state_details.flow_run_id)

    ledger = EvidenceLedger(ledger_url)
    records = ledger.records("prefect/Govflow Evidence Test", run_id=flow_run_id)
    by_event = [
        (r.event, r.context.step and r.context.step.split("-")[0], r.outcome) for r in records
    ]
    assert ("task.finished", "succeed", "success") in by_event
    assert ("task.finished", "fail", "failed") in by_event
    assert by_event[-1] == ("flow_run.finished", None, "success")
    failed = next(r for r in records if r.outcome == "failed")
    assert failed.error and "boom" in failed.error
    flow_record = records[-1]
    assert flow_record.input_digest == digest({"n": 3})
    assert flow_record.started_at is not None and flow_record.ended_at is not None
    assert all(r.context.orchestrator == "prefect" and r.context.attempt >= 1 for r in records)
    assert ledger.verify().ok

    assert [e["payload"]["seq"] for e in events] == [r.seq for r in records]
    assert events[-1]["resource"] == {
        "prefect.resource.id": f"govflow.evidence.{flow_record.digest}"
    }
    assert all(e["event"] == "govflow.evidence.recorded" for e in events)

    # Prefect 3.8's client.read_artifacts sends unset arguments as null, which its server
    # rejects: post the filter directly.
    with get_client(sync_client=True) as client:
        response = client.request(
            "POST",
            "/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 10},
        )
    artifacts = [Artifact.model_validate(item) for item in response.json()]
    [artifact] = artifacts
    assert (
        artifact.key
        == artifact_key("Govflow Evidence Test")
        == "govflow-evidence-govflow-evidence-test"
    )
    assert artifact.type == "markdown"
    for record in records:
        assert f"govflow evidence show {record.stream}#{record.seq}" in str(artifact.data)


def test_failed_flow_is_recorded_as_failed(ledger_url: str) -> None:
    state = failing_pipeline(return_state=True)
    assert state.is_failed()
    records = EvidenceLedger(ledger_url).records(
        "prefect/govflow-failing", run_id=str(state.state_details.flow_run_id)
    )
    assert [(r.event, r.outcome) for r in records] == [
        ("task.finished", "failed"),
        ("flow_run.finished", "failed"),
    ]
    assert records[-1].error


@task
def plain(x: int) -> int:
    return x + 1


@governed_flow(name="govflow-whole-flow")
def whole_flow() -> int:
    first = plain(1)
    second = plain.submit(first).result()
    return succeed(second)  # a governed task inside: recorded once, not twice


def test_one_governed_flow_covers_every_task_run(ledger_url: str) -> None:
    state = whole_flow(return_state=True)
    assert state.is_completed()
    records = EvidenceLedger(ledger_url).records(
        "prefect/govflow-whole-flow", run_id=str(state.state_details.flow_run_id)
    )
    tasks = [r for r in records if r.event == "task.finished"]
    assert sorted(r.details["task"] for r in tasks) == ["plain", "plain", "succeed"]
    assert len({r.details["task_run_id"] for r in tasks}) == 3
    assert all(r.outcome == "success" and r.started_at for r in tasks)
    assert records[-1].event == "flow_run.finished"


def test_evidence_errors_never_fail_the_flow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("GOVFLOW_LEDGER_URL", f"sqlite:///{blocker / 'ledger.db'}")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("events down")

    monkeypatch.setattr(evidence, "_create_artifact", broken)  # even an escaping error is caught
    with caplog.at_level("WARNING", logger="govflow"):
        state = pipeline(n=1, return_state=True)
    assert state.is_completed()
    assert state.result() == 2


def test_governed_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        governed(lambda: None)  # type: ignore[type-var]
