"""Rust ``regex`` syntax and semantics on Python's ``re``.

The gateway compiles ``pattern`` with the Rust ``regex`` crate. The SDK hands the same text to
Python's ``re``, which differs where it matters to a contract (spec section 9):

- ``$`` (without ``m``) matches only at the very end in Rust; Python's also matches before a final
  ``\\n``, so ``^[a-z]+$`` accepts ``"ab\\n"`` there;
- Rust rejects look-around and back-references (linear-time matching); Python accepts them;
- Rust has syntax Python lacks (``\\z``, ``\\p{L}``, ``\\x{...}``, nested classes and ``&&``/``--``/``~~``
  set operations, ``(?U)``, flags set in mid-pattern, ``\\b{start}``), and treats a stray ``{`` as
  an error where Python reads a literal.

So the pattern is parsed with regex-syntax's grammar and rewritten into an equivalent Python
pattern: ``$`` becomes ``\\Z``, flags become scoped groups, classes are rebuilt. What Rust rejects
raises :class:`RustRegexError` with regex-syntax's error text.

Known limits: ``\\p{...}`` supports general categories (``L``, ``Lu``, ``Letter``, ``Nd``...) plus
``Any``, ``ASCII`` and ``Assigned`` (Python's ``unicodedata`` has no scripts); Python's ``re``
backtracks, so a pathological pattern can be slow here where Rust stays linear.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Final

# Unicode White_Space (Rust's \s and char::is_whitespace); Python's \s also matches \x1c-\x1f.
WHITE_SPACE: Final = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_META: Final = frozenset("\\.+*?()|[]{}^$#&-~")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_ASCII_CLASSES: Final = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\x0b\\x0c\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_GENERAL_CATEGORIES: Final = {
    "l": ("Lu", "Ll", "Lt", "Lm", "Lo"), "letter": ("Lu", "Ll", "Lt", "Lm", "Lo"),
    "lc": ("Lu", "Ll", "Lt"), "casedletter": ("Lu", "Ll", "Lt"), "l&": ("Lu", "Ll", "Lt"),
    "lu": ("Lu",), "uppercaseletter": ("Lu",), "ll": ("Ll",), "lowercaseletter": ("Ll",),
    "lt": ("Lt",), "titlecaseletter": ("Lt",), "lm": ("Lm",), "modifierletter": ("Lm",),
    "lo": ("Lo",), "otherletter": ("Lo",),
    "m": ("Mn", "Mc", "Me"), "mark": ("Mn", "Mc", "Me"), "combiningmark": ("Mn", "Mc", "Me"),
    "mn": ("Mn",), "nonspacingmark": ("Mn",), "mc": ("Mc",), "spacingmark": ("Mc",),
    "me": ("Me",), "enclosingmark": ("Me",),
    "n": ("Nd", "Nl", "No"), "number": ("Nd", "Nl", "No"),
    "nd": ("Nd",), "decimalnumber": ("Nd",), "digit": ("Nd",),
    "nl": ("Nl",), "letternumber": ("Nl",), "no": ("No",), "othernumber": ("No",),
    "p": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"), "punctuation": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"),
    "punct": ("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"),
    "pc": ("Pc",), "connectorpunctuation": ("Pc",), "pd": ("Pd",), "dashpunctuation": ("Pd",),
    "ps": ("Ps",), "openpunctuation": ("Ps",), "pe": ("Pe",), "closepunctuation": ("Pe",),
    "pi": ("Pi",), "initialpunctuation": ("Pi",), "pf": ("Pf",), "finalpunctuation": ("Pf",),
    "po": ("Po",), "otherpunctuation": ("Po",),
    "s": ("Sm", "Sc", "Sk", "So"), "symbol": ("Sm", "Sc", "Sk", "So"),
    "sm": ("Sm",), "mathsymbol": ("Sm",), "sc": ("Sc",), "currencysymbol": ("Sc",),
    "sk": ("Sk",), "modifiersymbol": ("Sk",), "so": ("So",), "othersymbol": ("So",),
    "z": ("Zs", "Zl", "Zp"), "separator": ("Zs", "Zl", "Zp"),
    "zs": ("Zs",), "spaceseparator": ("Zs",), "zl": ("Zl",), "lineseparator": ("Zl",),
    "zp": ("Zp",), "paragraphseparator": ("Zp",),
    "c": ("Cc", "Cf", "Cs", "Co", "Cn"), "other": ("Cc", "Cf", "Cs", "Co", "Cn"),
    "cc": ("Cc",), "control": ("Cc",), "cntrl": ("Cc",), "cf": ("Cf",), "format": ("Cf",),
    "cs": ("Cs",), "surrogate": ("Cs",), "co": ("Co",), "privateuse": ("Co",),
    "cn": ("Cn",), "unassigned": ("Cn",),
}  # fmt: skip
_SIZE_LIMIT: Final = 10 * (1 << 20)


class RustRegexError(ValueError):
    """The Rust ``regex`` crate would reject the pattern; ``str()`` is its error text."""


@dataclass
class _Flags:
    i: bool = False  # case-insensitive
    m: bool = False  # ^ and $ match at line ends
    s: bool = False  # . matches \n
    U: bool = False  # swap greed
    u: bool = True  # Unicode (on by default in Rust)
    x: bool = False  # verbose
    R: bool = False  # CRLF mode


@dataclass
class _Class:
    """A set of characters: ``frags`` go inside ``[...]``, ``exprs`` each match one character."""

    frags: list[str] = field(default_factory=list)
    exprs: list[str] = field(default_factory=list)

    def add(self, other: _Class) -> None:
        self.frags.extend(other.frags)
        self.exprs.extend(other.exprs)

    def regex(self, negated: bool = False) -> str:
        if not self.exprs:
            if not self.frags:
                return "(?s:.)" if negated else "(?!)"
            return "[" + ("^" if negated else "") + "".join(self.frags) + "]"
        parts = (["[" + "".join(self.frags) + "]"] if self.frags else []) + self.exprs
        union = "(?:" + "|".join(parts) + ")"
        return f"(?:(?!{union})(?s:.))" if negated else union

    def as_item(self, negated: bool) -> _Class:
        """This class (maybe negated) as an item of an enclosing class."""
        if not negated and not self.exprs:
            return _Class(list(self.frags))
        return _Class(exprs=[self.regex(negated)])


def _char(code: int) -> str:
    """A code point as a Python-regex escape, valid inside and outside classes."""
    ch = chr(code)
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _ranges(codes: list[int]) -> str:
    out: list[str] = []
    start = prev = -2
    for code in codes:
        if code == prev + 1:
            prev = code
            continue
        if start >= 0:
            out.append(_char(start) if start == prev else f"{_char(start)}-{_char(prev)}")
        start = prev = code
    if start >= 0:
        out.append(_char(start) if start == prev else f"{_char(start)}-{_char(prev)}")
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _category_fragment(categories: tuple[str, ...]) -> str:
    wanted = set(categories)
    codes = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in wanted]
    return _ranges(codes)


def _unicode_class(name: str) -> _Class | None:
    loose = re.sub(r"[\s_\-]", "", name).lower()
    for prefix in ("generalcategory=", "gc="):
        if loose.startswith(prefix):
            loose = loose[len(prefix) :]
    if loose == "any":
        return _Class(["\\x00-\\U0010ffff"])
    if loose == "ascii":
        return _Class(["\\x00-\\x7f"])
    if loose == "assigned":
        return _Class(exprs=[f"[^{_category_fragment(('Cn',))}]"])
    if loose.startswith("is") and loose[2:] in _GENERAL_CATEGORIES:
        loose = loose[2:]
    categories = _GENERAL_CATEGORIES.get(loose)
    if categories is None:
        return None
    return _Class([_category_fragment(categories)])


def _perl_class(letter: str, unicode: bool) -> _Class:
    kind = letter.lower()
    if unicode:
        positive = {"d": "\\d", "w": "\\w", "s": "".join(_char(ord(c)) for c in WHITE_SPACE)}[kind]
    else:
        positive = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\x0b\\x0c\\r "}[kind]
    if letter.islower():
        return _Class([positive])
    if unicode and kind in ("d", "w"):
        return _Class(["\\" + letter])  # Python's \D and \W are the Unicode complements
    return _Class(exprs=[f"[^{positive}]"])


@dataclass
class _Escape:
    """A parsed escape: a literal code point, a class, or an assertion (Python text)."""

    literal: int | None = None
    cls: _Class | None = None
    negated: bool = False
    assertion: str | None = None


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.n = len(pattern)
        self.i = 0
        self.names: set[str] = set()

    # --- errors in regex-syntax's format ---------------------------------------------------

    def error(self, message: str, start: int, end: int | None = None) -> RustRegexError:
        end = max(end if end is not None else start + 1, start + 1)
        if "\n" in self.p:
            return RustRegexError(f"regex parse error:\n    {self.p}\nerror: {message}")
        carets = " " * start + "^" * (min(end, self.n) - start if start < self.n else 1)
        return RustRegexError(f"regex parse error:\n    {self.p}\n    {carets}\nerror: {message}")

    # --- scanning -----------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> str:
        j = self.i + offset
        return self.p[j] if j < self.n else ""

    def skip_space(self, flags: _Flags) -> None:
        # (?x): whitespace and # comments are ignored, inside classes too.
        if not flags.x:
            return
        while self.i < self.n:
            ch = self.p[self.i]
            if ch in WHITE_SPACE:
                self.i += 1
            elif ch == "#":
                while self.i < self.n and self.p[self.i] != "\n":
                    self.i += 1
            else:
                return

    # --- top level ----------------------------------------------------------------------------

    def translate(self) -> str:
        body = self.alternation(_Flags(), group_start=None)
        if self.i < self.n:  # stopped at a ')' with no group open
            raise self.error("unopened group", self.i)
        return body

    def alternation(self, flags: _Flags, group_start: int | None) -> str:
        branches: list[str] = []
        items: list[str] = []
        last_quantifiable = False
        while True:
            self.skip_space(flags)
            if self.i >= self.n:
                if group_start is not None:
                    raise self.error("unclosed group", group_start)
                break
            ch = self.p[self.i]
            if ch == ")":
                if group_start is None:
                    raise self.error("unopened group", self.i)
                break
            if ch == "|":
                branches.append("".join(items))
                items, last_quantifiable = [], False
                self.i += 1
                continue
            if ch in "*+?{":
                if not items or not last_quantifiable:
                    raise self.error("repetition operator missing expression", self.i)
                items[-1] = f"(?:{items[-1]}){self.quantifier(flags)}"
                continue
            atom = self.atom(flags)
            if atom is None:  # a (?flags) group: changes flags, matches nothing
                last_quantifiable = False
                continue
            items.append(atom)
            last_quantifiable = True
        branches.append("".join(items))
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    def quantifier(self, flags: _Flags) -> str:
        start = self.i
        ch = self.p[self.i]
        self.i += 1
        if ch == "{":
            self.skip_space(flags)
            if self.i >= self.n:
                raise self.error("unclosed counted repetition", start, self.i)
            low = self.decimal(flags)
            text = f"{{{low}}}"
            if self.i >= self.n:
                raise self.error("unclosed counted repetition", start, self.i)
            if self.p[self.i] == ",":
                self.i += 1
                self.skip_space(flags)
                if self.i >= self.n:
                    raise self.error("unclosed counted repetition", start, self.i)
                if self.p[self.i] != "}":
                    high = self.decimal(flags)
                    if low > high:
                        end = self.p.find("}", self.i)
                        raise self.error(
                            "invalid repetition count range, the start must be <= the end",
                            start,
                            (end + 1) if end >= 0 else self.n,
                        )
                    text = f"{{{low},{high}}}"
                else:
                    text = f"{{{low},}}"
            if self.i >= self.n or self.p[self.i] != "}":
                raise self.error("unclosed counted repetition", start, self.i)
            self.i += 1
            self.skip_space(flags)
        else:
            text = ch
        lazy = self.peek() == "?"
        if lazy:
            self.i += 1
        if flags.U:
            lazy = not lazy
        return text + ("?" if lazy else "")

    def decimal(self, flags: _Flags) -> int:
        while self.i < self.n and self.p[self.i] in WHITE_SPACE:
            self.i += 1
        start = self.i
        digits = ""
        while self.i < self.n and self.p[self.i].isascii() and self.p[self.i].isdigit():
            digits += self.p[self.i]
            self.i += 1
            self.skip_space(flags)
        while self.i < self.n and self.p[self.i] in WHITE_SPACE:
            self.i += 1
        if not digits:
            raise self.error("repetition quantifier expects a valid decimal", start)
        value = int(digits)
        if value > 0xFFFFFFFF:
            raise self.error("decimal literal invalid", start, self.i)
        return value

    # --- atoms --------------------------------------------------------------------------------

    def atom(self, flags: _Flags) -> str | None:
        ch = self.p[self.i]
        if ch == "(":
            return self.group(flags)
        if ch == "[":
            cls, negated = self.bracket_class(flags)
            return self.case(cls.regex(negated), flags)
        if ch == "\\":
            escape = self.escape(flags, in_class=False)
            if escape.assertion is not None:
                return escape.assertion
            if escape.cls is not None:
                return self.case(escape.cls.regex(escape.negated), flags)
            assert escape.literal is not None
            return self.case(_char(escape.literal), flags)
        self.i += 1
        if ch == ".":
            if flags.s:
                return "(?s:.)"
            return "[^\\r\\n]" if flags.R else "."
        if ch == "^":
            if not flags.m:
                return "\\A"
            return "(?:\\A|(?<=\\n)|(?<=\\r)(?!\\n))" if flags.R else "(?m:^)"
        if ch == "$":
            # The point of it all: without (?m), Rust's $ is the very end (Python's \Z).
            if not flags.m:
                return "\\Z"
            return "(?:\\Z|(?=\\r)|(?<!\\r)(?=\\n))" if flags.R else "(?m:$)"
        return self.case(_char(ord(ch)), flags)

    @staticmethod
    def case(text: str, flags: _Flags) -> str:
        if not flags.i:
            return text
        return f"(?i:{text})" if flags.u else f"(?ai:{text})"

    def group(self, flags: _Flags) -> str | None:
        start = self.i
        self.i += 1
        self.skip_space(flags)
        rest = self.p[self.i : self.i + 3]
        if rest.startswith(("?=", "?!", "?<=", "?<!")):
            raise self.error(
                "look-around, including look-ahead and look-behind, is not supported",
                start,
                self.i + 1,
            )
        inner = replace(flags)
        if rest.startswith("?P<") or rest.startswith("?<"):
            self.i += 3 if rest.startswith("?P<") else 2
            self.capture_name()
        elif rest.startswith("?"):
            self.i += 1
            if self.i >= self.n:
                raise self.error("unclosed group", start)
            target = replace(flags)
            ended = self.flag_items(target, start)
            if ended == ")":
                # (?flags) sets flags for the rest of the enclosing group.
                flags.__dict__.update(target.__dict__)
                return None
            inner = target
        body = self.alternation(inner, group_start=start)
        self.i += 1  # the ')'
        return f"(?:{body})"

    def capture_name(self) -> None:
        if self.i >= self.n:
            raise self.error("unclosed capture group name", self.i)
        start = self.i
        while self.i < self.n and self.p[self.i] != ">":
            ch = self.p[self.i]
            first = self.i == start
            ok = ch == "_" or ch.isalpha() if first else ch in "_.[]" or ch.isalnum()
            if not ok:
                raise self.error("invalid capture group character", self.i)
            self.i += 1
        if self.i >= self.n:
            raise self.error("unclosed capture group name", self.i)
        name = self.p[start : self.i]
        self.i += 1
        if not name:
            raise self.error("empty capture group name", start)
        if name in self.names:
            raise self.error("duplicate capture group name", start, start + len(name))
        self.names.add(name)

    def flag_items(self, target: _Flags, group_start: int) -> str:
        seen: set[str] = set()
        negated = False
        dangling: int | None = None  # where a '-' with no flag after it yet sits
        any_item = False
        while True:
            if self.i >= self.n:
                raise self.error("expected flag but got end of regex", self.i)
            ch = self.p[self.i]
            if ch in ":)":
                break
            if ch == "-":
                if negated:
                    raise self.error("flag negation operator repeated", self.i)
                negated, dangling = True, self.i
            else:
                if ch not in "imsUuxR":
                    raise self.error("unrecognized flag", self.i)
                if ch in seen:
                    raise self.error("duplicate flag", self.i)
                seen.add(ch)
                setattr(target, ch, not negated)
                dangling = None
            any_item = True
            self.i += 1
        ended = self.p[self.i]
        if dangling is not None:
            raise self.error("flag negation operator not followed by any flags", dangling)
        if ended == ")" and not any_item:
            raise self.error("repetition operator missing expression", group_start + 1)
        self.i += 1
        return ended

    # --- escapes --------------------------------------------------------------------------------

    def escape(self, flags: _Flags, *, in_class: bool) -> _Escape:
        start = self.i
        self.i += 1
        if self.i >= self.n:
            raise self.error(
                "incomplete escape sequence, reached end of pattern prematurely", start, self.i
            )
        ch = self.p[self.i]
        if ch.isascii() and ch.isdigit():
            raise self.error("backreferences are not supported", start, self.i + 1)
        if ch in "xuU":
            return _Escape(literal=self.hex_literal(ch, start))
        if ch in "pP":
            return self.unicode_escape(ch == "P", start, flags)
        if ch in "dswDSW":
            self.i += 1
            return _Escape(cls=_perl_class(ch, flags.u))
        self.i += 1
        if ch in _META:
            return _Escape(literal=ord(ch))
        specials = {"a": 7, "f": 12, "t": 9, "n": 10, "r": 13, "v": 11}
        if ch in specials:
            return _Escape(literal=specials[ch])
        if ch.isascii() and not ch.isalnum() and ch not in "<>":
            return _Escape(literal=ord(ch))  # a superfluous escape, e.g. \/ or \@
        assertion = self.assertion_escape(ch, flags)
        if assertion is None:
            raise self.error("unrecognized escape sequence", start, self.i)
        if in_class:
            raise self.error("invalid escape sequence found in character class", start, self.i)
        return _Escape(assertion=assertion)

    def assertion_escape(self, ch: str, flags: _Flags) -> str | None:
        word = "\\w" if flags.u else "[0-9A-Za-z_]"
        if ch == "A":
            return "\\A"
        if ch == "z":
            return "\\Z"
        if ch == "B":
            return "\\B" if flags.u else "(?a:\\B)"
        if ch == "<":
            return f"(?:\\b(?={word}))"
        if ch == ">":
            return f"(?:\\b(?<={word}))"
        if ch != "b":
            return None
        special = re.match(r"\{([A-Za-z-]+)\}", self.p[self.i :])
        if special:
            kinds = {
                "start": f"(?:\\b(?={word}))",
                "end": f"(?:\\b(?<={word}))",
                "start-half": f"(?<!{word})",
                "end-half": f"(?!{word})",
            }
            name = special.group(1)
            if name not in kinds:
                raise self.error(
                    "unrecognized special word boundary assertion, valid choices are: start, "
                    "end, start-half or end-half",
                    self.i,
                    self.i + special.end(),
                )
            self.i += special.end()
            return kinds[name] if flags.u else f"(?a:{kinds[name]})"
        return "\\b" if flags.u else "(?a:\\b)"

    def hex_literal(self, kind: str, start: int) -> int:
        self.i += 1
        if self.i >= self.n:
            raise self.error(
                "incomplete escape sequence, reached end of pattern prematurely", start, self.i
            )
        if self.p[self.i] == "{":
            brace = self.i
            end = self.p.find("}", brace)
            if end < 0:
                raise self.error(
                    "incomplete escape sequence, reached end of pattern prematurely", brace, self.n
                )
            digits = self.p[brace + 1 : end]
            for offset, digit in enumerate(digits):
                if digit not in _HEX:
                    raise self.error("invalid hexadecimal digit", brace + 1 + offset)
            self.i = end + 1
            if not digits:
                raise self.error("hexadecimal literal empty", brace, self.i)
        else:
            count = {"x": 2, "u": 4, "U": 8}[kind]
            digits = self.p[self.i : self.i + count]
            for offset, digit in enumerate(digits):
                if digit not in _HEX:
                    raise self.error("invalid hexadecimal digit", self.i + offset)
            if len(digits) < count:
                raise self.error(
                    "incomplete escape sequence, reached end of pattern prematurely", self.n
                )
            self.i += count
        code = int(digits, 16) if len(digits) <= 8 else 0x110000
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise self.error("hexadecimal literal is not a Unicode scalar value", start, self.i)
        return code

    def unicode_escape(self, negated: bool, start: int, flags: _Flags) -> _Escape:
        self.i += 1
        if self.i >= self.n:
            raise self.error(
                "incomplete escape sequence, reached end of pattern prematurely", start, self.i
            )
        if self.p[self.i] == "{":
            end = self.p.find("}", self.i)
            if end < 0:
                raise self.error(
                    "incomplete escape sequence, reached end of pattern prematurely", self.i, self.n
                )
            name = self.p[self.i + 1 : end]
            self.i = end + 1
        else:
            name = self.p[self.i]
            self.i += 1
        if name.startswith("^"):
            name, negated = name[1:], not negated
        if not flags.u:
            raise self.error("Unicode not allowed here", start, self.i)
        cls = _unicode_class(name)
        if cls is None:
            if re.fullmatch(r"[\w\s=:-]+", name):
                raise self.error(
                    f"Unicode property {name!r} is not supported by govflow's local validator "
                    "(general categories such as L, Lu, Nd, Letter are)",
                    start,
                    self.i,
                )
            raise self.error("Unicode property not found", start, self.i)
        return _Escape(cls=cls, negated=negated)

    # --- bracketed classes ----------------------------------------------------------------------

    def bracket_class(self, flags: _Flags) -> tuple[_Class, bool]:
        """Parse ``[...]`` at self.i; returns the class and whether it is negated."""
        open_at = self.i
        self.i += 1
        self.skip_space(flags)
        if self.i >= self.n:
            raise self.error("unclosed character class", open_at, self.i)
        negated = False
        if self.p[self.i] == "^":
            negated = True
            self.i += 1
            self.skip_space(flags)
        current = _Class()
        leading = True
        while self.i < self.n and self.p[self.i] == "-":  # leading '-' are literal
            current.frags.append("\\-")
            self.i += 1
            self.skip_space(flags)
            leading = False
        if leading and self.i < self.n and self.p[self.i] == "]":  # first ']' is literal
            current.frags.append("\\]")
            self.i += 1
        result: _Class | None = None
        operator: str | None = None
        while True:
            self.skip_space(flags)
            if self.i >= self.n:
                raise self.error("unclosed character class", open_at)
            ch = self.p[self.i]
            if ch == "]":
                self.i += 1
                break
            if ch == "[":
                ascii_class = self.ascii_class()
                if ascii_class is not None:
                    current.add(ascii_class)
                    continue
                nested, nested_negated = self.bracket_class(flags)
                current.add(nested.as_item(nested_negated))
                continue
            pair = self.p[self.i : self.i + 2]
            if pair in ("&&", "--", "~~"):
                self.i += 2
                result = self.combine(result, operator, current)
                operator, current = pair, _Class()
                continue
            current.add(self.class_range(flags))
        result = self.combine(result, operator, current)
        return result, negated

    @staticmethod
    def combine(left: _Class | None, operator: str | None, right: _Class) -> _Class:
        # Set operations on one-character classes become look-aheads in Python.
        if left is None or operator is None:
            return right
        a, b = left.regex(), right.regex()
        if operator == "&&":
            return _Class(exprs=[f"(?:(?={b}){a})"])
        if operator == "--":
            return _Class(exprs=[f"(?:(?!{b}){a})"])
        return _Class(exprs=[f"(?:(?!{b}){a}|(?!{a}){b})"])

    def ascii_class(self) -> _Class | None:
        match = re.match(r"\[:(\^?)([a-z]+):\]", self.p[self.i :])
        if not match or match.group(2) not in _ASCII_CLASSES:
            return None
        self.i += match.end()
        cls = _Class([_ASCII_CLASSES[match.group(2)]])
        return cls.as_item(bool(match.group(1)))

    def class_item(self, flags: _Flags) -> tuple[int | None, _Class | None, int]:
        """One class primitive: (code point, None) or (None, class); plus its start offset."""
        start = self.i
        if self.p[self.i] == "\\":
            escape = self.escape(flags, in_class=True)
            if escape.cls is not None:
                return None, escape.cls.as_item(escape.negated), start
            return escape.literal, None, start
        code = ord(self.p[self.i])
        self.i += 1
        return code, None, start

    def class_range(self, flags: _Flags) -> _Class:
        first, first_cls, start = self.class_item(flags)
        self.skip_space(flags)
        if self.i >= self.n:
            raise self.error("unclosed character class", start)
        after = self._peek_space(flags)
        if self.p[self.i] != "-" or after in ("]", "-"):
            if first_cls is not None:
                return first_cls
            assert first is not None
            return _Class([_char(first)])
        self.i += 1  # the '-'
        self.skip_space(flags)
        if self.i >= self.n:
            raise self.error("unclosed character class", start)
        last, last_cls, _ = self.class_item(flags)
        if first_cls is not None or last_cls is not None or first is None or last is None:
            raise self.error("invalid range boundary, must be a literal", start, self.i)
        if first > last:
            raise self.error(
                "invalid character class range, the start must be <= the end", start, self.i
            )
        return _Class([f"{_char(first)}-{_char(last)}"])

    def _peek_space(self, flags: _Flags) -> str:
        j = self.i + 1
        if flags.x:
            while j < self.n and self.p[j] in WHITE_SPACE:
                j += 1
        return self.p[j] if j < self.n else ""


def translate(pattern: str) -> str:
    """The Python ``re`` pattern that matches what the Rust pattern matches."""
    return _Translator(pattern).translate()


@functools.lru_cache(maxsize=1024)
def compile_rust_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Rust-syntax pattern; raises :class:`RustRegexError` with Rust's error text."""
    python = translate(pattern)
    try:
        return re.compile(python)
    except (re.error, OverflowError, RecursionError):
        # Only huge repetition counts get here; Rust refuses them for size as well.
        raise RustRegexError(
            f"Compiled regex exceeds size limit of {_SIZE_LIMIT} bytes."
        ) from None


__all__ = ["WHITE_SPACE", "RustRegexError", "compile_rust_regex", "translate"]
