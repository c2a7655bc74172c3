"""Wire helpers: the gateway's error bodies, axum-style extractor rejections, time stamps."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from starlette.responses import Response

JSON = dict[str, Any]


class ApiError(Exception):
    """Raised by a handler to answer with an error instead.

    ``plain=True`` is an axum extractor rejection: ``text/plain``, not the ``AppError`` JSON.
    ``body`` replaces the ``{"error", "status"}`` body (the few errors with their own shape).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        plain: bool = False,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.plain = plain
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        if self.plain:
            return plain(self.status, self.message, self.headers)
        body = (
            self.body if self.body is not None else {"error": self.message, "status": self.status}
        )
        return json_response(body, self.status, self.headers)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON as the gateway writes it: compact, UTF-8, keys in the order given."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    return Response(
        raw, status_code=status, headers=dict(headers or {}), media_type="application/json"
    )


def value_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A body the gateway built as a ``serde_json::Value``: its maps are BTreeMaps, so every
    object's keys come out sorted (ingest, egress and playground answers, spec section 3)."""
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    return Response(
        raw, status_code=status, headers=dict(headers or {}), media_type="application/json"
    )


def plain(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        text.encode(),
        status_code=status,
        headers=dict(headers or {}),
        media_type="text/plain; charset=utf-8",
    )


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def bad_request(detail: str) -> ApiError:
    """``AppError::BadRequest``: the Display text is prefixed with ``Invalid request: ``."""
    return ApiError(400, f"Invalid request: {detail}")


# --- axum extractors ---------------------------------------------------------------------------

JSON_CONTENT_TYPE = "Expected request with `Content-Type: application/json`"


def is_json_content_type(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes) -> Any:
    """JSON as serde_json reads it: UTF-8 only, and no ``NaN`` / ``Infinity``."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def json_body(content_type: str, raw: bytes) -> Any:
    """``axum::Json<Value>``: 415 without a JSON content type, 400 on bad syntax (plain text)."""
    if not is_json_content_type(content_type):
        raise ApiError(415, JSON_CONTENT_TYPE, plain=True)
    try:
        return loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400, f"Failed to parse the request body as JSON: {serde_message(exc)}", plain=True
        ) from None


def serde_message(exc: Exception) -> str:
    """A Python JSON error phrased like serde_json's (``expected value at line 1 column 1``)."""
    if isinstance(exc, json.JSONDecodeError):
        text = exc.msg[0].lower() + exc.msg[1:] if exc.msg else "invalid JSON"
        return f"{text} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    return str(exc)


def struct_error(detail: str) -> ApiError:
    """``axum::Json<T>`` whose body does not fit ``T``: 422 plain text."""
    return ApiError(
        422, f"Failed to deserialize the JSON body into the target type: {detail}", plain=True
    )


def query_error(detail: str) -> ApiError:
    """``axum::Query<T>`` rejection: 400 plain text."""
    return ApiError(400, f"Failed to deserialize query string: {detail}", plain=True)


_JSON_KINDS = {
    bool: "boolean",
    int: "integer",
    float: "floating point",
    str: "string",
    list: "sequence",
    dict: "map",
}


def _serde_kind(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _JSON_KINDS.items():
        if type(value) is kind:
            if kind in (int, float, bool):
                return f"{name} `{json.dumps(value)}`"
            if kind is str:
                return f"string {json.dumps(value)}"
            return name
    return "value"


def field_str(body: JSON, name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise struct_error(f"missing field `{name}`")
        return None
    if not isinstance(value, str):
        raise struct_error(f"{name}: invalid type: {_serde_kind(value)}, expected a string")
    return value


def field_enum(body: JSON, name: str, allowed: tuple[str, ...]) -> str | None:
    value = field_str(body, name, required=False)
    if value is not None and value not in allowed:
        expected = " or ".join(f"`{a}`" for a in allowed)
        raise struct_error(f"{name}: unknown variant `{value}`, expected {expected}")
    return value


def field_uuids(body: JSON, name: str, *, required: bool) -> list[str] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise struct_error(f"missing field `{name}`")
        return None
    if not isinstance(value, list):
        raise struct_error(f"{name}: invalid type: {_serde_kind(value)}, expected a sequence")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise struct_error(f"{name}: invalid type: {_serde_kind(item)}, expected UUID")
        parsed = parse_uuid(item)
        if parsed is None:
            raise struct_error(f"{name}: UUID parsing failed: invalid UUID {json.dumps(item)}")
        out.append(parsed)
    return out


def object_body(content_type: str, raw: bytes) -> JSON:
    body = json_body(content_type, raw)
    if not isinstance(body, dict):
        raise struct_error(f"invalid type: {_serde_kind(body)}, expected a struct")
    return body


def query_bool(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise query_error(f"{name}: provided string was not `true` or `false`")
    return value == "true"


def query_int(params: Mapping[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise query_error(f"{name}: invalid digit found in string") from None


def query_uuid(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    parsed = parse_uuid(value)
    if parsed is None:
        raise query_error(f"{name}: UUID parsing failed: invalid UUID {json.dumps(value)}")
    return parsed


def parse_uuid(text: str) -> str | None:
    """The canonical hyphenated lower-case form, or None (Rust's ``Uuid::parse_str`` is as lenient)."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        return None


def path_uuid(text: str) -> str:
    """``Path<Uuid>``: a bad id is axum's plain-text 400."""
    parsed = parse_uuid(text)
    if parsed is None:
        raise ApiError(
            400, f"Invalid URL: UUID parsing failed: invalid UUID {json.dumps(text)}", plain=True
        )
    return parsed


# --- time ----------------------------------------------------------------------------------------


def iso(moment: float | None) -> str | None:
    """RFC 3339 with microseconds and ``Z``, as chrono serialises a ``timestamptz``."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


NIL_UUID = "00000000-0000-0000-0000-000000000000"


def new_id() -> str:
    return str(uuid.uuid4())


__all__ = [
    "JSON",
    "JSON_CONTENT_TYPE",
    "NIL_UUID",
    "ApiError",
    "bad_request",
    "field_enum",
    "field_str",
    "field_uuids",
    "iso",
    "json_body",
    "json_response",
    "loads",
    "new_id",
    "not_found",
    "object_body",
    "parse_uuid",
    "path_uuid",
    "plain",
    "query_bool",
    "query_error",
    "query_int",
    "query_uuid",
    "serde_message",
    "struct_error",
    "value_response",
]
