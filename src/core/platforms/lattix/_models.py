"""Wire models of the Lattix SDK control plane (``/v1/sdk/*``, specs/lattix.md sections 3-5).

Responses are tolerant, unlike the official SDKs (whose Rust core fails on anything new):

- unknown fields are ignored (and kept verbatim in :attr:`LattixResponse.raw_json`);
- an enum value this client does not know yet (a future ``ProtectionOperation``, say) becomes a
  pseudo-member of the enum (``ProtectionOperation("seal")``, ``.known`` is False) instead of an
  error, so a server upgrade never breaks a running pipeline.

Requests are strict (``extra="forbid"``) so a misspelt field fails before anything is sent, and
are serialized without their unset optional fields (section 1 allows omitting them); ``labels``
and ``attributes`` are always sent, like the Rust core does.
"""

from __future__ import annotations

import enum
import threading
from datetime import datetime, timezone
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    SecretStr,
    field_serializer,
)

# --- enums ---------------------------------------------------------------------------------

_pseudo_lock = threading.Lock()
_pseudo_members: dict[tuple[type[enum.Enum], str], Any] = {}


class OpenEnum(str, enum.Enum):
    """A string enum that accepts values it does not know (see the module docstring).

    ``Enum("future_value")`` returns a cached pseudo-member whose ``value`` is the string and
    whose :attr:`known` is False; it compares equal to its string like every member does.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        key = (cls, value)
        with _pseudo_lock:
            member = _pseudo_members.get(key)
            if member is None:
                member = str.__new__(cls, value)
                member._name_ = value.upper()
                member._value_ = value
                _pseudo_members[key] = member
        return member

    @property
    def known(self) -> bool:
        """False for a value the server sent that this version of govflow does not know."""
        return self._value_ in type(self)._value2member_map_

    def __str__(self) -> str:
        # The wire value, on every Python version (3.11 changed str() of mixed-in enums).
        return str(self._value_)

    def __format__(self, format_spec: str) -> str:
        return format(str(self._value_), format_spec)


class AuthMode(OpenEnum):
    TRUSTED_HEADERS = "trusted_headers"
    BEARER_TOKEN = "bearer_token"
    BEARER_TOKEN_OR_TRUSTED_HEADERS = "bearer_token_or_trusted_headers"


class SdkAuthConfigurationMode(OpenEnum):
    BEARER_TOKEN_VALIDATION = "bearer_token_validation"
    OAUTH_CLIENT_CREDENTIALS = "oauth_client_credentials"


class SdkProofOfPossession(OpenEnum):
    MTLS = "mtls"
    DPOP = "dpop"


class ProtectionOperation(OpenEnum):
    PROTECT = "protect"
    ACCESS = "access"
    REWRAP = "rewrap"


class ArtifactProfile(OpenEnum):
    TDF = "tdf"
    ENVELOPE = "envelope"
    DETACHED_SIGNATURE = "detached_signature"


class KeyAccessOperation(OpenEnum):
    WRAP = "wrap"
    UNWRAP = "unwrap"
    REWRAP = "rewrap"


class KeyTransportMode(OpenEnum):
    LOCAL_PROVIDED = "local_provided"
    WRAPPED_KEY_REFERENCE = "wrapped_key_reference"
    AUTHORIZED_KEY_RELEASE = "authorized_key_release"
    KEM_ENCAPSULATED_CEK = "kem_encapsulated_cek"


class EvidenceEventType(OpenEnum):
    PROTECT = "protect"
    ACCESS = "access"
    REWRAP = "rewrap"
    DENY = "deny"


# Client-local enums of the SDK (never on the wire to /v1/sdk/*). govflow does no local
# cryptography, but the key-transport check of section 7 takes the key source kind.


class LocalSymmetricKeySourceKind(OpenEnum):
    INLINE = "inline"
    MANAGED_REFERENCE = "managed_reference"


class ManagedSymmetricKeyProviderKind(OpenEnum):
    IN_MEMORY = "in_memory"
    COMMAND = "command"


class LocalEnvelopeAlgorithm(OpenEnum):
    AES256_GCM = "aes256_gcm"


class LocalTdfAlgorithm(OpenEnum):
    AES256_GCM = "aes256_gcm"


class LocalDetachedSignatureAlgorithm(OpenEnum):
    ED25519 = "ed25519"


# --- bases ---------------------------------------------------------------------------------


class LattixModel(BaseModel):
    """Base of every Lattix object received from the server: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class LattixResponse(LattixModel):
    """Base of the route responses; keeps the decoded body verbatim for audit."""

    _raw_json: Any = PrivateAttr(default=None)

    @property
    def raw_json(self) -> Any:
        """The response body exactly as decoded, unknown fields included."""
        return self._raw_json


