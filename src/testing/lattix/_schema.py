"""The Lattix wire vocabulary (spec §3, §4, §9) and request validation (spec §5, §1 nulls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SERVICE = "lattix-platform-api"
SDK_PREFIX = "/v1/sdk/"

# Spec §4: the complete value sets. Responses use only these unless a test asks for more.
ENUMS: dict[str, tuple[str, ...]] = {
    "AuthMode": ("trusted_headers", "bearer_token", "bearer_token_or_trusted_headers"),
    "SdkAuthConfigurationMode": ("bearer_token_validation", "oauth_client_credentials"),
    "SdkProofOfPossession": ("mtls", "dpop"),
    "ProtectionOperation": ("protect", "access", "rewrap"),
    "ArtifactProfile": ("tdf", "envelope", "detached_signature"),
    "KeyAccessOperation": ("wrap", "unwrap", "rewrap"),
    "KeyTransportMode": (
        "local_provided",
        "wrapped_key_reference",
        "authorized_key_release",
        "kem_encapsulated_cek",
    ),
    "EvidenceEventType": ("protect", "access", "rewrap", "deny"),
}

# Route name -> (method, path). The names are what the emulator's test API accepts.
ROUTES: dict[str, tuple[str, str]] = {
    "capabilities": ("GET", "/v1/sdk/capabilities"),
    "whoami": ("GET", "/v1/sdk/whoami"),
    "bootstrap": ("GET", "/v1/sdk/bootstrap"),
    "session": ("POST", "/v1/sdk/session"),
    "protection-plan": ("POST", "/v1/sdk/protection-plan"),
    "policy-resolve": ("POST", "/v1/sdk/policy-resolve"),
    "key-access-plan": ("POST", "/v1/sdk/key-access-plan"),
    "artifact-register": ("POST", "/v1/sdk/artifact-register"),
    "evidence": ("POST", "/v1/sdk/evidence"),
}
ROUTE_BY_PATH: dict[str, str] = {path: name for name, (_, path) in ROUTES.items()}

# §7: the placeholder key references the SDK sends with inline (caller-provided) keys.
LOCAL_KEY_REFERENCES = frozenset(
    {"local-symmetric-key", "local-tdf-key", "local-detached-signature-key"}
)

# (name, kind, required). Kinds: string, u64, labels, attributes, scopes, workload, resource,
# enum:<EnumName>. Optional fields accept missing or null (§1: the Rust core sends nulls).
Field = tuple[str, str, bool]

_DESCRIPTOR_FIELDS: dict[str, tuple[Field, ...]] = {
    "workload": (
        ("application", "string", True),
        ("environment", "string", False),
        ("component", "string", False),
    ),
    "resource": (("kind", "string", True), ("id", "string", False), ("mime_type", "string", False)),
}

_COMMON_HEAD: tuple[Field, ...] = (("workload", "workload", True), ("resource", "resource", True))
_LABELS: tuple[Field, ...] = (("labels", "labels", False), ("attributes", "attributes", False))

REQUEST_FIELDS: dict[str, tuple[Field, ...]] = {
    "session": (
        ("tenant_id", "string", True),
        ("client_id", "string", True),
        ("client_secret", "string", True),
        ("requested_scopes", "scopes", True),
    ),
    "protection-plan": (
        ("operation", "enum:ProtectionOperation", True),
        *_COMMON_HEAD,
        ("preferred_artifact_profile", "enum:ArtifactProfile", False),
        ("content_digest", "string", False),
        ("content_size_bytes", "u64", False),
        ("purpose", "string", False),
        *_LABELS,
    ),
    "policy-resolve": (
        ("operation", "enum:ProtectionOperation", True),
        *_COMMON_HEAD,
        ("content_digest", "string", False),
        ("content_size_bytes", "u64", False),
        ("purpose", "string", False),
        *_LABELS,
    ),
    "key-access-plan": (
        ("operation", "enum:KeyAccessOperation", True),
        *_COMMON_HEAD,
        ("artifact_profile", "enum:ArtifactProfile", False),
        ("key_reference", "string", False),
        ("content_digest", "string", False),
        ("purpose", "string", False),
        *_LABELS,
    ),
    "artifact-register": (
        ("operation", "enum:ProtectionOperation", True),
        *_COMMON_HEAD,
        ("artifact_profile", "enum:ArtifactProfile", True),
        ("artifact_digest", "string", True),
        ("artifact_locator", "string", False),
        ("decision_id", "string", False),
        ("key_reference", "string", False),
        ("purpose", "string", False),
        *_LABELS,
    ),
    "evidence": (
        ("event_type", "enum:EvidenceEventType", True),
        *_COMMON_HEAD,
        ("artifact_profile", "enum:ArtifactProfile", False),
        ("artifact_digest", "string", False),
        ("decision_id", "string", False),
        ("outcome", "string", False),
        ("occurred_at", "string", False),
        ("purpose", "string", False),
        *_LABELS,
    ),
}

_U64_MAX = 2**64 - 1


class InvalidRequest(ValueError):
    """A request body that does not match the route's model (answered with 422)."""


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _check(kind: str, value: Any, path: str, strict: bool) -> Any:
    if kind.startswith("enum:"):
        enum = kind[5:]
        if not isinstance(value, str):
            raise InvalidRequest(f"{path}: invalid type: expected one of {_quoted(ENUMS[enum])}")
        if value not in ENUMS[enum]:
            # Worded like serde's error, which the spec's example quotes.
            raise InvalidRequest(
                f"{path}: unknown variant '{value}', expected one of {_quoted(ENUMS[enum])}"
            )
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise InvalidRequest(f"{path}: invalid type: expected a string")
        return value
    if kind == "u64":
        # bool is an int in Python but not in JSON; serde's u64 takes integers only.
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
            raise InvalidRequest(f"{path}: invalid value: expected a non-negative integer")
        return value
    if kind in ("labels", "scopes"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRequest(f"{path}: invalid type: expected an array of strings")
        return list(value)
    if kind == "attributes":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InvalidRequest(f"{path}: invalid type: expected an object of strings")
        return dict(value)
    if kind in _DESCRIPTOR_FIELDS:
        if not isinstance(value, dict):
            raise InvalidRequest(f"{path}: invalid type: expected an object")
        return check_object(_DESCRIPTOR_FIELDS[kind], value, path, strict=strict)
    raise AssertionError(f"unknown field kind {kind!r}")  # pragma: no cover


def check_object(
    fields: tuple[Field, ...], data: Mapping[str, Any], path: str = "", *, strict: bool = False
) -> dict[str, Any]:
    """Validate ``data`` against ``fields``; return it normalized (every field present, nulls for
    absent optionals, ``[]``/``{}`` for absent labels/attributes). Raises :class:`InvalidRequest`."""
    if strict:
        known = {name for name, _, _ in fields}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(f"{_where(path)}unknown field '{unknown[0]}'")
    out: dict[str, Any] = {}
    for name, kind, required in fields:
        here = f"{path}.{name}" if path else name
        value = data.get(name)
        if value is None:
            if required:
                if name in data:
                    raise InvalidRequest(f"{here}: invalid type: null, expected a value")
                raise InvalidRequest(f"{_where(path)}missing field '{name}'")
            out[name] = [] if kind == "labels" else {} if kind == "attributes" else None
            continue
        out[name] = _check(kind, value, here, strict)
    return out


def validate_request(route: str, body: Any, *, strict: bool = False) -> dict[str, Any]:
    """The normalized request of ``route``; ``strict`` also rejects unknown fields."""
    if not isinstance(body, dict):
        raise InvalidRequest("invalid type: expected a JSON object")
    return check_object(REQUEST_FIELDS[route], body, strict=strict)


__all__ = [
    "ENUMS",
    "LOCAL_KEY_REFERENCES",
    "REQUEST_FIELDS",
    "ROUTES",
    "ROUTE_BY_PATH",
    "SERVICE",
    "InvalidRequest",
    "check_object",
    "validate_request",
]
