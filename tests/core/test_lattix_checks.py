"""Every fail-closed check of the official SDK fires, with its message, against a misbehaving emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govflow.core.errors import DeniedError, GovernanceError
from govflow.core.platforms.lattix import (
    ArtifactProfile,
    KeyTransportGuidance,
    KeyTransportMode,
    LattixClient,
    LattixDeniedError,
    LattixFailClosedError,
    LattixSerializationError,
    LocalSymmetricKeySourceKind,
    ProtectionOperation,
    ResourceDescriptor,
    WorkloadDescriptor,
    check_key_source,
)
from govflow.core.transport import RetryPolicy
from govflow.testing.lattix import LattixEmulator

pytestmark = pytest.mark.anyio

WORKLOAD = WorkloadDescriptor(application="claims-api", environment="prod")
RESOURCE = ResourceDescriptor(kind="document", id="claim-8812")
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
    served.key_transport = None
    return served


def client(emu: LattixEmulator) -> LattixClient:
    return LattixClient(emu.base_url, bearer_token=emu.bearer_token, retry=RetryPolicy(max_attempts=1))


async def prepare(emu: LattixEmulator, **kwargs: object) -> None:
    async with client(emu) as lattix:
        await lattix.prepare_local_protection(WORKLOAD, RESOURCE, content_digest=DIGEST, **kwargs)  # type: ignore[arg-type]


async def authorize(emu: LattixEmulator, **kwargs: object) -> None:
    options: dict[str, object] = {"artifact_profile": "tdf", "key_reference": "kms://acme/claims/current"}
    options.update(kwargs)
    async with client(emu) as lattix:
        await lattix.authorize_key_access(WORKLOAD, RESOURCE, **options)  # type: ignore[arg-type]


async def register(emu: LattixEmulator) -> None:
    async with client(emu) as lattix:
        await lattix.register_artifact(WORKLOAD, RESOURCE, artifact_profile="tdf", artifact_digest=ARTIFACT)


# --- the flows pass against a well-behaved server -------------------------------------------------


async def test_flows_pass_and_follow_the_sdk_sequence(emu: LattixEmulator) -> None:
    async with client(emu) as lattix:
        prepared = await lattix.prepare_local_protection(
            WORKLOAD, RESOURCE, content_digest=DIGEST, content_size_bytes=5, preferred_artifact_profile="envelope"
        )
        authorization = await lattix.authorize_key_access(WORKLOAD, RESOURCE, operation="wrap", artifact_profile="envelope")
        registered = await lattix.register_artifact(
            WORKLOAD, RESOURCE, artifact_profile="envelope", artifact_digest=ARTIFACT, idempotency_key="flow-1"
        )
        rewrap = await lattix.prepare_local_protection(WORKLOAD, RESOURCE, operation="rewrap")
    assert prepared.artifact_profile is ArtifactProfile.ENVELOPE
    assert prepared.policy_resolution.handling.bind_policy_to
    assert authorization.key_access_plan.decision.allow
    assert registered.evidence.ingestion.accepted
    assert rewrap.protection_plan.request_summary.operation is ProtectionOperation.REWRAP
    assert [f"{r.method} {r.path.rsplit('/', 1)[-1]}" for r in emu.requests] == [
        "GET bootstrap",
        "POST policy-resolve",
        "POST protection-plan",
        "POST policy-resolve",
        "POST key-access-plan",
        "POST artifact-register",
        "POST evidence",
        "GET bootstrap",
        "POST policy-resolve",
        "POST protection-plan",
    ]
    policy = emu.requests_to("POST", "policy-resolve")
    assert policy[1].json()["operation"] == "protect"  # wrap -> the protect policy
    assert emu.evidence[0]["event_type"] == "protect" and emu.evidence[0]["outcome"] == "success"
    assert emu.requests_to("POST", "evidence")[0].header("idempotency-key") == "flow-1:evidence"


# --- bootstrap (5.3) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "code", "message", "kwargs"),
    [
        (
            "plaintext_to_platform",
            "plaintext_to_platform",
            "bootstrap indicates plaintext may be transported to the platform; refusing local-only workflow",
            {},
        ),
        (
            "enforcement_model",
            "enforcement_model",
            'bootstrap enforcement model "platform_side_enforcement" is incompatible with embedded local protection',
            {},
        ),
        ("supported_operations", "unsupported_operation", "bootstrap does not advertise protect support for local workflows", {}),
        (
            "supported_artifact_profiles",
            "unsupported_artifact_profile",
            'requested artifact profile "tdf" is not advertised by bootstrap',
            {"preferred_artifact_profile": "tdf"},
        ),
    ],
)
async def test_bootstrap_checks(
    emu: LattixEmulator, misbehaviour: str, code: str, message: str, kwargs: dict[str, object]
) -> None:
    emu.misbehave(misbehaviour)
    with pytest.raises(LattixFailClosedError) as caught:
        await prepare(emu, **kwargs)
    assert caught.value.message == message
    assert caught.value.code == code
    assert isinstance(caught.value, GovernanceError)
    assert caught.value.body["service"] == "lattix-platform-api"  # the offending answer
    assert emu.count("POST", "*") == 0  # nothing asked after a bad bootstrap


async def test_bootstrap_rewrap_messages(emu: LattixEmulator) -> None:
    emu.misbehave("supported_operations")
    with pytest.raises(LattixFailClosedError, match="bootstrap does not advertise rewrap support"):
        await prepare(emu, operation="rewrap")
    emu.behave()
    emu.misbehave("plaintext_to_platform")
    with pytest.raises(LattixFailClosedError, match=r"refusing local-only rewrap workflow$"):
        await prepare(emu, operation="rewrap")


async def test_profiles_are_not_checked_when_bootstrap_lists_none(emu: LattixEmulator) -> None:
    emu.override("bootstrap", "supported_artifact_profiles", [])
    await prepare(emu, preferred_artifact_profile="detached_signature")


# --- policy resolution (5.6) --------------------------------------------------------------------------


async def test_policy_denial_is_a_denied_error(emu: LattixEmulator) -> None:
    emu.deny("document", label="pii", purpose="analytics")
    with pytest.raises(LattixDeniedError) as caught:
        await prepare(emu, labels=["pii"], purpose="analytics")
    assert isinstance(caught.value, DeniedError)
    assert caught.value.message == "policy resolution denied the protect operation"
    assert caught.value.reason == "label 'pii' is not permitted for purpose 'analytics'"
    assert emu.count("POST", "protection-plan") == 0


@pytest.mark.parametrize(
    ("misbehaviour", "error", "message"),
    [
        ("allow", LattixDeniedError, "policy resolution denied the protect operation"),
        ("protect_locally", LattixFailClosedError, "policy resolution did not require local enforcement"),
        (
            "plaintext_transport",
            LattixFailClosedError,
            'policy resolution returned unsupported plaintext transport mode "allowed"',
        ),
    ],
)
async def test_policy_checks(emu: LattixEmulator, misbehaviour: str, error: type[Exception], message: str) -> None:
    emu.misbehave(misbehaviour, routes=["policy-resolve"])
    with pytest.raises(error) as caught:
        await prepare(emu)
    assert str(caught.value.args[0]) == message


async def test_policy_checks_for_access_and_rewrap(emu: LattixEmulator) -> None:
    emu.misbehave("protect_locally", routes=["policy-resolve"])
    with pytest.raises(LattixFailClosedError, match=r"policy resolution did not preserve local enforcement for access$"):
        await authorize(emu, operation="unwrap")
    with pytest.raises(LattixFailClosedError, match=r"policy resolution did not preserve local enforcement for rewrap$"):
        await prepare(emu, operation="rewrap")
    emu.behave()
    emu.misbehave("allow", routes=["policy-resolve"])
    with pytest.raises(LattixDeniedError, match=r"policy resolution denied the access operation$"):
        await authorize(emu, operation="unwrap")


# --- protection plan (5.5) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "error", "code", "message"),
    [
        ("allow", LattixDeniedError, "denied", "protection plan denied the protect operation"),
        ("protect_locally", LattixFailClosedError, "local_enforcement", "protection plan did not require local enforcement"),
        (
            "send_plaintext_to_platform",
            LattixFailClosedError,
            "send_plaintext_to_platform",
            "protection plan requested plaintext transport to the platform; refusing local-only workflow",
        ),
        (
            "plaintext_transport",
            LattixFailClosedError,
            "plaintext_transport",
            'protection plan returned unsupported plaintext transport mode "allowed"',
        ),
        (
            "raw_key_delivery_forbidden",
            LattixFailClosedError,
            "raw_key_delivery",
            "key transport guidance permitted raw key delivery; refusing local-only workflow",
        ),
    ],
)
async def test_protection_plan_checks(
    emu: LattixEmulator, misbehaviour: str, error: type[Exception], code: str, message: str
) -> None:
    emu.misbehave(misbehaviour, routes=["protection-plan"])
    with pytest.raises(error) as caught:
        await prepare(emu)
    assert caught.value.args[0] == message
    assert getattr(caught.value, "code", None) == code


async def test_protection_plan_rewrap_messages(emu: LattixEmulator) -> None:
    emu.misbehave("protect_locally", routes=["protection-plan"])
    with pytest.raises(LattixFailClosedError, match=r"protection plan did not preserve local enforcement for rewrap$"):
        await prepare(emu, operation="rewrap")
    emu.behave()
    emu.misbehave("allow", routes=["protection-plan"])
    with pytest.raises(LattixDeniedError, match=r"protection plan denied the rewrap operation$"):
        await prepare(emu, operation="rewrap")


# --- key access plan (5.7, 7) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "error", "message"),
    [
        ("allow", LattixDeniedError, "key access plan denied the local cryptographic operation$"),
        ("key_operation", LattixFailClosedError, 'key access plan returned unexpected operation "(wrap|rewrap)"$'),
        (
            "local_cryptographic_operation",
            LattixFailClosedError,
            "key access plan did not allow local cryptographic execution$",
        ),
        (
            "send_plaintext_to_platform",
            LattixFailClosedError,
            "key access plan requested plaintext transport to the platform$",
        ),
        (
            "artifact_profile",
            LattixFailClosedError,
            'key access plan returned unexpected artifact profile "(envelope|detached_signature)"$',
        ),
        (
            "raw_key_delivery_forbidden",
            LattixFailClosedError,
            "key transport guidance permitted raw key delivery; refusing local-only workflow$",
        ),
    ],
)
async def test_key_access_plan_checks(
    emu: LattixEmulator, misbehaviour: str, error: type[Exception], message: str
) -> None:
    emu.misbehave(misbehaviour, routes=["key-access-plan"])
    with pytest.raises(error, match=message):
        await authorize(emu, operation="unwrap")


async def test_unknown_key_transport_mode_is_tolerated_then_refused(emu: LattixEmulator) -> None:
    emu.misbehave("key_transport_mode", routes=["key-access-plan"])
    async with client(emu) as lattix:
        authorization = await lattix.authorize_key_access(WORKLOAD, RESOURCE, artifact_profile="tdf")
    guidance = authorization.key_access_plan.execution.key_transport
    assert guidance is not None and guidance.mode == "raw_key_release" and not guidance.mode.known
    with pytest.raises(LattixFailClosedError, match="key transport mode raw_key_release is not supported") as caught:
        check_key_source(guidance, "managed_reference")
    assert caught.value.code == "key_transport_mode"


@pytest.mark.parametrize(
    ("mode", "accepted", "refused", "message"),
    [
        (None, "inline", "managed_reference", "requires an inline symmetric key when key_transport.mode is local_provided"),
        ("local_provided", "inline", "managed_reference", "received managed key reference \"kms://a\""),
        ("wrapped_key_reference", "managed_reference", "inline", "requires a managed key reference when key_transport.mode is wrapped_key_reference"),
        ("authorized_key_release", "managed_reference", "inline", "key_transport.mode is authorized_key_release"),
        ("kem_encapsulated_cek", "managed_reference", "inline", "key_transport.mode is kem_encapsulated_cek"),
    ],
)
async def test_key_source_rules(
    emu: LattixEmulator, mode: str | None, accepted: str, refused: str, message: str
) -> None:
    emu.key_transport = mode
    async with client(emu) as lattix:
        authorization = await lattix.authorize_key_access(WORKLOAD, RESOURCE, artifact_profile="tdf")
    guidance = authorization.key_access_plan.execution.key_transport
    if mode is None:
        guidance = None  # absent guidance means local_provided
    else:
        assert guidance is not None and guidance.mode == mode
    effective = check_key_source(guidance, accepted, key_reference="kms://a")
    assert effective == (mode or KeyTransportMode.LOCAL_PROVIDED)
    with pytest.raises(LattixFailClosedError, match=message):
        check_key_source(guidance, LocalSymmetricKeySourceKind(refused), key_reference="kms://a", context="local TDF access")


def test_key_source_checks_raw_key_delivery_first() -> None:
    guidance = KeyTransportGuidance(
        mode=KeyTransportMode.LOCAL_PROVIDED,
        key_material_origin="caller",
        stable_key_reference_preferred=False,
        raw_key_delivery_forbidden=False,
    )
    with pytest.raises(LattixFailClosedError, match="permitted raw key delivery"):
        check_key_source(guidance, "inline")


# --- artifact registration and evidence (5.8, 5.9) ------------------------------------------------------------


async def test_artifact_registration_checks(emu: LattixEmulator) -> None:
    emu.misbehave("accepted", routes=["artifact-register"], times=1)
    with pytest.raises(LattixFailClosedError, match=r"artifact registration was not accepted$"):
        await register(emu)
    emu.misbehave("send_plaintext_to_platform", routes=["artifact-register"], times=1)
    with pytest.raises(LattixFailClosedError, match=r"artifact registration requested plaintext transport to the platform$"):
        await register(emu)
    assert emu.count("POST", "evidence") == 0  # no evidence for a refused registration


async def test_evidence_ingestion_checks(emu: LattixEmulator) -> None:
    emu.misbehave("accepted", routes=["evidence"], times=1)
    with pytest.raises(LattixFailClosedError, match=r"evidence ingestion was not accepted$"):
        await register(emu)
    assert emu.evidence == []
    emu.misbehave("plaintext_transport", routes=["evidence"], times=1)
    with pytest.raises(LattixFailClosedError, match=r'evidence ingestion returned unsupported plaintext transport mode "allowed"$'):
        await register(emu)


async def test_missing_required_field_fails_the_flow(emu: LattixEmulator) -> None:
    emu.misbehave("missing_required_field", routes=["bootstrap"])
    with pytest.raises(LattixSerializationError, match="caller"):
        await prepare(emu)
