"""Response bodies of the nine routes (spec §5, shapes and fixed strings as in §9 and §11).

Pure functions of the normalized request (see ``_schema.validate_request``) and the caller, so
the emulator's state handling stays in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ._schema import LOCAL_KEY_REFERENCES, SERVICE

JSON = dict[str, Any]

DEFAULT_SCOPE = "platform-api.access"

# §11: the seeded world is the spec's example world, so its examples reproduce exactly.
DEFAULT_AUTH_CONFIGURATION: JSON = {
    "mode": "bearer_token_validation",
    "proof_of_possession": "mtls",
    "oidc_issuer": "https://login.acme.test/realms/acme",
    "oidc_audience": "lattix-platform-api",
    "oidc_issuer_ready": True,
    "mtls_ready": False,
}

_ROUTE_DOMAINS: tuple[tuple[str, str], ...] = (
    ("/v1/sdk/protection-plan", "policy"),
    ("/v1/sdk/policy-resolve", "policy"),
    ("/v1/sdk/key-access-plan", "keys"),
    ("/v1/sdk/artifact-register", "artifacts"),
    ("/v1/sdk/evidence", "evidence"),
)

_POLICY_DOMAIN: JSON = {"domain": "policy", "configured": True, "reason": "metadata-only"}
_KEYS_DOMAIN: JSON = {"domain": "keys", "configured": True, "reason": "authorize-only key access"}


def present(value: Any) -> bool:
    """§5.10: present = non-null, and (an emulator choice) non-empty for strings."""
    return value is not None and value != ""


def is_rfc3339(value: str) -> bool:
    # fromisoformat (3.10) rejects a trailing Z, which RFC 3339 allows.
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    if len(text) < 20 or text[10] not in "Tt ":
        return False
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def key_transport(mode: str) -> JSON:
    """KeyTransportGuidance for ``mode`` (values of the spec's §11 examples)."""
    if mode == "local_provided":
        origin, stable = "caller", False
    else:
        origin, stable = "kms", True
    kem = mode == "kem_encapsulated_cek"
    return {
        "mode": mode,
        "key_material_origin": origin,
        "stable_key_reference_preferred": stable,
        "raw_key_delivery_forbidden": True,
        "public_key_distribution": "tenant_jwks" if kem else None,
        "exchange_algorithm": "ml-kem-768" if kem else None,
    }


def key_transport_mode_for(key_reference: str | None, forced: str | None) -> str:
    """§7: inline keys (no reference, or the SDK's placeholders) are local; others are managed."""
    if forced is not None:
        return forced
    if not present(key_reference) or key_reference in LOCAL_KEY_REFERENCES:
        return "local_provided"
    return "wrapped_key_reference"


def _envelope(caller: JSON, status: str = "ready") -> JSON:
    return {"service": SERVICE, "status": status, "caller": caller}


def _summary_head(req: Mapping[str, Any], head: str) -> JSON:
    workload, resource = req["workload"], req["resource"]
    return {
        head: req[head],
        "workload_application": workload["application"],
        "workload_environment": workload["environment"],
        "workload_component": workload["component"],
        "resource_kind": resource["kind"],
        "resource_id": resource["id"],
        "mime_type": resource["mime_type"],
    }


def _counts(req: Mapping[str, Any]) -> JSON:
    return {"label_count": len(req["labels"]), "attribute_count": len(req["attributes"])}


def _tail(platform_domains: Sequence[JSON], warnings: Sequence[str]) -> JSON:
    return {"platform_domains": [dict(d) for d in platform_domains], "warnings": list(warnings)}


def capabilities(
    *,
    auth_mode: str,
    auth_configuration: Mapping[str, Any],
    caller: JSON,
    default_scopes: Sequence[str],
    route_scopes: Mapping[str, Sequence[str]],
) -> JSON:
    return {
        "service": SERVICE,
        "status": "ready",
        "auth_mode": auth_mode,
        "auth_configuration": dict(auth_configuration),
        "caller": caller,
        "default_required_scopes": list(default_scopes),
        "routes": [
            {
                "route": route,
                "domain": domain,
                "configured": True,
                "required_scopes": list(route_scopes.get(route, ())),
            }
            for route, domain in _ROUTE_DOMAINS
        ],
    }


def whoami(*, caller: JSON) -> JSON:
    return _envelope(caller, status="ok")


def bootstrap(*, auth_mode: str, auth_configuration: Mapping[str, Any], caller: JSON) -> JSON:
    return {
        "service": SERVICE,
        "status": "ready",
        "auth_mode": auth_mode,
        "auth_configuration": dict(auth_configuration),
        "caller": caller,
        "enforcement_model": "embedded_local_library",
        "plaintext_to_platform": False,
        "policy_resolution_mode": "metadata_only_control_plane",
        "supported_operations": ["protect", "access", "rewrap"],
        "supported_artifact_profiles": ["tdf", "envelope", "detached_signature"],
        "platform_domains": [dict(_POLICY_DOMAIN), dict(_KEYS_DOMAIN)],
    }


def session(
    *, access_token: str, expires_in: int, scopes: Sequence[str], tenant_id: str, client_id: str
) -> JSON:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(scopes),
        "tenant_id": tenant_id,
        "client_id": client_id,
        "subject": f"sdk:{client_id}",
    }


