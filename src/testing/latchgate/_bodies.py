"""Request bodies as the LatchGate server reads them: the lease request (axum ``Json`` with serde
``deny_unknown_fields``) and the execute body (limits, JSON Schema subset, ``request_hash``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core.canonical import canonicalize
from ...core.errors import CanonicalizationError
from ._crypto import b64url_decode, public_key_from_xy

LEASE_FIELDS = ("scopes", "dpop_jwk", "budgets", "fs_root")
BUILTIN_SCOPES = ("tools:call", "audit:read")
# Pre-validation limits of the server's schema step, then its canonicaliser's depth limit.
MAX_DEPTH = 10
MAX_ITEMS = 100
CANONICAL_MAX_DEPTH = 32
_SCOPE = re.compile(r"^[a-z][a-z0-9:_-]{3,63}$")


class Rejected(Exception):
    """The body is refused: ``status`` and either a JSON ``body`` or plain ``text``."""

    def __init__(self, status: int, body: dict[str, Any] | None = None, text: str = "") -> None:
        super().__init__(status, body or text)
        self.status = status
        self.body = body
        self.text = text


def _reject_constant(name: str) -> Any:
    # serde_json has no NaN/Infinity literals; Python's json module would accept them.
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity; ``ValueError`` with serde-like wording otherwise."""
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(text, parse_constant=_reject_constant)


# --- POST /v1/leases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseRequest:
    scopes: list[str]
    jwk: dict[str, str]
    budgets: dict[str, Any] | None
    fs_root: str | None


def _deserialize_error(message: str) -> Rejected:
    return Rejected(
        422, text=f"Failed to deserialize the JSON body into the target type: {message}"
    )


def parse_lease_request(content_type: str, raw: bytes) -> LeaseRequest:
    """axum's ``Json<IssueLeaseRequest>`` extractor: 415, 400 and 422 with plain-text bodies."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if not (
        mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))
    ):
        raise Rejected(415, text="Expected request with `Content-Type: application/json`")
    try:
        data = parse_json(raw)
    except ValueError as exc:
        raise Rejected(400, text=f"Failed to parse the request body as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _deserialize_error("invalid type: expected struct IssueLeaseRequest")
    for key in data:
        if key not in LEASE_FIELDS:
            expected = ", ".join(f"`{f}`" for f in LEASE_FIELDS)
            raise _deserialize_error(f"unknown field `{key}`, expected one of {expected}")
    for key in ("scopes", "dpop_jwk"):
        if key not in data:
            raise _deserialize_error(f"missing field `{key}`")
    scopes = data["scopes"]
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise _deserialize_error("scopes: invalid type: expected a sequence of strings")
    jwk = data["dpop_jwk"]
    if not isinstance(jwk, dict):
        raise _deserialize_error("dpop_jwk: invalid type: expected struct DpopJwk")
    for key in ("kty", "crv", "x", "y"):
        if key not in jwk:
            raise _deserialize_error(f"dpop_jwk: missing field `{key}`")
        if not isinstance(jwk[key], str):
            raise _deserialize_error(f"dpop_jwk.{key}: invalid type: expected a string")
    budgets = data.get("budgets")
    if budgets is not None:
        if not isinstance(budgets, dict):
            raise _deserialize_error("budgets: invalid type: expected struct Budgets")
        max_calls = budgets.get("max_calls")
        if max_calls is not None and (
            isinstance(max_calls, bool)
            or not isinstance(max_calls, int)
            or not 0 <= max_calls < 2**64
        ):
            raise _deserialize_error("budgets.max_calls: invalid type: expected u64")
    fs_root = data.get("fs_root")
    if fs_root is not None and not isinstance(fs_root, str):
        raise _deserialize_error("fs_root: invalid type: expected a string")
    return LeaseRequest(scopes, {k: jwk[k] for k in ("kty", "crv", "x", "y")}, budgets, fs_root)


def lease_request_problem(req: LeaseRequest) -> str | None:
    """The issuer's ``invalid_request`` message, in its order, or None (spec §2.1)."""
    if req.jwk["kty"] != "EC":
        return f"dpop_jwk.kty must be 'EC', got '{req.jwk['kty']}'"
    if req.jwk["crv"] != "P-256":
        return f"dpop_jwk.crv must be 'P-256', got '{req.jwk['crv']}'"
    if not req.scopes:
        return "scopes must not be empty"
    for scope in req.scopes:
        if scope not in BUILTIN_SCOPES and not (
            _SCOPE.match(scope) and ":" in scope and not scope.endswith(":")
        ):
            return (
                f"invalid scope '{scope}': must be a known built-in scope "
                f"({list(BUILTIN_SCOPES)}) or a custom scope in 'namespace:name' format "
                "with [a-z0-9:_-] characters (4-64 chars)"
            )
    try:
        public_key_from_xy(b64url_decode(req.jwk["x"]), b64url_decode(req.jwk["y"]))
    except ValueError:
        return "dpop_jwk.x and dpop_jwk.y must be base64url 32-byte coordinates of a P-256 point"
    return None


