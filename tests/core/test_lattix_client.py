"""The Lattix client over real HTTP against the emulator: every route, errors, retries,
tolerance of unknown fields and future enum values, the sync client, and secrets kept secret.

Auth modes and configuration: test_lattix_auth.py; fail-closed checks: test_lattix_checks.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from govflow.core.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PlatformError,
    RateLimitError,
    RequestValidationError,
    TransportError,
    UnavailableError,
)
from govflow.core.platforms.lattix import (
    ArtifactProfile,
    AuthMode,
    EvidenceEventType,
    KeyAccessOperation,
    KeyTransportMode,
    LattixClient,
    LattixError,
    LattixNotFoundError,
    LattixRateLimitError,
    LattixRequestValidationError,
    LattixSerializationError,
    LattixServerError,
    LattixSyncClient,
    LattixUnavailableError,
    ProtectionOperation,
    ResourceDescriptor,
    SdkArtifactRegisterRequest,
    SdkAuthConfigurationMode,
    SdkEvidenceIngestRequest,
    SdkProofOfPossession,
    WorkloadDescriptor,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.faults import drop, malformed_json, rate_limited, respond, server_error
from govflow.testing.lattix import (
    FUTURE_ENUM_VALUES,
    UNKNOWN_FIELD,
    UNKNOWN_OBJECT,
    LattixEmulator,
    after_processing,
)

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, retry_after_cap=1.0)
ONCE = RetryPolicy(max_attempts=1)

WORKLOAD = WorkloadDescriptor(application="claims-api", environment="prod", component="ingest")
RESOURCE = ResourceDescriptor(kind="document", id="claim-8812", mime_type="application/pdf")
DIGEST = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ARTIFACT = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"


@pytest.fixture(scope="module")
def served() -> Iterator[LattixEmulator]:
    emulator = LattixEmulator()
    with emulator.serve():
        yield emulator


@pytest.fixture
def emu(served: LattixEmulator) -> LattixEmulator:
    served.reset()
    served.extra_fields = False
    served.future_enums = False
    served.key_transport = None
    return served


def bearer(emu: LattixEmulator, **kwargs: object) -> LattixClient:
    options: dict[str, object] = {"bearer_token": emu.bearer_token, "tenant_id": emu.tenant_id, "retry": FAST}
    options.update(kwargs)
    return LattixClient(emu.base_url, **options)  # type: ignore[arg-type]


def last(emu: LattixEmulator, path: str) -> dict[str, object]:
    found = emu.requests_to("*", path)
    assert found, f"no request to {path}"
    body = found[-1].json()
    assert isinstance(body, dict)
    return body


# --- the nine routes ---------------------------------------------------------------------------


async def test_get_routes_return_full_models(emu: LattixEmulator) -> None:
    async with bearer(emu) as lattix:
        capabilities = await lattix.capabilities()
        whoami = await lattix.whoami()
        bootstrap = await lattix.bootstrap()

    assert capabilities.service == "lattix-platform-api"
    assert capabilities.auth_mode is AuthMode.BEARER_TOKEN_OR_TRUSTED_HEADERS
    assert capabilities.auth_configuration.mode is SdkAuthConfigurationMode.BEARER_TOKEN_VALIDATION
    assert capabilities.auth_configuration.proof_of_possession is SdkProofOfPossession.MTLS
    assert capabilities.default_required_scopes == ["platform-api.access"]
    assert {route.route for route in capabilities.routes} >= {"/v1/sdk/protection-plan", "/v1/sdk/evidence"}
    assert capabilities.caller.tenant_id == emu.tenant_id

    assert whoami.status == "ok"
    assert whoami.caller.principal_id == emu.user_id
    assert whoami.caller.auth_source == "bearer_token"

    assert bootstrap.enforcement_model == "embedded_local_library"
    assert bootstrap.plaintext_to_platform is False
    assert bootstrap.supported_operations == [
        ProtectionOperation.PROTECT,
        ProtectionOperation.ACCESS,
        ProtectionOperation.REWRAP,
    ]
    assert ArtifactProfile.ENVELOPE in bootstrap.supported_artifact_profiles
    assert bootstrap.raw_json["service"] == "lattix-platform-api"

    for request in emu.requests:
        assert request.method == "GET"
        assert request.body == b""  # GET routes send no body
        assert request.header("authorization") == f"Bearer {emu.bearer_token}"
        assert request.header("x-lattix-tenant-id") == emu.tenant_id
        assert request.query == ""


async def test_protection_plan_sends_the_spec_body(emu: LattixEmulator) -> None:
    async with bearer(emu) as lattix:
        plan = await lattix.protection_plan(
            operation="protect",
            workload=WORKLOAD,
            resource=RESOURCE,
            preferred_artifact_profile="envelope",
            content_digest=DIGEST,
            content_size_bytes=20480,
            purpose="archive",
            labels=["pii", "confidential"],
            attributes={"region": "eu", "cost_center": "42"},
        )
    assert plan.decision.allow is True
    assert plan.decision.plaintext_transport == "forbidden_by_default"
    assert plan.execution.protect_locally is True
    assert plan.execution.artifact_profile is ArtifactProfile.ENVELOPE
    assert plan.request_summary.label_count == 2
    assert plan.request_summary.attribute_count == 2
    assert plan.request_summary.content_size_bytes == 20480
    assert plan.execution.key_transport is not None
    assert plan.execution.key_transport.mode is KeyTransportMode.LOCAL_PROVIDED

    request = emu.requests_to("POST", "protection-plan")[-1]
    assert request.header("content-type") == "application/json"
    # compact JSON, attributes with sorted keys (like the Rust core)
    assert request.body.decode().startswith('{"operation":"protect","workload":{"application":"claims-api"')
    assert json.loads(request.body)["attributes"] == {"cost_center": "42", "region": "eu"}
    assert list(json.loads(request.body)["attributes"]) == ["cost_center", "region"]


async def test_unset_optional_fields_are_omitted(emu: LattixEmulator) -> None:
    async with bearer(emu) as lattix:
        resolution = await lattix.policy_resolve(
            operation=ProtectionOperation.ACCESS,
            workload={"application": "reporting"},
            resource={"kind": "document"},
        )
    assert resolution.decision.allow is True
    assert resolution.request_summary.workload_environment is None
    assert resolution.request_summary.content_digest_present is False
    # Only what was set, plus labels/attributes which are always sent.
    assert last(emu, "policy-resolve") == {
        "operation": "access",
        "workload": {"application": "reporting"},
        "resource": {"kind": "document"},
        "labels": [],
        "attributes": {},
    }


async def test_policy_resolve_deny_is_returned_not_raised(emu: LattixEmulator) -> None:
    emu.deny("document", label="pii", purpose="analytics")
    async with bearer(emu) as lattix:
        resolution = await lattix.policy_resolve(
            operation="access",
            workload={"application": "reporting"},
            resource={"kind": "document", "id": "claim-8812"},
            content_digest=DIGEST,
            purpose="analytics",
            labels=["pii"],
        )
    assert resolution.decision.allow is False
    assert resolution.handling.evidence_expected == ["deny"]
    assert resolution.warnings == ["label 'pii' is not permitted for purpose 'analytics'"]


async def test_key_access_plan(emu: LattixEmulator) -> None:
    async with bearer(emu) as lattix:
        plan = await lattix.key_access_plan(
            operation=KeyAccessOperation.WRAP,
            workload=WORKLOAD,
            resource=RESOURCE,
            artifact_profile="tdf",
            key_reference="kms://acme/claims/current",
            content_digest=DIGEST,
        )
    assert plan.decision.allow is True
    assert plan.decision.operation is KeyAccessOperation.WRAP
    assert plan.execution.platform_role == "authorize_only"
    assert plan.execution.key_transport is not None
    assert plan.execution.key_transport.mode is KeyTransportMode.WRAPPED_KEY_REFERENCE
    assert plan.execution.key_transport.raw_key_delivery_forbidden is True
    assert plan.request_summary.key_reference_present is True


async def test_artifact_register_with_a_request_model(emu: LattixEmulator) -> None:
    request = SdkArtifactRegisterRequest(
        operation=ProtectionOperation.PROTECT,
        workload=WorkloadDescriptor(application="claims-api"),
        resource=ResourceDescriptor(kind="document", id="claim-8812"),
        artifact_profile=ArtifactProfile.TDF,
        artifact_digest=ARTIFACT,
        artifact_locator="s3://acme-claims/claim-8812.tdf",
        key_reference="kms://acme/claims/current",
        purpose="archive",
        labels=["pii"],
    )
    async with bearer(emu) as lattix:
        registration = await lattix.artifact_register(request)
    assert registration.registration.accepted is True
    assert registration.request_summary.artifact_digest == ARTIFACT
    assert registration.request_summary.artifact_locator_present is True
    assert registration.request_summary.decision_id_present is False
    assert emu.artifacts == [request.to_wire()]


async def test_evidence_sends_rfc3339_and_the_key(emu: LattixEmulator) -> None:
    async with bearer(emu) as lattix:
        answer = await lattix.evidence(
            event_type=EvidenceEventType.PROTECT,
            workload={"application": "claims-api"},
            resource={"kind": "document", "id": "claim-8812"},
            artifact_profile="tdf",
            artifact_digest=ARTIFACT,
            decision_id="dec-01HZX3",
            outcome="success",
            occurred_at=datetime(2026, 5, 12, 9, 30, tzinfo=timezone.utc),
            idempotency_key="evidence-key-1",
        )
    assert answer.ingestion.accepted is True
    assert answer.request_summary.occurred_at == "2026-05-12T09:30:00Z"
    assert answer.request_summary.decision_id_present is True
    assert emu.evidence[0]["occurred_at"] == "2026-05-12T09:30:00Z"
    assert emu.requests_to("POST", "evidence")[-1].header("idempotency-key") == "evidence-key-1"


async def test_request_model_or_keywords(emu: LattixEmulator) -> None:
    request = SdkEvidenceIngestRequest(
        event_type="access", workload=WorkloadDescriptor(application="a"), resource=ResourceDescriptor(kind="d")
    )
    async with bearer(emu) as lattix:
        with pytest.raises(TypeError, match="not both"):
            await lattix.evidence(request, outcome="success")
        with pytest.raises(ValidationError):  # a required field missing fails before sending
            await lattix.policy_resolve(workload={"application": "a"}, resource={"kind": "d"})
        with pytest.raises(ValidationError):  # a misspelt field too
            await lattix.policy_resolve(operation="access", workload={"application": "a", "env": "x"}, resource={"kind": "d"})
    assert emu.count() == 0


async def test_base_url_with_a_path_prefix_and_trailing_slashes() -> None:
    emulator = LattixEmulator(path_prefix="/api/lattix")
    with emulator.serve() as base_url:
        async with LattixClient(f"  {base_url}// ", bearer_token=emulator.bearer_token) as lattix:
            assert lattix.base_url == base_url
            assert (await lattix.whoami()).caller.principal_id == emulator.user_id
            plan = await lattix.protection_plan(operation="protect", workload=WORKLOAD, resource=RESOURCE)
        assert plan.decision.allow
        # Outside the prefix the emulator answers 404, like a gateway would.
        async with LattixClient(emulator.root_url, bearer_token=emulator.bearer_token, retry=ONCE) as lattix:
            with pytest.raises(LattixNotFoundError) as caught:
                await lattix.whoami()
        assert caught.value.code == "not_found"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "lattix_class", "core_class"),
    [
        (400, LattixRequestValidationError, RequestValidationError),
        (401, LattixServerError, AuthenticationError),
        (403, LattixServerError, ForbiddenError),
        (404, LattixNotFoundError, NotFoundError),
        (409, LattixServerError, ConflictError),
        (422, LattixRequestValidationError, RequestValidationError),
        (429, LattixRateLimitError, RateLimitError),
        (500, LattixUnavailableError, UnavailableError),
        (503, LattixUnavailableError, UnavailableError),
        (418, LattixServerError, PlatformError),
    ],
)
async def test_error_statuses_map_to_the_hierarchy(
    emu: LattixEmulator, status: int, lattix_class: type[Exception], core_class: type[Exception]
) -> None:
    body = {"error": "some_code", "message": f"failure {status}", "status": status}
    emu.inject("GET", "whoami", respond(status, body))
    async with bearer(emu, retry=ONCE) as lattix:
        with pytest.raises(LattixServerError) as caught:
            await lattix.whoami()
    error = caught.value
    assert isinstance(error, lattix_class)
    assert isinstance(error, core_class)
    assert isinstance(error, LattixError)
    raw = error.text
    assert raw is not None and json.loads(raw) == body
    assert error.message == f"Server error: HTTP {status}: {raw}"  # the SDK's text
    assert error.status == error.status_code == status
    assert error.json == body
    assert error.body == body
    assert error.code == "some_code"
    assert error.detail == f"failure {status}"
    assert error.route == "GET /v1/sdk/whoami"
    assert error.platform == "lattix"


async def test_real_emulator_errors(emu: LattixEmulator) -> None:
    async with bearer(emu, retry=ONCE) as lattix:
        # An operation this client would forward (future values are allowed) that the server rejects.
        with pytest.raises(LattixRequestValidationError) as caught:
            await lattix.policy_resolve(operation="encrypt", workload={"application": "a"}, resource={"kind": "d"})
    assert caught.value.status == 422
    assert caught.value.code == "invalid_request"
    assert "unknown variant 'encrypt'" in caught.value.message

    async with bearer(emu, tenant_id="other-tenant", retry=ONCE) as lattix:
        with pytest.raises(ForbiddenError) as forbidden:
            await lattix.whoami()
    assert forbidden.value.code == "forbidden"

    async with LattixClient(emu.base_url, bearer_token="not-a-token", retry=ONCE) as lattix:
        with pytest.raises(AuthenticationError) as unauthorized:
            await lattix.bootstrap()
    assert unauthorized.value.code == "invalid_token"


async def test_error_body_that_is_not_json(emu: LattixEmulator) -> None:
    emu.inject("GET", "bootstrap", malformed_json(status=502))
    async with bearer(emu, retry=ONCE) as lattix:
        with pytest.raises(LattixUnavailableError) as caught:
            await lattix.bootstrap()
    assert caught.value.json is None
    assert caught.value.text
    assert caught.value.message == f"Server error: HTTP 502: {caught.value.text}"


async def test_2xx_that_is_not_json_is_a_serialization_error(emu: LattixEmulator) -> None:
    emu.inject("GET", "whoami", malformed_json())
    async with bearer(emu) as lattix:
        with pytest.raises(LattixSerializationError) as caught:
            await lattix.whoami()
    assert isinstance(caught.value, TransportError)
    assert caught.value.message.startswith("Serialization error: failed to decode JSON response body: ")
    assert emu.count("GET", "whoami") == 1  # the server answered: not retried


async def test_2xx_that_does_not_match_the_model_is_a_serialization_error(emu: LattixEmulator) -> None:
    emu.misbehave("missing_required_field", routes=["protection-plan"])
    async with bearer(emu) as lattix:
        with pytest.raises(LattixSerializationError) as caught:
            await lattix.protection_plan(operation="protect", workload=WORKLOAD, resource=RESOURCE)
    assert "caller: Field required" in caught.value.message
    assert caught.value.status == 200


# --- retries -----------------------------------------------------------------------------------


async def test_get_is_retried_on_5xx_and_429(emu: LattixEmulator) -> None:
    emu.inject("GET", "bootstrap", server_error(503), rate_limited(retry_after=0))
    async with bearer(emu) as lattix:
        bootstrap = await lattix.bootstrap()
    assert bootstrap.enforcement_model == "embedded_local_library"
    assert emu.count("GET", "bootstrap") == 3


async def test_rate_limit_exhausted_keeps_retry_after(emu: LattixEmulator) -> None:
    emu.inject("GET", "whoami", *[rate_limited(retry_after=0)] * 3)
    async with bearer(emu) as lattix:
        with pytest.raises(LattixRateLimitError) as caught:
            await lattix.whoami()
    assert caught.value.retry_after == 0
    assert caught.value.message.startswith("Server error: HTTP 429: ")
    assert "after 3 attempts" in caught.value.message


async def test_decision_posts_are_retried_under_one_key(emu: LattixEmulator) -> None:
    emu.inject("POST", "policy-resolve", server_error(502), drop())
    async with bearer(emu) as lattix:
        resolution = await lattix.policy_resolve(operation="protect", workload=WORKLOAD, resource=RESOURCE)
    assert resolution.decision.allow
    keys = {r.header("idempotency-key") for r in emu.requests_to("POST", "policy-resolve")}
    assert len(keys) == 1 and None not in keys
    assert emu.count("POST", "policy-resolve") == 3


async def test_decision_posts_sent_once_without_retry_decisions(emu: LattixEmulator) -> None:
    emu.inject("POST", "protection-plan", server_error(503))
    async with bearer(emu, retry_decisions=False) as lattix:
        with pytest.raises(UnavailableError):
            await lattix.protection_plan(operation="protect", workload=WORKLOAD, resource=RESOURCE)
    assert emu.count("POST", "protection-plan") == 1
    assert emu.requests_to("POST", "protection-plan")[0].header("idempotency-key") is None


async def test_evidence_without_a_key_is_sent_once(emu: LattixEmulator) -> None:
    # The server stored the event, then the connection dropped: without a key, no retry.
    emu.inject("POST", "evidence", after_processing(drop()))
    async with bearer(emu) as lattix:
        with pytest.raises(TransportError):
            await lattix.evidence(event_type="access", workload=WORKLOAD, resource=RESOURCE)
    assert emu.count("POST", "evidence") == 1
    assert len(emu.evidence) == 1


async def test_evidence_with_a_key_is_retried_and_stored_once(emu: LattixEmulator) -> None:
    emu.inject("POST", "evidence", after_processing(drop()), server_error(503))
    async with bearer(emu) as lattix:
        answer = await lattix.evidence(
            event_type="protect", workload=WORKLOAD, resource=RESOURCE, artifact_digest=ARTIFACT, idempotency_key="k-1"
        )
    assert answer.ingestion.accepted
    assert emu.count("POST", "evidence") == 3
    assert len(emu.evidence) == 1
    assert emu.idempotent_replays == 1


async def test_artifact_register_with_a_key_is_retried(emu: LattixEmulator) -> None:
    emu.inject("POST", "artifact-register", server_error(503))
    async with bearer(emu) as lattix:
        registration = await lattix.artifact_register(
            operation="protect",
            workload=WORKLOAD,
            resource=RESOURCE,
            artifact_profile="tdf",
            artifact_digest=ARTIFACT,
            idempotency_key="register-1",
        )
    assert registration.registration.accepted
    assert emu.count("POST", "artifact-register") == 2
    assert len(emu.artifacts) == 1


async def test_artifact_register_without_a_key_is_not_retried(emu: LattixEmulator) -> None:
    emu.inject("POST", "artifact-register", server_error(503))
    async with bearer(emu) as lattix:
        with pytest.raises(LattixUnavailableError):
            await lattix.artifact_register(
                operation="protect", workload=WORKLOAD, resource=RESOURCE, artifact_profile="tdf", artifact_digest=ARTIFACT
            )
    assert emu.count("POST", "artifact-register") == 1


# --- tolerance ---------------------------------------------------------------------------------


async def test_unknown_fields_and_future_enum_values_on_every_route(emu: LattixEmulator) -> None:
    emu.extra_fields = True
    emu.future_enums = True
    async with bearer(emu) as lattix:
        capabilities = await lattix.capabilities()
        whoami = await lattix.whoami()
        bootstrap = await lattix.bootstrap()
        plan = await lattix.protection_plan(operation="protect", workload=WORKLOAD, resource=RESOURCE)
        resolution = await lattix.policy_resolve(operation="access", workload=WORKLOAD, resource=RESOURCE)
        key_plan = await lattix.key_access_plan(operation="unwrap", workload=WORKLOAD, resource=RESOURCE)
        registration = await lattix.artifact_register(
            operation="protect", workload=WORKLOAD, resource=RESOURCE, artifact_profile="tdf", artifact_digest=ARTIFACT
        )
        evidence = await lattix.evidence(event_type="access", workload=WORKLOAD, resource=RESOURCE)
    async with LattixClient(
        emu.base_url, client_id=emu.client_id, client_secret=emu.client_secret, tenant_id=emu.tenant_id
    ) as lattix:
        session = await lattix.exchange_session()
        assert (await lattix.whoami()).caller.auth_source == "sdk_client_credentials"

    assert capabilities.auth_mode == FUTURE_ENUM_VALUES["AuthMode"]
    assert not capabilities.auth_mode.known
    assert capabilities.auth_configuration.mode == FUTURE_ENUM_VALUES["SdkAuthConfigurationMode"]
    assert capabilities.auth_configuration.proof_of_possession == FUTURE_ENUM_VALUES["SdkProofOfPossession"]
    future_operation = bootstrap.supported_operations[-1]
    assert future_operation == FUTURE_ENUM_VALUES["ProtectionOperation"]
    assert not future_operation.known
    assert bootstrap.supported_operations[0].known
    assert bootstrap.supported_artifact_profiles[-1] == FUTURE_ENUM_VALUES["ArtifactProfile"]
    for answer in (capabilities, whoami, bootstrap, plan, resolution, key_plan, registration, evidence, session):
        assert UNKNOWN_OBJECT in answer.raw_json
        assert UNKNOWN_FIELD in answer.raw_json
    assert plan.decision.allow and resolution.decision.allow and key_plan.decision.allow
    assert registration.registration.accepted and evidence.ingestion.accepted


def test_open_enums_keep_unknown_values() -> None:
    future = ProtectionOperation("reclassify")
    assert future is ProtectionOperation("reclassify")  # cached: identity is stable
    assert future == "reclassify" and str(future) == "reclassify" and f"{future}" == "reclassify"
    assert not future.known and ProtectionOperation.PROTECT.known
    assert future not in list(ProtectionOperation)  # not a real member
    assert pickle.loads(pickle.dumps(future)) is future
    assert str(ArtifactProfile.TDF) == "tdf"
    with pytest.raises(ValueError):
        ProtectionOperation(42)


# --- sync ------------------------------------------------------------------------------------


def test_sync_client_from_a_plain_thread(emu: LattixEmulator) -> None:
    results: list[object] = []

    def work() -> None:
        with LattixSyncClient(emu.base_url, bearer_token=emu.bearer_token, tenant_id=emu.tenant_id) as lattix:
            results.append(lattix.whoami().caller.principal_id)
            results.append(lattix.policy_resolve(operation="access", workload=WORKLOAD, resource=RESOURCE).decision.allow)
            prepared = lattix.prepare_local_protection(WORKLOAD, RESOURCE, preferred_artifact_profile="envelope")
            results.append(prepared.artifact_profile)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert results == [emu.user_id, True, ArtifactProfile.ENVELOPE]


def test_sync_client_inside_a_running_loop(emu: LattixEmulator) -> None:
    # Prefect and Jupyter call blocking code from a thread whose event loop is running.
    async def flow() -> str:
        with bearer(emu).sync() as lattix:
            await asyncio.sleep(0)
            return lattix.bootstrap().enforcement_model

    assert asyncio.run(flow()) == "embedded_local_library"


def test_sync_client_shared_by_threads(emu: LattixEmulator) -> None:
    lattix = LattixSyncClient(emu.base_url, bearer_token=emu.bearer_token)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                assert lattix.whoami().caller.tenant_id == emu.tenant_id
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    lattix.close()
    assert not errors
    assert lattix.closed
    assert emu.count("GET", "whoami") == 20


def test_sync_client_errors_are_the_same(emu: LattixEmulator) -> None:
    emu.inject("GET", "whoami", respond(403, {"error": "forbidden", "message": "no", "status": 403}))
    with (
        LattixSyncClient(emu.base_url, bearer_token=emu.bearer_token, retry=ONCE) as lattix,
        pytest.raises(ForbiddenError, match="Server error: HTTP 403"),
    ):
        lattix.whoami()


# --- secrets ---------------------------------------------------------------------------------


async def test_secrets_stay_out_of_errors_and_logs(emu: LattixEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = emu.bearer_token
    # A server that echoes the credential back in its error body.
    emu.inject("GET", "whoami", respond(401, {"error": "invalid_token", "message": f"token {token} expired"}))
    async with bearer(emu, retry=ONCE) as lattix:
        assert token not in repr(lattix)
        with pytest.raises(AuthenticationError) as caught:
            await lattix.whoami()
    error = caught.value
    for text in (str(error), repr(error), error.message, str(error.args), error.text, str(error.json), str(error.body)):
        assert token not in text
    assert "***" in error.message

    secret = emu.client_secret
    emu.inject("POST", "session", respond(401, {"error": "invalid_client", "message": f"bad secret {secret}"}))
    async with LattixClient(
        emu.base_url, client_id=emu.client_id, client_secret=secret, tenant_id=emu.tenant_id, retry=ONCE
    ) as lattix:
        assert secret not in repr(lattix)
        with pytest.raises(AuthenticationError) as exchange_failed:
            await lattix.whoami()
        session = await lattix.exchange_session()
        assert session.access_token.get_secret_value() not in repr(session)
        assert session.raw_json["access_token"] == "***"
        assert session.access_token.get_secret_value() not in str(session.model_dump())
    failed = exchange_failed.value
    assert failed.message.startswith("Server error: HTTP 401: ")
    for text in (str(failed), repr(failed), str(failed.body), str(failed.text)):
        assert secret not in text

    logged = caplog.text
    assert token not in logged
    assert secret not in logged
    assert session.access_token.get_secret_value() not in logged
