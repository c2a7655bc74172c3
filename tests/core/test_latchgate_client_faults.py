"""LatchGateClient under faults: every error code mapped, retries with new proofs, no execute sent twice, no secret leaked."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from govflow.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DeniedError,
    GovflowError,
    NotFoundError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from govflow.core.platforms.latchgate import (
    LatchGateApprovalNotFoundError,
    LatchGateApprovalRequiredError,
    LatchGateAuthError,
    LatchGateBudgetExhaustedError,
    LatchGateClient,
    LatchGateConflictError,
    LatchGateDeniedError,
    LatchGateError,
    LatchGateLeaseExpiredError,
    LatchGateNotFoundError,
    LatchGateRateLimitError,
    LatchGateReplayDetectedError,
    LatchGateRequestError,
    LatchGateTransportError,
    LatchGateUnavailableError,
    decode_proof,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import (
    drop,
    malformed_json,
    rate_limited,
    respond,
    server_error,
    slow,
    truncate,
)
from govflow.testing.latchgate import ERROR_CATALOGUE, LatchGateEmulator, after_accept, gate_error

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, retry_after_cap=2.0)
ONCE = RetryPolicy(max_attempts=1)
EXECUTE = "/v1/actions/*/execute"


@pytest.fixture(autouse=True)
def _no_latchgate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LATCHGATE_URL", "GOVFLOW_LATCHGATE_URL", "LATCHGATE_SOCKET", "GOVFLOW_LATCHGATE_SOCKET", "LATCHGATE_PUBLIC_BASE_URL", "GOVFLOW_LATCHGATE_PUBLIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LatchGateEmulator, str]]:
    emu = LatchGateEmulator()
    with emu.serve() as url:
        yield emu, url


@pytest.fixture
def emu(served: tuple[LatchGateEmulator, str]) -> LatchGateEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def url(served: tuple[LatchGateEmulator, str]) -> str:
    return served[1]


def client(url: str, **options: Any) -> LatchGateClient:
    return LatchGateClient(**{"base_url": url, "retry": FAST, "timeout": 10.0, **options})


def expected_class(code: str, status: int) -> tuple[type[LatchGateError], type[GovflowError]]:
    if status == 401:
        own: type[LatchGateError] = {
            "lease_expired": LatchGateLeaseExpiredError,
            "replay_detected": LatchGateReplayDetectedError,
        }.get(code, LatchGateAuthError)
        return own, AuthenticationError
    if status == 403:
        return (LatchGateBudgetExhaustedError if code == "budget_exhausted" else LatchGateDeniedError), DeniedError
    if status == 404:
        return LatchGateNotFoundError, NotFoundError
    if status == 409:
        return LatchGateConflictError, ConflictError
    if status in (400, 422):
        return LatchGateRequestError, RequestValidationError
    if status == 429:
        return LatchGateRateLimitError, RateLimitError
    assert status >= 500
    return LatchGateUnavailableError, UnavailableError


# --- the error catalogue (spec 4.3 and 2.2) ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(ERROR_CATALOGUE))
async def test_every_gate_error_code_maps_to_a_typed_error(emu: LatchGateEmulator, url: str, code: str) -> None:
    status, headers = ERROR_CATALOGUE[code]
    # A refused lease is replaced and the execute resent once: make the resend fail the same way.
    emu.inject("POST", EXECUTE, gate_error(code, deny_reason="because"), gate_error(code, deny_reason="because"))
    async with client(url, retry=ONCE) as gate:
        with pytest.raises(LatchGateError) as caught:
            await gate.execute("echo", {"x": 1})
    error = caught.value
    own, core = expected_class(code, status)
    assert type(error) is own
    assert isinstance(error, core)
    assert (error.code, error.status, error.platform) == (code, status, "latchgate")
    assert error.deny_reason == "because"
    assert error.body == {"error": code, "deny_reason": "because"}
    assert code in str(error)
    if "Retry-After" in headers:
        assert error.retry_after == float(headers["Retry-After"])
    assert emu.executions == []


async def test_a_policy_denial_for_a_used_up_budget_is_budget_exhausted(emu: LatchGateEmulator, url: str) -> None:
    emu.set_budget(1)
    async with client(url) as gate:
        await gate.execute("echo")
        with pytest.raises(LatchGateBudgetExhaustedError) as caught:
            await gate.execute("echo")
    assert caught.value.code == "policy_denied"
    assert caught.value.deny_reason and caught.value.deny_reason.startswith("budget exhausted")
    assert caught.value.reason == f"policy_denied: {caught.value.deny_reason}"
    assert len(emu.executions) == 1


async def test_a_schema_violation_is_a_request_error(emu: LatchGateEmulator, url: str) -> None:
    async with client(url) as gate:
        with pytest.raises(LatchGateRequestError) as caught:
            await gate.execute(emu.actions["egress"], {"no_url": True})
    assert caught.value.code == "schema_violation" and caught.value.status == 422
    assert caught.value.reason == "schema_violation"  # not the SDK's old doubled text


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("scope_not_permitted", LatchGateDeniedError),
        ("identity_unauthenticated", LatchGateAuthError),
        ("invalid_request", LatchGateRequestError),
        ("identity_provider_unavailable", LatchGateUnavailableError),
    ],
)
async def test_lease_errors_map_on_explicit_and_lazy_connect(
    emu: LatchGateEmulator, url: str, code: str, cls: type[LatchGateError]
) -> None:
    emu.inject("POST", "/v1/leases", gate_error(code, message="no"), gate_error(code, message="no"))
    async with client(url, retry=ONCE) as gate:
        with pytest.raises(cls) as explicit:
            await gate.connect()
        with pytest.raises(cls) as lazy:
            await gate.execute("echo")
    assert explicit.value.code == lazy.value.code == code
    assert explicit.value.detail == "no"
    assert emu.executions == []


async def test_a_bare_401_from_the_poll(emu: LatchGateEmulator, url: str) -> None:
    async with client(url) as gate:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await gate.execute(emu.actions["needs_approval"])
        emu.revoke_leases()  # the poll answers any auth failure with an empty 401
        with pytest.raises(LatchGateAuthError) as bare:
            await gate.get_approval_status(caught.value.approval_id or "")
    assert bare.value.code is None and bare.value.status == 401
    assert "bare 401" in str(bare.value)


async def test_a_bare_401_on_a_poll_not_ours_re_leases_then_finds_nothing(emu: LatchGateEmulator, url: str) -> None:
    async with client(url) as first:
        with pytest.raises(LatchGateApprovalRequiredError) as caught:
            await first.execute(emu.actions["needs_approval"])
    async with client(url) as other:
        await other.execute("echo")
        emu.revoke_leases()
        with pytest.raises(LatchGateApprovalNotFoundError) as missing:
            await other.get_approval_status(caught.value.approval_id or "")
        assert other.leases_issued == 2
    assert missing.value.session_alive is None


# --- retries build new proofs --------------------------------------------------------------------


def proofs_of(emu: LatchGateEmulator, method: str, path: str) -> list[str]:
    return [r.header("dpop") or "" for r in emu.requests_to(method, path)]


async def test_retried_reads_carry_new_proofs(emu: LatchGateEmulator, url: str) -> None:
    async with client(url) as gate:
        receipt_id = (await gate.execute("echo")).receipt_id
        emu.inject("GET", "/v1/receipts/*", server_error(503), gate_error("internal_error"), drop())
        receipt = await gate.get_receipt(receipt_id)
    assert receipt.receipt_id == receipt_id
    proofs = proofs_of(emu, "GET", "/v1/receipts/*")
    assert len(proofs) == 4
    assert len({decode_proof(p)[1]["jti"] for p in proofs}) == 4  # never a resent proof


async def test_an_execute_refused_with_429_is_resent_with_a_new_proof(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, rate_limited(0, body={"error": "rate_limited"}))
    async with client(url) as gate:
        result = await gate.execute("echo", {"n": 1})
    proofs = proofs_of(emu, "POST", EXECUTE)
    assert len(proofs) == 2 and len({decode_proof(p)[1]["jti"] for p in proofs}) == 2
    [execution] = emu.executions
    assert execution.receipt_id == result.receipt_id


async def test_an_execute_refused_before_executing_is_resent(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, gate_error("draining"), gate_error("policy_engine_timeout"))
    async with client(url) as gate:
        await gate.execute("echo")
    assert len(emu.requests_to("POST", EXECUTE)) == 3
    assert len(emu.executions) == 1


async def test_a_draining_gate_answers_before_executing(emu: LatchGateEmulator, url: str) -> None:
    async with client(url, retry=RetryPolicy(max_attempts=2, base_delay=0.001)) as gate:
        await gate.connect()
        emu.drain(True)
        with pytest.raises(LatchGateUnavailableError) as caught:
            await gate.execute("echo")
        emu.drain(False)
    assert caught.value.code == "draining"
    assert "may have been executed" not in str(caught.value)
    assert len(emu.requests_to("POST", EXECUTE)) == 2
    assert emu.executions == []


@pytest.mark.parametrize(
    "fault",
    [
        gate_error("store_unavailable"),
        gate_error("internal_error"),
        gate_error("action_execution_failed"),
        server_error(503),
        server_error(504),
        drop(),
    ],
    ids=["store_unavailable", "internal_error", "action_execution_failed", "503", "504", "drop"],
)
async def test_an_ambiguous_execute_failure_is_not_resent(emu: LatchGateEmulator, url: str, fault: Any) -> None:
    emu.inject("POST", EXECUTE, fault)
    async with client(url) as gate:
        with pytest.raises((LatchGateUnavailableError, LatchGateTransportError)) as caught:
            await gate.execute("echo")
    assert len(emu.requests_to("POST", EXECUTE)) == 1
    assert "may have been executed" in str(caught.value)


@pytest.mark.parametrize(
    "fault",
    [server_error(502), gate_error("internal_error"), gate_error("store_unavailable"), drop(), truncate()],
    ids=["502", "internal_error", "store_unavailable", "drop", "truncate"],
)
async def test_no_double_execution_when_the_answer_is_lost(emu: LatchGateEmulator, url: str, fault: Any) -> None:
    emu.inject("POST", EXECUTE, after_accept(fault))
    async with client(url) as gate:
        with pytest.raises((LatchGateUnavailableError, LatchGateTransportError)) as caught:
            await gate.execute("echo", {"pay": 100})
    assert len(emu.executions) == 1  # it ran, once
    assert len(emu.requests_to("POST", EXECUTE)) == 1
    assert "may have been executed" in str(caught.value)


async def test_no_double_execution_after_a_timeout(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, after_accept(slow(1.5)))
    async with client(url, timeout=0.3) as gate:
        with pytest.raises(LatchGateTransportError) as caught:
            await gate.execute("echo")
    assert caught.value.code == "ReadTimeout"
    assert len(emu.executions) == 1
    assert len(emu.requests_to("POST", EXECUTE)) == 1


async def test_a_malformed_200_is_a_transport_error_that_says_the_action_ran(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, after_accept(malformed_json()))
    async with client(url) as gate:
        with pytest.raises(LatchGateTransportError) as caught:
            await gate.execute("echo")
    assert caught.value.code == "malformed_json"
    assert "the action did run" in str(caught.value)
    assert len(emu.executions) == 1


async def test_a_200_without_the_required_ids_is_a_transport_error(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, respond(200, {"decision": "executed", "output": {}}))
    async with client(url) as gate:
        with pytest.raises(LatchGateTransportError) as caught:
            await gate.execute("echo")
    assert "receipt_id" in str(caught.value)


async def test_replay_detected_is_never_retried(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", EXECUTE, gate_error("replay_detected"))
    async with client(url) as gate:
        with pytest.raises(LatchGateReplayDetectedError):
            await gate.execute("echo")
        assert gate.leases_issued == 1
    assert len(emu.requests_to("POST", EXECUTE)) == 1


async def test_a_lease_failure_is_retried_before_the_execute_is_sent(emu: LatchGateEmulator, url: str) -> None:
    emu.inject("POST", "/v1/leases", gate_error("draining"), gate_error("rate_limit_exceeded"))
    async with client(url) as gate:
        await gate.execute("echo")
    assert len(emu.requests_to("POST", "/v1/leases")) == 3
    assert len(emu.requests_to("POST", EXECUTE)) == 1
    assert len(emu.executions) == 1


async def test_a_gate_that_is_not_there() -> None:
    async with LatchGateClient(base_url="http://127.0.0.1:9", retry=FAST) as gate:
        with pytest.raises(LatchGateTransportError) as refused:
            await gate.execute("echo")
    assert isinstance(refused.value, TransportError)
    assert refused.value.code == "ConnectError"
    assert "may have been executed" not in str(refused.value)  # it never reached the gate
    async with LatchGateClient(socket="/tmp/no-such-dir/gate.sock", retry=FAST) as gate:
        with pytest.raises(LatchGateTransportError) as missing:
            await gate.execute("echo")
    assert "there is no LatchGate socket at /tmp/no-such-dir/gate.sock" in str(missing.value)


# --- secrets -------------------------------------------------------------------------------------


async def test_no_token_key_or_proof_in_logs_or_errors(
    emu: LatchGateEmulator, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    private_values: list[int] = []
    async with client(url) as gate:
        await gate.execute("echo", {"q": 1})
        private_values.append(gate._leases.current.key._private.private_numbers().private_value)  # type: ignore[union-attr]
        for action in (emu.actions["denied"], emu.actions["needs_approval"], "no_such_action"):
            try:
                await gate.execute(action)
            except LatchGateError as exc:
                errors.append(exc)
        emu.expire_leases()
        await gate.execute("echo")  # re-leased
        private_values.append(gate._leases.current.key._private.private_numbers().private_value)  # type: ignore[union-attr]
        emu.inject("POST", EXECUTE, gate_error("invalid_dpop", deny_reason="ath does not match"))
        emu.inject("GET", "/v1/receipts/*", server_error(503), server_error(503), server_error(503), server_error(503))
        for call in (gate.execute("echo"), gate.get_receipt("r1")):
            try:
                await call
            except LatchGateError as exc:
                errors.append(exc)
    assert len(errors) == 5
    secrets = [lease.lease_jwt for lease in emu.leases]
    secrets += [r.header("dpop") or "" for r in emu.requests if r.header("dpop")]
    for value in private_values:
        secrets += [str(value), f"{value:x}", value.to_bytes(32, "big").hex()]
    assert len(secrets) > 6
    texts = [caplog.text]
    for error in errors:
        texts += [str(error), repr(error), repr(error.body), repr(error.detail), repr(vars(error))]
        texts.append(repr(vars(pickle.loads(pickle.dumps(error)))))
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob


def test_errors_survive_pickling() -> None:
    error = LatchGateDeniedError("no", code="policy_denied", status=403, reason="policy_denied: x", deny_reason="x", action_id="a")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.status, copy.reason, copy.deny_reason, copy.action_id) == (
        "policy_denied",
        403,
        "policy_denied: x",
        "x",
        "a",
    )
    assert isinstance(copy, DeniedError) and str(copy) == str(error)


def test_the_htu_error_is_a_configuration_error() -> None:
    from govflow.core.platforms.latchgate import LatchGateHtuMismatchError

    assert issubclass(LatchGateHtuMismatchError, ConfigurationError)
    assert issubclass(LatchGateHtuMismatchError, AuthenticationError)
