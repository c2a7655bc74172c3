"""ContractError: what is wrong with a contract, and on which line (``file:line: message``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from govflow.core.platforms.contractgate.validator import (
    ContractError,
    FieldType,
    compile_contract,
    load_contract,
)

GOOD = """\
version: "1.0"
name: orders
ontology:
  entities:
    - name: id
      type: string
      pattern: "^o_[0-9]+$"
    - name: total
      type: number
      min: 0
metrics:
  - name: revenue
    field: total
    max: 1000
"""


def error_of(text: str, **kwargs: object) -> ContractError:
    with pytest.raises(ContractError) as info:
        compile_contract(text, source="orders.yaml", **kwargs)  # type: ignore[arg-type]
    return info.value


def replace_line(number: int, new: str) -> str:
    lines = GOOD.splitlines()
    lines[number - 1] = new
    return "\n".join(lines) + "\n"


def test_good_contract_compiles() -> None:
    compiled = compile_contract(GOOD, source="orders.yaml")
    assert compiled.model.entities[1].type is FieldType.FLOAT


def test_format_and_attributes() -> None:
    error = error_of(replace_line(6, "      type: strng"))
    assert str(error).startswith("orders.yaml:6: ")
    assert error.path == "orders.yaml" and error.line == 6
    assert error.stage == "parse"
    assert error.reason == str(error).removeprefix("orders.yaml:6: ")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.line == 6


def test_no_source_says_contract() -> None:
    with pytest.raises(ContractError) as info:
        compile_contract(replace_line(6, "      type: strng"))
    assert str(info.value).startswith("<contract>:6: ")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("version: '1'\nname: x\nontology: {entities: [}\n", 3, "not valid YAML"),
        ("version: '1'\nname: x\n  bad: indent\n", 3, "not valid YAML"),
        ('version: "1\nname: x\n', 3, "not valid YAML"),
        ("a: 1\n---\nb: 2\n", 2, "not valid YAML"),
        ("", 1, "the contract is empty"),
        ("- just\n- a list\n", 1, "must be a mapping"),
    ],
)
def test_bad_yaml(text: str, line: int, fragment: str) -> None:
    error = error_of(text)
    assert error.line == line, str(error)
    assert fragment in error.reason


@pytest.mark.parametrize(
    ("line_number", "new", "fragment"),
    [
        (6, "      type: strng", "unknown type 'strng'; did you mean 'string'?"),
        (6, "      type: String", "names are lower case: 'string'"),
        (6, "      type: [string]", "type must be one of"),
        (7, "      patern: x", "unknown key 'patern' in ontology.entities[0] (field 'id'); did you mean 'pattern'?"),
        (7, "      regex: x", "did you mean 'pattern'?"),
        (10, "      minimum: 0", "did you mean 'min'?"),
        (14, "    maxx: 1000", "unknown key 'maxx' in metrics[0]"),
        (1, "version: 1.0", 'version must be a string, got a number (\'1.0\'); quote it: "1.0"'),
        (1, "version: 2", "version must be a string, got an integer"),
        (2, "name: [a]", "name must be a string, got a list"),
        (10, "      min: zero", "min must be a number, got a string"),
        (10, "      min_length: -1", "min_length must be a whole number >= 0"),
        (10, "      max_length: 1.5", "max_length must be a whole number >= 0"),
        (10, "      required: yes", "must be true or false, got a string ('yes') (YAML 1.2"),
        (10, "      type: integer", "key 'type' appears twice (first on line 9); keep one"),
        (14, "    type: double", "unknown metric type 'double'"),
    ],
)
def test_schema_errors_point_at_the_line(line_number: int, new: str, fragment: str) -> None:
    error = error_of(replace_line(line_number, new))
    assert fragment in error.reason, error.reason
    assert error.line == line_number, str(error)


def test_structure_errors() -> None:
    error = error_of('version: "1"\nname: x\nontology:\n  entities: {}\n')
    assert error.line == 4 and "ontology.entities must be a list, got a mapping" in error.reason
    error = error_of(GOOD + "multi_stable_resolution: fallback\n")
    assert error.line == 15 and "multi_stable_resolution is not part of the YAML" in error.reason
    error = error_of('version: "1"\nname: x\nontology:\n  entities:\n    - {name: a, type: string, min: 1, mni: 2}\n')
    assert error.line == 5 and "unknown key 'mni' in ontology.entities[0] (field 'a'); did you mean 'min'?" in error.reason


def test_missing_keys() -> None:
    assert "the contract is missing 'name'" in error_of('version: "1"\nontology: {entities: []}\n').reason
    error = error_of('version: "1"\nname: x\nontology:\n  entities:\n    - name: a\n')
    assert error.line == 5 and "is missing 'type'" in error.reason
    assert "is missing 'entities'" in error_of('version: "1"\nname: x\nontology: {}\n').reason


def test_quality_and_transform_vocabularies() -> None:
    base = 'version: "1"\nname: x\nontology:\n  entities:\n    - {name: a, type: string'
    error = error_of(base + "}\nquality:\n  - {field: a, type: fresh}\n")
    assert error.line == 7 and "unknown quality rule type 'fresh'; did you mean 'freshness'?" in error.reason
    error = error_of(base + ", transform: {kind: scramble}}\n")
    assert error.line == 5 and "unknown transform kind 'scramble'" in error.reason
    error = error_of(base + ", transform: {kind: mask, style: fpe}}\n")
    assert "unknown mask style 'fpe'" in error.reason
    error = error_of(base + "}\negress_leakage_mode: block\n")
    assert error.line == 6 and "unknown egress_leakage_mode 'block'" in error.reason
    error = error_of(base + "}\nquality:\n  - {field: a, type: uniqueness, scope: global}\n")
    assert "unknown scope 'global'" in error.reason


def test_unknown_keys_are_ignored_when_not_strict() -> None:
    text = replace_line(7, "      patern: x") + "owner: data-team\n"
    compiled = compile_contract(text, strict=False)
    assert compiled.validate({"id": "anything", "total": 1}).passed
    assert "strict=False" in error_of(text).reason
    # Unknown types and bad values are errors in both modes: the gateway rejects them too.
    assert error_of(replace_line(6, "      type: strng"), strict=False).line == 6


def test_compile_stage_errors() -> None:
    error = error_of(replace_line(7, '      pattern: "^(?=o)"'))
    assert error.stage == "compile" and error.line == 7
    assert error.reason.startswith("Invalid regex '^(?=o)' for field 'id': regex parse error:")
    assert error.reason.endswith("error: look-around, including look-ahead and look-behind, is not supported")
    error = error_of(replace_line(7, r'      pattern: "(a)\\1"'))
    assert "backreferences are not supported" in error.reason and error.line == 7
    error = error_of(replace_line(7, '      pattern: "a{,5}"'))
    assert "repetition quantifier expects a valid decimal" in error.reason


def test_transform_on_non_string_field() -> None:
    text = (
        'version: "1"\nname: x\nontology:\n  entities:\n'
        "    - name: o\n      type: object\n      properties:\n"
        "        - name: n\n          type: number\n          transform:\n            kind: hash\n"
    )
    error = error_of(text)
    assert error.stage == "compile"
    assert error.line == 11
    assert error.reason == (
        "Field 'o.n' declares a PII transform but has type 'Float' — transforms are only supported "
        "on string fields. If this field holds PII, change its type to 'string'."
    )


def test_regex_inside_items_is_not_compiled() -> None:
    # The gateway compiles patterns along object properties only: a bad one under items passes.
    text = (
        'version: "1"\nname: x\nontology:\n  entities:\n'
        '    - {name: a, type: array, items: {name: i, type: string, pattern: "(?=x)"}}\n'
    )
    assert compile_contract(text).validate({"a": ["y"]}).passed


def test_yaml_12_scalars() -> None:
    text = (
        'version: "1"\nname: x\nontology:\n  entities:\n'
        "    - {name: a, type: any, enum: [yes, no, on, 0777, 0x1F, 1_000, 1e3, .inf, ~, 0o17, +5, -0]}\n"
    )
    compiled = compile_contract(text)
    assert compiled.model.entities[0].enum == ("yes", "no", "on", "0777", 31, "1_000", 1000.0, None, None, 15, 5, 0)


def test_aliases_merge_keys_and_tags() -> None:
    text = (
        'version: "1"\nname: x\nontology:\n  entities:\n'
        "    - &base {name: a, type: string}\n"
        "    - {name: b, type: !!str integer}\n"
        "    - {name: c, type: any, enum: &vals [1, 2]}\n"
        "    - {name: d, type: any, enum: *vals}\n"
    )
    compiled = compile_contract(text)
    assert [e.name for e in compiled.model.entities] == ["a", "b", "c", "d"]
    assert compiled.model.entities[3].enum == (1, 2)
    merge = 'version: "1"\nname: x\nontology:\n  entities:\n    - {<<: {name: a}, type: string}\n'
    assert "unknown key '<<'" in error_of(merge).reason  # serde_yaml has no merge keys
    assert "unsupported YAML tag" in error_of(GOOD.replace('name: orders', 'name: !custom orders')).reason
    bomb = 'version: "1"\nname: x\nontology:\n  entities:\n    - {name: a, type: any, enum: &a [&b [&c [1]]]}\n'
    assert compile_contract(bomb).model.entities[0].enum == ([[1]],)


def test_empty_lists_and_nulls() -> None:
    text = 'version: "1"\nname: x\ndescription: ~\nglossary:\nmetrics: []\nquality: null\nontology:\n  entities: []\n'
    compiled = compile_contract(text)
    assert compiled.model.metrics == () and compiled.model.glossary == () and compiled.model.quality == ()
    assert compiled.validate({"anything": 1}).passed
    assert "compliance_mode must be true or false" in error_of(text + "compliance_mode:\n").reason


def test_glossary_aliases() -> None:
    base = 'version: "1"\nname: x\nontology: {entities: []}\nglossary:\n'
    compiled = compile_contract(base + "  - {term: a, definition: b, synonyms: [c]}\n")
    assert compiled.model.glossary[0].field == "a" and compiled.model.glossary[0].synonyms == ("c",)
    assert "has both 'field' and 'term'" in error_of(base + "  - {field: a, term: b, description: c}\n").reason


def test_load_contract_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(replace_line(6, "      type: strng"), encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(info.value).startswith(f"{path}:6: ")


def test_hostile_yaml_is_refused_cleanly() -> None:
    deep = 'version: "1"\nname: x\nontology:\n  entities: ' + "[" * 5000 + "]" * 5000 + "\n"
    assert "nests too deeply" in error_of(deep).reason
    bomb = 'version: "1"\nname: x\nx0: &a0 {name: a, type: string}\n'
    for level in range(1, 30):  # 2**29 fields once the aliases are expanded
        bomb += f"x{level}: &a{level} {{name: a, type: object, properties: [*a{level - 1}, *a{level - 1}]}}\n"
    bomb += "ontology:\n  entities: [*a29]\n"
    assert "expands to more than 20000 fields" in error_of(bomb, strict=False).reason
