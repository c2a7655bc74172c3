"""Rust regex semantics on Python's re, and the Rust formatting used in messages."""

from __future__ import annotations

import re

import pytest

from govflow.core.platforms.contractgate.validator import RustRegexError, compile_rust_regex
from govflow.core.platforms.contractgate.validator._messages import (
    json_compact,
    rust_debug_str,
    rust_f64,
    ryu_f64,
)
from govflow.core.platforms.contractgate.validator._regex import translate
from govflow.core.platforms.contractgate.validator._validate import is_calendar_date


def matches(pattern: str, text: str) -> bool:
    return compile_rust_regex(pattern).search(text) is not None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("^[a-z]+$", "ab\n", False),  # Python's $ would match before the final \n
        ("^[a-z]+$", "ab", True),
        (r"^ab\z", "ab\n", False),
        (r"\Aab", "xab", False),
        ("(?m)^b$", "a\nb\nc", True),
        ("^b$", "a\nb\nc", False),
        ("(?s)a.b", "a\nb", True),
        ("a.b", "a\nb", False),
        ("(?i)abc", "xAbC", True),
        ("a(?i)b|c", "C", True),  # (?i) reaches later alternatives of its group
        ("(?i:a)b", "AB", False),
        ("(?i)a(?-i)b", "AB", False),
        (r"^[a-z&&[^aeiou]]+$", "bcd", True),
        (r"^[a-z&&[^aeiou]]+$", "bad", False),
        (r"^[\w--\d]+$", "ab_", True),
        (r"^[\w--\d]+$", "a1", False),
        (r"^[a-c~~b-d]+$", "ad", True),
        (r"^[a-c~~b-d]+$", "b", False),
        (r"^[[:alpha:][:digit:]]+$", "a1", True),
        (r"^[[:^alpha:]]$", "1", True),
        (r"^[[:^alpha:]]$", "a", False),
        (r"^\pL+$", "héllo", True),
        (r"^\p{Lu}$", "É", True),
        (r"^\PL$", "1", True),
        (r"^\p{^L}$", "a", False),
        (r"^\x{1F600}$", "😀", True),
        (r"^\u{e9}$", "é", True),
        (r"^\x41$", "A", True),
        (r"\s", "\x1c", False),  # Python's \s matches \x1c; Unicode White_Space does not
        (r"\s", "\u3000", True),
        (r"^(?-u:\w)+$", "é", False),
        (r"^\w+$", "é", True),
        (r"^\d$", "٣", True),  # Unicode digits, as in Rust
        (r"^a\/b\-c$", "a/b-c", True),
        (r"^[]a]+$", "]a", True),
        (r"^[^-a]$", "-", False),
        (r"\bfoo\b", "a foo b", True),
        (r"\b{start}foo", "xfoo", False),
        (r"foo\b{end}", "foo!", True),
        (r"\<foo\>", "a foo b", True),
        (r"(?x) a \  b # comment", "a b", True),
        (r"(?x)[a b]", " ", False),
        (r"^(?:ab){2,}$", "abab", True),
        (r"^a{ 2 }$", "aa", True),
        (r"^a**$", "aaa", True),
        (r"(?P<year>\d{4})-(?<m>\d{2})", "2026-01", True),
        (r"(?R)(?m)^b$", "a\r\nb\r\n", True),
        (r"(?m)^b$", "a\r\nb\r\n", False),
    ],
)
def test_rust_semantics(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected


def test_swap_greed() -> None:
    assert translate("(?U)a+") == "(?:a)+?"
    assert translate("(?U)a+?") == "(?:a)+"
    assert re.search(translate("(?U)a+"), "aaa").group(0) == "a"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=a)", "look-around, including look-ahead and look-behind, is not supported"),
        ("(?<!a)b", "look-around, including look-ahead and look-behind, is not supported"),
        (r"(a)\1", "backreferences are not supported"),
        ("(a", "unclosed group"),
        ("a)", "unopened group"),
        ("[a", "unclosed character class"),
        ("[z-a]", "invalid character class range, the start must be <= the end"),
        (r"[\d-z]", "invalid range boundary, must be a literal"),
        ("*a", "repetition operator missing expression"),
        ("a|*", "repetition operator missing expression"),
        ("(?i)*", "repetition operator missing expression"),
        ("(?)", "repetition operator missing expression"),
        ("^{abc}$", "repetition quantifier expects a valid decimal"),
        ("a{2", "unclosed counted repetition"),
        ("a{3,2}", "invalid repetition count range, the start must be <= the end"),
        ("(?>a)", "unrecognized flag"),
        ("(?#c)", "unrecognized flag"),
        ("(?ii)", "duplicate flag"),
        ("(?i--m)", "flag negation operator repeated"),
        ("(?i-)", "flag negation operator not followed by any flags"),
        (r"\e", "unrecognized escape sequence"),
        (r"\Qa\E", "unrecognized escape sequence"),
        ("a\\", "incomplete escape sequence, reached end of pattern prematurely"),
        (r"\xZZ", "invalid hexadecimal digit"),
        (r"\x{}", "hexadecimal literal empty"),
        (r"\x{D800}", "hexadecimal literal is not a Unicode scalar value"),
        (r"[\b]", "invalid escape sequence found in character class"),
        ("(?P<>a)", "empty capture group name"),
        ("(?P<1a>a)", "invalid capture group character"),
        ("(?P<n>a)(?P<n>b)", "duplicate capture group name"),
        (r"\b{middle}", "unrecognized special word boundary assertion"),
        (r"\p{Greek}", "is not supported by govflow's local validator"),
    ],
)
def test_rust_rejects(pattern: str, message: str) -> None:
    with pytest.raises(RustRegexError) as info:
        compile_rust_regex(pattern)
    text = str(info.value)
    assert text.startswith("regex parse error:\n    " + pattern + "\n")
    assert message in text.splitlines()[-1]


