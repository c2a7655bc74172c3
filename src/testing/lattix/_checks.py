"""What the official Lattix SDK would refuse in a 2xx answer, restated from the spec.

Two kinds of refusal: the response does not deserialize into the SDK's models (a missing
required field, a wrong type, an enum value outside §4: "Serialization error"), or a local
fail-closed check of §5.3-§5.9 fails ("Invalid input: ..."). The emulator's normal answers pass
both; each misbehaviour breaks one. A govflow client can be tested against the same list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._schema import ENUMS

# (path, kind). A leading "?" marks a field that may be missing (a default applies). "a[]."
# walks every element of list a. A nested path is checked only when its parent object is there.
_CALLER = [
    ("caller", "obj"),
    ("caller.tenant_id", "str"),
    ("caller.principal_id", "str"),
    ("caller.subject", "str"),
    ("caller.auth_source", "str"),
    ("?caller.scopes", "[str]"),
]
_ENVELOPE = [("service", "str"), ("status", "str"), *_CALLER]
_DOMAINS = [
    ("?platform_domains", "[obj]"),
    ("platform_domains[].domain", "str"),
    ("platform_domains[].configured", "bool"),
    ("platform_domains[].reason", "str"),
    ("?warnings", "[str]"),
]
_AUTH = [
    ("auth_mode", "enum:AuthMode"),
    ("?auth_configuration", "obj"),
    ("auth_configuration.mode", "enum:SdkAuthConfigurationMode"),
    ("auth_configuration.proof_of_possession", "enum:SdkProofOfPossession"),
    ("?auth_configuration.oidc_issuer", "str|null"),
    ("?auth_configuration.oidc_audience", "str|null"),
    ("auth_configuration.oidc_issuer_ready", "bool"),
    ("auth_configuration.mtls_ready", "bool"),
]
_KEY_TRANSPORT = [
    ("?execution.key_transport", "obj|null"),
    ("execution.key_transport.mode", "enum:KeyTransportMode"),
    ("execution.key_transport.key_material_origin", "str"),
    ("execution.key_transport.stable_key_reference_preferred", "bool"),
    ("execution.key_transport.raw_key_delivery_forbidden", "bool"),
    ("?execution.key_transport.public_key_distribution", "str|null"),
    ("?execution.key_transport.exchange_algorithm", "str|null"),
]


def _summary(head: str, head_kind: str) -> list[tuple[str, str]]:
    return [
        ("request_summary", "obj"),
        (f"request_summary.{head}", head_kind),
        ("request_summary.workload_application", "str"),
        ("?request_summary.workload_environment", "str|null"),
        ("?request_summary.workload_component", "str|null"),
        ("request_summary.resource_kind", "str"),
        ("?request_summary.resource_id", "str|null"),
        ("?request_summary.mime_type", "str|null"),
        ("?request_summary.purpose", "str|null"),
        ("request_summary.label_count", "u64"),
        ("request_summary.attribute_count", "u64"),
    ]


RESPONSE_FIELDS: dict[str, list[tuple[str, str]]] = {
    "capabilities": [
        ("service", "str"),
        ("status", "str"),
        *_AUTH,
        *_CALLER,
        ("?default_required_scopes", "[str]"),
        ("?routes", "[obj]"),
        ("routes[].route", "str"),
        ("routes[].domain", "str"),
        ("routes[].configured", "bool"),
        ("?routes[].required_scopes", "[str]"),
    ],
    "whoami": _ENVELOPE,
    "bootstrap": [
        ("service", "str"),
        ("status", "str"),
        *_AUTH,
        *_CALLER,
        ("enforcement_model", "str"),
        ("plaintext_to_platform", "bool"),
        ("policy_resolution_mode", "str"),
        ("?supported_operations", "[enum:ProtectionOperation]"),
        ("?supported_artifact_profiles", "[enum:ArtifactProfile]"),
        *_DOMAINS[:4],
    ],
    "session": [
        ("access_token", "str"),
        ("token_type", "str"),
        ("expires_in", "u64"),
        ("scope", "str"),
        ("tenant_id", "str"),
        ("client_id", "str"),
        ("subject", "str"),
    ],
    "protection-plan": [
        *_ENVELOPE,
        *_summary("operation", "enum:ProtectionOperation"),
        ("request_summary.preferred_artifact_profile", "enum:ArtifactProfile"),
        ("request_summary.content_digest_present", "bool"),
        ("?request_summary.content_size_bytes", "u64|null"),
        ("decision", "obj"),
        ("decision.allow", "bool"),
        ("decision.handling_mode", "str"),
        ("decision.plaintext_transport", "str"),
        ("?decision.required_scopes", "[str]"),
        ("execution", "obj"),
        ("execution.protect_locally", "bool"),
        ("execution.local_enforcement_library", "str"),
        ("execution.send_plaintext_to_platform", "bool"),
        ("execution.artifact_profile", "enum:ArtifactProfile"),
        ("execution.key_strategy", "str"),
        ("execution.policy_resolution", "str"),
        ("?execution.send_only", "[str]"),
        *_KEY_TRANSPORT,
        *_DOMAINS,
    ],
    "policy-resolve": [
        *_ENVELOPE,
        *_summary("operation", "enum:ProtectionOperation"),
        ("request_summary.content_digest_present", "bool"),
        ("?request_summary.content_size_bytes", "u64|null"),
        ("decision", "obj"),
        ("decision.allow", "bool"),
        ("decision.enforcement_mode", "str"),
        ("?decision.required_scopes", "[str]"),
        ("?decision.policy_inputs", "[str]"),
        ("?decision.required_actions", "[str]"),
        ("handling", "obj"),
        ("handling.protect_locally", "bool"),
        ("handling.plaintext_transport", "str"),
        ("?handling.bind_policy_to", "[str]"),
        ("?handling.evidence_expected", "[str]"),
        *_DOMAINS,
    ],
    "key-access-plan": [
        *_ENVELOPE,
        *_summary("operation", "enum:KeyAccessOperation"),
        ("request_summary.artifact_profile", "enum:ArtifactProfile"),
        ("request_summary.key_reference_present", "bool"),
        ("request_summary.content_digest_present", "bool"),
        ("decision", "obj"),
        ("decision.allow", "bool"),
        ("decision.operation", "enum:KeyAccessOperation"),
        ("decision.key_reference_present", "bool"),
        ("?decision.required_scopes", "[str]"),
        ("execution", "obj"),
        ("execution.local_cryptographic_operation", "bool"),
        ("execution.platform_role", "str"),
        ("execution.send_plaintext_to_platform", "bool"),
        ("execution.artifact_profile", "enum:ArtifactProfile"),
        ("execution.authorization_strategy", "str"),
        ("?execution.send_only", "[str]"),
        *_KEY_TRANSPORT,
        *_DOMAINS,
    ],
    "artifact-register": [
        *_ENVELOPE,
        *_summary("operation", "enum:ProtectionOperation"),
        ("request_summary.artifact_profile", "enum:ArtifactProfile"),
        ("request_summary.artifact_digest", "str"),
        ("request_summary.artifact_locator_present", "bool"),
        ("request_summary.decision_id_present", "bool"),
        ("request_summary.key_reference_present", "bool"),
        ("registration", "obj"),
        ("registration.accepted", "bool"),
        ("registration.artifact_transport", "str"),
        ("registration.send_plaintext_to_platform", "bool"),
        ("?registration.required_scopes", "[str]"),
        ("?registration.catalog_actions", "[str]"),
        ("?registration.evidence_expected", "[str]"),
        *_DOMAINS,
    ],
    "evidence": [
        *_ENVELOPE,
        *_summary("event_type", "enum:EvidenceEventType"),
        ("?request_summary.artifact_profile", "enum:ArtifactProfile|null"),
        ("request_summary.artifact_digest_present", "bool"),
        ("request_summary.decision_id_present", "bool"),
        ("?request_summary.outcome", "str|null"),
        ("?request_summary.occurred_at", "str|null"),
        ("ingestion", "obj"),
        ("ingestion.accepted", "bool"),
        ("ingestion.plaintext_transport", "str"),
        ("?ingestion.required_scopes", "[str]"),
        ("?ingestion.send_only", "[str]"),
        ("?ingestion.correlate_by", "[str]"),
        *_DOMAINS,
    ],
}


def _kind_ok(kind: str, value: Any) -> bool:
    if kind.endswith("|null"):
        return value is None or _kind_ok(kind[:-5], value)
    if kind.startswith("["):
        return isinstance(value, list) and all(_kind_ok(kind[1:-1], v) for v in value)
    if kind.startswith("enum:"):
        return isinstance(value, str) and value in ENUMS[kind[5:]]
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "u64":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "obj":
        return isinstance(value, dict)
    raise AssertionError(f"unknown kind {kind!r}")  # pragma: no cover


def _resolve(node: Any, parts: list[str], where: str) -> list[tuple[str, Any, bool]]:
    """(path, value, present) for the leaf of ``parts``; empty when a parent is missing."""
    head, rest = parts[0], parts[1:]
    each = head.endswith("[]")
    name = head[:-2] if each else head
    if not isinstance(node, dict):
        return []
    here = f"{where}.{name}" if where else name
    if not rest:
        return [(here, node.get(name), name in node)]
    child = node.get(name)
    if each:
        if not isinstance(child, list):
            return []
        found: list[tuple[str, Any, bool]] = []
        for i, item in enumerate(child):
            found.extend(_resolve(item, rest, f"{here}[{i}]"))
        return found
    return _resolve(child, rest, here)


def response_problems(route: str, body: Any) -> list[str]:
    """Why the SDK could not deserialize ``body`` as the answer of ``route`` (empty: it can)."""
    if not isinstance(body, dict):
        return [f"{route}: the body is not a JSON object"]
    problems: list[str] = []
    for spec, kind in RESPONSE_FIELDS[route]:
        optional = spec.startswith("?")
        for path, value, present in _resolve(body, spec.lstrip("?").split("."), ""):
            if not present:
                if not optional:
                    problems.append(f"{route}: missing field {path}")
            elif optional and kind == "obj" and value is None:
                continue  # an optional object (Option<T>) may be null; a defaulted list may not
            elif not _kind_ok(kind, value):
                problems.append(f"{route}: {path} = {value!r} is not {kind}")
    return problems


def _get(body: Mapping[str, Any], path: str) -> Any:
    node: Any = body
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def fail_closed_problems(
    route: str,
    body: Mapping[str, Any],
    request: Mapping[str, Any] | None = None,
    *,
    operation: str = "protect",
    profile: str | None = None,
) -> list[str]:
    """The SDK's local fail-closed checks (§5.3-§5.9, §7) that ``body`` fails.

    ``operation`` and ``profile`` are the flow's (bootstrap is checked before a protect or a
    rewrap flow, against the profile it will produce); for the POST routes they come from
    ``request``.
    """
    failed: list[str] = []

    def need(condition: bool, check: str) -> None:
        if not condition:
            failed.append(f"{route}: {check}")

    def key_transport_ok() -> None:
        transport = _get(body, "execution.key_transport")
        need(
            transport is None or _get(transport, "raw_key_delivery_forbidden") is True,
            "key_transport.raw_key_delivery_forbidden",
        )

    req = request or {}
    if route == "bootstrap":
        need(_get(body, "plaintext_to_platform") is False, "plaintext_to_platform is false")
        need(
            _get(body, "enforcement_model") == "embedded_local_library",
            "enforcement_model == 'embedded_local_library'",
        )
        if operation in ("protect", "rewrap"):
            need(
                operation in (_get(body, "supported_operations") or []),
                f"supported_operations contains {operation!r}",
            )
        profiles = _get(body, "supported_artifact_profiles") or []
        if profile is not None and profiles:
            need(profile in profiles, f"supported_artifact_profiles contains {profile!r}")
    elif route == "protection-plan":
        need(_get(body, "decision.allow") is True, "decision.allow")
        need(_get(body, "execution.protect_locally") is True, "execution.protect_locally")
        need(
            _get(body, "execution.send_plaintext_to_platform") is False,
            "not execution.send_plaintext_to_platform",
        )
        need(
            _get(body, "decision.plaintext_transport") == "forbidden_by_default",
            "decision.plaintext_transport == 'forbidden_by_default'",
        )
        key_transport_ok()
    elif route == "policy-resolve":
        need(_get(body, "decision.allow") is True, "decision.allow")
        need(_get(body, "handling.protect_locally") is True, "handling.protect_locally")
        need(
            _get(body, "handling.plaintext_transport") == "forbidden_by_default",
            "handling.plaintext_transport == 'forbidden_by_default'",
        )
    elif route == "key-access-plan":
        need(_get(body, "decision.allow") is True, "decision.allow")
        need(
            _get(body, "decision.operation") == req.get("operation"),
            "decision.operation == request.operation",
        )
        need(
            _get(body, "execution.local_cryptographic_operation") is True,
            "execution.local_cryptographic_operation",
        )
        need(
            _get(body, "execution.send_plaintext_to_platform") is False,
            "not execution.send_plaintext_to_platform",
        )
        wanted = req.get("artifact_profile") or profile
        if wanted is not None:
            need(
                _get(body, "execution.artifact_profile") == wanted,
                "execution.artifact_profile == the requested profile",
            )
        key_transport_ok()
    elif route == "artifact-register":
        need(_get(body, "registration.accepted") is True, "registration.accepted")
        need(
            _get(body, "registration.send_plaintext_to_platform") is False,
            "not registration.send_plaintext_to_platform",
        )
    elif route == "evidence":
        need(_get(body, "ingestion.accepted") is True, "ingestion.accepted")
        need(
            _get(body, "ingestion.plaintext_transport") == "forbidden_by_default",
            "ingestion.plaintext_transport == 'forbidden_by_default'",
        )
    return failed


def sdk_refusals(
    route: str,
    body: Any,
    request: Mapping[str, Any] | None = None,
    *,
    operation: str = "protect",
    profile: str | None = None,
) -> list[str]:
    """Everything the official SDK would refuse in this answer (empty: it would go on)."""
    problems = response_problems(route, body)
    if isinstance(body, dict):
        problems += fail_closed_problems(route, body, request, operation=operation, profile=profile)
    return problems


__all__ = ["RESPONSE_FIELDS", "fail_closed_problems", "response_problems", "sdk_refusals"]
