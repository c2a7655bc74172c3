"""Policy rules of the local platform: matching, loading and the errors a policy author sees."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from govflow.core.errors import ConfigurationError, PolicyError
from govflow.core.models import GateRequest, RunContext
from govflow.core.platforms.local.policy import Policy, PolicyDecision, parse_duration

POLICIES = Path(__file__).parent / "policies"


def ctx(**overrides: Any) -> RunContext:
    fields: dict[str, Any] = {
        "orchestrator": "airflow",
        "pipeline": "etl_daily",
        "run_id": "run-1",
        "step": "load",
    }
    fields.update(overrides)
    return RunContext(**fields)


def req(action: str = "read", **overrides: Any) -> GateRequest:
    return GateRequest(action=action, **overrides)


def policy(text: str, path: str | None = "policy.yaml") -> Policy:
    return Policy.from_text(textwrap.dedent(text), path=path)


def one_rule(match: str, *, default: str = "allow") -> Policy:
    """A policy whose single rule `hit` denies what `match` matches."""
    return policy(
        f"""
        default: {default}
        rules:
          - name: hit
            match: {match}
            decision: deny
            reason: matched
        """
    )


def hits(p: Policy, context: RunContext, request: GateRequest) -> bool:
    return p.evaluate(context, request).rule == "hit"


def error_of(text: str, path: str | None = "policy.yaml") -> PolicyError:
    with pytest.raises(PolicyError) as info:
        policy(text, path=path)
    return info.value


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "context", "request_", "expected"),
    [
        ("{orchestrator: airflow}", ctx(), req(), True),
        ("{orchestrator: prefect}", ctx(), req(), False),
        ("{pipeline: 'etl_*'}", ctx(), req(), True),
        ("{pipeline: 'etl_*'}", ctx(pipeline="ml_train"), req(), False),
        ("{step: load}", ctx(), req(), True),
        ("{step: 'extract*'}", ctx(), req(), False),
        ("{action: 'delete*'}", ctx(), req("delete_table"), True),
        ("{action: 'delete*'}", ctx(), req("read"), False),
        ("{resource: 'prod/*'}", ctx(), req(resource="prod/orders"), True),
        ("{resource: 'prod/*'}", ctx(), req(resource="dev/orders"), False),
        ("{purpose: 'marketing'}", ctx(), req(purpose="marketing"), True),
        ("{purpose: 'marketing'}", ctx(), req(purpose="billing"), False),
    ],
)
def test_each_field_matches(
    match: str, context: RunContext, request_: GateRequest, expected: bool
) -> None:
    assert hits(one_rule(match), context, request_) is expected


def test_globs_are_fnmatch_and_case_sensitive() -> None:
    p = one_rule("{resource: 's3://bucket/[a-c]?/*.csv'}")
    assert hits(p, ctx(), req(resource="s3://bucket/b1/deep/x.csv"))  # '*' crosses '/'
    assert not hits(p, ctx(), req(resource="s3://bucket/d1/x.csv"))
    assert not hits(p, ctx(), req(resource="S3://bucket/b1/x.csv"))
    upper = one_rule("{action: Export}")
    assert not hits(upper, ctx(), req("export"))
    assert hits(upper, ctx(), req("Export"))


def test_a_list_matches_any_of_its_patterns() -> None:
    p = one_rule("{orchestrator: [prefect, 'dag*'], action: [delete, 'drop_*']}")
    assert hits(p, ctx(orchestrator="prefect"), req("drop_table"))
    assert hits(p, ctx(orchestrator="dagster"), req("delete"))
    assert not hits(p, ctx(orchestrator="airflow"), req("delete"))
    assert not hits(p, ctx(orchestrator="prefect"), req("truncate"))


def test_all_fields_of_a_rule_must_match() -> None:
    p = one_rule("{pipeline: 'etl_*', action: delete, resource: 'prod/*'}")
    assert hits(p, ctx(), req("delete", resource="prod/x"))
    assert not hits(p, ctx(), req("delete", resource="dev/x"))
    assert not hits(p, ctx(pipeline="other"), req("delete", resource="prod/x"))


def test_a_set_field_does_not_match_an_unset_value() -> None:
    assert not hits(one_rule("{resource: '*'}"), ctx(), req())
    assert hits(one_rule("{resource: '*'}"), ctx(), req(resource="anything"))
    assert not hits(one_rule("{step: '*'}"), ctx(step=None), req())
    assert not hits(one_rule("{purpose: '*'}"), ctx(), req())


def test_a_rule_without_match_matches_everything() -> None:
    for match in ("{}", "null"):
        assert hits(one_rule(match), ctx(), req())
    p = policy(
        """
        rules:
          - name: hit
            decision: deny
            reason: everything
        """
    )
    assert hits(p, ctx(step=None), req())


def test_labels_match_the_union_of_context_and_request_labels() -> None:
    p = one_rule("{labels: {env: 'prod*', team: data}}")
    assert hits(p, ctx(labels={"env": "prod-eu"}), req(labels={"team": "data"}))
    assert hits(p, ctx(labels={"env": "prod", "team": "data"}), req())
    assert hits(p, ctx(), req(labels={"env": "prod", "team": "data"}))
    assert not hits(p, ctx(labels={"env": "prod"}), req())  # team missing
    assert not hits(p, ctx(labels={"env": "dev", "team": "data"}), req())
    # Either source's value counts: a step cannot relabel itself out of its pipeline's rule.
    assert hits(p, ctx(labels={"env": "prod", "team": "data"}), req(labels={"env": "dev"}))
    listed = one_rule("{labels: {env: [prod, staging]}}")
    assert hits(listed, ctx(labels={"env": "staging"}), req())
    assert not hits(listed, ctx(labels={"env": "dev"}), req())


def test_first_match_wins() -> None:
    p = policy(
        """
        rules:
          - name: allow-reads
            match: {action: read}
            decision: allow
          - name: deny-prod
            match: {resource: 'prod/*'}
            decision: deny
            reason: prod is off limits
          - name: deny-everything
            decision: deny
            reason: nothing else
        """
    )
    assert p.evaluate(ctx(), req("read", resource="prod/x")).rule == "allow-reads"
    result = p.evaluate(ctx(), req("write", resource="prod/x"))
    assert (result.rule, result.decision, result.reason) == (
        "deny-prod",
        PolicyDecision.DENY,
        "prod is off limits",
    )
    assert p.evaluate(ctx(), req("write")).rule == "deny-everything"


def test_default_applies_when_nothing_matches() -> None:
    assert one_rule("{action: x}").evaluate(ctx(), req()).decision is PolicyDecision.ALLOW
    denying = one_rule("{action: x}", default="deny")
    result = denying.evaluate(ctx(), req())
    assert result.rule is None
    assert result.decision is PolicyDecision.DENY
    assert result.reason and "default" in result.reason
    assert denying.default is PolicyDecision.DENY


def test_default_without_default_key_is_allow() -> None:
    p = policy("rules: []\n")
    assert p.evaluate(ctx(), req()).decision is PolicyDecision.ALLOW
    assert p.default is PolicyDecision.ALLOW


def test_default_with_settings() -> None:
    p = policy(
        """
        default: {decision: require_approval, reason: Not covered, approvers: [ops], expires_in: 2h}
        """
    )
    result = p.evaluate(ctx(), req())
    assert result.rule is None
    assert result.decision is PolicyDecision.REQUIRE_APPROVAL
    assert result.reason == "Not covered"
    assert result.approvers == ("ops",)
    assert result.expires_in == timedelta(hours=2)


def test_require_approval_rule_carries_approvers_and_expiry() -> None:
    p = Policy.load(POLICIES / "example.yaml")
    result = p.evaluate(ctx(), req("export"))
    assert result.decision is PolicyDecision.REQUIRE_APPROVAL
    assert result.rule == "exports-need-approval"
    assert result.approvers == ("alice", "bob")
    assert result.expires_in == timedelta(hours=24)
    assert result.line == 14
    assert result.to_dict() == {
        "rule": "exports-need-approval",
        "decision": "require_approval",
        "reason": "Exports leave the company",
        "approvers": ["alice", "bob"],
        "expires_in": 86400.0,
        "line": 14,
    }
    assert p.path == str(POLICIES / "example.yaml")
    assert p.digest is not None and p.digest.startswith("sha256:")


def test_example_policy_decides_as_documented() -> None:
    p = Policy.load(POLICIES / "example.yaml")
    prod = ctx(labels={"env": "prod"})
    assert (
        p.evaluate(prod, req("delete_rows", resource="prod/orders")).decision is PolicyDecision.DENY
    )
    assert (
        p.evaluate(ctx(), req("delete_rows", resource="prod/orders")).decision
        is PolicyDecision.ALLOW
    )
    assert p.evaluate(ctx(orchestrator="dagster"), req("read")).rule is None
    assert p.evaluate(ctx(orchestrator="prefect"), req("read")).rule == "airflow-or-prefect-reads"


def test_allow_all() -> None:
    p = Policy.allow_all()
    result = p.evaluate(ctx(), req("delete", resource="prod/everything"))
    assert result.decision is PolicyDecision.ALLOW
    assert result.rule is None
    assert result.reason and "no policy configured" in result.reason
    assert p.is_allow_all
    assert p.path is None


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 1d 12h ", timedelta(hours=36)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "h", "1.5h", "-1h", "1y", "0s", "tomorrow"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- errors: each points at the right line and says what to fix ---------------------------


def test_yaml_syntax_error_has_line_and_path() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            match: {action: [x
            decision: allow
        """
    )
    assert error.path == "policy.yaml"
    assert error.line == 4
    assert str(error).startswith("policy.yaml:4: not valid YAML")
    assert "line 3" in str(error)  # where the unclosed bracket began


