"""Contract YAML -> a typed, immutable model (spec section 5), with file:line errors.

The schema is the gateway's (Rust ``contract.rs``): the same keys, defaults and types, read with
serde's strictness (``version: 1.0`` is a float, not a string; ``required: yes`` is a string, not
a boolean). Two choices are govflow's own:

- ``strict=True`` (the default) rejects unknown keys, with a "did you mean" hint: a misspelt
  ``patern:`` would otherwise switch a rule off without a word. The gateway ignores unknown keys;
  ``strict=False`` does the same (the emulator uses it).
- a key given twice in one mapping is an error (serde rejects duplicate struct fields too).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import yaml

from ._errors import ContractError
from ._yaml import (
    MAX_NODES,
    YamlValueError,
    compose,
    is_plain_empty,
    line_of,
    scalar_value,
    to_json_value,
)

# --- the model --------------------------------------------------------------------------------


class FieldType(str, Enum):
    """Ontology field types. ``number`` is read as ``float``; ``date`` is gateway-only (RFC-044)."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    ANY = "any"
    DATE = "date"

    @property
    def rust_name(self) -> str:
        """The Rust ``{:?}`` name used in messages: ``Integer``, ``Float`` (also for number)..."""
        return self.value.capitalize()


class TransformKind(str, Enum):
    MASK = "mask"
    HASH = "hash"
    DROP = "drop"
    REDACT = "redact"


class MaskStyle(str, Enum):
    OPAQUE = "opaque"
    FORMAT_PRESERVING = "format_preserving"


class MetricType(str, Enum):
    INTEGER = "integer"
    FLOAT = "float"


class QualityRuleType(str, Enum):
    COMPLETENESS = "completeness"
    VALIDITY = "validity"
    FRESHNESS = "freshness"
    UNIQUENESS = "uniqueness"


class EgressLeakageMode(str, Enum):
    OFF = "off"
    STRIP = "strip"
    FAIL = "fail"


@dataclass(frozen=True)
class Transform:
    kind: TransformKind
    style: MaskStyle | None = None
    line: int | None = None


@dataclass(frozen=True)
class FieldDefinition:
    name: str
    type: FieldType
    required: bool = True
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    properties: tuple[FieldDefinition, ...] | None = None
    items: FieldDefinition | None = None
    transform: Transform | None = None
    line: int | None = None
    pattern_line: int | None = None


@dataclass(frozen=True)
class GlossaryEntry:
    field: str
    description: str
    constraints: str | None = None
    synonyms: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    field: str | None = None
    type: MetricType | None = None
    formula: str | None = None
    min: float | None = None
    max: float | None = None
    line: int | None = None


@dataclass(frozen=True)
class QualityRule:
    field: str
    type: QualityRuleType
    description: str | None = None
    max_age_seconds: int | None = None
    scope: str | None = None  # only "batch" exists
    threshold: float | None = None  # parsed, never enforced (as in the gateway)
    line: int | None = None


@dataclass(frozen=True)
class Envelope:
    records_path: str
    validate_wrapper: bool = False


@dataclass(frozen=True)
class Contract:
    """A parsed contract: spec section 5, the gateway's ``Contract``."""

    version: str
    name: str
    entities: tuple[FieldDefinition, ...]
    description: str | None = None
    compliance_mode: bool = False
    null_as_absent: bool = False
    glossary: tuple[GlossaryEntry, ...] = ()
    metrics: tuple[MetricDefinition, ...] = ()
    quality: tuple[QualityRule, ...] = ()
    egress_leakage_mode: EgressLeakageMode = EgressLeakageMode.OFF
    envelope: Envelope | None = None


# --- the schema -------------------------------------------------------------------------------

_TOP_KEYS: Final = (
    "version", "name", "description", "compliance_mode", "null_as_absent", "ontology",
    "glossary", "metrics", "quality", "egress_leakage_mode", "envelope",
)  # fmt: skip
_FIELD_KEYS: Final = (
    "name", "type", "required", "pattern", "enum", "min", "max", "min_length", "max_length",
    "properties", "items", "transform",
)  # fmt: skip
_TRANSFORM_KEYS: Final = ("kind", "style")
_GLOSSARY_KEYS: Final = ("field", "term", "description", "definition", "constraints", "synonyms")
_METRIC_KEYS: Final = ("name", "field", "type", "formula", "min", "max")
_QUALITY_KEYS: Final = ("field", "type", "description", "max_age_seconds", "scope", "threshold")
_ENVELOPE_KEYS: Final = ("records_path", "validate_wrapper")