class LattixRequest(BaseModel):
    """Base of request bodies: strict, so a misspelt field fails before anything is sent."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: unset optional fields omitted, ``labels``/``attributes`` always present."""
        return self.model_dump(mode="json", exclude_none=True)


class _MetadataRequest(LattixRequest):
    """The route requests: ``attributes`` go out with sorted keys, as the Rust core's BTreeMap."""

    @field_serializer("attributes", check_fields=False)
    def _sorted_attributes(self, value: dict[str, str]) -> dict[str, str]:
        return dict(sorted(value.items()))


# --- common objects (section 3) ------------------------------------------------------------


class WorkloadDescriptor(LattixRequest):
    """The application (and optionally environment and component) asking."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    application: str
    environment: str | None = None
    component: str | None = None


class ResourceDescriptor(LattixRequest):
    """The data the operation is about: a kind (``document``, ``dataset``...) and optional id."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    kind: str
    id: str | None = None
    mime_type: str | None = None


class RequestContext(LattixModel):
    """The caller as the server sees it (``caller`` in every response)."""

    tenant_id: str
    principal_id: str
    subject: str
    auth_source: str
    scopes: list[str] = Field(default_factory=list)


class PlatformDomainPlan(LattixModel):
    domain: str
    configured: bool
    reason: str


class SdkRouteCapability(LattixModel):
    route: str
    domain: str
    configured: bool
    required_scopes: list[str] = Field(default_factory=list)


class SdkAuthConfiguration(LattixModel):
    mode: SdkAuthConfigurationMode
    proof_of_possession: SdkProofOfPossession
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_issuer_ready: bool
    mtls_ready: bool


def _default_auth_configuration() -> SdkAuthConfiguration:
    # What the SDKs assume when the server omits the object (section 3).
    return SdkAuthConfiguration(
        mode=SdkAuthConfigurationMode.BEARER_TOKEN_VALIDATION,
        proof_of_possession=SdkProofOfPossession.MTLS,
        oidc_issuer_ready=False,
        mtls_ready=False,
    )


class KeyTransportGuidance(LattixModel):
    """How key material is sourced (section 7); absent means ``local_provided``."""

    mode: KeyTransportMode
    key_material_origin: str
    stable_key_reference_preferred: bool
    raw_key_delivery_forbidden: bool
    public_key_distribution: str | None = None
    exchange_algorithm: str | None = None


class _Envelope(LattixResponse):
    """Fields every POST response shares (section 3)."""

    service: str
    status: str
    caller: RequestContext
    platform_domains: list[PlatformDomainPlan] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# --- GET routes (5.1-5.3) ------------------------------------------------------------------


class SdkCapabilitiesResponse(LattixResponse):
    service: str
    status: str
    auth_mode: AuthMode
    auth_configuration: SdkAuthConfiguration = Field(default_factory=_default_auth_configuration)
    caller: RequestContext
    default_required_scopes: list[str] = Field(default_factory=list)
    routes: list[SdkRouteCapability] = Field(default_factory=list)


class CallerIdentityResponse(LattixResponse):
    service: str
    status: str
    caller: RequestContext


class SdkBootstrapResponse(LattixResponse):
    service: str
    status: str
    auth_mode: AuthMode
    auth_configuration: SdkAuthConfiguration = Field(default_factory=_default_auth_configuration)
    caller: RequestContext
    enforcement_model: str
    plaintext_to_platform: bool
    policy_resolution_mode: str
    supported_operations: list[ProtectionOperation] = Field(default_factory=list)
    supported_artifact_profiles: list[ArtifactProfile] = Field(default_factory=list)
    platform_domains: list[PlatformDomainPlan] = Field(default_factory=list)


# --- session exchange (2.4) ----------------------------------------------------------------


class SdkSessionExchangeRequest(LattixRequest):
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    requested_scopes: list[str] = Field(default_factory=list)

    @field_serializer("client_secret", when_used="json")
    def _reveal(self, value: SecretStr) -> str:
        # Only the wire body carries the secret; repr() and model_dump() keep it masked.
        return value.get_secret_value()


