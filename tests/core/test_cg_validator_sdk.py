"""govflow's validator next to the official SDK's local validator (``contractgate`` 0.4.0).

Where spec section 9 says the SDK differs from the gateway, govflow must give the gateway's
answer; each case also runs the SDK to show its (different) answer. Everywhere else the two must
agree exactly, verdicts and message texts alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import contractgate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govflow.core.platforms.contractgate.validator import ContractError, compile_contract

DATA = Path(__file__).resolve().parent.parent / "data" / "contractgate"
HEAD = 'version: "1.0"\nname: t\nontology:\n  entities:\n'

Triples = list[tuple[str, str, str]]


def ours(text: str, event: Any) -> tuple[bool, Triples]:
    result = compile_contract(text).validate(event)
    return result.passed, [(v.field, v.kind, v.message) for v in result.violations]


def sdk(text: str, event: Any) -> tuple[bool, Triples]:
    """The SDK's entry point: Contract.from_yaml(...).compile().validate(event)."""
    result = contractgate.Contract.from_yaml(text).compile().validate(event)
    return result.passed, [(v.field, v.kind.value, v.message) for v in result.violations]


def test_sdk_version() -> None:
    assert contractgate.__version__ == "0.4.0"


# (id, contract, event, the gateway's answer = ours, the SDK's answer)
DIFFERENCES: list[tuple[str, str, Any, tuple[bool, Triples], tuple[bool, Triples]]] = [
    (
        "string length counts UTF-8 bytes",
        HEAD + "    - {name: s, type: string, max_length: 1}\n",
        {"s": "é"},
        (False, [("s", "length_violation", "Field 's' length 2 exceeds maximum 1")]),
        (True, []),
    ),
    (
        "$ matches only at the very end",
        HEAD + '    - {name: s, type: string, pattern: "^[a-z]+$"}\n',
        {"s": "ab\n"},
        (False, [("s", "pattern_mismatch", "Field 's' value \"ab\\n\" does not match required pattern")]),
        (True, []),
    ),
    (
        "enum [1] rejects 1.0",
        HEAD + "    - {name: n, type: any, enum: [1]}\n",
        {"n": 1.0},
        (False, [("n", "enum_violation", "Field 'n' value 1.0 not in allowed set: [1]")]),
        (True, []),
    ),
    (
        "enum [1] rejects true",
        HEAD + "    - {name: n, type: any, enum: [1]}\n",
        {"n": True},
        (False, [("n", "enum_violation", "Field 'n' value true not in allowed set: [1]")]),
        (True, []),
    ),
    (
        "an integer above u64 is a float",
        HEAD + "    - {name: n, type: integer}\n",
        {"n": 2**64},
        (False, [("n", "type_mismatch", "Field 'n' expected type Integer, got float")]),
        (True, []),
    ),
    (
        "small numbers print without an exponent",
        HEAD + "    - {name: n, type: float, min: 0.000001}\n",
        {"n": 1e-7},
        (False, [("n", "range_violation", "Field 'n' value 0.0000001 is below minimum 0.000001")]),
        (False, [("n", "range_violation", "Field 'n' value 1e-07 is below minimum 1e-06")]),
    ),
    (
        "large floats print their shortest digits",
        HEAD + "    - {name: n, type: float, max: 1}\n",
        {"n": 1e23},
        (False, [("n", "range_violation", "Field 'n' value 100000000000000000000000 exceeds maximum 1")]),
        (False, [("n", "range_violation", "Field 'n' value 99999999999999991611392 exceeds maximum 1")]),
    ),
    (
        "non-ASCII text stays readable in pattern messages",
        HEAD + '    - {name: s, type: string, pattern: "^[a-z]+$"}\n',
        {"s": "日本"},
        (False, [("s", "pattern_mismatch", "Field 's' value \"日本\" does not match required pattern")]),
        (False, [("s", "pattern_mismatch", "Field 's' value \"\\u65e5\\u672c\" does not match required pattern")]),
    ),
    (
        "undeclared keys come out sorted",
        'version: "1.0"\nname: t\ncompliance_mode: true\nontology:\n  entities:\n    - {name: a, type: string}\n',
        {"zeta": 1, "a": "x", "beta": 2},
        (
            False,
            [
                ("beta", "undeclared_field", "Field 'beta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
                ("zeta", "undeclared_field", "Field 'zeta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
            ],
        ),
        (
            False,
            [
                ("zeta", "undeclared_field", "Field 'zeta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
                ("beta", "undeclared_field", "Field 'beta' is not declared in the contract ontology. Compliance mode rejects undeclared fields."),
            ],
        ),
    ),
    (
        "null_as_absent is honoured",
        'version: "1.0"\nname: t\nnull_as_absent: true\nontology:\n  entities:\n    - {name: a, type: string, required: false}\n',
        {"a": None},
        (True, []),
        (False, [("a", "type_mismatch", "Field 'a' expected type String, got null")]),
    ),
    (
        "quality rules are honoured",
        'version: "1.0"\nname: t\nquality:\n  - {field: a, type: completeness}\nontology:\n  entities:\n    - {name: a, type: string, required: false}\n',
        {"a": ""},
        (False, [("a", "completeness_violation", "Quality completeness: field 'a' is an empty string")]),
        (True, []),
    ),
    (
        "YAML 1.2: yes is a string",
        HEAD + "    - {name: a, type: any, enum: [yes]}\n",
        {"a": True},
        (False, [("a", "enum_violation", "Field 'a' value true not in allowed set: [\"yes\"]")]),
        (True, []),
    ),
]


@pytest.mark.parametrize("case", DIFFERENCES, ids=[c[0] for c in DIFFERENCES])
def test_where_the_sdk_differs_govflow_follows_the_gateway(
    case: tuple[str, str, Any, tuple[bool, Triples], tuple[bool, Triples]],
) -> None:
    _, text, event, gateway, sdk_answer = case
    assert ours(text, event) == gateway
    assert sdk(text, event) == sdk_answer
    assert gateway != sdk_answer


# (id, contract, what the gateway does = ours, what the SDK raises or returns)
COMPILE_DIFFERENCES: list[tuple[str, str, Any, str]] = [
    ("type: date exists", HEAD + "    - {name: d, type: date}\n", {"d": "2026-02-30"}, "unknown field type: 'date'"),
    ("look-around is a compile error", HEAD + '    - {name: s, type: string, pattern: "^(?=a)"}\n', {"s": "ab"}, ""),
    ("a back-reference is a compile error", HEAD + '    - {name: s, type: string, pattern: "(a)\\\\1"}\n', {"s": "aa"}, ""),
    ("type names are case-sensitive", HEAD + "    - {name: s, type: String}\n", {"s": "x"}, ""),
    ("transform names are case-sensitive", HEAD + "    - {name: s, type: string, transform: {kind: Hash}}\n", {"s": "x"}, ""),
    ("1e21 is a YAML float", HEAD + "    - {name: n, type: float, min: 1e21}\n", {"n": 5}, "expected number, got str"),
]


@pytest.mark.parametrize("case", COMPILE_DIFFERENCES, ids=[c[0] for c in COMPILE_DIFFERENCES])
def test_contracts_the_two_read_differently(case: tuple[str, str, Any, str]) -> None:
    name, text, event, sdk_error = case
    if sdk_error:  # the SDK refuses a contract the gateway accepts
        with pytest.raises(contractgate.ContractCompileError, match=sdk_error):
            contractgate.Contract.from_yaml(text).compile()
        result = compile_contract(text).validate(event)
        assert not result.passed
        expected = {
            "type: date exists": "Field 'd' value \"2026-02-30\" is not a valid calendar date (expected YYYY-MM-DD)",
            "1e21 is a YAML float": "Field 'n' value 5 is below minimum 1000000000000000000000",
        }[name]
        assert result.violations[0].message == expected
    else:  # the gateway refuses a contract the SDK accepts
        with pytest.raises(ContractError):
            compile_contract(text)
        assert sdk(text, event)[0] is True


def test_version_as_yaml_float_is_rejected_by_both() -> None:
    text = "version: 1.0\nname: t\nontology:\n  entities: []\n"
    with pytest.raises(ContractError, match="version must be a string"):
        compile_contract(text)
    with pytest.raises(contractgate.ContractCompileError):
        contractgate.Contract.from_yaml(text).compile()


# --- everywhere else the two agree exactly -------------------------------------------------

# Values on which Python and Rust print and compare alike: ASCII text without newlines, numbers
# whose repr has no exponent, no booleans where an enum or number is expected.
_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
_number = st.one_of(
    st.integers(-(10**9), 10**12),
    st.floats(-1e9, 1e9, allow_nan=False).filter(lambda f: f == 0 or abs(f) >= 1e-4),
)
_scalar = st.one_of(st.none(), _text, _number)


def _maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


@st.composite
def _api_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    event.update(draw(_maybe("user_id", st.one_of(st.from_regex(r"\A[a-zA-Z0-9_-]{1,12}\Z"), _scalar))))
    event.update(draw(_maybe("event_type", st.one_of(st.sampled_from(["click", "view", "purchase", "login"]), _scalar))))
    event.update(draw(_maybe("timestamp", _scalar)))
    event.update(draw(_maybe("amount", _scalar)))
    return event


@st.composite
def _hero_event(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    event.update(draw(_maybe("request_id", st.one_of(st.uuids().map(str), _text))))
    event.update(draw(_maybe("method", st.one_of(st.sampled_from(["GET", "POST", "CONNECT"]), _scalar))))
    event.update(draw(_maybe("path", _scalar)))
    for key in ("status", "latency_ms", "timestamp"):
        event.update(draw(_maybe(key, st.one_of(st.integers(-1000, 1000), _scalar))))
    return event


@settings(max_examples=300, deadline=None)
@given(event=_api_event())
def test_agreement_on_api_user_events(event: dict[str, Any]) -> None:
    text = (DATA / "api_user_events.yaml").read_text(encoding="utf-8")
    assert ours(text, event) == sdk(text, event)


@settings(max_examples=300, deadline=None)
@given(event=_hero_event(), version=st.sampled_from(["1.0.0", "1.1.0"]))
def test_agreement_on_hero_events(event: dict[str, Any], version: str) -> None:
    text = (DATA / f"hero_events_v{version}.yaml").read_text(encoding="utf-8")
    assert ours(text, event) == sdk(text, event)


def test_agreement_on_order_events_nested() -> None:
    text = (DATA / "order_events_nested.yaml").read_text(encoding="utf-8")
    good = {
        "order_id": "ord_ABCDEFGHIJKLMNOP",
        "placed_at": 1714000000,
        "channel": "web",
        "currency": "USD",
        "customer": {"id": "c_1", "email": "a@b.co", "address": {"country": "US", "postal_code": "94103", "city": "SF"}},
        "items": [{"sku": "SKU-1", "quantity": 2, "unit_price": 9.5}],
        "total_amount": 19.0,
        "payment": {"method": "card", "last4": "1234"},
    }
    bad = {
        "order_id": "ord_short",
        "placed_at": 5,
        "channel": "fax",
        "currency": "usd",
        "customer": {"id": "x", "email": "nope", "tier": "bronze", "address": {"country": "USA", "postal_code": "1"}},
        "items": [{"sku": "?", "quantity": 0}, "not an object", {"quantity": 1.5, "unit_price": -1}],
        "total_amount": 2e7,
        "payment": {"method": "cash", "last4": 1234},
    }
    for event in (good, bad, {}, {"customer": None, "items": None, "payment": []}):
        assert ours(text, event) == sdk(text, event)
    assert ours(text, good)[0] is True
