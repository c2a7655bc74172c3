"""``govflow evidence list|show|verify|export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..evidence import EvidenceLedger, EvidenceOutbox, VerifyReport, verify_export
from ._output import fields, print_json, short_time, table


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "evidence", help="read, verify and export the evidence ledger", description="Read, verify and export the evidence ledger."
    )
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="list evidence records, oldest first")
    listing.add_argument("--stream", help="only this stream (e.g. python/demo_pipeline)")
    listing.add_argument("--run-id", help="only records of this run")
    listing.add_argument("--limit", type=int, help="at most this many records")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="show one record by digest (or unique prefix) or STREAM#SEQ")
    show.add_argument("ref")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_show)

    verify = commands.add_parser(
        "verify",
        help="recompute every digest and link; exit 1 naming the first broken record",
    )
    verify.add_argument("--stream", help="only this stream (default: all)")
    verify.add_argument("--file", type=Path, help="verify an exported JSONL file instead of the database")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(handler=_verify)

    outbox = commands.add_parser(
        "outbox", help="records queued for remote platforms: pending, delivered, failed"
    )
    outbox.add_argument("--sink", help="only this platform (e.g. lattix)")
    outbox.add_argument("--status", choices=["pending", "delivered", "failed"], help="only this status")
    outbox.add_argument("--retry-now", action="store_true", help="make every pending record due now")
    outbox.add_argument("--json", action="store_true", help="machine-readable output")
    outbox.set_defaults(handler=_outbox)

    export = commands.add_parser("export", help="write records as JSONL that verifies offline")
    export.add_argument("--stream", help="only this stream (default: all)")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=_export)


def _ledger(args: argparse.Namespace) -> EvidenceLedger:
    return EvidenceLedger(args.database_url)


def _list(args: argparse.Namespace) -> int:
    records = _ledger(args).records(args.stream, run_id=args.run_id, limit=args.limit)
    if args.json:
        print_json(records)
        return 0
    if not records:
        print("No evidence records.")
        return 0
    table(
        ["stream", "seq", "time", "event", "outcome", "run", "step", "digest"],
        [
            [r.stream, r.seq, short_time(r.recorded_at), r.event, r.outcome, r.context.run_id, r.context.step, r.digest[7:19]]
            for r in records
        ],
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    record = _ledger(args).get(args.ref)
    if args.json:
        print_json(record)
        return 0
    context = record.context
    fields(
        [
            ("stream", record.stream),
            ("seq", record.seq),
            ("event", record.event),
            ("outcome", record.outcome),
            ("orchestrator", context.orchestrator),
            ("pipeline", context.pipeline),
            ("run", context.run_id),
            ("step", context.step),
            ("attempt", context.attempt),
            ("map index", context.map_index),
            ("partition", context.partition),
            ("labels", context.labels),
            ("recorded at", record.recorded_at),
            ("started at", record.started_at),
            ("ended at", record.ended_at),
            ("decision", record.decision_id),
            ("approval", record.approval_id),
            ("references", record.references),
            ("input digest", record.input_digest),
            ("output digest", record.output_digest),
            ("error", record.error),
            ("details", record.details),
            ("prev", record.prev),
            ("digest", record.digest),
        ]
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.file is not None:
        report = _verify_file(args.file, args.stream)
    else:
        report = _ledger(args).verify(args.stream)
    if args.json:
        print_json(report)
    else:
        _print_report(report, source=str(args.file) if args.file else "ledger")
    return 0 if report.ok else 1


def _verify_file(path: Path, stream: str | None) -> VerifyReport:
    try:
        return verify_export(path, stream=stream)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc


def _print_report(report: VerifyReport, *, source: str) -> None:
    if report.ok:
        print(
            f"OK: {report.records_checked} records in {report.streams_checked} "
            f"stream{'s' if report.streams_checked != 1 else ''} verify ({source})."
        )
        return
    print(f"BROKEN: the evidence chain does not verify ({source}).", file=sys.stderr)
    for problem in report.problems:
        print(f"  {problem.message}", file=sys.stderr)


def _outbox(args: argparse.Namespace) -> int:
    outbox = EvidenceOutbox(args.database_url)
    if args.retry_now:
        count = outbox.retry_now(args.sink)
        print(f"{count} pending record{'s' if count != 1 else ''} due now; they go with the next delivery.")
        return 0
    entries = outbox.entries(args.sink, status=args.status)
    if args.json:
        print_json([entry.__dict__ for entry in entries])
        return 0
    if not entries:
        print("The evidence outbox is empty.")
        return 0
    table(
        ["sink", "record", "status", "attempts", "next attempt", "reference", "last error"],
        [
            [e.sink, f"{e.stream}#{e.seq}", e.status, e.attempts, short_time(e.next_attempt_at) if e.status == "pending" else None, e.reference, (e.last_error or "")[:60]]
            for e in entries
        ],
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    ledger = _ledger(args)
    if args.output is None:
        count = ledger.export(sys.stdout, args.stream)
    else:
        with args.output.open("w", encoding="utf-8") as fp:
            count = ledger.export(fp, args.stream)
        print(f"Exported {count} records to {args.output}.", file=sys.stderr)
    return 0