def protection_plan(
    req: Mapping[str, Any],
    *,
    caller: JSON,
    denial: str | None,
    profile: str,
    transport_mode: str,
) -> JSON:
    summary = _summary_head(req, "operation")
    summary.update(
        {
            "preferred_artifact_profile": profile,
            "content_digest_present": present(req["content_digest"]),
            "content_size_bytes": req["content_size_bytes"],
            **_counts(req),
            "purpose": req["purpose"],
        }
    )
    send_only = ["policy metadata"] + (["content digest"] if present(req["content_digest"]) else [])
    return {
        **_envelope(caller),
        "request_summary": summary,
        "decision": {
            "allow": denial is None,
            "required_scopes": [DEFAULT_SCOPE, f"sdk.{req['operation']}"],
            "handling_mode": "local_embedded_enforcement",
            "plaintext_transport": "forbidden_by_default",
        },
        "execution": {
            "protect_locally": True,
            "local_enforcement_library": "sdk_embedded_library",
            "send_plaintext_to_platform": False,
            "send_only": send_only,
            "artifact_profile": profile,
            "key_strategy": "encrypt_locally_then_wrap_or_authorize_key_release",
            "policy_resolution": "metadata_only",
            "key_transport": key_transport(transport_mode),
        },
        **_tail([_POLICY_DOMAIN], [denial] if denial else []),
    }


def policy_resolve(req: Mapping[str, Any], *, caller: JSON, denial: str | None) -> JSON:
    summary = _summary_head(req, "operation")
    summary.update(
        {
            "content_digest_present": present(req["content_digest"]),
            "content_size_bytes": req["content_size_bytes"],
            "purpose": req["purpose"],
            **_counts(req),
        }
    )
    # The policy inputs are the metadata an ABAC rule can look at; the digest is bound, not judged.
    inputs = [
        name
        for name, value in (
            ("labels", req["labels"]),
            ("purpose", req["purpose"]),
            ("attributes", req["attributes"]),
        )
        if value
    ]
    allow = denial is None
    return {
        **_envelope(caller),
        "request_summary": summary,
        "decision": {
            "allow": allow,
            "enforcement_mode": "local_embedded_enforcement",
            "required_scopes": [f"sdk.{req['operation']}"],
            "policy_inputs": inputs,
            "required_actions": ["artifact_register", "evidence"] if allow else ["evidence"],
        },
        "handling": {
            "protect_locally": True,
            "plaintext_transport": "forbidden_by_default",
            "bind_policy_to": ["artifact_digest", "content_digest"],
            "evidence_expected": [req["operation"]] if allow else ["deny"],
        },
        **_tail([], [denial] if denial else []),
    }


def key_access_plan(
    req: Mapping[str, Any],
    *,
    caller: JSON,
    denial: str | None,
    profile: str,
    transport_mode: str,
) -> JSON:
    summary = _summary_head(req, "operation")
    key_present = present(req["key_reference"])
    summary.update(
        {
            "artifact_profile": profile,
            "key_reference_present": key_present,
            "content_digest_present": present(req["content_digest"]),
            "purpose": req["purpose"],
            **_counts(req),
        }
    )
    return {
        **_envelope(caller),
        "request_summary": summary,
        "decision": {
            "allow": denial is None,
            "required_scopes": [],
            "operation": req["operation"],
            "key_reference_present": key_present,
        },
        "execution": {
            "local_cryptographic_operation": True,
            "platform_role": "authorize_only",
            "send_plaintext_to_platform": False,
            "send_only": ["content digest"] if present(req["content_digest"]) else [],
            "artifact_profile": profile,
            "authorization_strategy": "metadata_only_control_plane",
            "key_transport": key_transport(transport_mode),
        },
        **_tail([], [denial] if denial else []),
    }


def artifact_register(req: Mapping[str, Any], *, caller: JSON) -> JSON:
    summary = _summary_head(req, "operation")
    summary.update(
        {
            "artifact_profile": req["artifact_profile"],
            "artifact_digest": req["artifact_digest"],
            "artifact_locator_present": present(req["artifact_locator"]),
            "decision_id_present": present(req["decision_id"]),
            "key_reference_present": present(req["key_reference"]),
            "purpose": req["purpose"],
            **_counts(req),
        }
    )
    # A registered artifact will next be accessed; a protect/rewrap also leaves its own event.
    expected = [req["operation"]] + (["access"] if req["operation"] != "access" else [])
    return {
        **_envelope(caller),
        "request_summary": summary,
        "registration": {
            "accepted": True,
            "required_scopes": [DEFAULT_SCOPE],
            "artifact_transport": "metadata_only",
            "send_plaintext_to_platform": False,
            "catalog_actions": ["record_artifact"],
            "evidence_expected": expected,
        },
        **_tail([], []),
    }


def evidence(req: Mapping[str, Any], *, caller: JSON) -> JSON:
    summary = _summary_head(req, "event_type")
    occurred_at = req["occurred_at"]
    summary.update(
        {
            "artifact_profile": req["artifact_profile"],
            "artifact_digest_present": present(req["artifact_digest"]),
            "decision_id_present": present(req["decision_id"]),
            "outcome": req["outcome"],
            # §5.9: echo only an RFC 3339 timestamp (Go parses it), else null.
            "occurred_at": occurred_at if occurred_at and is_rfc3339(occurred_at) else None,
            "purpose": req["purpose"],
            **_counts(req),
        }
    )
    return {
        **_envelope(caller),
        "request_summary": summary,
        "ingestion": {
            "accepted": True,
            "required_scopes": [DEFAULT_SCOPE],
            "plaintext_transport": "forbidden_by_default",
            "send_only": ["artifact digest", "tenant metadata"],
            "correlate_by": ["artifact_digest", "tenant_id"],
        },
        **_tail([], []),
    }


__all__ = [
    "DEFAULT_AUTH_CONFIGURATION",
    "DEFAULT_SCOPE",
    "artifact_register",
    "bootstrap",
    "capabilities",
    "evidence",
    "is_rfc3339",
    "key_access_plan",
    "key_transport",
    "key_transport_mode_for",
    "policy_resolve",
    "present",
    "protection_plan",
    "session",
    "whoami",
]
