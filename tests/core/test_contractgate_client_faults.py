"""ContractGateClient errors, retries, idempotency and secrets, over real HTTP against the emulator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from govflow.core.errors import (
    AuthenticationError,
    ConflictError,
    GovflowError,
    NotFoundError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from govflow.core.platforms.contractgate import (
    ContractGateAuthError,
    ContractGateBadRequestError,
    ContractGateClient,
    ContractGateIdempotencyConflictError,
    ContractGatePayloadTooLargeError,
    ContractGatePlanLimitError,
    ContractGateRateLimitError,
    ContractGateServerError,
    ContractGateTimeoutError,
    ContractGateValidationFailedError,
)
from govflow.core.transport import NO_RETRY, RetryPolicy
from govflow.testing.contractgate import ContractGateEmulator, after_processing, request_timeout
from govflow.testing.faults import drop, malformed_json, respond, server_error, slow, truncate

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
INGEST = "/v1/ingest/*"
PASS = {"user_id": "u_123", "event_type": "purchase", "timestamp": 1714000000, "amount": 49.99}
FAIL = {"user_id": "u_123", "event_type": "delete", "timestamp": 1714000000, "amount": -5}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ContractGateEmulator, str]]:
    emu = ContractGateEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def emu(served: tuple[ContractGateEmulator, str]) -> ContractGateEmulator:
    served[0].reset()
    served[0].reset_faults()
    served[0].database_down = False
    return served[0]


@pytest.fixture
def url(served: tuple[ContractGateEmulator, str]) -> str:
    return served[1]


@pytest.fixture
async def client(emu: ContractGateEmulator, url: str) -> AsyncIterator[ContractGateClient]:
    async with ContractGateClient(emu.api_key, base_url=url, retry=FAST, timeout=10.0) as cg:
        yield cg


def ingests(emu: ContractGateEmulator) -> int:
    return len(emu.requests_to("POST", INGEST))


# --- idempotency: a retried ingest never double-writes ---------------------------------------


@pytest.mark.parametrize("lost", [drop(), truncate(), server_error(502), respond(504, {"error": "upstream"})])
async def test_an_answer_lost_after_the_batch_was_stored_is_retried_and_stored_once(
    client: ContractGateClient, emu: ContractGateEmulator, lost: object
) -> None:
    emu.inject("POST", INGEST, after_processing(lost))  # type: ignore[arg-type]
    result = await client.ingest(emu.contracts["user_events"], [PASS, FAIL])
    assert result.replayed and (result.status_code, result.passed, result.failed) == (207, 1, 1)
    assert len(emu.accepted) == 1 and len(emu.quarantine) == 1  # stored once
    first, second = emu.requests_to("POST", INGEST)
    assert first.header("idempotency-key") == second.header("idempotency-key") == result.idempotency_key
    assert first.body == second.body  # the gateway matches the raw body's hash


async def test_ndjson_and_atomic_ingests_are_retried_the_same_way(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    emu.inject("POST", INGEST, after_processing(drop()))
    result = await client.ingest(emu.contracts["user_events"], [PASS, PASS], ndjson=True)
    assert result.replayed and len(emu.accepted) == 2
    emu.inject("POST", INGEST, after_processing(drop()))
    rejected = await client.ingest(emu.contracts["user_events"], [PASS, FAIL], atomic=True)
    assert rejected.replayed and rejected.atomic_rejected and len(emu.accepted) == 2


async def test_the_same_key_replays_and_another_body_is_a_conflict(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    contract = emu.contracts["user_events"]
    first = await client.ingest(contract, [PASS], idempotency_key="order-42")
    again = await client.ingest(contract, [PASS], idempotency_key="order-42")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.results[0].transformed_event == first.results[0].transformed_event and len(emu.accepted) == 1
    with pytest.raises(ContractGateIdempotencyConflictError) as caught:
        await client.ingest(contract, [PASS, PASS], idempotency_key="order-42")
    assert isinstance(caught.value, ConflictError) and caught.value.code == "idempotency_conflict"
    assert "different request body" in str(caught.value)
    with pytest.raises(GovflowError, match="at most 255"):
        await client.ingest(contract, [PASS], idempotency_key="k" * 256)


async def test_a_408_is_retried_for_ingest_and_gets(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    emu.inject("POST", INGEST, request_timeout())
    result = await client.ingest(emu.contracts["user_events"], [PASS])
    assert result.passed == 1 and ingests(emu) == 2 and len(emu.accepted) == 1
    emu.inject("GET", "/stats", *[request_timeout()] * 4)
    with pytest.raises(ContractGateTimeoutError, match="timed out") as caught:
        await client.stats()
    assert isinstance(caught.value, UnavailableError) and caught.value.status == 408
    assert "after 4 attempts" in str(caught.value)


async def test_other_posts_are_sent_once_after_an_ambiguous_failure(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    emu.inject("POST", "/egress/*", after_processing(server_error(502)))
    with pytest.raises(ContractGateServerError):
        await client.egress(emu.contracts["user_events"], [PASS])
    assert len(emu.requests_to("POST", "/egress/*")) == 1


async def test_ingest_batches_splits_and_a_repeat_with_the_same_key_stores_nothing_twice(
    client: ContractGateClient, emu: ContractGateEmulator
) -> None:
    contract = emu.contracts["user_events"]
    events = [{**PASS, "timestamp": 1714000000 + i} for i in range(7)]
    small = await client.ingest_batches(contract, events[:3], max_events=2)
    assert [r.offset for r in small] == [0, 2] and [r.total for r in small] == [2, 1]
    keys = [r.idempotency_key or "" for r in small]
    assert keys[0].endswith(".0") and keys[1].endswith(".1") and keys[0][:-2] == keys[1][:-2]

    emu.reset()
    emu.inject("POST", INGEST, server_error(503))  # batch 0's first attempt: retried
    first = await client.ingest_batches(contract, events, max_events=3, idempotency_key="job-7")
    assert [r.offset for r in first] == [0, 3, 6] and len(emu.accepted) == 7 and ingests(emu) == 4
    assert [rec.index for r in first for rec in r.records()] == list(range(7))
    again = await client.ingest_batches(contract, events, max_events=3, idempotency_key="job-7")
    assert all(r.replayed for r in again) and len(emu.accepted) == 7
    single = await client.ingest_batches(contract, events[:1], idempotency_key="one")
    assert single[0].idempotency_key == "one"


async def test_an_interrupted_ingest_batches_says_how_to_resume(client: ContractGateClient, emu: ContractGateEmulator, url: str) -> None:
    contract = emu.contracts["user_events"]
    events = [{**PASS, "timestamp": 1714000000 + i} for i in range(4)]
    async with ContractGateClient(emu.api_key, base_url=url, retry=NO_RETRY) as once:
        # batch 0 goes through (slow(0) is no delay); batch 1 is stored, then its answer is lost
        emu.inject("POST", INGEST, slow(0), after_processing(drop()))
        with pytest.raises(TransportError, match="idempotency_key='resume'") as caught:
            await once.ingest_batches(contract, events, max_events=2, idempotency_key="resume")
        assert "batches 0-0 of 2 were accepted" in str(caught.value)
    assert len(emu.accepted) == 4
    resumed = await client.ingest_batches(contract, events, max_events=2, idempotency_key="resume")
    assert [r.replayed for r in resumed] == [True, True] and len(emu.accepted) == 4


async def test_atomic_batches_must_fit_one_request(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    with pytest.raises(GovflowError, match="atomic=True holds for one request"):
        await client.ingest_batches(emu.contracts["user_events"], [PASS] * 3, atomic=True, max_events=2)
    assert ingests(emu) == 0


# --- error mapping ---------------------------------------------------------------------------


async def test_400s(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    with pytest.raises(ContractGateBadRequestError, match="invalid contract_id") as caught:
        await client.ingest("not-a-uuid", [PASS])
    assert isinstance(caught.value, RequestValidationError) and caught.value.status == 400
    with pytest.raises(ContractGateBadRequestError, match="Empty event batch"):
        await client.ingest(emu.contracts["user_events"], [])
    with pytest.raises(ContractGateBadRequestError, match=r"maximum is 1000.*ingest_batches"):
        await client.ingest(emu.contracts["user_events"], [PASS] * 1001)
    with pytest.raises(ContractGateBadRequestError, match="NDJSON parse error"):
        await client.request(
            "POST", f"/v1/ingest/{emu.contracts['user_events']}", content=b'{"a":1}\n{oops',
            headers={"Content-Type": "application/x-ndjson"},
        )
    # axum's plain-text extractor errors keep their text
    with pytest.raises(ContractGateBadRequestError, match="Failed to deserialize query string") as plain:
        await client.request("GET", "/audit", params={"limit": "many"})
    assert plain.value.body.startswith("Failed to deserialize")


async def test_401_never_shows_the_key(emu: ContractGateEmulator, url: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "cg_live_" + "0" * 48
    caplog.set_level(logging.DEBUG)
    async with ContractGateClient(wrong, base_url=url, retry=FAST) as cg:
        with pytest.raises(ContractGateAuthError) as caught:
            await cg.ingest(emu.contracts["user_events"], [PASS])
    error = caught.value
    assert isinstance(error, AuthenticationError) and error.status == 401
    assert "Unauthorized" in str(error)
    for text in (str(error), repr(error), str(error.body), caplog.text):
        assert wrong not in text


async def test_404_409_and_415(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    with pytest.raises(NotFoundError, match="Contract not found"):
        await client.ingest("00000000-0000-4000-8000-000000000000", [PASS])
    with pytest.raises(ConflictError, match="Invalid state transition"):
        await client.promote_version(emu.contracts["user_events"], "1.0.0")
    with pytest.raises(ContractGateBadRequestError, match="Content-Type: application/json") as caught:
        await client.request("POST", "/playground/validate", content=b"x", headers={"Content-Type": "text/plain"})
    assert caught.value.status == 415


async def test_413_too_large_says_how_to_split(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    contract = emu.contracts["user_events"]
    with pytest.raises(ContractGatePayloadTooLargeError, match=r"index 1 exceeds.*ingest_batches") as caught:
        await client.ingest(contract, [PASS, {**PASS, "blob": "x" * (1024 * 1024)}])
    assert caught.value.event_index == 1 and caught.value.status == 413
    body = [{**PASS, "blob": "y" * 900_000} for _ in range(12)]  # each under 1 MB, ~10.8 MB in all
    with pytest.raises(ContractGatePayloadTooLargeError, match="length limit exceeded"):
        await client.ingest(contract, body)
    results = await client.ingest_batches(contract, body)  # split to fit
    assert [r.total for r in results] == [11, 1] and len(emu.accepted) == 12


async def test_422_bad_yaml(client: ContractGateClient) -> None:
    with pytest.raises(ContractGateValidationFailedError, match="Invalid contract YAML"):
        await client.playground_validate("version: 1.0\nname: x\n", {})
    with pytest.raises(ContractGateValidationFailedError, match="Invalid contract YAML"):
        await client.create_contract("broken", "name: [")


async def test_429_from_the_v1_bucket_carries_retry_after_and_the_rate_limit_headers() -> None:
    emu = ContractGateEmulator(rate_limit_rps=1, rate_limit_burst=3)
    with emu.serve() as url:
        async with ContractGateClient(emu.api_key, base_url=url, retry=NO_RETRY) as cg:
            await cg.ingest(emu.contracts["user_events"], [PASS])  # two tokens: auth and v1
            with pytest.raises(ContractGateRateLimitError) as caught:
                await cg.ingest(emu.contracts["user_events"], [PASS])
    error = caught.value
    assert isinstance(error, RateLimitError) and error.status == 429 and error.code == "rate_limit_exceeded"
    assert error.retry_after is not None and 0 < error.retry_after <= 1.0
    assert error.rate_limit is not None and (error.rate_limit.limit, error.rate_limit.remaining) == (1, 0)
    assert len(emu.accepted) == 1


async def test_a_429_is_waited_out_and_retried(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    limited = {"error": "rate_limit_exceeded", "detail": "Retry after 20ms.", "retry_after_ms": 20}
    emu.inject("POST", INGEST, respond(429, limited, {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0"}))
    emu.inject("GET", "/stats", respond(429, {"error": "Rate limit exceeded — too many requests", "status": 429}))
    result = await client.ingest(emu.contracts["user_events"], [PASS])
    assert result.passed == 1 and ingests(emu) == 2 and len(emu.accepted) == 1
    assert (await client.stats()).total_events == 1


async def test_the_plan_cap_is_raised_at_once() -> None:
    emu = ContractGateEmulator(monthly_event_cap=1)
    with emu.serve() as url:
        async with ContractGateClient(emu.api_key, base_url=url, retry=FAST) as cg:
            await cg.ingest(emu.contracts["user_events"], [PASS])
            with pytest.raises(ContractGatePlanLimitError) as caught:
                await cg.ingest(emu.contracts["user_events"], [PASS])
            dry = await cg.ingest(emu.contracts["user_events"], [PASS], dry_run=True)
    error = caught.value
    assert (error.plan, error.limit, error.used) == ("free", 1, 1) and error.upgrade_url
    assert error.retry_after is not None and error.retry_after > 60
    assert len(emu.requests_to("POST", INGEST)) == 3 and dry.passed == 1  # not retried


async def test_5xx_and_malformed_answers(client: ContractGateClient, emu: ContractGateEmulator) -> None:
    emu.database_down = True
    with pytest.raises(ContractGateServerError, match="Database error") as caught:
        await client.list_contracts()
    assert isinstance(caught.value, UnavailableError) and len(emu.requests_to("GET", "/contracts")) == 4
    emu.database_down = False
    emu.inject("POST", INGEST, malformed_json())
    with pytest.raises(TransportError, match="not valid JSON"):
        await client.ingest(emu.contracts["user_events"], [PASS])
    emu.inject("GET", "/stats", respond(200, ["not", "an", "object"]))
    with pytest.raises(TransportError, match="expected a JSON object"):
        await client.stats()


async def test_the_key_never_reaches_logs_errors_or_reprs(emu: ContractGateEmulator, url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": f"bad key {emu.api_key}", "status": 400}
    emu.inject("GET", "/stats", respond(400, echo), server_error(503))
    async with ContractGateClient(emu.api_key, base_url=url, retry=FAST) as cg:
        with pytest.raises(ContractGateBadRequestError) as caught:
            await cg.stats()
        emu.inject("GET", "/audit", server_error(503))
        await cg.audit()
        text = " ".join([str(caught.value), repr(caught.value), str(caught.value.body), repr(cg), caplog.text])
    assert emu.api_key not in text and "bad key" in str(caught.value)
