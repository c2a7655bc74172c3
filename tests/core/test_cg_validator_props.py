"""Property-based tests of govflow's ContractGate validator (hypothesis).

- an event built to satisfy a random contract passes; breaking one rule of one field gives
  exactly that field's violation, of that kind;
- validation, transforms and uniqueness never raise, whatever JSON they get;
- compiling is deterministic;
- the Rust formatting helpers and the regex translation keep their invariants.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from govflow.core.platforms.contractgate.validator import (
    apply_transforms,
    compile_contract,
    load_contract,
)
from govflow.core.platforms.contractgate.validator._messages import (
    json_compact,
    rust_debug_str,
    rust_f64,
    ryu_f64,
)
from govflow.core.platforms.contractgate.validator._regex import translate
from govflow.core.platforms.contractgate.validator._validate import is_calendar_date

DATA = Path(__file__).resolve().parent.parent / "data" / "contractgate"

# --- random contracts, with events that satisfy them and ways to break one rule -------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    yaml: str  # the flow mapping under ontology.entities
    required: bool
    valid: st.SearchStrategy[Any]
    # (violation kind, strategy of a value that breaks exactly that rule); None: remove the key
    breaks: tuple[tuple[str, st.SearchStrategy[Any] | None], ...]


PATTERNS = [
    (r"^[a-z]{3,8}$", r"\A[a-z]{3,8}\Z", "ABCDE"),
    (r"^u_[0-9]+$", r"\Au_[0-9]{1,6}\Z", "x_12"),
    (r"^[A-Z]{2}-\d{4}$", r"\A[A-Z]{2}-[0-9]{4}\Z", "ab-1234"),
]
_ascii = st.characters(min_codepoint=97, max_codepoint=122)


@st.composite
def field_specs(draw: st.DrawFn, name: str) -> FieldSpec:
    required = draw(st.booleans())
    missing: tuple[tuple[str, st.SearchStrategy[Any] | None], ...] = (
        (("missing_required_field", None),) if required else ()
    )
    kind = draw(st.sampled_from(["string", "pattern", "enum", "integer", "float", "boolean", "date", "object", "array"]))
    head = f"name: {name}, required: {'true' if required else 'false'}"
    if kind == "string":
        low = draw(st.integers(0, 5))
        high = draw(st.integers(low, low + 6))
        breaks = [("type_mismatch", st.integers())]
        if low > 0:
            breaks.append(("length_violation", st.text(_ascii, min_size=0, max_size=low - 1)))
        breaks.append(("length_violation", st.text(_ascii, min_size=high + 1, max_size=high + 4)))
        return FieldSpec(
            name,
            f"{{{head}, type: string, min_length: {low}, max_length: {high}}}",
            required,
            st.text(_ascii, min_size=low, max_size=high),
            missing + tuple(breaks),
        )
    if kind == "pattern":
        pattern, generator, bad = draw(st.sampled_from(PATTERNS))
        return FieldSpec(
            name,
            f"{{{head}, type: string, pattern: '{pattern}'}}",
            required,
            st.from_regex(generator),
            (*missing, ("type_mismatch", st.none()), ("pattern_mismatch", st.just(bad))),
        )
    if kind == "enum":
        values = draw(st.lists(st.text(_ascii, min_size=1, max_size=5), min_size=1, max_size=4, unique=True))
        rendered = ", ".join(json.dumps(v) for v in values)
        return FieldSpec(
            name,
            f"{{{head}, type: string, enum: [{rendered}]}}",
            required,
            st.sampled_from(values),
            (*missing, ("enum_violation", st.just("NOT-IN-SET")), ("type_mismatch", st.floats(allow_nan=False))),
        )
    if kind in ("integer", "float"):
        low = draw(st.integers(-1000, 1000))
        high = draw(st.integers(low, low + 1000))
        valid = st.integers(low, high) if kind == "integer" else st.floats(low, high, allow_nan=False)
        wrong = st.just(1.5) if kind == "integer" else st.text(max_size=3)
        return FieldSpec(
            name,
            f"{{{head}, type: {kind if kind == 'integer' else 'number'}, min: {low}, max: {high}}}",
            required,
            valid,
            (
                *missing,
                ("type_mismatch", wrong),
                ("range_violation", st.integers(high + 1, high + 10**6)),
                ("range_violation", st.integers(low - 10**6, low - 1)),
            ),
        )
    if kind == "boolean":
        return FieldSpec(
            name, f"{{{head}, type: boolean}}", required, st.booleans(),
            (*missing, ("type_mismatch", st.sampled_from([0, 1, "true", None]))),
        )  # fmt: skip
    if kind == "date":
        return FieldSpec(
            name,
            f"{{{head}, type: date}}",
            required,
            st.dates().map(lambda d: d.isoformat()),
            (*missing, ("pattern_mismatch", st.sampled_from(["2023-02-29", "2026-13-01", "2026/01/01"])), ("type_mismatch", st.integers())),
        )
    if kind == "object":
        return FieldSpec(
            name,
            f"{{{head}, type: object, properties: [{{name: k, type: integer, min: 0}}]}}",
            required,
            st.integers(0, 10).map(lambda n: {"k": n}),
            (*missing, ("type_mismatch", st.just([])), ("range_violation", st.just({"k": -1})), ("missing_required_field", st.just({}))),
        )
    return FieldSpec(
        name,
        f"{{{head}, type: array, items: {{name: i, type: string, max_length: 3}}}}",
        required,
        st.lists(st.text(_ascii, max_size=3), max_size=4),
        (*missing, ("type_mismatch", st.just({})), ("length_violation", st.just(["toolong"])), ("type_mismatch", st.just([1]))),
    )


@st.composite
def contracts(draw: st.DrawFn) -> list[FieldSpec]:
    count = draw(st.integers(1, 6))
    return [draw(field_specs(f"f{index}")) for index in range(count)]


def render(specs: list[FieldSpec], compliance: bool = False) -> str:
    lines = ['version: "1.0"', "name: generated"]
    if compliance:
        lines.append("compliance_mode: true")
    lines += ["ontology:", "  entities:"] + [f"    - {spec.yaml}" for spec in specs]
    return "\n".join(lines) + "\n"


@st.composite
def valid_events(draw: st.DrawFn, specs: list[FieldSpec]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for spec in specs:
        if spec.required or draw(st.booleans()):
            event[spec.name] = draw(spec.valid)
    return event


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), specs=contracts(), compliance=st.booleans())
def test_a_satisfying_event_passes(data: st.DataObject, specs: list[FieldSpec], compliance: bool) -> None:
    compiled = compile_contract(render(specs, compliance))
    event = data.draw(valid_events(specs))
    result = compiled.validate(event)
    assert result.passed, result.violations
    assert result.violations == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), specs=contracts())
def test_breaking_one_rule_gives_exactly_that_violation(data: st.DataObject, specs: list[FieldSpec]) -> None:
    compiled = compile_contract(render(specs))
    event = data.draw(valid_events(specs))
    target = data.draw(st.sampled_from(specs))
    assume(target.breaks)
    kind, breaker = data.draw(st.sampled_from(target.breaks))
    if breaker is None:
        event.pop(target.name, None)
    else:
        event[target.name] = data.draw(breaker)
    result = compiled.validate(event)
    assert not result.passed
    assert [v.kind for v in result.violations] == [kind], result.violations
    assert result.violations[0].field.split(".")[0].split("[")[0] == target.name


@settings(max_examples=100, deadline=None)
@given(specs=contracts(), extra=st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=3))
def test_compliance_mode_reports_each_undeclared_key_once(specs: list[FieldSpec], extra: dict[str, int]) -> None:
    compiled = compile_contract(render(specs, compliance=True))
    declared = {spec.name for spec in specs}
    event = {k: v for k, v in extra.items() if k not in declared}
    undeclared = [v.field for v in compiled.validate(event).violations if v.kind == "undeclared_field"]
    assert undeclared == sorted(event)


# --- never raises ------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        st.text(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=20,
)

RICH = """\
version: "1.0"
name: rich
compliance_mode: true
null_as_absent: true
egress_leakage_mode: fail
ontology:
  entities:
    - {name: s, type: string, required: false, min_length: 1, max_length: 5, pattern: "^[a-z]+$", enum: [abc, b], transform: {kind: mask, style: format_preserving}}
    - {name: h, type: string, required: false, transform: {kind: hash}}
    - {name: n, type: number, required: false, min: -1, max: 1}
    - {name: i, type: integer, required: false, enum: [1, 2]}
    - {name: d, type: date, required: false}
    - {name: a, type: any, required: false, enum: [1, "x", null, [1], {k: v}], min: 0, max_length: 2}
    - name: o
      type: object
      required: false
      properties:
        - {name: x, type: string, pattern: "\\\\d"}
        - {name: arr, type: array, items: {name: it, type: object, properties: [{name: y, type: boolean}]}}
