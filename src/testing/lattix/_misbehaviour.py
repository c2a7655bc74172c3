"""Responses that break the SDK's fail-closed checks on demand, and tolerance extras.

Each named misbehaviour violates one check the official SDK applies (spec §5.3, §5.5-§5.9, §7)
on every route where that check applies. ``override`` patches any response field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._responses import JSON, key_transport
from ._schema import ENUMS, ROUTES


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as ``value`` to :meth:`LattixEmulator.override` to remove a field from the response."""

# Patch(response body, normalized request or None for GET routes)
Patch = Callable[[JSON, "Mapping[str, Any] | None"], None]


def set_path(body: JSON, path: str, value: Any) -> None:
    """Set (or with ``OMIT`` remove) ``a.b.0.c`` in ``body``; missing dicts on the way are created."""
    parts = path.split(".")
    node: Any = body
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
        else:
            if not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        if value is OMIT:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif value is OMIT:
        node.pop(last, None)
    else:
        node[last] = value


def _setter(path: str, value: Any) -> Patch:
    def patch(body: JSON, req: Mapping[str, Any] | None) -> None:
        set_path(body, path, value)

    return patch


def _other(values: tuple[str, ...], current: Any) -> str:
    return next(v for v in values if v != current)


def _other_profile(section: str) -> Patch:
    def patch(body: JSON, req: Mapping[str, Any] | None) -> None:
        plan = body[section]
        plan["artifact_profile"] = _other(ENUMS["ArtifactProfile"], plan.get("artifact_profile"))

    return patch


def _other_key_operation(body: JSON, req: Mapping[str, Any] | None) -> None:
    body["decision"]["operation"] = _other(
        ENUMS["KeyAccessOperation"], body["decision"]["operation"]
    )


def _raw_key_delivery(body: JSON, req: Mapping[str, Any] | None) -> None:
    plan = body["execution"]
    if not plan.get("key_transport"):
        plan["key_transport"] = key_transport("wrapped_key_reference")
    plan["key_transport"]["raw_key_delivery_forbidden"] = False


def _drop_required(body: JSON, req: Mapping[str, Any] | None) -> None:
    body.pop("caller" if "caller" in body else "access_token", None)


_PP, _PR, _KAP, _AR, _EV = (
    "protection-plan",
    "policy-resolve",
    "key-access-plan",
    "artifact-register",
    "evidence",
)

# name -> {route: patch}. The doc strings of the names are in the package docstring.
MISBEHAVIOURS: dict[str, dict[str, Patch]] = {
    # bootstrap (§5.3)
    "enforcement_model": {"bootstrap": _setter("enforcement_model", "platform_side_enforcement")},
    "plaintext_to_platform": {"bootstrap": _setter("plaintext_to_platform", True)},
    "supported_operations": {"bootstrap": _setter("supported_operations", ["access"])},
    "supported_artifact_profiles": {
        "bootstrap": _setter("supported_artifact_profiles", ["detached_signature"])
    },
    # decisions (§5.5, §5.6, §5.7)
    "allow": {route: _setter("decision.allow", False) for route in (_PP, _PR, _KAP)},
    "protect_locally": {
        _PP: _setter("execution.protect_locally", False),
        _PR: _setter("handling.protect_locally", False),
    },
    "plaintext_transport": {
        _PP: _setter("decision.plaintext_transport", "allowed"),
        _PR: _setter("handling.plaintext_transport", "allowed"),
        _EV: _setter("ingestion.plaintext_transport", "allowed"),
    },
    "send_plaintext_to_platform": {
        _PP: _setter("execution.send_plaintext_to_platform", True),
        _KAP: _setter("execution.send_plaintext_to_platform", True),
        _AR: _setter("registration.send_plaintext_to_platform", True),
    },
    "raw_key_delivery_forbidden": {_PP: _raw_key_delivery, _KAP: _raw_key_delivery},
    "key_transport_mode": {
        _PP: _setter("execution.key_transport.mode", "raw_key_release"),
        _KAP: _setter("execution.key_transport.mode", "raw_key_release"),
    },
    "artifact_profile": {_KAP: _other_profile("execution")},
    "key_operation": {_KAP: _other_key_operation},
    "local_cryptographic_operation": {
        _KAP: _setter("execution.local_cryptographic_operation", False)
    },
    # registration and ingestion (§5.8, §5.9)
    "accepted": {
        _AR: _setter("registration.accepted", False),
        _EV: _setter("ingestion.accepted", False),
    },
    # any route: a 2xx body that does not match the model (a serialization error for the SDK)
    "missing_required_field": {route: _drop_required for route in ROUTES},
}


