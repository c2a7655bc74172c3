"""The gateway's violation kinds, message templates and the Rust formatting they depend on.

Every message the validator produces is built here, so the wording lives in one place. The
templates are the gateway's (Rust ``validation.rs``, spec section 7); where a message embeds a
value, the value is rendered the way Rust renders it:

- numbers in range messages use ``f64``'s ``Display`` (``0.0000001``, ``2000000000000000000000``,
  ``5`` for ``5.0``), never Python's ``repr`` (``1e-07``);
- values in enum messages use ``serde_json``'s compact ``Display`` (object keys sorted, floats
  in ryu's shortest form such as ``1e21`` and ``1.0``);
- strings in pattern, date and uniqueness messages use ``{:?}`` (``Debug``): quoted, with only
  quotes, backslashes, control and invisible characters escaped, so ``"日本"`` stays readable.
"""

from __future__ import annotations

import json
import math
import unicodedata
from decimal import Decimal
from enum import Enum
from typing import Any, Final

# --- violation kinds ----------------------------------------------------------------------


class ViolationKind(str, Enum):
    """The gateway's ``ViolationKind`` (serde ``snake_case``): all 13 can appear on the wire."""

    MISSING_REQUIRED_FIELD = "missing_required_field"
    TYPE_MISMATCH = "type_mismatch"
    PATTERN_MISMATCH = "pattern_mismatch"
    ENUM_VIOLATION = "enum_violation"
    RANGE_VIOLATION = "range_violation"
    LENGTH_VIOLATION = "length_violation"
    METRIC_RANGE_VIOLATION = "metric_range_violation"
    UNKNOWN_FIELD = "unknown_field"  # declared by the gateway, never emitted
    UNDECLARED_FIELD = "undeclared_field"
    LEAKAGE_VIOLATION = "leakage_violation"  # egress only
    COMPLETENESS_VIOLATION = "completeness_violation"
    FRESHNESS_VIOLATION = "freshness_violation"
    UNIQUENESS_VIOLATION = "uniqueness_violation"  # per batch


VIOLATION_KINDS: Final[tuple[str, ...]] = tuple(kind.value for kind in ViolationKind)

# Plain strings for the hot path: CgViolation.kind is a str, never an enum member.
MISSING: Final = ViolationKind.MISSING_REQUIRED_FIELD.value
TYPE: Final = ViolationKind.TYPE_MISMATCH.value
PATTERN: Final = ViolationKind.PATTERN_MISMATCH.value
ENUM: Final = ViolationKind.ENUM_VIOLATION.value
RANGE: Final = ViolationKind.RANGE_VIOLATION.value
LENGTH: Final = ViolationKind.LENGTH_VIOLATION.value
METRIC_RANGE: Final = ViolationKind.METRIC_RANGE_VIOLATION.value
UNDECLARED: Final = ViolationKind.UNDECLARED_FIELD.value
LEAKAGE: Final = ViolationKind.LEAKAGE_VIOLATION.value
COMPLETENESS: Final = ViolationKind.COMPLETENESS_VIOLATION.value
FRESHNESS: Final = ViolationKind.FRESHNESS_VIOLATION.value
UNIQUENESS: Final = ViolationKind.UNIQUENESS_VIOLATION.value

ROOT_FIELD: Final = "<root>"
ROOT_MESSAGE: Final = "Event must be a JSON object"

# --- message templates (the gateway's wording, verbatim) -----------------------------------


def missing_field(name: str) -> str:
    # The bare name, not the path: the gateway formats field.name here.
    return f"Required field '{name}' is missing"


def type_mismatch(path: str, expected: str, got: str) -> str:
    return f"Field '{path}' expected type {expected}, got {got}"


def length_below(path: str, length: int, minimum: int) -> str:
    return f"Field '{path}' length {length} is below minimum {minimum}"


def length_above(path: str, length: int, maximum: int) -> str:
    return f"Field '{path}' length {length} exceeds maximum {maximum}"