class SdkSessionExchangeResponse(LattixResponse):
    access_token: SecretStr
    token_type: str
    expires_in: NonNegativeInt
    scope: str
    tenant_id: str
    client_id: str
    subject: str


# --- protection plan (5.5) -----------------------------------------------------------------


class SdkProtectionPlanRequest(_MetadataRequest):
    operation: ProtectionOperation
    workload: WorkloadDescriptor
    resource: ResourceDescriptor
    preferred_artifact_profile: ArtifactProfile | None = None
    content_digest: str | None = None
    content_size_bytes: NonNegativeInt | None = None
    purpose: str | None = None
    labels: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class _Summary(LattixModel):
    workload_application: str
    workload_environment: str | None = None
    workload_component: str | None = None
    resource_kind: str
    resource_id: str | None = None
    mime_type: str | None = None
    purpose: str | None = None
    label_count: NonNegativeInt
    attribute_count: NonNegativeInt


class ProtectionPlanSummary(_Summary):
    operation: ProtectionOperation
    preferred_artifact_profile: ArtifactProfile
    content_digest_present: bool
    content_size_bytes: int | None = None


class ProtectionPlanDecision(LattixModel):
    allow: bool
    handling_mode: str
    plaintext_transport: str
    required_scopes: list[str] = Field(default_factory=list)


class ProtectionExecutionPlan(LattixModel):
    protect_locally: bool
    local_enforcement_library: str
    send_plaintext_to_platform: bool
    artifact_profile: ArtifactProfile
    key_strategy: str
    policy_resolution: str
    send_only: list[str] = Field(default_factory=list)
    key_transport: KeyTransportGuidance | None = None


class SdkProtectionPlanResponse(_Envelope):
    request_summary: ProtectionPlanSummary
    decision: ProtectionPlanDecision
    execution: ProtectionExecutionPlan


# --- policy resolve (5.6) ------------------------------------------------------------------


class SdkPolicyResolveRequest(_MetadataRequest):
    operation: ProtectionOperation
    workload: WorkloadDescriptor
    resource: ResourceDescriptor
    content_digest: str | None = None
    content_size_bytes: NonNegativeInt | None = None
    purpose: str | None = None
    labels: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class PolicyRequestSummary(_Summary):
    operation: ProtectionOperation
    content_digest_present: bool
    content_size_bytes: int | None = None


class PolicyResolutionDecision(LattixModel):
    allow: bool
    enforcement_mode: str
    required_scopes: list[str] = Field(default_factory=list)
    policy_inputs: list[str] = Field(default_factory=list)
    required_actions: list[str] = Field(default_factory=list)


class PolicyHandlingGuidance(LattixModel):
    protect_locally: bool
    plaintext_transport: str
    bind_policy_to: list[str] = Field(default_factory=list)
    evidence_expected: list[str] = Field(default_factory=list)


class SdkPolicyResolveResponse(_Envelope):
    request_summary: PolicyRequestSummary
    decision: PolicyResolutionDecision
    handling: PolicyHandlingGuidance


# --- key access plan (5.7) -----------------------------------------------------------------


class SdkKeyAccessPlanRequest(_MetadataRequest):
    operation: KeyAccessOperation
    workload: WorkloadDescriptor
    resource: ResourceDescriptor
    artifact_profile: ArtifactProfile | None = None
    key_reference: str | None = None
    content_digest: str | None = None
    purpose: str | None = None
    labels: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class KeyAccessRequestSummary(_Summary):
    operation: KeyAccessOperation
    artifact_profile: ArtifactProfile
    key_reference_present: bool
    content_digest_present: bool


class KeyAccessDecision(LattixModel):
    allow: bool
    operation: KeyAccessOperation
    key_reference_present: bool
    required_scopes: list[str] = Field(default_factory=list)


class KeyAccessExecutionPlan(LattixModel):
    local_cryptographic_operation: bool
    platform_role: str
    send_plaintext_to_platform: bool
    artifact_profile: ArtifactProfile
    authorization_strategy: str
    send_only: list[str] = Field(default_factory=list)
    key_transport: KeyTransportGuidance | None = None


class SdkKeyAccessPlanResponse(_Envelope):
    request_summary: KeyAccessRequestSummary
    decision: KeyAccessDecision
    execution: KeyAccessExecutionPlan


# --- artifact register (5.8) ---------------------------------------------------------------