@dataclass
class PatchRule:
    """One active misbehaviour or override: which routes, what, and how many more times."""

    name: str
    patches: dict[str, Patch]
    remaining: int | None = None

    def apply(self, route: str, body: JSON, req: Mapping[str, Any] | None) -> bool:
        """Patch ``body`` if this rule covers ``route``; True if it did."""
        patch = self.patches.get(route)
        if patch is None or self.remaining == 0:
            return False
        patch(body, req)
        if self.remaining is not None:
            self.remaining -= 1
        return True


def misbehaviour(name: str, routes: Iterable[str] | None, times: int | None) -> PatchRule:
    if name not in MISBEHAVIOURS:
        raise ValueError(
            f"unknown misbehaviour {name!r}; known: {', '.join(sorted(MISBEHAVIOURS))}"
        )
    patches = dict(MISBEHAVIOURS[name])
    if routes is not None:
        wanted = set(routes)
        unknown = wanted - set(ROUTES)
        if unknown:
            raise ValueError(f"unknown route(s) {sorted(unknown)}; known: {sorted(ROUTES)}")
        patches = {r: p for r, p in patches.items() if r in wanted}
        if not patches:
            raise ValueError(f"misbehaviour {name!r} applies to none of {sorted(wanted)}")
    return PatchRule(name, patches, times)


def override(route: str, path: str, value: Any, times: int | None) -> PatchRule:
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; known: {sorted(ROUTES)}")
    return PatchRule(f"override {route} {path}", {route: _setter(path, value)}, times)


# --- tolerance extras ---------------------------------------------------------------------------

UNKNOWN_FIELD = "x_future_field"
UNKNOWN_OBJECT = "x_future_object"

# Values a later server version might add (§4 lists today's complete sets).
FUTURE_ENUM_VALUES: dict[str, str] = {
    "AuthMode": "mutual_tls",
    "ProtectionOperation": "reclassify",
    "ArtifactProfile": "cose_sign1",
    "SdkAuthConfigurationMode": "workload_identity_federation",
    "SdkProofOfPossession": "attested_tls",
}


def add_unknown_fields(body: Any, top: bool = True) -> None:
    """Add an unknown field to every object of ``body`` (and an unknown object at the top)."""
    if isinstance(body, dict):
        for value in body.values():
            add_unknown_fields(value, top=False)
        body[UNKNOWN_FIELD] = "added by the emulator: clients must ignore it"
        if top:
            body[UNKNOWN_OBJECT] = {"version": 2, "items": [{"kind": "future"}]}
    elif isinstance(body, list):
        for item in body:
            add_unknown_fields(item, top=False)


def add_future_enum_values(body: JSON) -> None:
    """Append a future value to enum lists, and use future values in advisory enum fields."""
    if isinstance(body.get("supported_operations"), list):
        body["supported_operations"].append(FUTURE_ENUM_VALUES["ProtectionOperation"])
    if isinstance(body.get("supported_artifact_profiles"), list):
        body["supported_artifact_profiles"].append(FUTURE_ENUM_VALUES["ArtifactProfile"])
    if "auth_mode" in body:
        body["auth_mode"] = FUTURE_ENUM_VALUES["AuthMode"]
    auth = body.get("auth_configuration")
    if isinstance(auth, dict):
        auth["mode"] = FUTURE_ENUM_VALUES["SdkAuthConfigurationMode"]
        auth["proof_of_possession"] = FUTURE_ENUM_VALUES["SdkProofOfPossession"]


__all__ = [
    "FUTURE_ENUM_VALUES",
    "MISBEHAVIOURS",
    "OMIT",
    "UNKNOWN_FIELD",
    "UNKNOWN_OBJECT",
    "PatchRule",
    "add_future_enum_values",
    "add_unknown_fields",
    "misbehaviour",
    "override",
    "set_path",
]
