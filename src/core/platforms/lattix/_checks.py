"""The fail-closed checks the official SDK applies before local protection (specs/lattix.md 5.3-5.9, 7).

Lattix's promise is that data is protected in-process and only metadata reaches the platform.
These checks refuse to go on when an answer breaks that promise, with the SDK's own messages:

- ``allow: false`` on a decision route raises :class:`LattixDeniedError` (a DeniedError);
- any other violation (plaintext allowed, raw key delivery, an operation or profile other than
  the one asked for, a registration or evidence event not accepted) raises
  :class:`LattixFailClosedError` (a GovernanceError: retrying will not help); ``code`` names the
  check and ``body`` holds the offending answer.

The raw route methods of the client never run them (a denial is a normal 200 answer); the helper
flows and :class:`LattixPlatform` do.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import PLATFORM, LattixDeniedError, LattixFailClosedError
from ._models import (
    ArtifactProfile,
    KeyAccessOperation,
    KeyTransportGuidance,
    KeyTransportMode,
    LattixResponse,
    LocalSymmetricKeySourceKind,
    ProtectionOperation,
    SdkArtifactRegisterResponse,
    SdkBootstrapResponse,
    SdkEvidenceIngestResponse,
    SdkKeyAccessPlanResponse,
    SdkPolicyResolveResponse,
    SdkProtectionPlanResponse,
)

EMBEDDED_LOCAL_LIBRARY = "embedded_local_library"
FORBIDDEN_BY_DEFAULT = "forbidden_by_default"

_MANAGED_MODES = frozenset(
    {
        KeyTransportMode.WRAPPED_KEY_REFERENCE,
        KeyTransportMode.AUTHORIZED_KEY_RELEASE,
        KeyTransportMode.KEM_ENCAPSULATED_CEK,
    }
)


def _quoted(value: Any) -> str:
    # The SDK formats values with Rust's {:?}: a string in double quotes.
    return json.dumps(str(value))


def _fail(code: str, message: str, response: LattixResponse | None, detail: Any = None) -> LattixFailClosedError:
    return LattixFailClosedError(
        message,
        platform=PLATFORM,
        code=code,
        detail=detail,
        body=response.raw_json if response is not None else None,
    )


def _denied(message: str, response: LattixResponse) -> LattixDeniedError:
    warnings = getattr(response, "warnings", None) or []
    return LattixDeniedError(
        message,
        platform=PLATFORM,
        code="denied",
        reason="; ".join(warnings) if warnings else message,
        body=response.raw_json,
    )


def _workflow(operation: ProtectionOperation) -> str:
    return "local-only rewrap workflow" if operation == ProtectionOperation.REWRAP else "local-only workflow"


def check_bootstrap(
    bootstrap: SdkBootstrapResponse,
    operation: ProtectionOperation | str = ProtectionOperation.PROTECT,
    artifact_profile: ArtifactProfile | str | None = None,
) -> None:
    """Plaintext never goes to the platform, enforcement is the embedded library, the operation
    (and the requested profile, when the server lists profiles) is advertised."""
    operation = ProtectionOperation(operation)
    if bootstrap.plaintext_to_platform:
        raise _fail(
            "plaintext_to_platform",
            f"bootstrap indicates plaintext may be transported to the platform; refusing {_workflow(operation)}",
            bootstrap,
            detail=True,
        )
    if bootstrap.enforcement_model != EMBEDDED_LOCAL_LIBRARY:
        local = "local protection" if operation == ProtectionOperation.PROTECT else f"local {operation}"
        raise _fail(
            "enforcement_model",
            f"bootstrap enforcement model {_quoted(bootstrap.enforcement_model)} is incompatible with embedded {local}",
            bootstrap,
            detail=bootstrap.enforcement_model,
        )
    if operation not in bootstrap.supported_operations:
        raise _fail(
            "unsupported_operation",
            f"bootstrap does not advertise {operation} support for local workflows",
            bootstrap,
            detail=str(operation),
        )
    if artifact_profile is not None:
        profile = ArtifactProfile(artifact_profile)
        if bootstrap.supported_artifact_profiles and profile not in bootstrap.supported_artifact_profiles:
            raise _fail(
                "unsupported_artifact_profile",
                f"requested artifact profile {_quoted(profile)} is not advertised by bootstrap",
                bootstrap,
                detail=str(profile),
            )


def check_policy_resolution(
    resolution: SdkPolicyResolveResponse, operation: ProtectionOperation | str
) -> None:
    """``allow``, local enforcement, and plaintext transport ``forbidden_by_default``."""
    operation = ProtectionOperation(operation)
    if not resolution.decision.allow:
        raise _denied(f"policy resolution denied the {operation} operation", resolution)
    if not resolution.handling.protect_locally:
        message = (
            "policy resolution did not require local enforcement"
            if operation == ProtectionOperation.PROTECT
            else f"policy resolution did not preserve local enforcement for {operation}"
        )
        raise _fail("local_enforcement", message, resolution, detail=False)
    if resolution.handling.plaintext_transport != FORBIDDEN_BY_DEFAULT:
        raise _fail(
            "plaintext_transport",
            "policy resolution returned unsupported plaintext transport mode "
            f"{_quoted(resolution.handling.plaintext_transport)}",
            resolution,
            detail=resolution.handling.plaintext_transport,
        )


def check_key_transport(guidance: KeyTransportGuidance | None, response: LattixResponse | None = None) -> None:
    """The platform never hands out raw keys: ``raw_key_delivery_forbidden`` must be true."""
    if guidance is not None and not guidance.raw_key_delivery_forbidden:
        raise _fail(
            "raw_key_delivery",
            "key transport guidance permitted raw key delivery; refusing local-only workflow",
            response,
            detail=False,
        )


def check_protection_plan(plan: SdkProtectionPlanResponse, operation: ProtectionOperation | str) -> None:
    """``allow``, protect locally, no plaintext to the platform, and fail-closed key transport."""
    operation = ProtectionOperation(operation)
    if not plan.decision.allow:
        raise _denied(f"protection plan denied the {operation} operation", plan)
    if not plan.execution.protect_locally:
        message = (
            "protection plan did not require local enforcement"
            if operation == ProtectionOperation.PROTECT
            else f"protection plan did not preserve local enforcement for {operation}"
        )
        raise _fail("local_enforcement", message, plan, detail=False)
    if plan.execution.send_plaintext_to_platform:
        raise _fail(
            "send_plaintext_to_platform",
            "protection plan requested plaintext transport to the platform; "
            f"refusing {_workflow(operation)}",
            plan,
            detail=True,
        )
    if plan.decision.plaintext_transport != FORBIDDEN_BY_DEFAULT:
        raise _fail(
            "plaintext_transport",
            "protection plan returned unsupported plaintext transport mode "
            f"{_quoted(plan.decision.plaintext_transport)}",
            plan,
            detail=plan.decision.plaintext_transport,
        )
    check_key_transport(plan.execution.key_transport, plan)


def check_key_access_plan(
    plan: SdkKeyAccessPlanResponse,
    operation: KeyAccessOperation | str,
    artifact_profile: ArtifactProfile | str | None = None,
) -> None:
    """``allow`` for the operation asked, local crypto, no plaintext, the profile asked (when
    one was), and fail-closed key transport."""
    operation = KeyAccessOperation(operation)
    if not plan.decision.allow:
        raise _denied("key access plan denied the local cryptographic operation", plan)
    if plan.decision.operation != operation:
        raise _fail(
            "unexpected_operation",
            f"key access plan returned unexpected operation {_quoted(plan.decision.operation)}",
            plan,
            detail=str(plan.decision.operation),
        )
    if not plan.execution.local_cryptographic_operation:
        raise _fail(
            "local_cryptographic_operation",
            "key access plan did not allow local cryptographic execution",
            plan,
            detail=False,
        )
    if plan.execution.send_plaintext_to_platform:
        raise _fail(
            "send_plaintext_to_platform",
            "key access plan requested plaintext transport to the platform",
            plan,
            detail=True,
        )
    if artifact_profile is not None and plan.execution.artifact_profile != ArtifactProfile(artifact_profile):
        raise _fail(
            "unexpected_artifact_profile",
            f"key access plan returned unexpected artifact profile {_quoted(plan.execution.artifact_profile)}",
            plan,
            detail=str(plan.execution.artifact_profile),
        )
    check_key_transport(plan.execution.key_transport, plan)


def check_key_source(
    guidance: KeyTransportGuidance | None,
    key_source: LocalSymmetricKeySourceKind | str,
    *,
    key_reference: str | None = None,
    context: str = "local protection",
) -> KeyTransportMode:
    """Section 7: ``local_provided`` needs an inline key; the other modes need a managed key
    reference. Returns the effective mode (``local_provided`` when there is no guidance)."""
    check_key_transport(guidance)
    source = LocalSymmetricKeySourceKind(key_source)
    mode = guidance.mode if guidance is not None else KeyTransportMode.LOCAL_PROVIDED
    if mode == KeyTransportMode.LOCAL_PROVIDED:
        if source != LocalSymmetricKeySourceKind.INLINE:
            raise _fail(
                "key_source",
                f"{context} requires an inline symmetric key when key_transport.mode is local_provided; "
                f"received managed key reference {_quoted(key_reference or '')}",
                None,
                detail=str(source),
            )
    elif mode in _MANAGED_MODES:
        if source != LocalSymmetricKeySourceKind.MANAGED_REFERENCE:
            raise _fail(
                "key_source",
                f"{context} requires a managed key reference when key_transport.mode is {mode}",
                None,
                detail=str(source),
            )
    else:
        # A transport mode from a newer server: its rules are unknown, so refuse.
        raise _fail(
            "key_transport_mode",
            f"key transport mode {mode} is not supported by this client; refusing local-only workflow",
            None,
            detail=str(mode),
        )
    return mode


def check_artifact_registration(registration: SdkArtifactRegisterResponse) -> None:
    """Accepted, and no plaintext to the platform."""
    if not registration.registration.accepted:
        raise _fail("not_accepted", "artifact registration was not accepted", registration, detail=False)
    if registration.registration.send_plaintext_to_platform:
        raise _fail(
            "send_plaintext_to_platform",
            "artifact registration requested plaintext transport to the platform",
            registration,
            detail=True,
        )


def check_evidence_ingestion(evidence: SdkEvidenceIngestResponse) -> None:
    """Accepted, and plaintext transport ``forbidden_by_default``."""
    if not evidence.ingestion.accepted:
        raise _fail("not_accepted", "evidence ingestion was not accepted", evidence, detail=False)
    if evidence.ingestion.plaintext_transport != FORBIDDEN_BY_DEFAULT:
        raise _fail(
            "plaintext_transport",
            "evidence ingestion returned unsupported plaintext transport mode "
            f"{_quoted(evidence.ingestion.plaintext_transport)}",
            evidence,
            detail=evidence.ingestion.plaintext_transport,
        )


__all__ = [
    "EMBEDDED_LOCAL_LIBRARY",
    "FORBIDDEN_BY_DEFAULT",
    "check_artifact_registration",
    "check_bootstrap",
    "check_evidence_ingestion",
    "check_key_access_plan",
    "check_key_source",
    "check_key_transport",
    "check_policy_resolution",
    "check_protection_plan",
]