_TYPE_NAMES: Final = {
    "string": FieldType.STRING,
    "integer": FieldType.INTEGER,
    "float": FieldType.FLOAT,
    "number": FieldType.FLOAT,  # serde alias
    "boolean": FieldType.BOOLEAN,
    "object": FieldType.OBJECT,
    "array": FieldType.ARRAY,
    "any": FieldType.ANY,
    "date": FieldType.DATE,
}
# Keys people reach for that are spelt differently in a contract.
_KEY_HINTS: Final = {
    "regex": "pattern",
    "allowed": "enum",
    "allowed_values": "enum",
    "values": "enum",
    "minimum": "min",
    "maximum": "max",
    "minLength": "min_length",
    "maxLength": "max_length",
    "optional": "required",
    "fields": "properties",
    "item": "items",
    "rule": "type",
    "rule_type": "type",
    "max_age": "max_age_seconds",
}
_U64_MAX: Final = 2**64 - 1
# Real contracts have hundreds of fields; aliases could expand a small file to millions.
MAX_FIELDS: Final = 20_000


def _node(entries: Mapping[str, tuple[yaml.Node, yaml.Node]], key: str) -> yaml.Node | None:
    """The value node of ``key``, or None when the key is absent."""
    return entries[key][1] if key in entries else None


def _yaml_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


