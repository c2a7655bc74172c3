"""Policy rules of the local platform: an ordered YAML list where the first matching rule decides.

A policy file, by example::

    version: 1                  # optional; the only version so far
    default: allow              # allow | deny | require_approval (when no rule matches; default allow)
    rules:
      - name: no-prod-deletes
        match:
          pipeline: "etl_*"           # fnmatch glob, case-sensitive; '*' also crosses '/'
          action: [delete, "drop*"]   # a list matches if any of its patterns does
          resource: "prod/*"
          labels: {env: prod}         # every listed label must be present and match
        decision: deny
        reason: Deleting production data needs a change ticket
      - name: exports-need-approval
        match: {action: export}
        decision: require_approval
        reason: Exports leave the company
        approvers: [alice, bob]       # optional; empty or absent = anyone may decide
        expires_in: 24h               # optional: 30s, 15m, 2h, 1d, 1w or combined like 1h30m
      - name: everything-else-in-prod
        match: {labels: {env: prod}}  # no match at all (or match: {}) = matches everything
        decision: allow

The default can also carry the settings of a rule::

    default: {decision: require_approval, reason: Not covered by a rule, approvers: [ops]}

Matching:

- fields: ``orchestrator``, ``pipeline``, ``step`` (from the RunContext), ``action``, ``resource``,
  ``purpose`` (from the GateRequest) and ``labels``; a field the rule does not name matches anything.
- a field the rule names never matches a request whose value is unset (None): ``resource: "*"``
  means "has a resource".
- labels are matched against the RunContext's and the GateRequest's labels together; when both
  carry the same key, the pattern matches if either value matches (so a step cannot relabel
  itself out of a restrictive rule that its pipeline's labels put it under).

Rules of the file itself, checked when it is loaded (errors name the file and line):

- rule names are unique; ``deny`` and ``require_approval`` rules need a ``reason`` (it is what the
  person whose step is stopped, or the approver, reads); ``approvers`` and ``expires_in`` belong to
  ``require_approval`` only; unknown keys are errors (a typo must not silently widen a rule);
  patterns are strings (quote YAML words such as ``yes``, ``on`` or ``1.10``).
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    field_validator,
)

from ...errors import PolicyError
from ...models import GateRequest, RunContext

# --- public result types -------------------------------------------------------------------


class PolicyDecision(str, enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


MATCH_FIELDS: tuple[str, ...] = (
    "orchestrator",
    "pipeline",
    "step",
    "action",
    "resource",
    "purpose",
)


@dataclass(frozen=True)
class Match:
    """The conditions of one rule; None means "any value, even unset"."""

    orchestrator: tuple[str, ...] | None = None
    pipeline: tuple[str, ...] | None = None
    step: tuple[str, ...] | None = None
    action: tuple[str, ...] | None = None
    resource: tuple[str, ...] | None = None
    purpose: tuple[str, ...] | None = None
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    decision: PolicyDecision
    reason: str | None = None
    approvers: tuple[str, ...] = ()
    expires_in: timedelta | None = None
    line: int | None = None


class PolicyResult(BaseModel):
    """What the policy decided for one request. ``rule`` is None when the default applied."""

    model_config = ConfigDict(frozen=True)

    rule: str | None
    decision: PolicyDecision
    reason: str | None
    approvers: tuple[str, ...] = ()
    expires_in: timedelta | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (kept in Decision.raw and evidence); ``expires_in`` in seconds."""
        return {
            "rule": self.rule,
            "decision": self.decision.value,
            "reason": self.reason,
            "approvers": list(self.approvers),
            "expires_in": self.expires_in.total_seconds() if self.expires_in is not None else None,
            "line": self.line,
        }


class Mismatch(BaseModel):
    """One condition of a rule that a request did not meet; ``str()`` explains it."""

    model_config = ConfigDict(frozen=True)

    field: str  # "action", or "labels.env" for a label
    patterns: tuple[str, ...]
    value: str | None  # the request's value; None when unset / label absent
    values: tuple[str, ...] = ()  # every value of a label (context and request) when it has several

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why(self) -> str:
        wanted = " or ".join(repr(p) for p in self.patterns)
        if self.value is None:
            what = "is missing" if self.field.startswith("labels.") else "is not set"
            return f"{self.field} {what} (rule wants {wanted})"
        shown = (
            " / ".join(repr(v) for v in self.values) if len(self.values) > 1 else repr(self.value)
        )
        return f"{self.field} {shown} does not match {wanted}"

    def __str__(self) -> str:
        return self.why