def test_bad_indentation_is_a_syntax_error() -> None:
    error = error_of("rules:\n  - name: a\n   decision: allow\n")
    assert error.line in (2, 3)
    assert "not valid YAML" in error.reason


def test_unknown_key_with_did_you_mean() -> None:
    error = error_of(
        """\
        version: 1
        rules:
          - name: a
            decison: deny
            reason: r
        """
    )
    assert error.line == 4
    assert "unknown key 'decison'" in str(error)
    assert "did you mean 'decision'?" in str(error)
    assert "missing" not in str(error)  # the typo, not its symptom, is reported


def test_unknown_match_key_hints_the_right_name() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            match:
              action: export
              task_id: load
            decision: allow
        """
    )
    assert error.line == 5
    assert "did you mean 'step'?" in str(error)
    assert "Allowed keys: orchestrator, pipeline, step, action, resource, purpose, labels" in str(
        error
    )


def test_a_condition_outside_match_says_where_it_goes() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            action: export
            decision: allow
        """
    )
    assert error.line == 3
    assert "conditions go under `match:`" in str(error)


def test_unknown_top_level_key() -> None:
    error = error_of("version: 1\nrule:\n  - name: a\n")
    assert error.line == 2
    assert "did you mean 'rules'?" in str(error)


def test_bad_decision() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            match: {action: x}
            decision: denied
            reason: r
        """
    )
    assert error.line == 4
    assert "'allow', 'deny' or 'require_approval'" in str(error)
    assert "did you mean 'deny'?" in str(error)
    assert "rule 'a'" in str(error)


def test_missing_decision() -> None:
    error = error_of(
        """\
        rules:
          - name: ok
            decision: allow
          - name: b
            match: {action: x}
        """
    )
    assert error.line == 4
    assert "rule 'b' (rules[1]) is missing 'decision'" in str(error)


def test_bad_duration() -> None:
    error = error_of((POLICIES / "invalid.yaml").read_text(), path=str(POLICIES / "invalid.yaml"))
    assert error.line == 7
    assert str(error).startswith(f"{POLICIES / 'invalid.yaml'}:7:")
    assert "'tomorrow' is not a duration" in str(error)
    assert "30s, 15m, 2h, 1d" in str(error)


def test_duration_without_unit() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            decision: require_approval
            reason: r
            expires_in: 3600
        """
    )
    assert error.line == 5
    assert "3600s" in str(error)


