"""RFC 8785 (JCS) canonical JSON and digests: golden vectors, explicit cases, and agreement with
the ``rfc8785`` package on random JSON values."""

from __future__ import annotations

import json
import math
import re
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from govflow.core.canonical import canonical_str, canonicalize, digest, format_number, sha256_hex
from govflow.core.errors import CanonicalizationError, GovflowError

# A verbatim copy of LatchGate's definitions/test_vectors/jcs/golden.json (shared/specs/).
GOLDEN_PATH = Path(__file__).parent.parent / "data" / "latchgate_jcs_golden.json"
GOLDEN = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))
MAX_SAFE = 2**53 - 1


def reference(value: Any) -> bytes:
    return rfc8785.dumps(value)


# --- golden vectors -------------------------------------------------------------------------


def test_golden_file_has_all_cases() -> None:
    assert len(GOLDEN) == 8
    assert sum("canonical_hex" in case for case in GOLDEN) == 6


@pytest.mark.parametrize("case", GOLDEN, ids=[case["description"] for case in GOLDEN])
def test_golden_vector(case: dict[str, Any]) -> None:
    canonical = canonicalize(case["input"])
    assert canonical == case["canonical"].encode("utf-8")
    assert canonical_str(case["input"]) == case["canonical"]
    if "canonical_hex" in case:
        assert canonical.hex() == case["canonical_hex"]
    assert digest(case["input"]) == case["sha256"]
    assert "sha256:" + sha256_hex(canonical) == case["sha256"]
    assert canonical == reference(case["input"])


# --- explicit cases -------------------------------------------------------------------------

NUMBERS = [
    (1e-7, "1e-7"),
    (1e-6, "0.000001"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"),
    (-0.0, "0"),
    (0.0, "0"),
    (float(MAX_SAFE), "9007199254740991"),
    (0.1 + 0.2, "0.30000000000000004"),
    (5e-324, "5e-324"),
    (-5e-324, "-5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (-1.7976931348623157e308, "-1.7976931348623157e+308"),
    (2.2250738585072014e-308, "2.2250738585072014e-308"),  # smallest normal
    (2.225073858507201e-308, "2.225073858507201e-308"),  # largest subnormal
    (1.5, "1.5"),
    (-1.5, "-1.5"),
    (100.0, "100"),
    (123456789012345680000.0, "123456789012345680000"),
    (1.2345e-5, "0.000012345"),
    (9007199254740992.0, "9007199254740992"),  # 2**53 as a float is exact
    (1e16, "10000000000000000"),
    (4.35, "4.35"),
    (0.000001234, "0.000001234"),
    (1.234e-7, "1.234e-7"),
    (1e300, "1e+300"),
    (333333333.3333333, "333333333.3333333"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBERS, ids=[text for _, text in NUMBERS])
def test_number_formatting(value: float, expected: str) -> None:
    assert format_number(value) == expected
    assert canonicalize(value) == expected.encode()
    assert canonicalize(value) == reference(value)


@pytest.mark.parametrize("value", [0, 1, -1, MAX_SAFE, -MAX_SAFE, 2**31, -(2**31) - 1])
def test_integers_in_range(value: int) -> None:
    assert canonicalize(value) == str(value).encode()
    assert canonicalize(value) == reference(value)


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64, -(2**64), 10**30])
def test_integers_beyond_2_53_are_rejected_by_both(value: int) -> None:
    with pytest.raises(CanonicalizationError, match="I-JSON"):
        canonicalize(value)
    with pytest.raises(rfc8785.IntegerDomainError):
        reference(value)
    with pytest.raises(CanonicalizationError):
        canonicalize({"nested": [value]})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_raise(value: float) -> None:
    with pytest.raises(CanonicalizationError, match="NaN and Infinity") as info:
        canonicalize({"x": [value]})
    assert isinstance(info.value, GovflowError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(rfc8785.FloatDomainError):
        reference(value)
    with pytest.raises(CanonicalizationError):
        digest(value)


@pytest.mark.parametrize(
    "value",
    ["\ud800", "a\udfffb", {"\udc00": 1}, {"k": ["\ud83d"]}],
    ids=["high", "low-inside", "key", "nested"],
)
def test_lone_surrogates_are_rejected(value: Any) -> None:
    with pytest.raises(CanonicalizationError, match="surrogate"):
        canonicalize(value)
    # rfc8785 rejects them too (a lone-surrogate key surfaces as UnicodeEncodeError from sorting).
    with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
        reference(value)


def test_surrogate_pair_written_as_one_character_is_fine() -> None:
    assert canonicalize("\U0001f389") == '"\U0001f389"'.encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', r'"\""'),
        ("\\", r'"\\"'),
        ("\b\f\n\r\t", r'"\b\f\n\r\t"'),
        ("\x00\x01\x1f", r'"\u0000\u0001\u001f"'),
        ("\x7f", '"\x7f"'),  # DEL is not escaped
        ("/", '"/"'),  # nor is the solidus
        (
            "\u2028\u2029",
            '"\u2028\u2029"',
        ),  # emitted raw, unlike JavaScript's JSON.stringify of old
        ("é日本語\U0001f389", '"é日本語\U0001f389"'),
    ],
)
def test_string_escapes(text: str, expected: str) -> None:
    assert canonical_str(text) == expected
    assert canonicalize(text) == reference(text)


def test_keys_sort_by_utf16_code_units() -> None:
    # U+10000 is D800 DC00 in UTF-16, which sorts before U+E000 and U+FFFF although its code
    # point is larger: RFC 8785 section 3.2.3 orders by UTF-16 code units.
    value = {"\uffff": 1, "\U00010000": 2, "\ue000": 3, "z": 4, "\u00e9": 5, "": 6}
    text = canonical_str(value)
    assert [key for key in json.loads(text)] == [
        "",
        "z",
        "\u00e9",
        "\U00010000",
        "\ue000",
        "\uffff",
    ]
    assert canonicalize(value) == reference(value)