def pattern_mismatch(path: str, value: str) -> str:
    return f"Field '{path}' value {rust_debug_str(value)} does not match required pattern"


def invalid_date(path: str, value: str) -> str:
    return (
        f"Field '{path}' value {rust_debug_str(value)} is not a valid calendar date "
        "(expected YYYY-MM-DD)"
    )


def range_below(path: str, value: float, minimum: float) -> str:
    return f"Field '{path}' value {rust_f64(value)} is below minimum {rust_f64(minimum)}"


def range_above(path: str, value: float, maximum: float) -> str:
    return f"Field '{path}' value {rust_f64(value)} exceeds maximum {rust_f64(maximum)}"


def enum_violation(path: str, value: Any, allowed_rendered: str) -> str:
    return f"Field '{path}' value {json_compact(value)} not in allowed set: [{allowed_rendered}]"


def enum_allowed(values: tuple[Any, ...] | list[Any]) -> str:
    return ", ".join(json_compact(v) for v in values)


def metric_missing(name: str, field: str) -> str:
    return f"Metric '{name}' field '{field}' is missing or not numeric"


def metric_below(name: str, value: float, minimum: float, field: str) -> str:
    return (
        f"Metric '{name}' value {rust_f64(value)} is below minimum {rust_f64(minimum)} "
        f"(field: '{field}')"
    )


def metric_above(name: str, value: float, maximum: float, field: str) -> str:
    return (
        f"Metric '{name}' value {rust_f64(value)} exceeds maximum {rust_f64(maximum)} "
        f"(field: '{field}')"
    )


def completeness_absent(field: str) -> str:
    return f"Quality completeness: field '{field}' is absent or null"


def completeness_empty(field: str) -> str:
    return f"Quality completeness: field '{field}' is an empty string"


def freshness_not_timestamp(field: str) -> str:
    return f"Quality freshness: field '{field}' is not a numeric Unix timestamp"


def freshness_stale(field: str, age: int, max_age: int) -> str:
    return f"Quality freshness: field '{field}' timestamp is {age}s old (max {max_age}s)"


def uniqueness_duplicate(field: str, key: str) -> str:
    # The gateway formats the compact JSON text with {:?}: quoted and escaped a second time.
    return f"Quality uniqueness: duplicate value {rust_debug_str(key)} for field '{field}' in batch"


def undeclared_field(name: str) -> str:
    return (
        f"Field '{name}' is not declared in the contract ontology. "
        "Compliance mode rejects undeclared fields."
    )


def leakage(name: str) -> str:
    return (
        f"Undeclared field '{name}' found in egress payload (egress_leakage_mode=fail); "
        "field stripped from response"
    )


def invalid_regex(pattern: str, path: str, error: str) -> str:
    return f"Invalid regex '{pattern}' for field '{path}': {error}"


def transform_on_non_string(path: str, rust_type: str) -> str:
    return (
        f"Field '{path}' declares a PII transform but has type '{rust_type}' — transforms are only "
        "supported on string fields. If this field holds PII, change its type to 'string'."
    )


# --- JSON value classification (serde_json's view of a Python value) -----------------------

I64_MIN: Final = -(2**63)
U64_MAX: Final = 2**64 - 1


