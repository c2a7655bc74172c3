"""The ``govflow`` command: approvals, evidence and policy on the embedded local platform.

Exit codes (also in ``govflow --help``):

====  =================================================================
0     success
1     a check failed: the evidence chain is broken or the policy invalid
2     usage error (bad arguments)
3     not found (no such approval or evidence record)
4     conflict: the approval is already decided or has expired
5     forbidden: you are not among the approval's approvers
6     configuration or database error
====  =================================================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..._version import __version__
from ...core import errors
from . import approvals, evidence, policy

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_FORBIDDEN = 5
EXIT_CONFIG = 6

_EPILOG = """exit codes:
  0 success   1 check failed (broken chain, invalid policy)   2 usage error
  3 not found   4 conflict (already decided or expired)   5 forbidden (not an approver)
  6 configuration or database error

The database is GOVFLOW_LEDGER_URL, else govflow.db in the govflow data directory
(GOVFLOW_HOME, else the user data directory); --database-url overrides both."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="govflow",
        description="Approvals, evidence and policy of the govflow local platform.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"govflow {__version__}")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="ledger and approvals database (default: GOVFLOW_LEDGER_URL or the local file)",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    approvals.register(groups)
    evidence.register(groups)
    policy.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except errors.NotFoundError as exc:
        return _fail(exc, EXIT_NOT_FOUND)
    except (errors.ConflictError, errors.ApprovalExpiredError) as exc:
        return _fail(exc, EXIT_CONFLICT)
    except errors.ForbiddenError as exc:
        return _fail(exc, EXIT_FORBIDDEN)
    except errors.PolicyError as exc:
        return _fail(exc, EXIT_CHECK_FAILED)
    except (errors.ConfigurationError, errors.LedgerError) as exc:
        return _fail(exc, EXIT_CONFIG)
    except errors.GovflowError as exc:
        return _fail(exc, EXIT_CONFIG)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK  # `govflow evidence export | head` is fine


def _fail(exc: BaseException, code: int) -> int:
    print(f"govflow: error: {exc}", file=sys.stderr)
    return code


def run() -> None:
    sys.exit(main())


__all__ = ["build_parser", "main", "run"]