def test_duplicate_rule_names() -> None:
    error = error_of(
        """\
        rules:
          - name: same
            decision: allow
          - name: other
            decision: allow
          - name: same
            decision: allow
        """
    )
    assert error.line == 6
    assert "'same' is already used by the rule on line 2" in str(error)


def test_duplicate_keys_in_one_mapping() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            decision: allow
            decision: deny
        """
    )
    assert error.line == 4
    assert "'decision' appears twice" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("rules:\n  - name: a\n    match: {step: 1}\n    decision: allow\n", 3, "quote it"),
        (
            "rules:\n  - name: a\n    match: {step: [load, 2]}\n    decision: allow\n",
            3,
            "match.step[1] must be a string",
        ),
        (
            "rules:\n  - name: a\n    match:\n      labels: {env: yes}\n    decision: allow\n",
            4,
            "got a boolean",
        ),
        ("rules:\n  - name: a\n    match: export\n    decision: allow\n", 3, "must be a mapping"),
        (
            "rules:\n  - name: a\n    match:\n      labels: [env]\n    decision: allow\n",
            4,
            "must be a mapping",
        ),
        ("rules:\n  - name: 7\n    decision: allow\n", 2, "must be a string"),
        ("rules: {name: a}\n", 1, "rules must be a list"),
        ("rules:\n  - just-a-string\n", 2, "must be a mapping"),
        (
            "rules:\n  - name: a\n    match: {action: []}\n    decision: allow\n",
            3,
            "empty list matches nothing",
        ),
        ("rules:\n  - name: ''\n    decision: allow\n", 2, "must not be empty"),
        ("version: 2\nrules: []\n", 1, "version must be 1"),
        ("default: maybe\n", 1, "default.decision must be"),
    ],
)
def test_wrong_types(text: str, line: int, fragment: str) -> None:
    error = error_of(text)
    assert error.line == line, str(error)
    assert fragment in str(error)


def test_deny_and_require_approval_need_a_reason() -> None:
    error = error_of("rules:\n  - name: a\n    match: {action: x}\n    decision: deny\n")
    assert error.line == 4
    assert "add `reason: ...`" in str(error)
    error = error_of("rules:\n  - name: a\n    decision: require_approval\n    reason: '  '\n")
    assert "gives no reason" in str(error)
    policy("rules:\n  - name: a\n    decision: allow\n")  # allow needs none


def test_approval_settings_on_other_decisions_are_errors() -> None:
    error = error_of("rules:\n  - name: a\n    decision: allow\n    expires_in: 1h\n")
    assert error.line == 4
    assert "'expires_in' only applies to decision: require_approval" in str(error)
    error = error_of("default: {decision: deny, approvers: [a]}\n")
    assert "the default has 'approvers'" in str(error)


def test_several_problems_are_all_listed() -> None:
    error = error_of(
        """\
        rules:
          - name: a
            decision: nope
          - name: b
            decision: allow
            expires_in: soon
        """
    )
    assert error.line == 3
    assert "also:\n  line 6:" in str(error)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the policy is empty"),
        ("# only a comment\n", "the policy is empty"),
        ("- a\n", "not a list"),
    ],
)
def test_not_a_policy(text: str, fragment: str) -> None:
    assert fragment in str(error_of(text))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as info:
        Policy.load(missing)
    assert str(missing) in str(info.value)
    assert "not found" in str(info.value)
    assert isinstance(info.value, ConfigurationError)


def test_policy_without_path_says_policy() -> None:
    assert str(error_of("default: nope\n", path=None)).startswith("<policy>:1:")


def test_load_reports_file_path_and_line(tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("rules:\n  - name: a\n    decision: allow\n    approvers: [x]\n")
    with pytest.raises(PolicyError) as info:
        Policy.load(file)
    assert info.value.path == str(file)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{file}:4: ")


# --- explain ------------------------------------------------------------------------------


def test_explain_lists_every_rule_with_the_reasons_it_did_not_match() -> None:
    p = Policy.load(POLICIES / "example.yaml")
    traces = p.explain(
        ctx(orchestrator="prefect", labels={"env": "dev"}), req("read", resource="dev/x")
    )
    assert [(t.name, t.line, t.matched) for t in traces] == [
        ("no-prod-deletes", 5, False),
        ("exports-need-approval", 14, False),
        ("airflow-or-prefect-reads", 21, True),
    ]
    first = traces[0]
    assert [m.field for m in first.mismatches] == ["action", "resource", "labels.env"]
    assert str(first.mismatches[0]) == "action 'read' does not match 'delete*'"
    assert first.mismatches[2].why == "labels.env 'dev' does not match 'prod'"
    assert traces[1].mismatches[0].why == "action 'read' does not match 'export'"
    assert traces[2].mismatches == ()
    assert traces[2].describe() == "rule 'airflow-or-prefect-reads' (line 21): matches -> allow"
    assert "no match: action 'read'" in traces[0].describe()


def test_explain_says_when_a_value_is_missing() -> None:
    p = one_rule("{resource: 'prod/*', labels: {env: prod}}")
    (trace,) = p.explain(ctx(), req())
    assert [m.why for m in trace.mismatches] == [
        "resource is not set (rule wants 'prod/*')",
        "labels.env is missing (rule wants 'prod')",
    ]


def test_explain_agrees_with_evaluate() -> None:
    p = Policy.load(POLICIES / "example.yaml")
    cases = [
        (ctx(labels={"env": "prod"}), req("delete", resource="prod/a")),
        (ctx(), req("export")),
        (ctx(orchestrator="dagster"), req("read")),
    ]
    for context, request in cases:
        first = next((t.name for t in p.explain(context, request) if t.matched), None)
        assert first == p.evaluate(context, request).rule


def test_explain_output_is_json_ready() -> None:
    p = one_rule("{action: x}")
    (trace,) = p.explain(ctx(), req())
    data = trace.model_dump(mode="json")
    assert data["mismatches"][0]["why"] == "action 'read' does not match 'x'"
    assert p.evaluate(ctx(), req("x")).model_dump(mode="json")["decision"] == "deny"
