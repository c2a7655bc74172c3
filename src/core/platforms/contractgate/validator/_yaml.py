"""YAML with the gateway's scalar rules, keeping every node's line for error messages.

PyYAML resolves plain scalars by YAML 1.1 (``yes`` is a boolean, ``1_000`` an integer, ``0777``
octal); the gateway reads contracts with serde_yaml, which follows YAML 1.2's core schema. A
contract must mean the same thing here as there, so plain scalars are resolved by serde_yaml 0.9's
rules (``visit_untagged_scalar``): null, then bool, then integer, then float, else string.
Merge keys (``<<``) are not expanded either: serde_yaml does not know them.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

import yaml
from yaml.composer import Composer
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

PLAIN_TAG: Final = "!govflow/plain"
STR_TAG: Final = "tag:yaml.org,2002:str"
INT_TAG: Final = "tag:yaml.org,2002:int"
FLOAT_TAG: Final = "tag:yaml.org,2002:float"
BOOL_TAG: Final = "tag:yaml.org,2002:bool"
NULL_TAG: Final = "tag:yaml.org,2002:null"
SEQ_TAG: Final = "tag:yaml.org,2002:seq"
MAP_TAG: Final = "tag:yaml.org,2002:map"

_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
# Rust's f64::from_str grammar (inf/nan words are not finite, so they never count).
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_DIGITS: Final = {2: frozenset("01"), 8: frozenset("01234567"), 10: frozenset("0123456789"),
                  16: frozenset("0123456789abcdefABCDEF")}  # fmt: skip
_U128_MAX: Final = 2**128 - 1
_I128_MIN: Final = -(2**127)
# Anchors can make a small file expand enormously ("billion laughs"); a contract is never this big.
MAX_NODES: Final = 1_000_000


class YamlValueError(ValueError):
    """A scalar or structure the gateway would not read; ``node`` is where."""

    def __init__(self, message: str, node: yaml.Node) -> None:
        super().__init__(message)
        self.node = node


class _Resolver(BaseResolver):
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # Leave plain scalars unresolved: resolve_plain() applies serde_yaml's rules later.
        if kind is yaml.ScalarNode:
            return PLAIN_TAG if implicit[0] else STR_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)


def compose(text: str) -> yaml.Node | None:
    """The single document's node tree; raises ``yaml.YAMLError`` (marked) on bad YAML."""
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _digits_but_not_number(text: str) -> bool:
    # YAML 1.2: a leading zero followed by digits is a string ("0123"), not octal.
    body = text[1:] if text[:1] in ("+", "-") else text
    return len(body) > 1 and body[0] == "0" and all(c in _DIGITS[10] for c in body[1:])


def _radix_int(text: str, base: int) -> int | None:
    if not text or any(c not in _DIGITS[base] for c in text):
        return None
    if base == 10 and len(text) > 40:  # past u128 anyway; int() would refuse > 4300 digits
        return None
    return int(text, base)


def _parse_int(text: str) -> int | None:
    unpositive = text[1:] if text.startswith("+") else text
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if unpositive.startswith(prefix):
            value = _radix_int(unpositive[2:], base)
            if value is not None and value <= _U128_MAX:
                return value
    if not unpositive.startswith(("+", "-")) and not _digits_but_not_number(text):
        value = _radix_int(unpositive, 10)
        if value is not None and value <= _U128_MAX:
            return value
    if text.startswith("-"):
        for prefix, base in (("-0x", 16), ("-0o", 8), ("-0b", 2)):
            if text.startswith(prefix):
                value = _radix_int(text[3:], base)
                if value is not None and -value >= _I128_MIN:
                    return -value
        if not _digits_but_not_number(text):
            value = _radix_int(text[1:], 10)
            if value is not None and -value >= _I128_MIN:
                return -value
    return None


def _parse_float(text: str) -> float | None:
    unpositive = text
    if text.startswith("+"):
        unpositive = text[1:]
        if unpositive.startswith(("+", "-")):
            return None
    if unpositive in (".inf", ".Inf", ".INF"):
        return math.inf
    if text in ("-.inf", "-.Inf", "-.INF"):
        return -math.inf
    if text in (".nan", ".NaN", ".NAN"):
        return math.nan
    if _FLOAT.match(unpositive):
        value = float(unpositive)
        if math.isfinite(value):
            return value
    return None


def resolve_plain(text: str) -> Any:
    """serde_yaml 0.9's reading of an untagged plain scalar."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    as_int = _parse_int(text)
    if as_int is not None:
        return as_int
    if not _digits_but_not_number(text):
        as_float = _parse_float(text)
        if as_float is not None:
            return as_float
    return text


def scalar_value(node: yaml.ScalarNode) -> Any:
    """A scalar node's value; explicit core tags (``!!str 1``) are honoured."""
    text: str = node.value
    tag = node.tag
    if tag == PLAIN_TAG:
        return resolve_plain(text)
    if tag == STR_TAG:
        return text
    if tag in (INT_TAG, FLOAT_TAG, BOOL_TAG, NULL_TAG):
        value = resolve_plain(text)
        expected = {INT_TAG: int, FLOAT_TAG: float, BOOL_TAG: bool, NULL_TAG: type(None)}[tag]
        if tag == FLOAT_TAG and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not expected:
            raise YamlValueError(f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}", node)
        return value
    raise YamlValueError(f"unsupported YAML tag {tag!r}; remove it", node)


def is_plain_empty(node: yaml.Node) -> bool:
    """``key:`` with nothing after it (serde_yaml reads that as an empty list or mapping)."""
    return isinstance(node, yaml.ScalarNode) and node.tag == PLAIN_TAG and node.value == ""


def to_json_value(node: yaml.Node, *, budget: list[int] | None = None) -> Any:
    """A subtree as a JSON value (what ``serde_json::Value`` holds), e.g. the items of ``enum``.

    Mapping keys are their text; non-finite floats become null, as serde_json stores them.
    """
    counter = budget if budget is not None else [0]
    return _to_json(node, counter, set())


def _to_json(node: yaml.Node, budget: list[int], active: set[int]) -> Any:
    budget[0] += 1
    if budget[0] > MAX_NODES:
        raise YamlValueError(f"the YAML expands to more than {MAX_NODES} values (aliases?)", node)
    if isinstance(node, yaml.ScalarNode):
        value = scalar_value(node)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if id(node) in active:
        raise YamlValueError("a YAML alias refers to itself", node)
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_to_json(item, budget, active) for item in node.value]
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlValueError("mapping keys must be plain text", key_node)
                result[key_node.value] = _to_json(value_node, budget, active)
            return result
    finally:
        active.discard(id(node))
    raise YamlValueError(f"unsupported YAML node {type(node).__name__}", node)


__all__ = [
    "MAX_NODES",
    "YamlValueError",
    "compose",
    "is_plain_empty",
    "line_of",
    "resolve_plain",
    "scalar_value",
    "to_json_value",
]
