"""The durable evidence outbox, delivering over real HTTP to a loopback sink that misbehaves."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import pytest

from govflow.core.errors import CapabilityNotSupportedError
from govflow.core.evidence import (
    EvidenceLedger,
    EvidenceOutbox,
    EvidenceRecorder,
    idempotency_key,
    sender_for,
)
from govflow.core.models import Evidence, RunContext
from govflow.core.platforms.base import Capability, Platform
from govflow.core.platforms.local import LocalPlatform
from govflow.core.transport import NO_RETRY, Transport
from govflow.testing.faults import FaultApp, drop, respond, server_error
from govflow.testing.server import BackgroundServer

pytestmark = pytest.mark.anyio


class HttpSink(Platform):
    """A remote evidence sink speaking plain JSON over HTTP: POST /sink with an Idempotency-Key."""

    name = "http-sink"
    capabilities = frozenset({Capability.EVIDENCE})

    def __init__(self, base_url: str) -> None:
        self.http = Transport(self.name, base_url, retry=NO_RETRY, timeout=5.0)

    async def record_evidence(self, record: Evidence, *, idempotency_key: str | None = None) -> str:
        body = await self.http.request_json(
            "POST", "/sink", json=record.model_dump(mode="json"), idempotency_key=idempotency_key
        )
        return f"sink:{body['json']['seq']}"

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
def server() -> Iterator[tuple[FaultApp, BackgroundServer]]:
    app = FaultApp()
    with BackgroundServer(app) as running:
        yield app, running


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same tests on SQLite and, when GOVFLOW_TEST_POSTGRES_URL is set, on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def context(step: str = "load") -> RunContext:
    return RunContext(orchestrator="python", pipeline="outbox_test", run_id="r1", step=step)


def append(ledger: EvidenceLedger, n: int, sinks: list[str]) -> list[Evidence]:
    return [
        ledger.append(context=context(f"s{i}"), event="step.finished", outcome="success", forward_to=sinks)
        for i in range(n)
    ]


def sent_keys(app: FaultApp) -> Counter[str]:
    return Counter(r.header("idempotency-key") or "" for r in app.requests("/sink"))


async def test_records_are_queued_with_the_append_and_delivered_once(
    server: tuple[FaultApp, BackgroundServer], database_url: str
) -> None:
    app, running = server
    ledger = EvidenceLedger(database_url)
    records = append(ledger, 3, ["http-sink"])
    outbox = EvidenceOutbox(database_url)
    assert outbox.counts() == {"pending": 3}

    async with HttpSink(running.url) as sink:
        report = await outbox.deliver("http-sink", sender_for(sink))
    assert (report.delivered, report.failed, report.deferred) == (3, 0, 0)
    assert [r.json()["seq"] for r in app.requests("/sink")] == [1, 2, 3]  # chain order
    assert sent_keys(app) == Counter(idempotency_key(r) for r in records)
    entries = outbox.entries("http-sink")
    assert [(e.status, e.reference) for e in entries] == [("delivered", f"sink:{i}") for i in (1, 2, 3)]

    async with HttpSink(running.url) as sink:  # nothing left to send
        assert (await outbox.deliver("http-sink", sender_for(sink))).delivered == 0
    assert app.count("/sink") == 3


async def test_platform_outage_keeps_records_queued_then_delivers_each_once(
    server: tuple[FaultApp, BackgroundServer], sqlite_url: str
) -> None:
    app, running = server
    url = running.url
    records = append(EvidenceLedger(sqlite_url), 4, ["http-sink"])
    outbox = EvidenceOutbox(sqlite_url)

    running.stop()  # the platform is down
    async with HttpSink(url) as sink:
        report = await outbox.deliver("http-sink", sender_for(sink))
    assert (report.delivered, report.deferred) == (0, 4)
    assert outbox.counts() == {"pending": 4}
    first = outbox.entries("http-sink")[0]
    assert first.attempts == 1 and first.last_error and "TransportError" in first.last_error

    running.restart()  # back on the same port
    outbox.retry_now()
    async with HttpSink(url) as sink:
        report = await outbox.deliver("http-sink", sender_for(sink))
    assert report.delivered == 4
    assert sent_keys(app) == Counter(idempotency_key(r) for r in records)
    assert all(count == 1 for count in sent_keys(app).values())


async def test_lost_response_is_resent_with_the_same_key(
    server: tuple[FaultApp, BackgroundServer], sqlite_url: str
) -> None:
    app, running = server
    [record] = append(EvidenceLedger(sqlite_url), 1, ["http-sink"])
    outbox = EvidenceOutbox(sqlite_url)
    app.inject("/sink", drop())  # the sink receives the record, the answer never arrives

    async with HttpSink(running.url) as sink:
        assert (await outbox.deliver("http-sink", sender_for(sink))).deferred == 1
        outbox.retry_now()
        assert (await outbox.deliver("http-sink", sender_for(sink))).delivered == 1
    keys = [r.header("idempotency-key") for r in app.requests("/sink")]
    assert keys == [idempotency_key(record)] * 2  # a sink that honours the key stores it once
    assert outbox.counts() == {"delivered": 1}


async def test_rejected_record_is_kept_as_failed_and_the_rest_go_on(
    server: tuple[FaultApp, BackgroundServer], sqlite_url: str
) -> None:
    app, running = server
    append(EvidenceLedger(sqlite_url), 3, ["http-sink"])
    outbox = EvidenceOutbox(sqlite_url)
    app.inject("/sink", respond(422, {"detail": "bad record"}))
    async with HttpSink(running.url) as sink:
        report = await outbox.deliver("http-sink", sender_for(sink))
    assert (report.delivered, report.failed) == (2, 1)
    failed = outbox.entries(status="failed")
    assert len(failed) == 1 and failed[0].seq == 1 and "bad record" in (failed[0].last_error or "")


async def test_outage_defers_the_rest_of_the_batch_without_sending_it(
    server: tuple[FaultApp, BackgroundServer], sqlite_url: str
) -> None:
    app, running = server
    append(EvidenceLedger(sqlite_url), 5, ["http-sink"])
    outbox = EvidenceOutbox(sqlite_url)
    app.inject("/sink", server_error(503, retry_after=0))
    async with HttpSink(running.url) as sink:
        report = await outbox.deliver("http-sink", sender_for(sink))
        assert (report.delivered, report.deferred) == (0, 5)
        assert app.count("/sink") == 1  # one request learnt the platform is down
        report = await outbox.deliver("http-sink", sender_for(sink))  # Retry-After: 0
    assert report.delivered == 5
    assert outbox.counts() == {"delivered": 5}


async def test_concurrent_deliverers_send_each_record_once(
    server: tuple[FaultApp, BackgroundServer], database_url: str
) -> None:
    app, running = server
    records = append(EvidenceLedger(database_url), 30, ["http-sink"])
    outboxes = [EvidenceOutbox(database_url) for _ in range(4)]
    async with HttpSink(running.url) as sink:
        reports = await asyncio.gather(
            *(outbox.deliver("http-sink", sender_for(sink), limit=10) for outbox in outboxes)
        )
        while sum(r.delivered for r in reports) < 30:
            reports.append(await outboxes[0].deliver("http-sink", sender_for(sink)))
    assert sent_keys(app) == Counter(idempotency_key(r) for r in records)


async def test_each_sink_gets_its_own_delivery(server: tuple[FaultApp, BackgroundServer], sqlite_url: str) -> None:
    _, running = server
    append(EvidenceLedger(sqlite_url), 2, ["http-sink", "other-sink"])
    outbox = EvidenceOutbox(sqlite_url)
    async with HttpSink(running.url) as sink:
        assert (await outbox.deliver("http-sink", sender_for(sink))).delivered == 2
    assert outbox.counts("other-sink") == {"pending": 2}


async def test_recorder_forwards_and_survives_an_outage(
    server: tuple[FaultApp, BackgroundServer], sqlite_url: str
) -> None:
    app, running = server
    url = running.url
    async with HttpSink(url) as sink:
        recorder = EvidenceRecorder(EvidenceLedger(sqlite_url), forward_to=[sink])
        first = await recorder.arecord(context(), event="step.finished", outcome="success")
        assert first is not None and app.count("/sink") == 1

        running.stop()
        second = await recorder.arecord(context(), event="step.finished", outcome="failed")
        assert second is not None  # recorded locally; the step is not failed by the outage
        assert recorder.outbox.counts() == {"delivered": 1, "pending": 1}

        running.restart()
        recorder.outbox.retry_now()
        reports = await recorder.flush()
    assert reports[0].delivered == 1
    assert sent_keys(app) == Counter({idempotency_key(first): 1, idempotency_key(second): 1})
    assert recorder.ledger.verify().ok


def test_recorder_refuses_a_sink_without_the_evidence_capability() -> None:
    class GateOnly(Platform):
        name = "gate-only"
        capabilities = frozenset({Capability.GATE})

    with pytest.raises(CapabilityNotSupportedError):
        EvidenceRecorder(forward_to=[GateOnly()])


async def test_local_platform_is_a_sink_for_records_already_in_its_ledger(sqlite_url: str) -> None:
    async with LocalPlatform(database_url=sqlite_url) as local:
        [record] = append(local.ledger, 1, [])
        assert await local.record_evidence(record, idempotency_key=idempotency_key(record)) == f"{record.stream}#1"