def test_error_layout_matches_regex_syntax() -> None:
    with pytest.raises(RustRegexError) as info:
        compile_rust_regex("ab(?=c)")
    assert str(info.value) == (
        "regex parse error:\n"
        "    ab(?=c)\n"
        "      ^^\n"
        "error: look-around, including look-ahead and look-behind, is not supported"
    )


def test_python_accepts_what_rust_rejects() -> None:
    # The reason for translating instead of handing the text to re.
    for pattern in ("(?=a)", r"(a)\1", "^{abc}$", "(?>a)"):
        re.compile(pattern)
        with pytest.raises(RustRegexError):
            compile_rust_regex(pattern)


# --- Rust formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "display", "ryu"),
    [
        (0.0, "0", "0.0"),
        (-0.0, "-0", "-0.0"),
        (5.0, "5", "5.0"),
        (-5.0, "-5", "-5.0"),
        (0.1, "0.1", "0.1"),
        (49.99, "49.99", "49.99"),
        (1e-7, "0.0000001", "1e-7"),
        (1.5e-7, "0.00000015", "1.5e-7"),
        (0.00001, "0.00001", "0.00001"),
        (0.0001, "0.0001", "0.0001"),
        (1e15, "1000000000000000", "1000000000000000.0"),
        (1e16, "10000000000000000", "1e16"),
        (2e21, "2000000000000000000000", "2e21"),
        (1e23, "100000000000000000000000", "1e23"),
        (1.2345678901234567e20, "123456789012345670000", "1.2345678901234567e20"),
        (18446744073709551616.0, "18446744073709552000", "1.8446744073709552e19"),
        (5e-324, "0." + "0" * 323 + "5", "5e-324"),
        (float("inf"), "inf", "null"),
        (float("nan"), "NaN", "null"),
    ],
)
def test_number_formats(value: float, display: str, ryu: str) -> None:
    assert rust_f64(value) == display
    assert ryu_f64(value) == ryu


@pytest.mark.parametrize(
    ("text", "debug"),
    [
        ("plain", '"plain"'),
        ('q"b\\', '"q\\"b\\\\"'),
        ("tab\there\nnl\r\0", '"tab\\there\\nnl\\r\\0"'),
        ("日本 😀", '"日本 😀"'),
        ("it's", '"it\'s"'),
        ("nb\u00a0sp", '"nb\\u{a0}sp"'),
        ("e\u0301", '"e\\u{301}"'),
        ("zw\u200bsp", '"zw\\u{200b}sp"'),
        ("\x7f\x1b", '"\\u{7f}\\u{1b}"'),
    ],
)
def test_rust_debug_str(text: str, debug: str) -> None:
    assert rust_debug_str(text) == debug


def test_json_compact_matches_serde_json() -> None:
    assert json_compact({"b": 1, "a": [1.0, None, True, "x\u00e9\n"], "c": {}}) == (
        '{"a":[1.0,null,true,"xé\\n"],"b":1,"c":{}}'
    )
    assert json_compact(2**64) == "1.8446744073709552e19"
    assert json_compact(-(2**63)) == "-9223372036854775808"
    assert json_compact("\x1f") == '"\\u001f"'


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2024-02-29", True),
        ("2023-02-29", False),
        ("1900-02-29", False),
        ("2000-02-29", True),
        ("0000-02-29", True),  # proleptic Gregorian year 0 is a leap year
        ("-0004-02-29", True),
        ("+2026-01-01", True),
        ("2026-1-5", True),
        (" 2026-01-05", True),
        ("2026- 01-05", True),
        ("2026-01-05 ", False),
        ("2026-001-05", False),
        ("12026-01-05", False),
        ("+262142-12-31", True),
        ("+262143-01-01", False),
        ("-" + "9" * 30 + "-01-01", False),
        ("", False),
        ("2026-01", False),
        ("\uff12\uff10\uff12\uff16-01-01", False),  # fullwidth digits: only ASCII ones count
    ],
)
def test_calendar_dates_like_chrono(text: str, valid: bool) -> None:
    assert is_calendar_date(text) is valid