class _Reader:
    """Walks the YAML node tree, building the model; every error names the node's line."""

    def __init__(self, source: str | None, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.budget = [0]
        self.fields = 0

    # --- errors -------------------------------------------------------------------------------

    def fail(self, message: str, node: yaml.Node | None) -> ContractError:
        return ContractError(message, path=self.source, line=line_of(node))

    # --- structure ----------------------------------------------------------------------------

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...], *, check_keys: bool = True
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            got = "a list" if isinstance(node, yaml.SequenceNode) else self._describe(node)
            raise self.fail(f"{where} must be a mapping (key: value), got {got}", node)
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(f"{where}: a key must be plain text, not a list or mapping", key_node)
            key = key_node.value
            if key in entries:
                first = line_of(entries[key][0])
                raise self.fail(
                    f"{where}: key {key!r} appears twice (first on line {first}); keep one", key_node
                )
            entries[key] = (key_node, value_node)
        if check_keys:
            self.check_keys(entries, where, allowed)
        return entries

    def check_keys(
        self, entries: Mapping[str, tuple[yaml.Node, yaml.Node]], where: str, allowed: tuple[str, ...]
    ) -> None:
        if not self.strict:
            return  # the gateway ignores unknown keys
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                raise self.fail(self._unknown_key(key, where, allowed), key_node)

    def _unknown_key(self, key: str, where: str, allowed: tuple[str, ...]) -> str:
        hint = _KEY_HINTS.get(key)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        suggestion = hint if hint in allowed else (close[0] if close else None)
        message = f"unknown key {key!r} in {where}"
        if key == "multi_stable_resolution" and where == "the contract":
            message += (
                "; multi_stable_resolution is not part of the YAML: set it on the contract "
                "(POST /contracts or PATCH /contracts/{id})"
            )
        elif suggestion:
            message += f"; did you mean {suggestion!r}?"
        message += f" Allowed keys: {', '.join(allowed)}"
        return message + " (strict=False ignores unknown keys, as the gateway does)"

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        raise self.fail(f"{where} must be a list, got {self._describe(node)}", node)

    def optional_sequence(self, node: yaml.Node | None, where: str) -> list[yaml.Node] | None:
        if node is None or self._is_null(node):
            return None
        return self.sequence(node, where)

    def defaulted_sequence(self, node: yaml.Node | None, where: str) -> list[yaml.Node]:
        # `metrics:` with nothing after it is an empty list for serde_yaml.
        if node is None or is_plain_empty(node) or self._is_null(node):
            return []
        return self.sequence(node, where)

    def _is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and self.scalar(node) is None

    def _describe(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node)
            return _yaml_kind(value) + ("" if value is None else f" ({node.value!r})")
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return "a mapping"

    # --- scalars ------------------------------------------------------------------------------

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return _NOT_SCALAR
        try:
            return scalar_value(node)
        except YamlValueError as exc:
            raise self.fail(str(exc), exc.node) from None

    def string(self, node: yaml.Node, where: str) -> str:
        value = self.scalar(node)
        if isinstance(value, str):
            return value
        quote = ""
        if isinstance(node, yaml.ScalarNode) and value is not None:
            quote = f'; quote it: "{node.value}"'
        raise self.fail(f"{where} must be a string, got {self._describe(node)}{quote}", node)

    def optional_string(self, node: yaml.Node | None, where: str) -> str | None:
        if node is None or self._is_null(node):
            return None
        return self.string(node, where)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node)
        if isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
            hint = " (YAML 1.2, which the gateway reads, has only true and false)"
        raise self.fail(f"{where} must be true or false, got {self._describe(node)}{hint}", node)

    def optional_number(self, node: yaml.Node | None, where: str) -> float | None:
        if node is None or self._is_null(node):
            return None
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{where} must be a number, got {self._describe(node)}", node)
        if isinstance(value, int):
            try:
                return float(value)
            except OverflowError:
                return math.inf if value > 0 else -math.inf
        return value

    def optional_count(self, node: yaml.Node | None, where: str) -> int | None:
        if node is None or self._is_null(node):
            return None
        value = self.scalar(node)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U64_MAX:
            raise self.fail(
                f"{where} must be a whole number >= 0, got {self._describe(node)}", node
            )
        return value

    def choice(
        self, node: yaml.Node, where: str, names: Mapping[str, Enum], *, what: str
    ) -> Any:
        value = self.scalar(node)
        if isinstance(value, str) and value in names:
            return names[value]
        shown = ", ".join(names)
        if not isinstance(value, str):
            raise self.fail(f"{where}: {what} must be one of {shown}, got {self._describe(node)}", node)
        message = f"{where}: unknown {what} {value!r}"
        close = difflib.get_close_matches(value, list(names), n=1, cutoff=0.6)
        if value.lower() in names:
            message += f"; names are lower case: {value.lower()!r}"
        elif close:
            message += f"; did you mean {close[0]!r}?"
        raise self.fail(f"{message}. Allowed: {shown}", node)

    def json_values(self, node: yaml.Node, where: str) -> tuple[Any, ...]:
        items = self.sequence(node, where)
        try:
            return tuple(to_json_value(item, budget=self.budget) for item in items)
        except YamlValueError as exc:
            raise self.fail(f"{where}: {exc}", exc.node) from None

    # --- the contract -------------------------------------------------------------------------

    def contract(self, root: yaml.Node) -> Contract:
        top = self.mapping(root, "the contract", _TOP_KEYS)
        for key in ("version", "name", "ontology"):
            if key not in top:
                raise self.fail(f"the contract is missing {key!r}; add it", root)
        ontology_node = top["ontology"][1]
        ontology = self.mapping(ontology_node, "ontology", ("entities",))
        if "entities" not in ontology:
            raise self.fail("ontology is missing 'entities' (the list of fields); add it", ontology_node)
        entities = tuple(
            self.field(node, f"ontology.entities[{index}]")
            for index, node in enumerate(self.sequence(ontology["entities"][1], "ontology.entities"))
        )
        glossary = tuple(
            self.glossary(node, f"glossary[{i}]")
            for i, node in enumerate(self.defaulted_sequence(_node(top, "glossary"), "glossary"))
        )
        metrics = tuple(
            self.metric(node, f"metrics[{i}]")
            for i, node in enumerate(self.defaulted_sequence(_node(top, "metrics"), "metrics"))
        )
        quality = tuple(
            self.quality(node, f"quality[{i}]")
            for i, node in enumerate(self.defaulted_sequence(_node(top, "quality"), "quality"))
        )
        leakage = _node(top, "egress_leakage_mode")
        envelope = _node(top, "envelope")
        return Contract(
            version=self.string(top["version"][1], "version"),
            name=self.string(top["name"][1], "name"),
            description=self.optional_string(_node(top, "description"), "description"),
            compliance_mode=self._flag(_node(top, "compliance_mode"), "compliance_mode"),
            null_as_absent=self._flag(_node(top, "null_as_absent"), "null_as_absent"),
            entities=entities,
            glossary=glossary,
            metrics=metrics,
            quality=quality,
            egress_leakage_mode=(
                EgressLeakageMode.OFF
                if leakage is None
                else self.choice(
                    leakage,
                    "egress_leakage_mode",
                    {m.value: m for m in EgressLeakageMode},
                    what="egress_leakage_mode",
                )
            ),
            envelope=(
                None if envelope is None or self._is_null(envelope) else self.envelope(envelope)
            ),
        )

    def _flag(self, node: yaml.Node | None, where: str) -> bool:
        return False if node is None else self.boolean(node, where)

    def field(self, node: yaml.Node, where: str) -> FieldDefinition:
        self.fields += 1  # aliases can repeat a subtree: bound the total work
        if self.fields > MAX_FIELDS:
            raise self.fail(f"the contract expands to more than {MAX_FIELDS} fields (aliases?)", node)
        keys = self.mapping(node, where, _FIELD_KEYS, check_keys=False)
        if "name" not in keys:
            self.check_keys(keys, where, _FIELD_KEYS)
            raise self.fail(f"{where} is missing 'name'; add it (the key in the event)", node)
        name = self.string(keys["name"][1], f"{where}.name")
        label = f"{where} (field {name!r})"
        self.check_keys(keys, label, _FIELD_KEYS)
        if "type" not in keys:
            raise self.fail(
                f"{label} is missing 'type'; add one of {', '.join(_TYPE_NAMES)}", node
            )
        field_type: FieldType = self.choice(keys["type"][1], label, _TYPE_NAMES, what="type")
        properties_nodes = self.optional_sequence(_node(keys, "properties"), f"{label}.properties")
        items_node = _node(keys, "items")
        transform_node = _node(keys, "transform")
        enum_node = _node(keys, "enum")
        pattern_node = _node(keys, "pattern")
        return FieldDefinition(
            name=name,
            type=field_type,
            required=True if _node(keys, "required") is None else self.boolean(keys["required"][1], f"{label}.required"),
            pattern=self.optional_string(pattern_node, f"{label}.pattern"),
            enum=(
                None
                if enum_node is None or self._is_null(enum_node)
                else self.json_values(enum_node, f"{label}.enum")
            ),
            min=self.optional_number(_node(keys, "min"), f"{label}.min"),
            max=self.optional_number(_node(keys, "max"), f"{label}.max"),
            min_length=self.optional_count(_node(keys, "min_length"), f"{label}.min_length"),
            max_length=self.optional_count(_node(keys, "max_length"), f"{label}.max_length"),
            properties=(
                None
                if properties_nodes is None
                else tuple(
                    self.field(child, f"{label}.properties[{i}]")
                    for i, child in enumerate(properties_nodes)
                )
            ),
            items=(
                None
                if items_node is None or self._is_null(items_node)
                else self.field(items_node, f"{label}.items")
            ),
            transform=(
                None
                if transform_node is None or self._is_null(transform_node)
                else self.transform(transform_node, f"{label}.transform")
            ),
            line=line_of(node),
            pattern_line=line_of(pattern_node),
        )

    def transform(self, node: yaml.Node, where: str) -> Transform:
        keys = self.mapping(node, where, _TRANSFORM_KEYS)
        if "kind" not in keys:
            raise self.fail(f"{where} is missing 'kind' (mask, hash, drop or redact); add it", node)
        style = keys.get("style")
        return Transform(
            kind=self.choice(
                keys["kind"][1], where, {k.value: k for k in TransformKind}, what="transform kind"
            ),
            style=(
                None
                if style is None or self._is_null(style[1])
                else self.choice(
                    style[1], where, {s.value: s for s in MaskStyle}, what="mask style"
                )
            ),
            line=line_of(node),
        )

    def glossary(self, node: yaml.Node, where: str) -> GlossaryEntry:
        keys = self.mapping(node, where, _GLOSSARY_KEYS)
        field_key = self._alias(keys, "field", "term", where, node)
        description_key = self._alias(keys, "description", "definition", where, node)
        synonyms = self.optional_sequence(_node(keys, "synonyms"), f"{where}.synonyms")
        return GlossaryEntry(
            field=self.string(keys[field_key][1], f"{where}.{field_key}"),
            description=self.string(keys[description_key][1], f"{where}.{description_key}"),
            constraints=self.optional_string(_node(keys, "constraints"), f"{where}.constraints"),
            synonyms=(
                None
                if synonyms is None
                else tuple(self.string(s, f"{where}.synonyms[{i}]") for i, s in enumerate(synonyms))
            ),
        )

    def _alias(
        self, keys: Mapping[str, tuple[yaml.Node, yaml.Node]], name: str, alias: str, where: str, node: yaml.Node
    ) -> str:
        if name in keys and alias in keys:
            raise self.fail(f"{where} has both {name!r} and {alias!r} (the same key); keep one", keys[alias][0])
        if name in keys:
            return name
        if alias in keys:
            return alias
        raise self.fail(f"{where} is missing {name!r}; add it", node)

    def metric(self, node: yaml.Node, where: str) -> MetricDefinition:
        keys = self.mapping(node, where, _METRIC_KEYS, check_keys=False)
        if "name" not in keys:
            self.check_keys(keys, where, _METRIC_KEYS)
            raise self.fail(f"{where} is missing 'name'; add it", node)
        name = self.string(keys["name"][1], f"{where}.name")
        label = f"{where} (metric {name!r})"
        self.check_keys(keys, label, _METRIC_KEYS)
        metric_type = _node(keys, "type")
        return MetricDefinition(
            name=name,
            field=self.optional_string(_node(keys, "field"), f"{label}.field"),
            type=(
                None
                if metric_type is None or self._is_null(metric_type)
                else self.choice(
                    metric_type, label, {t.value: t for t in MetricType}, what="metric type"
                )
            ),
            formula=self.optional_string(_node(keys, "formula"), f"{label}.formula"),
            min=self.optional_number(_node(keys, "min"), f"{label}.min"),
            max=self.optional_number(_node(keys, "max"), f"{label}.max"),
            line=line_of(node),
        )

    def quality(self, node: yaml.Node, where: str) -> QualityRule:
        keys = self.mapping(node, where, _QUALITY_KEYS)
        for key in ("field", "type"):
            if key not in keys:
                raise self.fail(f"{where} is missing {key!r}; add it", node)
        field = self.string(keys["field"][1], f"{where}.field")
        label = f"{where} (quality rule on {field!r})"
        scope = _node(keys, "scope")
        return QualityRule(
            field=field,
            type=self.choice(
                keys["type"][1], label, {t.value: t for t in QualityRuleType}, what="quality rule type"
            ),
            description=self.optional_string(_node(keys, "description"), f"{label}.description"),
            max_age_seconds=self.optional_count(_node(keys, "max_age_seconds"), f"{label}.max_age_seconds"),
            scope=(
                None
                if scope is None or self._is_null(scope)
                else self.choice(scope, label, {"batch": _Scope.BATCH}, what="scope").value
            ),
            threshold=self.optional_number(_node(keys, "threshold"), f"{label}.threshold"),
            line=line_of(node),
        )

    def envelope(self, node: yaml.Node) -> Envelope:
        keys = self.mapping(node, "envelope", _ENVELOPE_KEYS)
        if "records_path" not in keys:
            raise self.fail("envelope is missing 'records_path'; add it", node)
        wrapper = keys.get("validate_wrapper")
        return Envelope(
            records_path=self.string(keys["records_path"][1], "envelope.records_path"),
            validate_wrapper=False
            if wrapper is None
            else self.boolean(wrapper[1], "envelope.validate_wrapper"),
        )


