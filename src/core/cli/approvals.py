"""``govflow approvals list|show|approve|deny``."""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Any

from ..models import Approval, ApprovalStatus
from ..platforms.local import LocalPlatform, Policy
from ._output import fields, print_json, short_time, table


def register(groups: Any) -> None:
    parser = groups.add_parser("approvals", help="list and decide approvals", description="List and decide approvals.")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list approvals (pending ones by default)")
    listing.add_argument(
        "--status",
        default="pending",
        choices=[status.value for status in ApprovalStatus] + ["all"],
        help="which approvals to show (default: pending)",
    )
    listing.add_argument("--pipeline", help="only approvals of this pipeline")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show one approval")
    show.add_argument("approval_id")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_show)

    for name, verb in (("approve", "approve"), ("deny", "deny")):
        decide = commands.add_parser(name, help=f"{verb} a pending approval")
        decide.add_argument("approval_id")
        decide.add_argument(
            "--as",
            dest="by",
            default=None,
            help="who decides (default: GOVFLOW_USER, else your login name)",
        )
        decide.add_argument("--comment", "-m", help="why; recorded in the evidence ledger")
        decide.add_argument("--json", action="store_true", help="machine-readable output")
        decide.set_defaults(handler=_decide, approve=(name == "approve"))


def _platform(args: argparse.Namespace) -> LocalPlatform:
    # Deciding needs no policy: don't let a broken GOVFLOW_POLICY stop a person from deciding.
    return LocalPlatform(Policy.allow_all(), database_url=args.database_url)


def _list(args: argparse.Namespace) -> int:
    status = None if args.status == "all" else ApprovalStatus(args.status)
    approvals = _platform(args).approvals.list(status=status, pipeline=args.pipeline, limit=args.limit)
    if args.json:
        print_json(approvals)
        return 0
    if not approvals:
        print(f"No {'' if status is None else status.value + ' '}approvals.")
        return 0
    table(
        ["id", "status", "pipeline", "run", "step", "action", "requested", "expires"],
        [
            [
                a.id,
                a.status.value,
                a.context.pipeline if a.context else None,
                a.context.run_id if a.context else None,
                a.context.step if a.context else None,
                a.action,
                short_time(a.created_at),
                short_time(a.expires_at),
            ]
            for a in approvals
        ],
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    approval = _platform(args).approvals.get(args.approval_id)
    if args.json:
        print_json(approval)
    else:
        _print_approval(approval)
    return 0


def _decide(args: argparse.Namespace) -> int:
    by = args.by or os.environ.get("GOVFLOW_USER") or getpass.getuser()
    approval = _platform(args).decide(args.approval_id, approve=args.approve, by=by, comment=args.comment)
    if args.json:
        print_json(approval)
    else:
        print(f"{approval.id} {approval.status.value} by {approval.decided_by}.")
    return 0


def _print_approval(approval: Approval) -> None:
    context = approval.context
    fields(
        [
            ("id", approval.id),
            ("status", approval.status.value),
            ("pipeline", context.pipeline if context else None),
            ("run", context.run_id if context else None),
            ("step", context.step if context else None),
            ("orchestrator", context.orchestrator if context else None),
            ("action", approval.action),
            ("resource", approval.resource),
            ("reason", approval.reason),
            ("approvers", ", ".join(approval.approvers) or "anyone"),
            ("requested", approval.created_at),
            ("expires", approval.expires_at),
            ("decided by", approval.decided_by),
            ("decided at", approval.decided_at),
            ("comment", approval.comment),
        ]
    )