class SdkArtifactRegisterRequest(_MetadataRequest):
    operation: ProtectionOperation
    workload: WorkloadDescriptor
    resource: ResourceDescriptor
    artifact_profile: ArtifactProfile
    artifact_digest: str
    artifact_locator: str | None = None
    decision_id: str | None = None
    key_reference: str | None = None
    purpose: str | None = None
    labels: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class ArtifactRegistrationSummary(_Summary):
    operation: ProtectionOperation
    artifact_profile: ArtifactProfile
    artifact_digest: str
    artifact_locator_present: bool
    decision_id_present: bool
    key_reference_present: bool


class ArtifactRegistrationPlan(LattixModel):
    accepted: bool
    artifact_transport: str
    send_plaintext_to_platform: bool
    required_scopes: list[str] = Field(default_factory=list)
    catalog_actions: list[str] = Field(default_factory=list)
    evidence_expected: list[str] = Field(default_factory=list)


class SdkArtifactRegisterResponse(_Envelope):
    request_summary: ArtifactRegistrationSummary
    registration: ArtifactRegistrationPlan


# --- evidence (5.9) ------------------------------------------------------------------------


def rfc3339(moment: datetime) -> str:
    """``2026-05-12T09:30:00Z`` (with fractional seconds when there are any), in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


class SdkEvidenceIngestRequest(_MetadataRequest):
    event_type: EvidenceEventType
    workload: WorkloadDescriptor
    resource: ResourceDescriptor
    artifact_profile: ArtifactProfile | None = None
    artifact_digest: str | None = None
    decision_id: str | None = None
    outcome: str | None = None
    occurred_at: datetime | str | None = Field(
        default=None, description="RFC 3339; a datetime is sent in UTC with a Z"
    )
    purpose: str | None = None
    labels: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_serializer("occurred_at")
    def _timestamp(self, value: datetime | str | None) -> str | None:
        return rfc3339(value) if isinstance(value, datetime) else value


class EvidenceIngestSummary(_Summary):
    event_type: EvidenceEventType
    artifact_profile: ArtifactProfile | None = None
    artifact_digest_present: bool
    decision_id_present: bool
    outcome: str | None = None
    occurred_at: str | None = None


class EvidenceIngestionPlan(LattixModel):
    accepted: bool
    plaintext_transport: str
    required_scopes: list[str] = Field(default_factory=list)
    send_only: list[str] = Field(default_factory=list)
    correlate_by: list[str] = Field(default_factory=list)


class SdkEvidenceIngestResponse(_Envelope):
    request_summary: EvidenceIngestSummary
    ingestion: EvidenceIngestionPlan


__all__ = [
    "ArtifactProfile",
    "ArtifactRegistrationPlan",
    "ArtifactRegistrationSummary",
    "AuthMode",
    "CallerIdentityResponse",
    "EvidenceEventType",
    "EvidenceIngestSummary",
    "EvidenceIngestionPlan",
    "KeyAccessDecision",
    "KeyAccessExecutionPlan",
    "KeyAccessOperation",
    "KeyAccessRequestSummary",
    "KeyTransportGuidance",
    "KeyTransportMode",
    "LattixModel",
    "LattixRequest",
    "LattixResponse",
    "LocalDetachedSignatureAlgorithm",
    "LocalEnvelopeAlgorithm",
    "LocalSymmetricKeySourceKind",
    "LocalTdfAlgorithm",
    "ManagedSymmetricKeyProviderKind",
    "OpenEnum",
    "PlatformDomainPlan",
    "PolicyHandlingGuidance",
    "PolicyRequestSummary",
    "PolicyResolutionDecision",
    "ProtectionExecutionPlan",
    "ProtectionOperation",
    "ProtectionPlanDecision",
    "ProtectionPlanSummary",
    "RequestContext",
    "ResourceDescriptor",
    "SdkArtifactRegisterRequest",
    "SdkArtifactRegisterResponse",
    "SdkAuthConfiguration",
    "SdkAuthConfigurationMode",
    "SdkBootstrapResponse",
    "SdkCapabilitiesResponse",
    "SdkEvidenceIngestRequest",
    "SdkEvidenceIngestResponse",
    "SdkKeyAccessPlanRequest",
    "SdkKeyAccessPlanResponse",
    "SdkPolicyResolveRequest",
    "SdkPolicyResolveResponse",
    "SdkProofOfPossession",
    "SdkProtectionPlanRequest",
    "SdkProtectionPlanResponse",
    "SdkRouteCapability",
    "SdkSessionExchangeRequest",
    "SdkSessionExchangeResponse",
    "WorkloadDescriptor",
    "rfc3339",
]
