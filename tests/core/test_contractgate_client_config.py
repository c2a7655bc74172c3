"""ContractGate client pieces that need no server: configuration, encoding, splitting, models, error mapping."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timezone

import httpx
import pytest

from govflow.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    RateLimitError,
    RequestValidationError,
    UnavailableError,
)
from govflow.core.platforms.contractgate import (
    KNOWN_VIOLATION_KINDS,
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
    IngestResult,
    QuarantineRow,
    ViolationKind,
    encode_batches,
    split_batches,
)
from govflow.core.platforms.contractgate._client import resolve_api_key, resolve_base_url, split_pin
from govflow.core.platforms.contractgate._errors import (
    map_error,
    parse_error_body,
    seconds_to_next_month,
)
from govflow.core.platforms.contractgate._local import version_key

KEY = "cg_live_" + "ab" * 24


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOVFLOW_CONTRACTGATE_API_KEY",
        "CONTRACTGATE_API_KEY",
        "GOVFLOW_CONTRACTGATE_BASE_URL",
        "CONTRACTGATE_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


# --- configuration ---------------------------------------------------------------------------


def test_key_and_url_come_from_arguments_then_govflow_env_then_platform_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTRACTGATE_API_KEY", "cg_live_" + "00" * 24)
    monkeypatch.setenv("CONTRACTGATE_BASE_URL", "https://platform.example")
    assert resolve_api_key(None).get_secret_value().endswith("00")
    assert resolve_base_url(None) == "https://platform.example"
    monkeypatch.setenv("GOVFLOW_CONTRACTGATE_API_KEY", KEY)
    monkeypatch.setenv("GOVFLOW_CONTRACTGATE_BASE_URL", "https://govflow.example/")
    assert resolve_api_key(None).get_secret_value() == KEY
    assert resolve_base_url(None) == "https://govflow.example"
    assert resolve_base_url("http://127.0.0.1:3001/prefix/") == "http://127.0.0.1:3001/prefix"


def test_there_is_no_default_base_url() -> None:
    with pytest.raises(ConfigurationError, match=r"no ContractGate base URL.*CONTRACTGATE_BASE_URL"):
        ContractGateClient(KEY)


def test_a_missing_or_malformed_key_fails_at_configuration() -> None:
    with pytest.raises(ConfigurationError, match="no ContractGate API key"):
        ContractGateClient(base_url="https://gw.example")
    with pytest.raises(ConfigurationError, match="empty"):
        ContractGateClient("  ", base_url="https://gw.example")
    with pytest.raises(ConfigurationError, match="does not look like one") as caught:
        ContractGateClient("sk_live_0123456789abcdef", base_url="https://gw.example")
    assert "sk_live_0123456789abcdef" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gw.example", "http"),
        ("ftp://gw.example", "http"),
        ("https://gw.example/?x=1", "query"),
        ("https://gw.example/v1", "ends in /v1"),
    ],
)
def test_bad_base_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve_base_url(url)


@pytest.mark.anyio
async def test_repr_and_errors_never_show_the_key() -> None:
    async with ContractGateClient(KEY, base_url="https://gw.example") as client:
        assert KEY not in repr(client)
        assert client.base_url == "https://gw.example"


def test_version_pin_forms() -> None:
    assert split_pin("abc@1.1.0", None) == ("abc", "1.1.0")
    assert split_pin("abc@1.1.0", "2.0.0") == ("abc", "2.0.0")
    assert split_pin("abc@", None) == ("abc", None)
    assert split_pin("abc", None) == ("abc", None)


# --- encoding and splitting ------------------------------------------------------------------


def test_batches_respect_the_event_count_and_byte_limits() -> None:
    events = [{"i": i} for i in range(2500)]
    batches = encode_batches(events)
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert [b.offset for b in batches] == [0, 1000, 2000]
    assert json.loads(batches[1].body(False))[0] == {"i": 1000}
    assert [json.loads(line) for line in batches[2].body(True).splitlines()][-1] == {"i": 2499}

    big = [{"blob": "x" * 400_000} for _ in range(60)]  # ~24 MB in all
    by_bytes = encode_batches(big)
    assert all(len(b.body(False)) <= 10 * 1024 * 1024 for b in by_bytes)
    assert sum(len(b) for b in by_bytes) == 60 and len(by_bytes) == 3
    assert [len(x) for x in split_batches(big)] == [len(b) for b in by_bytes]


def test_an_event_the_gateway_can_never_accept_is_named_before_sending() -> None:
    with pytest.raises(ContractGatePayloadTooLargeError, match="event 2 is") as caught:
        encode_batches([{}, {}, {"blob": "x" * (1024 * 1024)}])
    assert caught.value.event_index == 2
    assert isinstance(caught.value, RequestValidationError)


def test_events_that_are_not_json_are_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="event 1 is not JSON"):
        encode_batches([{}, {"at": datetime.now(timezone.utc)}])
    with pytest.raises(TypeError, match="not JSON"):
        encode_batches([{"x": float("nan")}])


def test_version_ordering_is_semver_like() -> None:
    versions = ["1.10.0", "1.9.0", "1.0", "1.1.0-rc.1", "1.1.0", "v2", "1.0.0"]
    assert sorted(versions, key=version_key) == ["1.0", "1.0.0", "1.1.0-rc.1", "1.1.0", "1.9.0", "1.10.0", "v2"]


# --- models ----------------------------------------------------------------------------------


def test_all_13_kinds_are_known_and_a_future_kind_is_kept_as_a_string() -> None:
    assert len(KNOWN_VIOLATION_KINDS) == 13
    body = {
        "total": 1,
        "passed": 0,
        "failed": 1,
        "dry_run": False,
        "atomic": False,
        "resolved_version": "1.0.0",
        "version_pin_source": "default_stable",
        "results": [
            {
                "index": 0,
                "passed": False,
                "violations": [
                    {"field": "a", "kind": "freshness_violation", "message": "old"},
                    {"field": "b", "kind": "sentiment_violation", "message": "grumpy", "severity": "high"},
                ],
                "contract_version": "1.0.0",
                "quarantine_id": None,
                "transformed_event": {"a": 1},
                "shiny_new_field": True,
            }
        ],
        "trace_id": "t-1",
    }
    result = IngestResult.from_body(body)
    first, second = result.results[0].violations
    assert first.known_kind is ViolationKind.FRESHNESS_VIOLATION
    assert second.kind == "sentiment_violation" and second.known_kind is None
    assert second.model_extra == {"severity": "high"}
    assert result.model_extra == {"trace_id": "t-1"}
    assert [r.model_dump() for r in result.records()] == [
        {
            "index": 0,
            "passed": False,
            "violations": [
                {"field": "a", "kind": "freshness_violation", "message": "old"},
                {"field": "b", "kind": "sentiment_violation", "message": "grumpy"},
            ],
        }
    ]


def test_the_deprecated_pin_body_without_resolved_version_parses() -> None:
    body = {
        "error": "Version 1.0.0 on contract c is deprecated; batch quarantined.",
        "total": 2,
        "passed": 0,
        "failed": 2,
        "dry_run": False,
        "version_pin_source": "pinned_deprecated",
        "results": [
            {"passed": False, "violations": [], "quarantine_id": None, "validation_us": 0, "forwarded": False,
             "transformed_event": {}, "contract_version": "1.0.0", "index": i}
            for i in range(2)
        ],
    }
    result = IngestResult.from_body(body)
    assert result.deprecated_pin and result.resolved_version is None and result.atomic is None
    assert not result.atomic_rejected
    records = result.records()
    assert [v.kind for r in records for v in r.violations] == ["deprecated_contract_version"] * 2
    assert "deprecated" in records[0].violations[0].message


def test_quarantine_rows_expose_their_violations() -> None:
    row = QuarantineRow.from_body(
        {"id": "q", "violation_details": [{"field": "x", "kind": "type_mismatch", "message": "m"}]}
    )
    assert [v.kind for v in row.violations] == ["type_mismatch"]
    deprecated = QuarantineRow.from_body(
        {"id": "q", "violation_details": {"kind": "deprecated_contract_version", "pinned_version": "1.0.0"}}
    )
    assert deprecated.violations[0].message == "version 1.0.0 is deprecated"


# --- error mapping ---------------------------------------------------------------------------


def _response(status: int, body: object = None, headers: dict[str, str] | None = None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://gw.example/v1/ingest/c")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_error_bodies_give_the_sdk_message_and_a_code() -> None:
    assert parse_error_body({"error": "Contract not found: x", "status": 404}) == (None, "Contract not found: x")
    assert parse_error_body({"error": "rate_limit_exceeded", "detail": "slow down"}) == ("rate_limit_exceeded", "slow down")
    assert parse_error_body("Failed to deserialize the JSON body") == (None, "Failed to deserialize the JSON body")
    assert parse_error_body({"status": 500}) == (None, None)


@pytest.mark.parametrize(
    ("status", "body", "cls", "also"),
    [
        (400, {"error": "Invalid request: Empty event batch", "status": 400}, ContractGateBadRequestError, RequestValidationError),
        (401, {"error": "Unauthorized: missing or invalid API key", "status": 401}, ContractGateAuthError, AuthenticationError),
        (404, {"error": "Contract not found: c", "status": 404}, NotFoundError, NotFoundError),
        (409, {"error": "Contract c has no stable version yet", "status": 409}, ConflictError, ConflictError),
        (415, None, ContractGateBadRequestError, RequestValidationError),
        (422, {"error": "Invalid contract YAML: x", "status": 422}, ContractGateValidationFailedError, RequestValidationError),
        (500, {"error": "Database error", "status": 500}, ContractGateServerError, UnavailableError),
        (408, None, ContractGateTimeoutError, UnavailableError),
    ],
)
def test_status_mapping(status: int, body: object, cls: type, also: type) -> None:
    error = map_error(_response(status, body), "POST /v1/ingest/c")
    assert isinstance(error, cls) and isinstance(error, also)
    assert error.status == status and error.status_code == status


def test_rate_limit_retry_after_comes_from_the_body_then_the_headers() -> None:
    v1 = map_error(
        _response(
            429,
            {"error": "rate_limit_exceeded", "detail": "Rate limit of 5 req/sec exceeded. Retry after 200ms.", "retry_after_ms": 200},
            {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1760000000"},
        ),
        "POST /v1/ingest/c",
    )
    assert isinstance(v1, ContractGateRateLimitError) and isinstance(v1, RateLimitError)
    assert v1.retry_after == pytest.approx(0.2) and v1.code == "rate_limit_exceeded"
    assert v1.rate_limit is not None and (v1.rate_limit.limit, v1.rate_limit.remaining) == (5, 0)
    bare = map_error(_response(429, {"error": "Rate limit exceeded — too many requests", "status": 429}), "GET /stats")
    assert bare.retry_after is None and "Rate limit exceeded" in str(bare)
    header = map_error(_response(429, None, {"Retry-After": "3"}), "GET /stats")
    assert header.retry_after == 3


def test_the_plan_cap_is_not_worth_retrying_this_month() -> None:
    error = map_error(
        _response(
            429,
            {"error": "plan_limit_exceeded", "detail": "Monthly event limit reached", "plan": "free",
             "limit": 1000000, "used": 1000000, "period": "2026-11", "upgrade_url": "https://x/upgrade", "status": 429},
        ),
        "POST /v1/ingest/c",
    )
    assert isinstance(error, ContractGatePlanLimitError) and isinstance(error, RateLimitError)
    assert (error.plan, error.limit, error.used, error.upgrade_url) == ("free", 1000000, 1000000, "https://x/upgrade")
    assert error.retry_after is not None and error.retry_after > 60
    assert seconds_to_next_month(datetime(2026, 12, 31, 23, 59, 30, tzinfo=timezone.utc)) == 30


def test_413_and_the_1000_event_400_say_how_to_split() -> None:
    too_big = map_error(
        _response(413, {"error": "Payload too large: Event at index 7 exceeds the 1 MB per-event limit (1048600 bytes)"}),
        "POST /v1/ingest/c",
    )
    assert isinstance(too_big, ContractGatePayloadTooLargeError) and too_big.event_index == 7
    assert "ingest_batches" in str(too_big)
    bare = map_error(_response(413, text=""), "POST /v1/ingest/c")
    assert isinstance(bare, ContractGatePayloadTooLargeError) and "ingest_batches" in str(bare)
    many = map_error(_response(400, {"error": "Invalid request: Batch exceeds 1000 events", "status": 400}), "POST /v1/ingest/c")
    assert "ingest_batches" in str(many)


def test_idempotency_conflict_is_also_a_conflict_and_errors_pickle() -> None:
    error = map_error(
        _response(422, {"error": "idempotency_conflict", "detail": "A different request body was already submitted with this Idempotency-Key."}),
        "POST /v1/ingest/c",
    )
    assert isinstance(error, ContractGateIdempotencyConflictError)
    assert isinstance(error, ConflictError) and isinstance(error, ContractGateValidationFailedError)
    assert error.code == "idempotency_conflict"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.code == error.code and copy.status == 422
