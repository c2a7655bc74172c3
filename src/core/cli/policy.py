"""``govflow policy check FILE [--explain REQUEST]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigurationError
from ..models import GateRequest, RunContext
from ..platforms.local import Policy
from ._output import print_json

_REQUEST_HELP = """REQUEST is JSON (inline, or a path to a .json/.yaml file) with the fields the rules match on:
  {"orchestrator": "airflow", "pipeline": "etl_daily", "step": "load",
   "action": "export", "resource": "s3://bucket/key", "labels": {"env": "prod"}}
Only "action" is required."""


def register(groups: Any) -> None:
    parser = groups.add_parser("policy", help="check a policy file", description="Check a policy file.")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)
    check = commands.add_parser(
        "check",
        help="validate a policy file; with --explain, show how it decides a request",
        epilog=_REQUEST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", type=Path, help="the policy YAML file")
    check.add_argument("--explain", metavar="REQUEST", help="evaluate this request rule by rule")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    policy = Policy.load(args.file)
    if args.explain is None:
        if args.json:
            print_json({"file": str(args.file), "valid": True, "rules": len(policy.rules)})
        else:
            print(f"OK: {args.file} is valid ({len(policy.rules)} rules, default {policy.default.value}).")
        return 0
    context, request = _parse_request(args.explain)
    result = policy.evaluate(context, request)
    traces = policy.explain(context, request)
    if args.json:
        print_json({"decision": result, "rules": traces})
        return 0
    for trace in traces:
        print(trace.describe())
        if trace.matched:
            break  # the first match decides; later rules are not consulted
    rule = f"rule {result.rule!r}" if result.rule else "the default"
    reason = f": {result.reason}" if result.reason else ""
    print(f"decision: {result.decision.value} by {rule}{reason}")
    return 0


def _parse_request(text: str) -> tuple[RunContext, GateRequest]:
    path = Path(text)
    source = "REQUEST"
    try:
        if not text.lstrip().startswith("{") and path.is_file():
            source = str(path)
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{source} is not valid JSON/YAML: {exc}") from exc
    if not isinstance(data, dict) or "action" not in data:
        raise ConfigurationError(f'{source} must be an object with at least an "action", e.g. {{"action": "export"}}')
    try:
        context = RunContext(
            orchestrator=data.get("orchestrator", "python"),
            pipeline=data.get("pipeline", "explain"),
            run_id=data.get("run_id", "explain"),
            step=data.get("step"),
            labels=data.get("context_labels", {}),
        )
        request = GateRequest(
            action=data["action"],
            resource=data.get("resource"),
            purpose=data.get("purpose"),
            labels=data.get("labels", {}),
        )
    except ValidationError as exc:
        raise ConfigurationError(f"{source} has a bad field: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    return context, request