def test_rfc8785_section_3_2_3_example() -> None:
    # The sorting example of RFC 8785 section 3.2.3.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    values = list(json.loads(canonical_str(value)).values())
    assert values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


def test_rfc8785_appendix_b_numbers() -> None:
    # IEEE 754 bit patterns and expected text from RFC 8785 appendix B.
    cases = {
        "0000000000000000": "0",
        "8000000000000000": "0",
        "0000000000000001": "5e-324",
        "8000000000000001": "-5e-324",
        "7fefffffffffffff": "1.7976931348623157e+308",
        "ffefffffffffffff": "-1.7976931348623157e+308",
        "4340000000000000": "9007199254740992",
        "c340000000000000": "-9007199254740992",
        "4430000000000000": "295147905179352830000",
        "44b52d02c7e14af5": "9.999999999999997e+22",
        "44b52d02c7e14af6": "1e+23",
        "44b52d02c7e14af7": "1.0000000000000001e+23",
        "444b1ae4d6e2ef4e": "999999999999999700000",
        "444b1ae4d6e2ef4f": "999999999999999900000",
        "444b1ae4d6e2ef50": "1e+21",
        "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
        "3eb0c6f7a0b5ed8d": "0.000001",
        "41b3de4355555553": "333333333.3333332",
        "41b3de4355555554": "333333333.33333325",
        "41b3de4355555555": "333333333.3333333",
        "41b3de4355555556": "333333333.3333334",
        "41b3de4355555557": "333333333.33333343",
        "becbf647612f3696": "-0.0000033333333333333333",
        "43143ff3c1cb0959": "1424953923781206.2",
    }
    for bits, expected in cases.items():
        [value] = struct.unpack(">d", bytes.fromhex(bits))
        assert format_number(value) == expected, bits
        assert canonicalize(value) == reference(value), bits


def test_digest_format() -> None:
    value = {"event": "step.finished", "attempt": 1}
    result = digest(value)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", result)
    assert result == "sha256:" + sha256_hex(reference(value))


def test_non_json_values_are_rejected() -> None:
    for value in [{1: "int key"}, {"k": {1, 2}}, b"bytes", object()]:
        with pytest.raises(CanonicalizationError):
            canonicalize(value)


def test_tuples_and_mappings_are_accepted() -> None:
    from types import MappingProxyType

    assert canonicalize((1, "a")) == b'[1,"a"]'
    assert canonicalize(MappingProxyType({"b": 1, "a": 2})) == b'{"a":2,"b":1}'


def test_deep_nesting_is_bounded() -> None:
    value: Any = "leaf"
    for _ in range(200):
        value = {"k": [value]}  # 400 levels: beyond govflow's limit, below the recursion limit
    with pytest.raises(CanonicalizationError, match="deeper"):
        canonicalize(value)
    shallow: Any = "leaf"
    for _ in range(100):
        shallow = {"k": [shallow]}
    assert canonicalize(shallow) == reference(shallow)
    assert sys.getrecursionlimit() >= 1000


# --- agreement with rfc8785 on random values ------------------------------------------------

# Characters from every interesting range: ASCII (incl. controls and escapes), Latin-1, BMP below
# and above the surrogates, and astral planes. Surrogate code points themselves are excluded
# (they are not Unicode scalar values; lone ones are tested above).
characters = st.characters(exclude_categories=("Cs",))
texts = st.text(characters, max_size=12) | st.sampled_from(
    ["", '"', "\\", "\n", "\x00", "\x7f", "\u2028", "\ue000", "\uffff", "\U00010000", "\U0010ffff"]
)
floats = (
    st.floats(allow_nan=False, allow_infinity=False)
    # subnormals and the smallest normals
    | st.floats(min_value=-2.3e-308, max_value=2.3e-308, allow_subnormal=True)
    | st.sampled_from([1e21, 1e-7, 1e-6, 1e20, -0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2])
    | st.integers(-(2**60), 2**60).map(float)
    | st.builds(lambda m, e: m * 10.0**e, st.integers(-999, 999), st.integers(-30, 30))
)
integers = st.integers(-MAX_SAFE, MAX_SAFE) | st.sampled_from([MAX_SAFE, -MAX_SAFE, 0])
scalars = st.none() | st.booleans() | integers | floats | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(texts, children, max_size=6),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
@example({"\U0001f600": 1, "\ufb33": 2, "\u20ac": 3})
@example([1e-7, 1e21, 1e-6, 1e20, -0.0, MAX_SAFE, 0.1 + 0.2, 5e-324, 1.7976931348623157e308])
def test_agrees_with_rfc8785(value: Any) -> None:
    ours = canonicalize(value)
    assert ours == reference(value)
    assert json.loads(ours) == json.loads(reference(value))


@settings(max_examples=1000, deadline=None)
@given(floats)
def test_numbers_agree_with_rfc8785(value: float) -> None:
    text = format_number(value)
    assert text.encode() == reference(value)
    assert float(text) == value  # the shortest text still round-trips


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(characters, max_size=4), integers, max_size=12))
def test_key_order_agrees_with_rfc8785(value: dict[str, int]) -> None:
    assert canonicalize(value) == reference(value)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 150), scalars)
def test_deep_nesting_agrees_with_rfc8785(depth: int, leaf: Any) -> None:
    value: Any = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    assert canonicalize(value) == reference(value)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=MAX_SAFE + 1) | st.integers(max_value=-MAX_SAFE - 1))
def test_large_integers_rejected_by_both(value: int) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize([value])
    with pytest.raises(rfc8785.IntegerDomainError):
        reference([value])
