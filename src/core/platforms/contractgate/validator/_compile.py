"""Compile a contract once into closures; validate many events with them.

Compiling does all the work that does not depend on the event: regexes are translated and
compiled, field paths and "missing" violations are built, enum sets are hashed, each field gets
one checker closure holding only the rules it declares. Validating an event is then a walk over
those closures, in the gateway's order (spec section 7):

1. ontology fields, recursively, in declaration order;
2. metrics; 3. quality completeness and freshness; 4. compliance-mode undeclared keys.
Batch uniqueness comes last, over a whole batch (:meth:`CompiledContract.check_uniqueness`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from re import Pattern
from typing import Any, Final

from ....models import RecordResult, ValidationReport, Violation
from ._contract import (
    Contract,
    EgressLeakageMode,
    FieldDefinition,
    FieldType,
    MaskStyle,
    MetricDefinition,
    QualityRule,
    QualityRuleType,
    TransformKind,
    parse_contract,
)
from ._errors import ContractError
from ._messages import (
    COMPLETENESS,
    ENUM,
    FRESHNESS,
    I64_MIN,
    LENGTH,
    METRIC_RANGE,
    MISSING,
    PATTERN,
    RANGE,
    ROOT_FIELD,
    ROOT_MESSAGE,
    TYPE,
    U64_MAX,
    UNDECLARED,
    UNIQUENESS,
    completeness_absent,
    completeness_empty,
    enum_allowed,
    enum_violation,
    freshness_not_timestamp,
    freshness_stale,
    invalid_date,
    invalid_regex,
    is_json_int,
    json_compact,
    json_type_name,
    length_above,
    length_below,
    metric_above,
    metric_below,
    metric_missing,
    missing_field,
    numeric_value,
    pattern_mismatch,
    range_above,
    range_below,
    transform_on_non_string,
    type_mismatch,
    undeclared_field,
    uniqueness_duplicate,
)
from ._regex import RustRegexError, compile_rust_regex
from ._validate import (
    MISSING_VALUE,
    CgViolation,
    EventResult,
    is_calendar_date,
    json_key,
    lookup,
    wrap_i64,
)

Out = list[CgViolation]
Check = Callable[[Any, str, Out], None]  # (value, path, violations)
Walk = Callable[[dict[Any, Any], str, Out], None]  # (object, path prefix, violations)
EventCheck = Callable[[dict[Any, Any], Out], None]
TimedCheck = Callable[[dict[Any, Any], Out, int], None]

_I64_MAX: Final = 2**63 - 1
_F64_EXACT: Final = 2**53
_MS_THRESHOLD: Final = 1_700_000_000_000  # above this a timestamp is taken as milliseconds


# The type test of each field type as (isinstance classes, reject bool, i64/u64 range only):
# inlined into the checker, since a function call per value costs more than the test.
_TYPE_TESTS: Final[dict[FieldType, tuple[tuple[type, ...], bool, bool]]] = {
    FieldType.STRING: ((str,), False, False),
    FieldType.DATE: ((str,), False, False),
    FieldType.INTEGER: ((int,), True, True),  # 5.0, true and integers past u64 are not integers
    FieldType.FLOAT: ((int, float), True, False),
    FieldType.BOOLEAN: ((bool,), False, False),
    FieldType.OBJECT: ((dict,), False, False),
    FieldType.ARRAY: ((list, tuple), False, False),
    FieldType.ANY: ((object,), False, False),
}
_STRING_TYPES: Final = frozenset({FieldType.STRING, FieldType.DATE, FieldType.ANY})
_NUMBER_TYPES: Final = frozenset({FieldType.INTEGER, FieldType.FLOAT, FieldType.ANY})


def _noop(value: Any, path: str, out: Out) -> None:
    return None


def _utf8_len(text: str) -> int:
    # The gateway measures strings in UTF-8 bytes ("é" is 2), not code points.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Builder:
    """Builds the checker closures of one contract."""

    def __init__(self, patterns: dict[str, Pattern[str]], null_as_absent: bool) -> None:
        self.patterns = patterns
        # Paths under an array ("items[0].sku") are only known per event. The gateway looks
        # their regex up by that path and finds none, unless a field is literally named so.
        self.dynamic_lookup = any("[" in key for key in patterns)
        self.null_as_absent = null_as_absent

    def walker(self, fields: Sequence[FieldDefinition], prefix: str | None) -> Walk:
        """Checks the declared fields of an object; ``prefix`` None means "under an array"."""
        null_as_absent = self.null_as_absent
        if prefix is not None:
            static = []
            for definition in fields:
                path = f"{prefix}.{definition.name}" if prefix else definition.name
                missing = (
                    CgViolation(path, MISSING, missing_field(definition.name))
                    if definition.required
                    else None
                )
                static.append((definition.name, path, missing, self.checker(definition, path)))
            entries = tuple(static)

            def walk_static(obj: dict[Any, Any], _prefix: str, out: Out) -> None:
                get = obj.get
                for name, path, missing, check in entries:
                    value = get(name, MISSING_VALUE)
                    if value is MISSING_VALUE or (value is None and null_as_absent):
                        if missing is not None:
                            out.append(missing)
                        continue
                    check(value, path, out)

            return walk_static

        dynamic = tuple(
            (definition.name, definition.required, self.checker(definition, None))
            for definition in fields
        )

        def walk_dynamic(obj: dict[Any, Any], prefix: str, out: Out) -> None:
            get = obj.get
            for name, required, check in dynamic:
                path = f"{prefix}.{name}" if prefix else name
                value = get(name, MISSING_VALUE)
                if value is MISSING_VALUE or (value is None and null_as_absent):
                    if required:
                        out.append(CgViolation(path, MISSING, missing_field(name)))
                    continue
                check(value, path, out)

        return walk_dynamic

    def checker(self, definition: FieldDefinition, static_path: str | None) -> Check:
        """The closure that checks one value of this field (type first, then its own rules)."""
        field_type = definition.type
        rules: list[Check] = []
        if field_type in _STRING_TYPES:
            string_rule = self._string_rule(definition, static_path)
            if string_rule is not None:
                rules.append(string_rule)
        if field_type in _NUMBER_TYPES and (definition.min is not None or definition.max is not None):
            rules.append(self._range_rule(definition.min, definition.max))
        if definition.enum is not None:
            rules.append(self._enum_rule(definition.enum))
        if field_type is FieldType.OBJECT and definition.properties is not None:
            rules.append(self.walker(definition.properties, static_path))
        if field_type is FieldType.ARRAY and definition.items is not None:
            rules.append(self._items_rule(self.checker(definition.items, None)))

        classes, reject_bool, ranged = _TYPE_TESTS[field_type]
        expected = field_type.rust_name
        if not rules and field_type is FieldType.ANY:
            return _noop

        def wrong_type(value: Any) -> bool:
            if not isinstance(value, classes):
                return True
            if reject_bool and value.__class__ is bool:
                return True
            integer: Any = value  # an int here (mypy narrowed it to object)
            return ranged and not I64_MIN <= integer <= U64_MAX

        if not rules:

            def check_type(value: Any, path: str, out: Out) -> None:
                if wrong_type(value):
                    out.append(CgViolation(path, TYPE, type_mismatch(path, expected, json_type_name(value))))

            return check_type
        all_rules = tuple(rules)
        only = all_rules[0]

        def mismatch(value: Any, path: str, out: Out) -> None:
            # The gateway checks nothing more on a value of the wrong type.
            out.append(CgViolation(path, TYPE, type_mismatch(path, expected, json_type_name(value))))

        # Specialised closures: the common shapes skip a loop or a helper call per value.
        if not reject_bool and not ranged:  # str, bool, dict, list, any: isinstance says it all
            if len(all_rules) == 1:

                def check_simple_one(value: Any, path: str, out: Out) -> None:
                    if isinstance(value, classes):
                        only(value, path, out)
                    else:
                        mismatch(value, path, out)

                return check_simple_one

            def check_simple(value: Any, path: str, out: Out) -> None:
                if isinstance(value, classes):
                    for rule in all_rules:
                        rule(value, path, out)
                else:
                    mismatch(value, path, out)

            return check_simple

        def check_number(value: Any, path: str, out: Out) -> None:
            if wrong_type(value):
                mismatch(value, path, out)
                return
            for rule in all_rules:
                rule(value, path, out)

        return check_number

    def _string_rule(self, definition: FieldDefinition, static_path: str | None) -> Check | None:
        min_length, max_length = definition.min_length, definition.max_length
        regex = self.patterns.get(static_path) if static_path is not None else None
        lookup_regex = static_path is None and self.dynamic_lookup
        patterns = self.patterns
        is_date = definition.type is FieldType.DATE
        if min_length is None and max_length is None and not is_date and not lookup_regex:
            if regex is None:
                return None
            search = regex.search

            def pattern_only(value: Any, path: str, out: Out) -> None:
                if isinstance(value, str) and search(value) is None:
                    out.append(CgViolation(path, PATTERN, pattern_mismatch(path, value)))

            return pattern_only

        def string_rules(value: Any, path: str, out: Out) -> None:
            if not isinstance(value, str):
                return
            if min_length is not None or max_length is not None:
                length = _utf8_len(value)
                if min_length is not None and length < min_length:
                    out.append(CgViolation(path, LENGTH, length_below(path, length, min_length)))
                if max_length is not None and length > max_length:
                    out.append(CgViolation(path, LENGTH, length_above(path, length, max_length)))
            compiled = patterns.get(path) if lookup_regex else regex
            if compiled is not None and compiled.search(value) is None:
                out.append(CgViolation(path, PATTERN, pattern_mismatch(path, value)))
            if is_date and not is_calendar_date(value):
                # The gateway reports a bad calendar date as a pattern_mismatch.
                out.append(CgViolation(path, PATTERN, invalid_date(path, value)))

        return string_rules

    @staticmethod
    def _range_rule(minimum: float | None, maximum: float | None) -> Check:
        def range_rule(value: Any, path: str, out: Out) -> None:
            kind = value.__class__
            number: float
            if kind is float:
                number = value
            elif kind is int and -_F64_EXACT <= value <= _F64_EXACT:
                number = float(value)
            else:
                converted = numeric_value(value)  # bool, str..., huge integers
                if converted is None:
                    return
                number = converted
            if minimum is not None and number < minimum:
                out.append(CgViolation(path, RANGE, range_below(path, number, minimum)))
            if maximum is not None and number > maximum:
                out.append(CgViolation(path, RANGE, range_above(path, number, maximum)))

        return range_rule

    @staticmethod
    def _enum_rule(allowed: tuple[Any, ...]) -> Check:
        strings = frozenset(v for v in allowed if isinstance(v, str))
        others = frozenset(json_key(v) for v in allowed if not isinstance(v, str))
        rendered = enum_allowed(allowed)

        def enum_rule(value: Any, path: str, out: Out) -> None:
            if isinstance(value, str):
                if value in strings:
                    return
            elif json_key(value) in others:
                return
            out.append(CgViolation(path, ENUM, enum_violation(path, value, rendered)))

        return enum_rule

    @staticmethod
    def _items_rule(item_check: Check) -> Check:
        def items_rule(value: Any, path: str, out: Out) -> None:
            for index, item in enumerate(value):
                item_check(item, f"{path}[{index}]", out)

        return items_rule


def _metric_check(metric: MetricDefinition) -> EventCheck | None:
    if metric.field is None or (metric.min is None and metric.max is None):
        return None  # formula-only or unbounded metrics have no per-event check
    name, field, minimum, maximum = metric.name, metric.field, metric.min, metric.max
    parts = tuple(field.split("."))
    missing = CgViolation(field, MISSING, metric_missing(name, field))

    def metric_check(event: dict[Any, Any], out: Out) -> None:
        value = lookup(event, parts)
        number = None if value is MISSING_VALUE else numeric_value(value)
        if number is None:
            out.append(missing)
            return
        if minimum is not None and number < minimum:
            out.append(CgViolation(field, METRIC_RANGE, metric_below(name, number, minimum, field)))
        if maximum is not None and number > maximum:
            out.append(CgViolation(field, METRIC_RANGE, metric_above(name, number, maximum, field)))

    return metric_check


def _quality_check(rule: QualityRule) -> TimedCheck | None:
    field = rule.field
    parts = tuple(field.split("."))
    if rule.type is QualityRuleType.COMPLETENESS:
        absent = CgViolation(field, COMPLETENESS, completeness_absent(field))
        empty = CgViolation(field, COMPLETENESS, completeness_empty(field))

        def completeness(event: dict[Any, Any], out: Out, now: int) -> None:
            value = lookup(event, parts)
            if value is MISSING_VALUE or value is None:
                out.append(absent)
            elif isinstance(value, str) and not value:
                out.append(empty)

        return completeness
    if rule.type is QualityRuleType.FRESHNESS and rule.max_age_seconds is not None:
        max_age = rule.max_age_seconds
        limit = wrap_i64(max_age)  # `max_age as i64` in the gateway
        not_timestamp = CgViolation(field, FRESHNESS, freshness_not_timestamp(field))

        def freshness(event: dict[Any, Any], out: Out, now: int) -> None:
            value = lookup(event, parts)
            if value is MISSING_VALUE:
                return  # absent: completeness covers it
            if not is_json_int(value) or value > _I64_MAX:
                out.append(not_timestamp)  # only an i64 counts (floats, strings, null do not)
                return
            seconds = value // 1000 if value > _MS_THRESHOLD else int(value)
            age = wrap_i64(now - seconds)
            if age < 0 or age > limit:
                out.append(CgViolation(field, FRESHNESS, freshness_stale(field, age, max_age)))

        return freshness
    return None  # validity has no effect; uniqueness is per batch


def _compile_patterns(
    fields: Sequence[FieldDefinition], prefix: str, out: dict[str, Pattern[str]], source: str | None
) -> None:
    # The gateway's compile_field_patterns: along object properties only, keyed by path.
    for definition in fields:
        path = f"{prefix}.{definition.name}" if prefix else definition.name
        if definition.pattern is not None:
            try:
                out[path] = compile_rust_regex(definition.pattern)
            except RustRegexError as exc:
                raise ContractError(
                    invalid_regex(definition.pattern, path, str(exc)),
                    path=source,
                    line=definition.pattern_line or definition.line,
                    stage="compile",
                ) from None
        if definition.type is FieldType.OBJECT and definition.properties is not None:
            _compile_patterns(definition.properties, path, out, source)


def _check_transform_types(
    fields: Sequence[FieldDefinition], prefix: str, source: str | None
) -> None:
    for definition in fields:
        path = f"{prefix}.{definition.name}" if prefix else definition.name
        if definition.transform is not None and definition.type is not FieldType.STRING:
            raise ContractError(
                transform_on_non_string(path, definition.type.rust_name),
                path=source,
                line=definition.transform.line or definition.line,
                stage="compile",
            )
        if definition.type is FieldType.OBJECT and definition.properties is not None:
            _check_transform_types(definition.properties, path, source)


class CompiledContract:
    """A contract compiled once; :meth:`validate` checks one event, with the gateway's results.

    Attributes: ``name``, ``version`` (the YAML's label), ``model`` (the typed
    :class:`~._contract.Contract`), ``compliance_mode``, ``null_as_absent``,
    ``egress_leakage_mode``, ``declared_fields`` (top-level names), ``quality``, ``patterns``
    (compiled regexes by field path), ``source`` (file path or None), ``yaml_sha256`` (hex, as the
    gateway's ``/v1/contracts/{id}/version`` reports it) and ``pii_salt``.
    """

    def __init__(
        self, model: Contract, *, yaml_text: str = "", source: str | None = None, pii_salt: bytes = b""
    ) -> None:
        self.model = model
        self.source = source
        self.pii_salt = pii_salt
        self.yaml_sha256 = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
        self.name = model.name
        self.version = model.version
        self.description = model.description
        self.compliance_mode = model.compliance_mode
        self.null_as_absent = model.null_as_absent
        self.egress_leakage_mode: EgressLeakageMode = model.egress_leakage_mode
        self.quality = model.quality
        self.declared_fields = frozenset(f.name for f in model.entities)

        patterns: dict[str, Pattern[str]] = {}
        _compile_patterns(model.entities, "", patterns, source)
        _check_transform_types(model.entities, "", source)
        self.patterns = patterns

        self._walk = _Builder(patterns, model.null_as_absent).walker(model.entities, "")
        self._metrics = tuple(c for c in map(_metric_check, model.metrics) if c is not None)
        self._quality = tuple(c for c in map(_quality_check, model.quality) if c is not None)
        self._unique = tuple(
            (rule.field, tuple(rule.field.split(".")))
            for rule in model.quality
            if rule.type is QualityRuleType.UNIQUENESS
        )
        # Top-level transforms in declaration order (nested ones compile but do nothing).
        self.transforms: tuple[tuple[str, TransformKind, MaskStyle | None], ...] = tuple(
            (f.name, f.transform.kind, f.transform.style)
            for f in model.entities
            if f.transform is not None
        )

    def __repr__(self) -> str:
        where = f", source={self.source!r}" if self.source else ""
        return f"CompiledContract(name={self.name!r}, version={self.version!r}{where})"

    # --- one event ------------------------------------------------------------------------------

    def validate(self, event: Any, *, now: float | None = None) -> EventResult:
        """The gateway's per-event verdict. Never raises, whatever ``event`` is.

        ``now`` (Unix seconds) is the clock for freshness rules; default: the current time.
        Batch uniqueness is not part of a single event's verdict (see :meth:`validate_many`).
        """
        if not isinstance(event, dict):
            return EventResult(False, [CgViolation(ROOT_FIELD, TYPE, ROOT_MESSAGE)], 0)
        started = time.perf_counter_ns()
        out: Out = []
        self._walk(event, "", out)
        for metric in self._metrics:
            metric(event, out)
        if self._quality:
            clock = int(time.time() if now is None else now)
            for rule in self._quality:
                rule(event, out, clock)
        if self.compliance_mode:
            declared = self.declared_fields
            extra = [key for key in event if key not in declared]
            if extra:
                # The gateway iterates a BTreeMap: undeclared keys come out sorted.
                for key in sorted(extra, key=_key_text_of):
                    name = _key_text_of(key)
                    out.append(CgViolation(name, UNDECLARED, undeclared_field(name)))
        elapsed = (time.perf_counter_ns() - started) // 1000
        return EventResult(not out, out, elapsed)

    # --- a batch --------------------------------------------------------------------------------

    def check_uniqueness(self, events: Sequence[Any]) -> list[tuple[int, CgViolation]]:
        """Batch uniqueness (``quality`` rules of type ``uniqueness``): ``(index, violation)``.

        The second and later events carrying the same JSON value are flagged; null and absent
        values are skipped; values compare as serde_json compact text (object keys sorted).
        """
        found: list[tuple[int, CgViolation]] = []
        for field, parts in self._unique:
            seen: set[str] = set()
            for index, event in enumerate(events):
                value = lookup(event, parts)
                if value is MISSING_VALUE or value is None:
                    continue
                key = json_compact(value)
                if key in seen:
                    found.append((index, CgViolation(field, UNIQUENESS, uniqueness_duplicate(field, key))))
                else:
                    seen.add(key)
        return found

    def validate_many(
        self, events: Iterable[Any], *, now: float | None = None, uniqueness: bool = True
    ) -> list[EventResult]:
        """Each event's verdict, as one ingest batch: batch uniqueness is applied unless off.

        The ingest handler appends uniqueness violations after an event's own (after fallback,
        which an emulator does itself: call :meth:`validate`, then :meth:`check_uniqueness`).
        """
        batch = list(events)
        clock = time.time() if now is None else now
        results = [self.validate(event, now=clock) for event in batch]
        if uniqueness and self._unique:
            for index, violation in self.check_uniqueness(batch):
                result = results[index]
                results[index] = EventResult(
                    False, [*result.violations, violation], result.validation_us
                )
        return results

    def report(
        self,
        events: Iterable[Any],
        *,
        contract_id: str | None = None,
        now: float | None = None,
        platform: str = "local",
    ) -> ValidationReport:
        """A :class:`~govflow.core.models.ValidationReport` of the batch (uniqueness included)."""
        records = [
            RecordResult(
                index=index,
                passed=result.passed,
                violations=[
                    Violation(field=v.field, kind=v.kind, message=v.message) for v in result.violations
                ],
            )
            for index, result in enumerate(self.validate_many(events, now=now))
        ]
        return ValidationReport(
            contract_id=contract_id if contract_id is not None else self.name,
            contract_version=self.version,
            records=records,
            platform=platform,
        )


def _key_text_of(key: Any) -> str:
    return key if isinstance(key, str) else str(key)


def compile_contract(
    yaml_text: str, *, source: str | None = None, strict: bool = True, pii_salt: bytes = b""
) -> CompiledContract:
    """Parse and compile contract YAML once; raises :class:`ContractError` (file:line).

    ``source`` names the file in errors. ``strict=False`` ignores unknown keys, as the gateway
    does (``strict=True`` reports them, catching typos). ``pii_salt`` keys ``hash`` and
    ``format_preserving`` transforms (the playground's is empty).
    """
    model = parse_contract(yaml_text, source=source, strict=strict)
    return CompiledContract(model, yaml_text=yaml_text, source=source, pii_salt=pii_salt)


def load_contract(
    path: str | Path, *, strict: bool = True, pii_salt: bytes = b""
) -> CompiledContract:
    """:func:`compile_contract` on a file; errors name the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"cannot read the contract: {exc.strerror or exc}", path=str(file)) from None
    except UnicodeDecodeError as exc:
        raise ContractError(f"the contract is not UTF-8 text: {exc.reason}", path=str(file)) from None
    return compile_contract(text, source=str(file), strict=strict, pii_salt=pii_salt)


__all__ = ["CompiledContract", "compile_contract", "load_contract"]