metrics:
  - {name: m, field: o.x, min: 0}
quality:
  - {field: s, type: completeness}
  - {field: n, type: freshness, max_age_seconds: 60}
  - {field: a, type: uniqueness}
"""


@pytest.fixture(scope="module")
def all_contracts() -> list[Any]:
    return [compile_contract(RICH)] + [load_contract(path) for path in sorted(DATA.glob("*.yaml"))]


@settings(max_examples=300, deadline=None)
@given(events=st.lists(st.one_of(json_values, st.dictionaries(st.sampled_from(["s", "h", "n", "i", "d", "a", "o", "user_id", "amount", "x"]), json_values)), max_size=4))
def test_never_raises_on_arbitrary_json(all_contracts: list[Any], events: list[Any]) -> None:
    from govflow.core.platforms.contractgate.validator import apply_egress_leakage

    for compiled in all_contracts:
        results = compiled.validate_many(events, now=1_800_000_000)
        assert len(results) == len(events)
        for event, result in zip(events, results, strict=True):
            assert result.passed == (not result.violations)
            for violation in result.violations:
                assert isinstance(violation.message, str) and isinstance(violation.field, str)
            transformed = apply_transforms(compiled, event)
            apply_egress_leakage(compiled, transformed)
        compiled.report(events)


@settings(max_examples=100, deadline=None)
@given(event=json_values)
def test_json_round_trip_keeps_the_verdict(all_contracts: list[Any], event: Any) -> None:
    # What a JSON client sends is what gets validated: dumping and loading changes nothing.
    assume(not _has_non_finite(event))
    loaded = json.loads(json.dumps(event))
    for compiled in all_contracts:
        before, after = compiled.validate(event, now=0), compiled.validate(loaded, now=0)
        assert (before.passed, before.violations) == (after.passed, after.violations)


def _has_wide_int(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    if isinstance(value, list):
        return any(_has_wide_int(v) for v in value)
    if isinstance(value, dict):
        return any(_has_wide_int(v) for v in value.values())
    return False


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    return False


# --- deterministic compile ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(specs=contracts(), data=st.data())
def test_compile_is_deterministic(specs: list[FieldSpec], data: st.DataObject) -> None:
    text = render(specs)
    first, second = compile_contract(text), compile_contract(text, strict=False)
    assert first.model == second.model
    assert first.yaml_sha256 == second.yaml_sha256
    assert list(first.patterns) == list(second.patterns)
    event = data.draw(st.dictionaries(st.sampled_from([s.name for s in specs]), json_values, max_size=6))
    a, b = first.validate(event), second.validate(event)
    assert (a.passed, a.violations) == (b.passed, b.violations)


# --- formatting helpers -------------------------------------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_rust_f64_round_trips_without_exponent(value: float) -> None:
    text = rust_f64(value)
    assert "e" not in text and "E" not in text
    assert float(text) == value
    if value.is_integer():
        assert "." not in text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_ryu_round_trips(value: float) -> None:
    text = ryu_f64(value)
    assert float(text) == value
    assert "+" not in text
    assert "." in text or "e" in text


@given(json_values)
def test_json_compact_is_compact_json_with_sorted_keys(value: Any) -> None:
    # Integers past i64/u64 are serde_json floats: left out here, tested in test_cg_validator.
    assume(not _has_non_finite(value) and not _has_wide_int(value))
    text = json_compact(value)
    assert json.loads(text) == json.loads(json.dumps(value))
    if isinstance(value, dict):
        assert list(json.loads(text)) == sorted(value)


@given(st.text())
def test_rust_debug_str_is_quoted_and_unambiguous(text: str) -> None:
    rendered = rust_debug_str(text)
    assert rendered.startswith('"') and rendered.endswith('"')
    inner = rendered[1:-1]
    assert "\n" not in inner and "\r" not in inner and "\t" not in inner
    if text.isascii() and text.isprintable():
        assert rendered == json.dumps(text)


@given(st.dates())
def test_every_real_date_is_a_calendar_date(day: dt.date) -> None:
    assert is_calendar_date(day.isoformat())


@given(st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"))
def test_calendar_dates_agree_with_python(text: str) -> None:
    assume(not text.startswith("0000"))  # chrono has a year 0, Python's date does not
    try:
        dt.date.fromisoformat(text)
        valid = True
    except ValueError:
        valid = False
    assert is_calendar_date(text) == valid


# --- the regex translation ---------------------------------------------------------------------

# Pieces on which Rust and Python agree when read by Python directly (no $, no \s, no flags).
_pieces = st.sampled_from(["a", "b", "[a-c]", "[^b]", "\\d", "x", "(?:ab|c)", ".", "\\.", "[0-9]"])
_quantifiers = st.sampled_from(["", "*", "+", "?", "{2}", "{1,3}", "*?"])


@settings(max_examples=300)
@given(
    parts=st.lists(st.tuples(_pieces, _quantifiers), min_size=1, max_size=5),
    anchored=st.booleans(),
    subject=st.text(st.sampled_from("abcx.019\n"), max_size=8),
)
def test_translation_matches_like_python_on_the_common_subset(
    parts: list[tuple[str, str]], anchored: bool, subject: str
) -> None:
    body = "".join(piece + quantifier for piece, quantifier in parts)
    rust = f"^{body}$" if anchored else body
    python = rf"\A(?:{body})\Z" if anchored else body
    assert bool(re.search(translate(rust), subject)) == bool(re.search(python, subject))