class _Scope(str, Enum):
    BATCH = "batch"


class _NotScalar:
    """Marker for "this node is a list or mapping" where a scalar was expected."""

    def __repr__(self) -> str:
        return "<not a scalar>"


_NOT_SCALAR: Final = _NotScalar()


def parse_contract(text: str, *, source: str | None = None, strict: bool = True) -> Contract:
    """Parse contract YAML into a :class:`Contract`; raises :class:`ContractError` with the line."""
    try:
        root = compose(text)
    except RecursionError:
        raise ContractError("the YAML nests too deeply", path=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.context_mark and mark and exc.context_mark.line != mark.line:
            problem += f" (the construct began on line {exc.context_mark.line + 1})"
        raise ContractError(
            f"not valid YAML: {problem or exc}", path=source, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ContractError(f"not valid YAML: {exc}", path=source) from None
    if root is None:
        raise ContractError(
            "the contract is empty; it needs at least version, name and ontology.entities",
            path=source,
            line=1,
        )
    reader = _Reader(source, strict)
    try:
        return reader.contract(root)
    except RecursionError:
        raise ContractError(
            f"the contract nests too deeply (or expands past {MAX_NODES} values)", path=source
        ) from None


__all__ = [
    "Contract",
    "EgressLeakageMode",
    "Envelope",
    "FieldDefinition",
    "FieldType",
    "GlossaryEntry",
    "MaskStyle",
    "MetricDefinition",
    "MetricType",
    "QualityRule",
    "QualityRuleType",
    "Transform",
    "TransformKind",
    "parse_contract",
]
