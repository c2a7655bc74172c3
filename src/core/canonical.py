"""RFC 8785 JSON Canonicalization Scheme (JCS) and SHA-256 digests.

Written here rather than taken from the ``rfc8785`` package because evidence hashing sits on
every task's path: this encoder delegates string escaping to the C ``json`` encoder and sorts keys
natively unless a key needs UTF-16 ordering; ``benchmarks/`` measures it against ``rfc8785`` and
the tests check both agree on random inputs.

Numbers follow ECMAScript ``Number.prototype.toString`` (RFC 8785 section 3.2.2.3). Integers must
lie within the IEEE 754 exact range (|n| <= 2**53 - 1), as I-JSON requires; larger ones, NaN and
Infinity raise :class:`CanonicalizationError`, the same inputs the ``rfc8785`` package rejects.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from .errors import CanonicalizationError

_MAX_SAFE_INTEGER = 2**53 - 1
_MAX_DEPTH = 256


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON-compatible value."""
    parts: list[str] = []
    _encode(value, parts, 0)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalizationError(
            "string contains a lone surrogate, which is not valid Unicode and cannot be hashed"
        ) from exc


def canonical_str(value: Any) -> str:
    """The canonical form as text (handy for display and for JSONL export)."""
    return canonicalize(value).decode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """``"sha256:" + hex`` of the canonical bytes: the digest format of evidence records."""
    return "sha256:" + hashlib.sha256(canonicalize(value)).hexdigest()


def _encode(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CanonicalizationError(f"value nests deeper than {_MAX_DEPTH} levels")
    # Order: the common types first; bool before int because bool is an int subclass.
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            out.append(str(int(value)))
        else:
            raise CanonicalizationError(
                f"integer {value} is outside the I-JSON range (|n| <= 2**53-1); "
                "send it as a string to keep its exact value"
            )
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        _encode_object(value, out, depth)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        first = True
        for item in value:
            if not first:
                out.append(",")
            first = False
            _encode(item, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalizationError(
            f"{type(value).__name__} is not a JSON type; convert it to str, int, float, bool, "
            "None, list or dict first"
        )


def _encode_object(value: Mapping[Any, Any], out: list[str], depth: int) -> None:
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise CanonicalizationError(f"object key {key!r} is not a string")
    # Code-point order equals UTF-16 order unless a key holds characters at or above U+D800.
    if all(key.isascii() or max(key) < "\ud800" for key in keys):
        keys.sort()
    else:
        keys.sort(key=_utf16_key)
    out.append("{")
    first = True
    for key in keys:
        if not first:
            out.append(",")
        first = False
        out.append(encode_basestring(key))
        out.append(":")
        _encode(value[key], out, depth + 1)
    out.append("}")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def format_number(value: float) -> str:
    """Serialise a float as ECMAScript's Number.prototype.toString does."""
    if math.isnan(value) or math.isinf(value):
        raise CanonicalizationError(
            f"{value!r} is not allowed in canonical JSON (RFC 8785 forbids NaN and Infinity)"
        )
    if value == 0:
        return "0"  # also -0.0
    if value.is_integer() and abs(value) <= _MAX_SAFE_INTEGER:
        return str(int(value))  # exact below 2**53; larger values need the digit algorithm
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-tripping digits, which is what ECMAScript asks for.
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    integer_part, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = (integer_part + fraction).lstrip("0")
    # n: position of the decimal point relative to the digit string (value = 0.digits * 10**n).
    n = len(integer_part) + exponent if integer_part != "0" else exponent - (len(fraction) - len(fraction.lstrip("0")))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp_str = ("+" if e >= 0 else "-") + str(abs(e))
        body = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + exp_str
    return sign + body


__all__ = ["canonical_str", "canonicalize", "digest", "format_number", "sha256_hex"]