def is_json_int(value: Any) -> bool:
    """A JSON integer as serde_json holds it: i64 or u64. Larger integers parse as floats."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and I64_MIN <= value <= U64_MAX
    )


def json_type_name(value: Any) -> str:
    """The gateway's ``json_type_name``; a number with a fraction or exponent is a ``float``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if I64_MIN <= value <= U64_MAX else "float"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def numeric_value(value: Any) -> float | None:
    """``as_f64`` of a JSON number; None for anything else (booleans included)."""
    if type(value) is float:
        return value
    if type(value) is int:
        return _int_to_f64(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _int_to_f64(int(value))
    if isinstance(value, float):
        return float(value)
    return None


def _int_to_f64(value: int) -> float:
    try:
        return float(value)
    except OverflowError:  # beyond f64: serde_json would not even parse it; keep it ordered
        return math.inf if value > 0 else -math.inf


# --- Rust number formatting -----------------------------------------------------------------


def rust_f64(value: float) -> str:
    """Rust's ``Display`` for ``f64``: shortest round-trip digits, never an exponent, no ``.0``."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def ryu_f64(value: float) -> str:
    """serde_json's float output (ryu): ``1.0``, ``0.1``, ``1e16``, ``1.5e-7``; non-finite is null."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digits_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    exponent += len(digits_tuple) - len(digits)
    if not digits:
        digits = "0"
    length = len(digits)
    kk = length + exponent  # 10^(kk-1) <= |value| < 10^kk
    if exponent >= 0 and kk <= 16:
        text = digits + "0" * (kk - length) + ".0"
    elif 0 < kk <= 16:
        text = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        text = "0." + "0" * (-kk) + digits
    elif length == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return ("-" if sign else "") + text


# --- serde_json compact Display ---------------------------------------------------------------

_encode_string = json.encoder.encode_basestring


def json_compact(value: Any) -> str:
    """``serde_json::Value``'s ``Display``: compact, object keys sorted, ryu floats."""
    try:
        return _compact(value)
    except RecursionError:  # deeper than serde_json would ever parse (its limit is 128)
        return '"<nested too deeply>"'


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return str(_encode_string(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if I64_MIN <= value <= U64_MAX:
            return str(int(value))
        return ryu_f64(_int_to_f64(value))
    if isinstance(value, float):
        return ryu_f64(value)
    if isinstance(value, dict):
        items = sorted(((_key_text(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return "{" + ",".join(f"{_encode_string(k)}:{_compact(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_compact(v) for v in value) + "]"
    return str(_encode_string(str(value)))


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


# --- Rust {:?} for str --------------------------------------------------------------------------

# Other_Grapheme_Extend (Unicode 15.1): with Mn and Me these are Grapheme_Extend, which Rust's
# str Debug escapes as \u{...}.
_OTHER_GRAPHEME_EXTEND: Final[tuple[tuple[int, int], ...]] = (
    (0x09BE, 0x09BE), (0x09D7, 0x09D7), (0x0B3E, 0x0B3E), (0x0B57, 0x0B57), (0x0BBE, 0x0BBE),
    (0x0BD7, 0x0BD7), (0x0CC2, 0x0CC2), (0x0CD5, 0x0CD6), (0x0D3E, 0x0D3E), (0x0D57, 0x0D57),
    (0x0DCF, 0x0DCF), (0x0DDF, 0x0DDF), (0x1B35, 0x1B35), (0x200C, 0x200C), (0x302E, 0x302F),
    (0xFF9E, 0xFF9F), (0x1133E, 0x1133E), (0x11357, 0x11357), (0x114B0, 0x114B0),
    (0x114BD, 0x114BD), (0x115AF, 0x115AF), (0x11930, 0x11930), (0x1D165, 0x1D165),
    (0x1D16E, 0x1D172), (0xE0020, 0xE007F),
)  # fmt: skip
# Rust's is_printable() is false for these general categories (ASCII space excepted).
_NOT_PRINTABLE: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
_SIMPLE_ESCAPES: Final = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\0": "\\0"}


def rust_debug_str(text: str) -> str:
    """Rust's ``format!("{:?}", s)`` for a ``&str``."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    parts = ['"']
    for ch in text:
        simple = _SIMPLE_ESCAPES.get(ch)
        if simple is not None:
            parts.append(simple)
            continue
        code = ord(ch)
        if 0x20 <= code < 0x7F:
            parts.append(ch)
        elif _needs_unicode_escape(ch, code):
            parts.append(f"\\u{{{code:x}}}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def _needs_unicode_escape(ch: str, code: int) -> bool:
    category = unicodedata.category(ch)
    if category in _NOT_PRINTABLE or category in ("Mn", "Me"):
        return True
    return any(low <= code <= high for low, high in _OTHER_GRAPHEME_EXTEND)


__all__ = ["VIOLATION_KINDS", "ViolationKind"]