# --- POST /v1/actions/{id}/execute ----------------------------------------------------------------


def _shape(value: Any, depth: int = 0) -> tuple[int, int]:
    """(nesting depth, longest array); an object or array is one level, a scalar none."""
    if isinstance(value, dict):
        inner = [_shape(v, depth + 1) for v in value.values()]
        return max([depth + 1, *(d for d, _ in inner)]), max([0, *(n for _, n in inner)])
    if isinstance(value, list):
        inner = [_shape(v, depth + 1) for v in value]
        return max([depth + 1, *(d for d, _ in inner)]), max([len(value), *(n for _, n in inner)])
    return depth, 0


def compact_size(value: Any) -> int:
    """Bytes of the compact UTF-8 form; ``UnicodeEncodeError`` for a lone surrogate (which
    serde_json refuses while parsing, and Python's json module lets through)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def request_hash(value: Any) -> str:
    """``"sha256:" + hex(SHA-256(JCS(body)))`` with govflow's RFC 8785 canonicaliser."""
    return "sha256:" + hashlib.sha256(canonicalize(value)).hexdigest()


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = {"object": dict, "array": list, "string": str, "boolean": bool}.get(kind)
    if kind == "null":
        return value is None
    return expected is not None and isinstance(value, expected)


def schema_errors(schema: Mapping[str, Any], value: Any, where: str = "") -> list[str]:
    """A small JSON Schema subset: ``type``, ``enum``, ``minLength``/``maxLength``, ``required``,
    ``properties``, ``additionalProperties: false``, ``items``. Enough for action schemas."""
    here = where or "/"
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    if kinds and not any(_type_ok(value, k) for k in kinds):
        return [
            f"{json.dumps(value)[:80]} is not of type {' or '.join(repr(k) for k in kinds)} at {here}"
        ]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{json.dumps(value)[:80]} is not one of {schema['enum']!r} at {here}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(
                f"{json.dumps(value)[:80]} is shorter than {schema['minLength']} characters at {here}"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(
                f"{json.dumps(value)[:80]} is longer than {schema['maxLength']} characters at {here}"
            )
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{name!r} is a required property at {here}")
        for name, item in value.items():
            if name in properties:
                errors.extend(schema_errors(properties[name], item, f"{where}/{name}"))
            elif schema.get("additionalProperties") is False:
                errors.append(
                    f"Additional properties are not allowed ({name!r} was unexpected) at {here}"
                )
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            errors.extend(schema_errors(schema["items"], item, f"{where}/{index}"))
    return errors[:5]


def parse_execute_body(
    raw: bytes, *, max_request_bytes: int, schema: Mapping[str, Any] | None
) -> tuple[Any, str]:
    """The execute body and its request_hash, or :class:`Rejected` (spec §6, server step 4).

    Empty body -> ``{}``. Invalid JSON, a body over the action's ``max_request_bytes`` (compact
    form), deeper than 10 levels, with an array over 100 items, or failing the action's schema ->
    422 ``schema_violation`` (so are NaN, Infinity and lone surrogates, which serde_json refuses
    to parse). A body the canonicaliser refuses (deeper than 32, an integer outside the I-JSON
    range) -> 500 ``internal_error``.
    """
    violation = Rejected(422, {"error": "schema_violation"})
    if not raw:
        body: Any = {}
    else:
        try:
            body = parse_json(raw)
        except ValueError:
            raise violation from None
    try:
        size = compact_size(body)
    except UnicodeEncodeError:
        raise violation from None
    if size > max_request_bytes:
        raise violation
    depth, items = _shape(body)
    if depth > MAX_DEPTH or items > MAX_ITEMS:
        raise violation
    if schema is not None and schema_errors(schema, body):
        raise violation
    if depth > CANONICAL_MAX_DEPTH:
        raise Rejected(500, {"error": "internal_error"})
    try:
        digest = request_hash(body)
    except CanonicalizationError:
        raise Rejected(500, {"error": "internal_error"}) from None
    return body, digest


__all__ = [
    "BUILTIN_SCOPES",
    "CANONICAL_MAX_DEPTH",
    "LEASE_FIELDS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "LeaseRequest",
    "Rejected",
    "compact_size",
    "lease_request_problem",
    "parse_execute_body",
    "parse_json",
    "parse_lease_request",
    "request_hash",
    "schema_errors",
]