class RuleTrace(BaseModel):
    """How one rule fared against a request (``Policy.explain``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    line: int | None
    matched: bool
    decision: PolicyDecision
    mismatches: tuple[Mismatch, ...] = ()

    def describe(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        if self.matched:
            return f"rule {self.name!r}{where}: matches -> {self.decision.value}"
        reasons = "; ".join(m.why for m in self.mismatches)
        return f"rule {self.name!r}{where}: no match: {reasons}"

    def __str__(self) -> str:
        return self.describe()


# --- durations -----------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_DURATION_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``2h``, ``1d``, ``1w`` or combinations such as ``1h30m``."""
    compact = text.strip().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 2h, 1d, 1w or 1h30m"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


# --- the file schema (pydantic, strict: YAML's `yes` is not the string "yes") --------------


def _as_patterns(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list matches nothing; remove the field to match anything")
        return value
    if value is None:
        return value
    raise ValueError(f"must be a glob string or a list of them, got {_yaml_type(value)}; quote it")


def _as_duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    raise ValueError(f"{value} has no unit; write e.g. {value}s, or 15m, 2h, 1d")


def _as_name_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


_Patterns = Annotated[list[str], BeforeValidator(_as_patterns)]
_Duration = Annotated[timedelta, BeforeValidator(_as_duration)]
_Names = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_as_name_list)]
_DecisionName = Literal["allow", "deny", "require_approval"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _MatchSpec(_Spec):
    orchestrator: _Patterns | None = None
    pipeline: _Patterns | None = None
    step: _Patterns | None = None
    action: _Patterns | None = None
    resource: _Patterns | None = None
    purpose: _Patterns | None = None
    labels: dict[str, _Patterns] = Field(default_factory=dict)


class _DefaultSpec(_Spec):
    decision: _DecisionName = "allow"
    reason: str | None = None
    approvers: _Names = Field(default_factory=list)
    expires_in: _Duration | None = None


class _RuleSpec(_Spec):
    name: Annotated[str, Field(min_length=1)]
    match: _MatchSpec | None = None
    decision: _DecisionName
    reason: str | None = None
    approvers: _Names = Field(default_factory=list)
    expires_in: _Duration | None = None


class _PolicySpec(_Spec):
    version: Literal[1] = 1
    default: _DefaultSpec = Field(default_factory=_DefaultSpec)
    rules: list[_RuleSpec] = Field(default_factory=list)

    @field_validator("default", mode="before")
    @classmethod
    def _default_shorthand(cls, value: Any) -> Any:
        return {"decision": value} if isinstance(value, str) else value

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        return [] if value is None else value  # `rules:` with nothing under it


# Keys a user might reach for, and the key this format calls them.
_KEY_HINTS = {
    "task": "step", "task_id": "step", "op": "step", "asset": "step",
    "dag": "pipeline", "dag_id": "pipeline", "flow": "pipeline", "job": "pipeline",
    "label": "labels", "tags": "labels", "effect": "decision", "outcome": "decision",
    "when": "match", "if": "match", "approver": "approvers", "expires": "expires_in",
    "expiry": "expires_in", "timeout": "expires_in", "ttl": "expires_in", "message": "reason",
}  # fmt: skip


# --- the policy ----------------------------------------------------------------------------


class Policy:
    """An ordered list of rules and a default; see the module docstring for the file format."""

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        default: PolicyResult | None = None,
        *,
        path: str | None = None,
        digest: str | None = None,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        # What applies when no rule matches; ``default`` is just its decision.
        self.default_result: PolicyResult = default or PolicyResult(
            rule=None,
            decision=PolicyDecision.ALLOW,
            reason="no policy rule matched; the default is allow",
        )
        self.path = path
        self.default: PolicyDecision = self.default_result.decision
        self.digest = digest  # sha256 of the file text: evidence says which policy decided

    def __repr__(self) -> str:
        return (
            f"Policy(path={self.path!r}, rules={len(self.rules)}, default={self.default.value!r})"
        )

    # construction

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        shown = str(path)
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(
                "policy file not found; check the path (or GOVFLOW_POLICY)", path=shown
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read the policy file: {exc}", path=shown) from exc
        return cls.from_text(text, path=shown)

    @classmethod
    def from_text(cls, text: str, path: str | None = None) -> Policy:
        root, data = _parse_yaml(text, path)
        try:
            spec = _PolicySpec.model_validate(data)
        except ValidationError as exc:
            raise _policy_error(exc, root, data, path) from None
        rules = _build_rules(spec, root, path)
        default = _build_default(spec.default)
        digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(rules, default, path=path, digest=digest)

    @classmethod
    def allow_all(cls) -> Policy:
        """The policy in force when none is configured: everything allowed (and still recorded)."""
        return cls(
            (),
            PolicyResult(
                rule=None,
                decision=PolicyDecision.ALLOW,
                reason="no policy configured (pass a policy file or set GOVFLOW_POLICY); everything is allowed",
            ),
        )

    @property
    def is_allow_all(self) -> bool:
        return not self.rules and self.default is PolicyDecision.ALLOW and self.path is None

    # evaluation

    def evaluate(self, context: RunContext, request: GateRequest) -> PolicyResult:
        values, labels = _subject(context, request)
        for rule in self.rules:
            if _matches(rule.match, values, labels):
                return PolicyResult(
                    rule=rule.name,
                    decision=rule.decision,
                    reason=rule.reason,
                    approvers=rule.approvers,
                    expires_in=rule.expires_in,
                    line=rule.line,
                )
        return self.default_result

    def explain(self, context: RunContext, request: GateRequest) -> list[RuleTrace]:
        """Every rule in order, whether it matched and, if not, each condition that failed."""
        values, labels = _subject(context, request)
        traces = []
        for rule in self.rules:
            mismatches = tuple(_mismatches(rule.match, values, labels))
            traces.append(
                RuleTrace(
                    name=rule.name,
                    line=rule.line,
                    matched=not mismatches,
                    decision=rule.decision,
                    mismatches=mismatches,
                )
            )
        return traces


def _subject(
    context: RunContext, request: GateRequest
) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    values: dict[str, str | None] = {
        "orchestrator": context.orchestrator,
        "pipeline": context.pipeline,
        "step": context.step,
        "action": request.action,
        "resource": request.resource,
        "purpose": request.purpose,
    }
    labels: dict[str, list[str]] = {}
    for source in (context.labels, request.labels):
        for key, value in source.items():
            labels.setdefault(key, []).append(value)
    return values, labels


def _any_match(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _matches(
    match: Match, values: Mapping[str, str | None], labels: Mapping[str, list[str]]
) -> bool:
    for name in MATCH_FIELDS:
        patterns: tuple[str, ...] | None = getattr(match, name)
        if patterns is None:
            continue
        value = values[name]
        if value is None or not _any_match(value, patterns):
            return False
    for key, patterns in match.labels.items():
        present = labels.get(key)
        if not present or not any(_any_match(v, patterns) for v in present):
            return False
    return True


def _mismatches(
    match: Match, values: Mapping[str, str | None], labels: Mapping[str, list[str]]
) -> list[Mismatch]:
    found = []
    for name in MATCH_FIELDS:
        patterns: tuple[str, ...] | None = getattr(match, name)
        if patterns is None:
            continue
        value = values[name]
        if value is None or not _any_match(value, patterns):
            found.append(Mismatch(field=name, patterns=patterns, value=value))
    for key, patterns in match.labels.items():
        present = labels.get(key)
        if not present:
            found.append(Mismatch(field=f"labels.{key}", patterns=patterns, value=None))
        elif not any(_any_match(v, patterns) for v in present):
            found.append(
                Mismatch(
                    field=f"labels.{key}",
                    patterns=patterns,
                    value=present[-1],
                    values=tuple(present),
                )
            )
    return found


# --- loading: YAML with line numbers -------------------------------------------------------

_Loc = tuple[int | str, ...]


def _parse_yaml(text: str, path: str | None) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_duplicate_keys(root, path)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.context_mark and mark and exc.context_mark.line != mark.line:
            problem += f" (the construct began on line {exc.context_mark.line + 1})"
        raise PolicyError(
            f"not valid YAML: {problem or exc}", path=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    if data is None:
        raise PolicyError(
            "the policy is empty; write at least `version: 1` and a `rules:` list (see the format in "
            "govflow.core.platforms.local.policy)",
            path=path,
            line=1,
        )
    if not isinstance(data, dict):
        raise PolicyError(
            f"a policy is a mapping with `version`, `default` and `rules`, not {_yaml_type(data)}",
            path=path,
            line=_line(root),
        )
    return root, data


def _check_duplicate_keys(node: yaml.Node, path: str | None) -> None:
    # YAML keeps the last of two equal keys silently; in a policy that hides half a rule.
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise PolicyError(
                        f"key {key_node.value!r} appears twice in the same mapping (first on line "
                        f"{seen[key_node.value]}); keep one",
                        path=path,
                        line=line,
                    )
                seen[key_node.value] = line
            _check_duplicate_keys(value_node, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, path)


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _node_at(root: yaml.Node | None, loc: _Loc, *, key: bool = False) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location (the key node itself if ``key``)."""
    node = root
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    node = key_node if (last and key) else value_node
                    break
            else:
                return node
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
    return node


def _allowed_keys(parent: _Loc) -> list[str]:
    model: type[BaseModel]
    if parent == ():
        model = _PolicySpec
    elif parent == ("default",):
        model = _DefaultSpec
    elif len(parent) == 2 and parent[0] == "rules":
        model = _RuleSpec
    elif len(parent) == 3 and parent[0] == "rules" and parent[2] == "match":
        model = _MatchSpec
    else:
        return []
    return list(model.model_fields)


def _where(loc: _Loc, data: Any) -> str:
    """``rule 'exports' (rules[1]) > match.action`` style description of a location."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rule = data.get("rules")[loc[1]] if isinstance(data.get("rules"), list) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        head = f"rule {name!r} (rules[{loc[1]}])" if isinstance(name, str) else f"rules[{loc[1]}]"
        rest = loc[2:]
    else:
        head, rest = "", loc
    tail = ".".join(
        str(p) if isinstance(p, str) else f"[{p}]" for p in rest if p != "[key]"
    ).replace(".[", "[")
    if head and tail:
        return f"{head}, {tail}"
    return head or tail or "the policy"


def _describe_error(error: Mapping[str, Any], data: Any) -> tuple[_Loc, str]:
    loc: _Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        unknown = str(loc[-1])
        parent = loc[:-1]
        allowed = _allowed_keys(parent)
        where = _where(parent, data)
        hint = _KEY_HINTS.get(unknown) if _KEY_HINTS.get(unknown) in allowed else None
        close = difflib.get_close_matches(unknown, allowed, n=1, cutoff=0.6)
        suggestion = hint or (close[0] if close else None)
        message = f"unknown key {unknown!r} in {where}"
        match_key = _KEY_HINTS.get(unknown, unknown)
        if (
            _allowed_keys(parent) == list(_RuleSpec.model_fields)
            and match_key in _MatchSpec.model_fields
        ):
            shown = f" (as {match_key!r})" if match_key != unknown else ""
            message += f"; conditions go under `match:`{shown}"
        elif suggestion:
            message += f"; did you mean {suggestion!r}?"
        if allowed:
            sep = " " if message.endswith("?") else ". "
            message += f"{sep}Allowed keys: {', '.join(allowed)}"
        return loc, message
    where = _where(loc, data)
    if kind == "missing":
        field_name = loc[-1]
        extra = " (allow, deny or require_approval)" if field_name == "decision" else ""
        return loc, f"{_where(loc[:-1], data)} is missing {field_name!r}{extra}; add it"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"{where} must be {expected}, not {value!r}"
        if isinstance(value, str) and loc[-1] == "decision":
            close = difflib.get_close_matches(
                value, ["allow", "deny", "require_approval"], n=1, cutoff=0.5
            )
            if close:
                message += f"; did you mean {close[0]!r}?"
        return loc, message
    if kind == "string_type":
        if loc and loc[-1] == "[key]":
            return loc, f"{where}: label name {value!r} must be a string; quote it"
        return loc, f"{where} must be a string, got {_yaml_type(value)} {value!r}; quote it"
    if kind in ("model_type", "dict_type"):
        return loc, f"{where} must be a mapping (key: value), got {_yaml_type(value)}"
    if kind == "list_type":
        return loc, f"{where} must be a list, got {_yaml_type(value)}"
    if kind == "string_too_short":
        return loc, f"{where} must not be empty"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return loc, f"{where}: {message}"


def _policy_error(
    exc: ValidationError, root: yaml.Node | None, data: Any, path: str | None
) -> PolicyError:
    errors = exc.errors()
    # A misspelt key also makes its real key "missing": report the typo, not the symptom.
    typos = {
        (tuple(e["loc"][:-1]), close)
        for e in errors
        if e["type"] == "extra_forbidden"
        for close in difflib.get_close_matches(
            str(e["loc"][-1]), _allowed_keys(tuple(e["loc"][:-1])), n=1, cutoff=0.6
        )
    }
    problems: list[tuple[int, int, str]] = []
    for error in errors:
        loc: _Loc = tuple(error["loc"])
        if error["type"] == "missing" and (loc[:-1], loc[-1]) in typos:
            continue
        _, message = _describe_error(error, data)
        node = _node_at(root, loc, key=error["type"] == "extra_forbidden")
        problems.append((_line(node) or 0, len(problems), message))
    problems.sort()
    line, _, message = problems[0]
    if len(problems) > 1:
        more = "\n".join(f"  line {ln}: {msg}" for ln, _, msg in problems[1:])
        message = f"{message}\nalso:\n{more}"
    return PolicyError(message, path=path, line=line or None)


def _patterns(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _build_rules(spec: _PolicySpec, root: yaml.Node | None, path: str | None) -> list[Rule]:
    rules = []
    names: dict[str, int | None] = {}
    for index, rule in enumerate(spec.rules):
        loc: _Loc = ("rules", index)
        line = _line(_node_at(root, loc))
        if rule.name in names:
            raise PolicyError(
                f"rule name {rule.name!r} is already used by the rule on line {names[rule.name]}; "
                "rule names must be unique (evidence and approvals refer to rules by name)",
                path=path,
                line=_line(_node_at(root, (*loc, "name"))),
            )
        names[rule.name] = line
        _check_decision_settings(rule, f"rule {rule.name!r}", root, loc, path)
        match = rule.match or _MatchSpec()
        rules.append(
            Rule(
                name=rule.name,
                match=Match(
                    orchestrator=_patterns(match.orchestrator),
                    pipeline=_patterns(match.pipeline),
                    step=_patterns(match.step),
                    action=_patterns(match.action),
                    resource=_patterns(match.resource),
                    purpose=_patterns(match.purpose),
                    labels={key: tuple(value) for key, value in match.labels.items()},
                ),
                decision=PolicyDecision(rule.decision),
                reason=rule.reason,
                approvers=tuple(rule.approvers),
                expires_in=rule.expires_in,
                line=line,
            )
        )
    _check_decision_settings(spec.default, "the default", root, ("default",), path)
    return rules


def _check_decision_settings(
    spec: _DefaultSpec | _RuleSpec, what: str, root: yaml.Node | None, loc: _Loc, path: str | None
) -> None:
    if spec.decision != "require_approval":
        for key in ("approvers", "expires_in"):
            if key in spec.model_fields_set:
                raise PolicyError(
                    f"{what} has {key!r} but its decision is {spec.decision!r}; {key!r} only applies "
                    "to decision: require_approval (remove it, or change the decision)",
                    path=path,
                    line=_line(_node_at(root, (*loc, key), key=True)),
                )
    if isinstance(spec, _RuleSpec) and spec.decision != "allow" and not (spec.reason or "").strip():
        verb = "denies" if spec.decision == "deny" else "requires an approval"
        raise PolicyError(
            f"{what} {verb} but gives no reason; add `reason: ...` saying why (the person whose "
            "step is stopped, and the approver, read it)",
            path=path,
            line=_line(_node_at(root, (*loc, "decision"))),
        )


def _build_default(spec: _DefaultSpec) -> PolicyResult:
    decision = PolicyDecision(spec.decision)
    reason = spec.reason or f"no policy rule matched; the default is {decision.value}"
    return PolicyResult(
        rule=None,
        decision=decision,
        reason=reason,
        approvers=tuple(spec.approvers),
        expires_in=spec.expires_in,
    )


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


__all__ = [
    "MATCH_FIELDS",
    "Match",
    "Mismatch",
    "Policy",
    "PolicyDecision",
    "PolicyResult",
    "Rule",
    "RuleTrace",
    "parse_duration",
]
