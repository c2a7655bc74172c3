"""govflow's ContractGate validator: the spec's worked examples and every violation kind.

Expected texts are the gateway's (specs/contractgate.md sections 7, 8 and 10). The example
contracts are verbatim copies in tests/data/contractgate/ so the tests run in a clean clone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from govflow.core.errors import ConfigurationError
from govflow.core.models import ValidationReport
from govflow.core.platforms.contractgate.validator import (
    VIOLATION_KINDS,
    CgViolation,
    CompiledContract,
    ContractError,
    EventResult,
    FieldType,
    ViolationKind,
    apply_egress_leakage,
    apply_transforms,
    compile_contract,
    load_contract,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "contractgate"
SPEC_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "specs" / "contractgate_examples"
EXAMPLES = json.loads((DATA / "spec_examples.json").read_text(encoding="utf-8"))["examples"]
NOW = 1_800_000_000  # a fixed clock for freshness rules


def contract(body: str, **header: Any) -> CompiledContract:
    """A contract with ``body`` under ``ontology.entities`` (indented by the caller)."""
    top = "".join(f"{key}: {value}\n" for key, value in header.items())
    return compile_contract(f'version: "1.0"\nname: t\n{top}ontology:\n  entities:\n{body}')


def triples(result: EventResult) -> list[tuple[str, str, str]]:
    return [(v.field, v.kind, v.message) for v in result.violations]


# --- the worked examples (spec section 10) -------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_worked_examples(example: dict[str, Any]) -> None:
    compiled = load_contract(DATA / example["contract"])
    result = compiled.validate(example["event"])
    assert result.passed is example["passed"]
    got = triples(result)
    assert [(f, k) for f, k, _ in got] == [(f, k) for f, k, _ in example["violations"]]
    for (_, _, message), (_, _, expected) in zip(got, example["violations"], strict=True):
        if expected is not None:
            assert message == expected


def test_example_a_pattern_message() -> None:
    compiled = load_contract(DATA / "api_user_events.yaml")
    result = compiled.validate({"user_id": "bad id!", "timestamp": "1714000000", "amount": None})
    assert result.violations[0].message == "Field 'user_id' value \"bad id!\" does not match required pattern"


def test_example_a_batch_report() -> None:
    compiled = load_contract(DATA / "api_user_events.yaml")
    events = [e["event"] for e in EXAMPLES if e["contract"] == "api_user_events.yaml"]
    report = compiled.report(events, contract_id="cid-1")
    assert isinstance(report, ValidationReport)
    assert (report.total, report.failed, report.passed) == (3, 2, False)
    assert report.contract_id == "cid-1"
    assert report.contract_version == "1.0"
    assert [r.passed for r in report.records] == [True, False, False]
    assert [r.index for r in report.records] == [0, 1, 2]
    assert report.records[1].violations[0].kind == "enum_violation"
    assert compiled.report(events).contract_id == "user_events"


def test_example_a_null_as_absent_drops_the_null_violation() -> None:
    text = (DATA / "api_user_events.yaml").read_text(encoding="utf-8") + "\nnull_as_absent: true\n"
    compiled = compile_contract(text)
    result = compiled.validate({"user_id": "u_1", "event_type": "view", "timestamp": 1, "amount": None})
    assert result.passed


def test_example_c_transformed_event() -> None:
    compiled = load_contract(DATA / "signups_pii.yaml")
    example = next(e for e in EXAMPLES if e["name"] == "C pass")
    transformed = apply_transforms(compiled, example["event"])
    expected = example["transformed_event_empty_salt"]
    assert list(transformed) == sorted(transformed) == list(expected)  # BTreeMap order
    email = transformed.pop("email")
    assert email == "hmac-sha256:b7a02a9319e679c4486db9e66edfafcf8a98a21a0c33c9e95246e6c2c1fb1c5e"
    assert email.startswith("hmac-sha256:b7a0") and email.endswith("1c5e")
    assert transformed == {k: v for k, v in expected.items() if k != "email"}


def test_example_c_failing_event_is_transformed_without_undeclared_keys() -> None:
    compiled = load_contract(DATA / "signups_pii.yaml")
    event = next(e for e in EXAMPLES if e["name"] == "C fail")["event"]
    transformed = apply_transforms(compiled, event)
    assert "utm" not in transformed
    assert transformed == {"email": None, "plan": "gold", "signup_date": "2026-02-30", "user_id": "u_2"}
    assert event["utm"] == "x"  # the input is not modified


def test_order_events_nested_items_pattern_is_never_checked() -> None:
    # Spec section 7 (V): patterns under `items` have no compiled regex in either engine.
    compiled = load_contract(DATA / "order_events_nested.yaml")
    event = {
        "order_id": "ord_ABCDEFGHIJKLMNOP",
        "placed_at": 1714000000,
        "channel": "web",
        "currency": "USD",
        "customer": {
            "id": "cust_1",
            "email": "a@example.com",
            "address": {"country": "US", "postal_code": "94103", "city": "SF"},
        },
        "items": [{"sku": "not a valid sku!", "quantity": 0, "unit_price": 3.5}],
        "total_amount": 3.5,
        "payment": {"method": "card", "last4": "12x4"},
    }
    result = compiled.validate(event)
    assert triples(result) == [
        ("items[0].quantity", "range_violation", "Field 'items[0].quantity' value 0 is below minimum 1"),
        ("payment.last4", "pattern_mismatch", "Field 'payment.last4' value \"12x4\" does not match required pattern"),
    ]


def test_example_copies_are_verbatim() -> None:
    if not SPEC_EXAMPLES.is_dir():
        pytest.skip("the spec directory (../shared/specs) is not next to this clone")
    for original in SPEC_EXAMPLES.glob("*.yaml"):
        assert (DATA / original.name).read_bytes() == original.read_bytes(), original.name


def test_all_example_contracts_compile_strictly() -> None:
    for path in DATA.glob("*.yaml"):
        compiled = load_contract(path)
        assert compiled.source == str(path)
        assert compiled.name and compiled.version


# --- every violation kind, with its exact message (spec section 7) ---------------------------

KIND_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], list[tuple[str, str, str]]]] = [
    (
        "missing_required_field",
        "    - {name: a, type: string}\n    - {name: o, type: object, properties: [{name: inner, type: integer}]}\n",
        {},
        {"o": {}},
        [
            ("a", "missing_required_field", "Required field 'a' is missing"),
            ("o.inner", "missing_required_field", "Required field 'inner' is missing"),
        ],
    ),
    (
        "type_mismatch",
        "    - {name: a, type: integer}\n    - {name: b, type: boolean}\n    - {name: c, type: array}\n",
        {},
        {"a": 5.0, "b": 1, "c": {"x": 1}},
        [
            ("a", "type_mismatch", "Field 'a' expected type Integer, got float"),
            ("b", "type_mismatch", "Field 'b' expected type Boolean, got integer"),
            ("c", "type_mismatch", "Field 'c' expected type Array, got object"),
        ],
    ),
    (
        "pattern_mismatch",
        '    - {name: a, type: string, pattern: "^[a-z]+$"}\n',
        {},
        {"a": 'Tab\t"quote"'},
        [("a", "pattern_mismatch", "Field 'a' value \"Tab\\t\\\"quote\\\"\" does not match required pattern")],
    ),
    (
        "enum_violation",
        "    - {name: a, type: any, enum: [1, 2.5, x, null, [1], {k: v}]}\n",
        {},
        {"a": {"b": 1, "a": [True]}},
        [
            (
                "a",
                "enum_violation",
                'Field \'a\' value {"a":[true],"b":1} not in allowed set: [1, 2.5, "x", null, [1], {"k":"v"}]',
            )
        ],
    ),
    (
        "range_violation",
        "    - {name: a, type: float, min: 0.5}\n    - {name: b, type: integer, max: 10}\n",
        {},
        {"a": 0.25, "b": 11},
        [
            ("a", "range_violation", "Field 'a' value 0.25 is below minimum 0.5"),
            ("b", "range_violation", "Field 'b' value 11 exceeds maximum 10"),
        ],
    ),
    (
        "length_violation",
        "    - {name: a, type: string, min_length: 3}\n    - {name: b, type: string, max_length: 2}\n",
        {},
        {"a": "ab", "b": "abc"},
        [
            ("a", "length_violation", "Field 'a' length 2 is below minimum 3"),
            ("b", "length_violation", "Field 'b' length 3 exceeds maximum 2"),
        ],
    ),
    (
        "metric_range_violation",
        "    - {name: a, type: float}\n",
        {"metrics": "[{name: m, field: a, min: 1, max: 2}, {name: n, field: o.x, max: 1}]"},
        {"a": 3},
        [
            ("a", "metric_range_violation", "Metric 'm' value 3 exceeds maximum 2 (field: 'a')"),
            ("o.x", "missing_required_field", "Metric 'n' field 'o.x' is missing or not numeric"),
        ],
    ),
    (
        "undeclared_field",
        "    - {name: a, type: string, required: false}\n",
        {"compliance_mode": "true"},
        {"zeta": 1, "a": "x", "beta": 2},
        [
            ("beta", "undeclared_field", "Field 'beta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
            ("zeta", "undeclared_field", "Field 'zeta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
        ],
    ),
    (
        "completeness_violation",
        "    - {name: a, type: string, required: false}\n    - {name: b, type: string, required: false}\n",
        {"quality": "[{field: a, type: completeness}, {field: b, type: completeness}]"},
        {"b": ""},
        [
            ("a", "completeness_violation", "Quality completeness: field 'a' is absent or null"),
            ("b", "completeness_violation", "Quality completeness: field 'b' is an empty string"),
        ],
    ),
    (
        "freshness_violation",
        "    - {name: ts, type: any}\n    - {name: ms, type: any}\n    - {name: bad, type: any}\n",
        {
            "quality": "[{field: ts, type: freshness, max_age_seconds: 60}, "
            "{field: ms, type: freshness, max_age_seconds: 60}, {field: bad, type: freshness, max_age_seconds: 60}]"
        },
        {"ts": NOW - 61, "ms": (NOW + 5) * 1000, "bad": 1.5},
        [
            ("ts", "freshness_violation", "Quality freshness: field 'ts' timestamp is 61s old (max 60s)"),
            ("ms", "freshness_violation", "Quality freshness: field 'ms' timestamp is -5s old (max 60s)"),
            ("bad", "freshness_violation", "Quality freshness: field 'bad' is not a numeric Unix timestamp"),
        ],
    ),
]


@pytest.mark.parametrize("case", KIND_CASES, ids=[c[0] for c in KIND_CASES])
def test_violation_kind_messages(case: tuple[str, str, dict[str, Any], dict[str, Any], list[tuple[str, str, str]]]) -> None:
    _, body, header, event, expected = case
    result = contract(body, **header).validate(event, now=NOW)
    assert not result.passed
    assert triples(result) == expected


def test_root_must_be_an_object() -> None:
    compiled = contract("    - {name: a, type: string}\n")
    for event in ([1, 2], "x", 3, None, True):
        result = compiled.validate(event)
        assert triples(result) == [("<root>", "type_mismatch", "Event must be a JSON object")]
        assert result.validation_us == 0


def test_uniqueness_violation_per_batch() -> None:
    compiled = contract(
        "    - {name: id, type: any, required: false}\n",
        quality="[{field: id, type: uniqueness, scope: batch}]",
    )
    events = [{"id": "a"}, {"id": "a"}, {"id": None}, {}, {"id": None}, {"id": {"y": 1, "x": 2}}, {"id": {"x": 2, "y": 1}}, {"id": 5}, {"id": 5.0}]
    results = compiled.validate_many(events)
    assert [r.passed for r in results] == [True, False, True, True, True, True, False, True, True]
    assert triples(results[1]) == [
        ("id", "uniqueness_violation", "Quality uniqueness: duplicate value \"\\\"a\\\"\" for field 'id' in batch")
    ]
    assert triples(results[6]) == [
        ("id", "uniqueness_violation", "Quality uniqueness: duplicate value \"{\\\"x\\\":2,\\\"y\\\":1}\" for field 'id' in batch")
    ]
    # One event at a time never sees the batch.
    assert compiled.validate({"id": "a"}).passed
    assert all(r.passed for r in compiled.validate_many(events, uniqueness=False))
    assert [index for index, _ in compiled.check_uniqueness(events)] == [1, 6]


def test_leakage_violation_on_egress() -> None:
    compiled = contract("    - {name: a, type: string}\n", egress_leakage_mode="fail")
    payload, stripped, violations = apply_egress_leakage(compiled, {"z": 1, "a": "x", "b": 2})
    assert payload == {"a": "x"}
    assert stripped == ["b", "z"]
    assert [(v.field, v.kind, v.message) for v in violations] == [
        ("b", "leakage_violation", "Undeclared field 'b' found in egress payload (egress_leakage_mode=fail); field stripped from response"),
        ("z", "leakage_violation", "Undeclared field 'z' found in egress payload (egress_leakage_mode=fail); field stripped from response"),
    ]
    strip = contract("    - {name: a, type: string}\n", egress_leakage_mode="strip")
    assert apply_egress_leakage(strip, {"a": "x", "b": 2}) == ({"a": "x"}, ["b"], [])
    off = contract("    - {name: a, type: string}\n")
    assert apply_egress_leakage(off, {"a": "x", "b": 2}) == ({"a": "x", "b": 2}, [], [])


def test_every_gateway_kind_is_known() -> None:
    assert len(VIOLATION_KINDS) == 13
    assert VIOLATION_KINDS[-4:] == (
        "leakage_violation",
        "completeness_violation",
        "freshness_violation",
        "uniqueness_violation",
    )
    assert ViolationKind("unknown_field").value == "unknown_field"  # declared, never emitted
    covered = {case[0] for case in KIND_CASES} | {"uniqueness_violation", "leakage_violation"}
    assert covered == set(VIOLATION_KINDS) - {"unknown_field"}


# --- semantics of section 7 in detail ---------------------------------------------------------


def test_type_mismatch_stops_further_checks() -> None:
    compiled = contract('    - {name: a, type: string, min_length: 5, pattern: "^x", enum: [xx]}\n')
    assert triples(compiled.validate({"a": 1})) == [("a", "type_mismatch", "Field 'a' expected type String, got integer")]


def test_check_order_within_a_value() -> None:
    compiled = contract('    - {name: a, type: any, min_length: 5, max_length: 1, pattern: "^x", enum: [q], min: 9}\n')
    assert [v.kind for v in compiled.validate({"a": "ab"}).violations] == [
        "length_violation", "length_violation", "pattern_mismatch", "enum_violation"
    ]
    assert [v.message for v in compiled.validate({"a": 3}).violations] == [
        "Field 'a' value 3 is below minimum 9",
        "Field 'a' value 3 not in allowed set: [\"q\"]",
    ]


def test_overall_order_fields_metrics_quality_compliance() -> None:
    compiled = contract(
        "    - {name: a, type: integer}\n",
        compliance_mode="true",
        metrics="[{name: m, field: a, max: 0}]",
        quality="[{field: q, type: completeness}]",
    )
    result = compiled.validate({"a": 1, "extra": True})
    assert [v.kind for v in result.violations] == [
        "metric_range_violation", "completeness_violation", "undeclared_field"
    ]


def test_integer_and_float_types() -> None:
    compiled = contract("    - {name: i, type: integer}\n    - {name: f, type: number}\n")
    assert compiled.validate({"i": 2**64 - 1, "f": 1}).passed
    assert compiled.validate({"i": -(2**63), "f": 1.5}).passed
    assert triples(compiled.validate({"i": 2**64, "f": True})) == [
        ("i", "type_mismatch", "Field 'i' expected type Integer, got float"),
        ("f", "type_mismatch", "Field 'f' expected type Float, got boolean"),
    ]
    assert compiled.validate({"i": True, "f": None}).violations[0].message.endswith("got boolean")


def test_null_is_a_value_unless_null_as_absent() -> None:
    body = "    - {name: a, type: string, required: false}\n    - {name: o, type: object, properties: [{name: x, type: string}]}\n"
    strict = contract(body)
    assert triples(strict.validate({"a": None, "o": {"x": None}})) == [
        ("a", "type_mismatch", "Field 'a' expected type String, got null"),
        ("o.x", "type_mismatch", "Field 'o.x' expected type String, got null"),
    ]
    lenient = contract(body, null_as_absent="true")
    assert triples(lenient.validate({"a": None, "o": {"x": None}})) == [
        ("o.x", "missing_required_field", "Required field 'x' is missing"),
    ]


def test_array_items_paths_and_required_flag_ignored() -> None:
    compiled = contract(
        "    - name: rows\n      type: array\n      items:\n        name: row\n        type: object\n"
        "        required: false\n        properties:\n          - {name: n, type: integer, min: 1}\n"
        "          - {name: tags, type: array, items: {name: t, type: string}}\n"
    )
    result = compiled.validate({"rows": [{"n": 0, "tags": ["a", 1]}, None, {"tags": []}]})
    assert triples(result) == [
        ("rows[0].n", "range_violation", "Field 'rows[0].n' value 0 is below minimum 1"),
        ("rows[0].tags[1]", "type_mismatch", "Field 'rows[0].tags[1]' expected type String, got integer"),
        ("rows[1]", "type_mismatch", "Field 'rows[1]' expected type Object, got null"),
        ("rows[2].n", "missing_required_field", "Required field 'n' is missing"),
    ]


def test_pattern_keyed_by_path_like_the_gateway() -> None:
    # A top-level field literally named "arr[0]" lends its regex to the first array element.
    compiled = contract(
        '    - {name: "arr[0]", type: string, required: false, pattern: "^z$"}\n'
        '    - {name: arr, type: array, items: {name: i, type: string, pattern: "^a$"}}\n'
    )
    result = compiled.validate({"arr": ["a", "b"]})
    assert triples(result) == [("arr[0]", "pattern_mismatch", "Field 'arr[0]' value \"a\" does not match required pattern")]


def test_length_is_utf8_bytes() -> None:
    compiled = contract("    - {name: a, type: string, max_length: 3}\n")
    assert compiled.validate({"a": "héé"}).violations[0].message == "Field 'a' length 5 exceeds maximum 3"
    assert compiled.validate({"a": "abc"}).passed


def test_date_fields() -> None:
    compiled = contract("    - {name: d, type: date, max_length: 12}\n")
    for good in ("2024-02-29", "2026-1-5", " 2026-01-05", "+12345-06-07", "-0001-12-31"):
        assert compiled.validate({"d": good}).passed, good
    for bad in ("2023-02-29", "2026-13-01", "2026-01-05 ", "26-01-05x", "2026/01/05", "", "20260-01-01"):
        assert [v.kind for v in compiled.validate({"d": bad}).violations][-1:] == ["pattern_mismatch"], bad
    assert triples(compiled.validate({"d": 20260101})) == [("d", "type_mismatch", "Field 'd' expected type Date, got integer")]


def test_enum_uses_json_equality() -> None:
    compiled = contract("    - {name: a, type: any, enum: [1, 2.0, true, x]}\n")
    assert compiled.validate({"a": 1}).passed
    assert compiled.validate({"a": 2.0}).passed
    assert compiled.validate({"a": True}).passed
    for value, shown in ((1.0, "1.0"), (2, "2"), (0, "0"), ("1", '"1"'), (False, "false")):
        assert compiled.validate({"a": value}).violations[0].message == (
            f"Field 'a' value {shown} not in allowed set: [1, 2.0, true, \"x\"]"
        )


def test_number_formatting_in_messages() -> None:
    compiled = contract("    - {name: a, type: float, min: 0.000001, max: 1e21}\n")
    assert compiled.validate({"a": 1e-7}).violations[0].message == (
        "Field 'a' value 0.0000001 is below minimum 0.000001"
    )
    assert compiled.validate({"a": 1e23}).violations[0].message == (
        "Field 'a' value 100000000000000000000000 exceeds maximum 1000000000000000000000"
    )
    enum = contract("    - {name: a, type: any, enum: [1e16, 0.00001, 1.5e-7]}\n")
    assert enum.validate({"a": 1e21}).violations[0].message == (
        "Field 'a' value 1e21 not in allowed set: [1e16, 0.00001, 1.5e-7]"
    )


def test_metric_paths_and_types() -> None:
    compiled = contract(
        "    - {name: o, type: any, required: false}\n",
        metrics="[{name: total, field: o.v, min: 0}, {name: formula_only, formula: sum(x)}, {name: unbounded, field: o.v}]",
    )
    assert compiled.validate({"o": {"v": 0}}).passed
    for event in ({}, {"o": {"v": None}}, {"o": {"v": "1"}}, {"o": {"v": True}}, {"o": 5}):
        assert triples(compiled.validate(event)) == [
            ("o.v", "missing_required_field", "Metric 'total' field 'o.v' is missing or not numeric")
        ]
    assert compiled.validate({"o": {"v": -0.5}}).violations[0].message == (
        "Metric 'total' value -0.5 is below minimum 0 (field: 'o.v')"
    )


def test_freshness_edges() -> None:
    compiled = contract(
        "    - {name: t, type: any, required: false}\n",
        quality="[{field: t, type: freshness, max_age_seconds: 10}, {field: t, type: freshness}]",
    )
    assert compiled.validate({}, now=NOW).passed  # absent: skipped
    assert compiled.validate({"t": NOW}, now=NOW).passed
    assert compiled.validate({"t": NOW * 1000}, now=NOW).passed  # milliseconds
    assert not compiled.validate({"t": None}, now=NOW).passed
    assert not compiled.validate({"t": 2**63}, now=NOW).passed  # past i64
    assert compiled.validate({"t": NOW - 11}, now=NOW).violations[0].message.endswith("is 11s old (max 10s)")


def test_validity_rules_have_no_effect_and_threshold_is_not_enforced() -> None:
    compiled = contract(
        "    - {name: a, type: string, required: false}\n",
        quality="[{field: a, type: validity, threshold: 0.5}]",
    )
    assert compiled.validate({}).passed
    assert compiled.model.quality[0].threshold == 0.5


# --- transforms (spec section 8) -------------------------------------------------------------

TRANSFORMS = (
    "    - {name: r, type: string, required: false, transform: {kind: redact}}\n"
    "    - {name: d, type: string, required: false, transform: {kind: drop}}\n"
    "    - {name: m, type: string, required: false, transform: {kind: mask}}\n"
    "    - {name: h, type: string, required: false, transform: {kind: hash}}\n"
    "    - {name: f, type: string, required: false, transform: {kind: mask, style: format_preserving}}\n"
    "    - name: o\n      type: object\n      required: false\n"
    "      properties: [{name: inner, type: string, transform: {kind: redact}}]\n"
)


def test_transforms() -> None:
    compiled = contract(TRANSFORMS)
    event = {"r": "x", "d": "y", "m": "secret", "h": "a@x.com", "f": "Ab-12 é", "o": {"inner": "keep"}, "extra": 1}
    out = apply_transforms(compiled, event)
    assert out["r"] == "<REDACTED>"
    assert "d" not in out
    assert out["m"] == "****"
    assert out["h"] == "hmac-sha256:b7a02a9319e679c4486db9e66edfafcf8a98a21a0c33c9e95246e6c2c1fb1c5e"
    masked = out["f"]
    assert len(masked) == len("Ab-12 é") and masked[2] == "-" and masked[5:] == " é"
    assert masked[0].isupper() and masked[1].islower() and masked[3:5].isdigit()
    assert out["o"] == {"inner": "keep"}  # nested transforms have no effect
    assert out["extra"] == 1  # kept: no compliance mode
    assert list(out) == sorted(out)


def test_transforms_skip_non_strings_and_respect_salt() -> None:
    compiled = contract(TRANSFORMS)
    event = {"r": 1, "d": None, "h": "a@x.com", "f": "+1 (555) 010-9999"}
    out = apply_transforms(compiled, event)
    assert out["r"] == 1 and out["d"] is None
    salted = apply_transforms(compiled, event, salt=b"\x01" * 32)
    assert salted["h"] != out["h"] and salted["f"] != out["f"]
    assert apply_transforms(compiled, event, salt=b"\x01" * 32) == salted  # deterministic
    with_salt = compile_contract(
        'version: "1"\nname: t\nontology:\n  entities:\n    - {name: h, type: string, transform: {kind: hash}}\n',
        pii_salt=b"\x01" * 32,
    )
    assert apply_transforms(with_salt, {"h": "a@x.com"})["h"] == salted["h"]
    assert apply_transforms(compiled, [1, 2]) == [1, 2]


def test_format_preserving_mask_vector() -> None:
    compiled = load_contract(DATA / "signups_pii.yaml")
    assert apply_transforms(compiled, {"phone": "+1 (555) 010-9999"})["phone"] == "+2 (721) 694-8142"
    long = "0123456789" * 40  # crosses several ChaCha blocks
    first = apply_transforms(compiled, {"phone": long})["phone"]
    assert first == apply_transforms(compiled, {"phone": long})["phone"]
    assert first.isdigit() and len(first) == len(long)
    assert first[:11] == "27216948142"  # the same stream as the spec vector's 11 digits


def test_user_events_pii_example_masks_opaquely() -> None:
    compiled = load_contract(DATA / "user_events_pii_transform.yaml")
    assert apply_transforms(compiled, {"user_id": "u_1", "event_type": "x"}) == {"event_type": "x", "user_id": "****"}


# --- the API -----------------------------------------------------------------------------------


def test_api_surface() -> None:
    compiled = load_contract(DATA / "api_user_events.yaml")
    assert compiled.name == "user_events"
    assert compiled.version == "1.0"
    assert compiled.model.entities[3].type is FieldType.FLOAT
    assert compiled.compliance_mode is False and compiled.null_as_absent is False
    assert compiled.declared_fields == {"user_id", "event_type", "timestamp", "amount"}
    assert len(compiled.yaml_sha256) == 64
    assert "user_events" in repr(compiled)
    result = compiled.validate({"user_id": "u"})
    assert isinstance(result.violations[0], CgViolation)
    assert result.to_dict()["violations"][0] == {
        "field": "event_type",
        "kind": "missing_required_field",
        "message": "Required field 'event_type' is missing",
    }
    assert list(result.to_dict()["violations"][0]) == ["field", "kind", "message"]
    assert issubclass(ContractError, ConfigurationError)
    many = compiled.validate_many(iter([{}, {"user_id": "u", "event_type": "view", "timestamp": 1}]))
    assert [r.passed for r in many] == [False, True]


def test_violations_are_immutable() -> None:
    violation = CgViolation("a", "type_mismatch", "m")
    with pytest.raises(AttributeError):
        violation.field = "b"  # type: ignore[misc]


def test_load_contract_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ContractError) as info:
        load_contract(missing)
    assert str(info.value).startswith(f"{missing}: cannot read the contract")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ContractError, match="not UTF-8"):
        load_contract(binary)


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    "event",
    [
        {"a": float("nan")},
        {"a": float("inf")},
        {"a": 10**400},
        {"a": object()},
        {"a": ("t", 1)},
        {1: "int key", "a": "x"},
        {"a": "\ud800"},
        {"a": {"nested": [set()]}},
        {"a": _deep(5000)},  # serde_json refuses past 128 levels; here nothing may raise
    ],
    ids=["nan", "inf", "huge int", "object", "tuple", "int key", "surrogate", "set", "deep"],
)
def test_odd_python_values_never_raise(event: dict[Any, Any]) -> None:
    compiled = contract(
        '    - {name: a, type: any, required: false, enum: [1], min: 0, max: 1, max_length: 2, pattern: "^x$"}\n'
        "    - {name: b, type: integer, required: false}\n",
        compliance_mode="true",
        metrics="[{name: m, field: a, max: 1}]",
        quality="[{field: a, type: uniqueness}, {field: a, type: completeness}, {field: a, type: freshness, max_age_seconds: 1}]",
    )
    results = compiled.validate_many([event, event])
    assert all(isinstance(r, EventResult) for r in results)
    apply_transforms(compiled, event)
