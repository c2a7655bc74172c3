"""Results and the value-level helpers every compiled rule uses.

``CgViolation`` and ``EventResult`` are the validator's output: the gateway's per-event result,
with violations as ``(field, kind, message)`` in the gateway's order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Final, NamedTuple

from ._messages import I64_MIN, U64_MAX, _key_text
from ._regex import WHITE_SPACE


class CgViolation(NamedTuple):
    """One violation: ``field`` is the full path (``customer.address.zip``, ``items[2]``).

    Immutable; a named tuple because validating builds many of them and tuples are cheapest.
    """

    field: str
    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The wire shape (key order field, kind, message, as the gateway serialises it)."""
        return {"field": self.field, "kind": self.kind, "message": self.message}


class EventResult(NamedTuple):
    """One event's verdict. ``passed`` is true exactly when there are no violations."""

    passed: bool
    violations: list[CgViolation]
    validation_us: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "violations": [v.to_dict() for v in self.violations],
            "validation_us": self.validation_us,
        }


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING_VALUE: Final = _Missing()


def lookup(value: Any, parts: Sequence[str]) -> Any:
    """A dot path through objects (the gateway's ``get_nested_value``); MISSING_VALUE if absent."""
    for part in parts:
        if not isinstance(value, dict):
            return MISSING_VALUE
        value = value.get(part, MISSING_VALUE)
        if value is MISSING_VALUE:
            return MISSING_VALUE
    return value


_NULL_KEY: Final = ("n",)


def json_key(value: Any) -> Hashable:
    """A hashable key with serde_json's ``Value`` equality: ``1 != 1.0``, ``1 != true``."""
    try:
        return _key(value)
    except RecursionError:  # deeper than serde_json parses: equal to nothing
        return ("?", id(value))


def _key(value: Any) -> Hashable:
    if value is None:
        return _NULL_KEY
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        if I64_MIN <= value <= U64_MAX:
            return ("i", int(value))
        try:
            return ("f", float(value))  # serde_json parses such integers as f64
        except OverflowError:
            return ("f", math.inf if value > 0 else -math.inf)
    if isinstance(value, float):
        return ("f", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (list, tuple)):
        return ("a", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("o", frozenset((_key_text(k), _key(v)) for k, v in value.items()))
    return ("?", id(value))


# --- chrono's NaiveDate::parse_from_str(s, "%Y-%m-%d") -----------------------------------------

_WS: Final = frozenset(WHITE_SPACE)
_DIGIT: Final = frozenset("0123456789")
_I64_MAX: Final = 2**63 - 1
# chrono 0.4.45's NaiveDate range.
_MIN_YEAR: Final = -262_143
_MAX_YEAR: Final = 262_142
_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _number(text: str, index: int, max_digits: int) -> tuple[int, int] | None:
    # chrono scan::number: 1..max_digits ASCII digits, stopping at the first non-digit.
    end = index
    limit = min(len(text), index + max_digits)
    while end < limit and text[end] in _DIGIT:
        end += 1
    if end == index:
        return None
    if end - index > 19:  # beyond i64: chrono reports OUT_OF_RANGE
        return _I64_MAX + 1, end
    return int(text[index:end]), end


def _skip_ws(text: str, index: int) -> int:
    # chrono trims leading whitespace before every numeric field.
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def is_calendar_date(text: str) -> bool:
    """Whether chrono parses ``text`` with ``%Y-%m-%d`` into a valid date.

    Same leniency as chrono: 1-4 digit years (any length with an explicit sign), 1-2 digit months
    and days, whitespace before each number (``"2026-1-5"`` and ``" 2026-01-05"`` pass).
    """
    i = _skip_ws(text, 0)
    sign = text[i : i + 1]
    if sign in ("-", "+"):
        scanned = _number(text, i + 1, len(text))  # a signed year may have any length
        if scanned is None or scanned[0] > _I64_MAX:
            return False
        year, i = scanned
        if sign == "-":
            year = -year
    else:
        scanned = _number(text, i, 4)
        if scanned is None:
            return False
        year, i = scanned
    if not text.startswith("-", i):
        return False
    scanned = _number(text, _skip_ws(text, i + 1), 2)
    if scanned is None:
        return False
    month, i = scanned
    if not text.startswith("-", i):
        return False
    scanned = _number(text, _skip_ws(text, i + 1), 2)
    if scanned is None:
        return False
    day, i = scanned
    if i != len(text):
        return False
    if not _MIN_YEAR <= year <= _MAX_YEAR or not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= (29 if month == 2 and leap else _DAYS[month - 1])


def wrap_i64(value: int) -> int:
    """Two's-complement wrap, as the gateway's release build does on i64 overflow."""
    return ((value - I64_MIN) % 2**64) + I64_MIN


__all__ = [
    "MISSING_VALUE",
    "CgViolation",
    "EventResult",
    "is_calendar_date",
    "json_key",
    "lookup",
    "wrap_i64",
]
