"""JSONL exports of the ledger that verify offline, with no database and no govflow ledger.

Line 1 is a header ``{"type": "govflow.evidence.export", "version": 1, "exported_at": ...,
"heads": {stream: {"seq": n, "digest": ...}}}``; every further line is one record: its sealed
body plus ``digest``, in RFC 8785 canonical form, streams in name order and each in seq order.
Anyone can check a line by removing ``digest``, canonicalising the rest and hashing it with
SHA-256; :func:`verify_export` does that and checks the links and the heads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from ..canonical import canonical_str
from ..models import isoformat, utcnow
from .verify import EXPORT_TYPE, Head, VerifyReport, verify_items

EXPORT_VERSION = 1


def export_header(heads: Mapping[str, Head]) -> str:
    return canonical_str(
        {
            "type": EXPORT_TYPE,
            "version": EXPORT_VERSION,
            "exported_at": isoformat(utcnow()),
            "heads": {
                stream: {"seq": seq, "digest": digest}
                for stream, (seq, digest) in sorted(heads.items())
            },
        }
    )


def export_line(stream: str, seq: int, digest: str, body_text: str) -> str:
    """One record's line: the stored body with its stored digest, exactly as found.

    A body that is not a JSON object (or that smuggles in its own ``digest``) is exported under
    ``$unreadable_body`` so the offline check fails on it just as the ledger's own check does.
    """
    try:
        body = json.loads(body_text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "digest" in body:
        return canonical_str(
            {"stream": stream, "seq": seq, "digest": digest, "$unreadable_body": body_text}
        )
    body["digest"] = digest
    return canonical_str(body)


def write_lines(fp: TextIO, header: str, lines: Iterable[str]) -> int:
    fp.write(header + "\n")
    count = 0
    for line in lines:
        fp.write(line + "\n")
        count += 1
    return count


def read_export(fp: TextIO) -> Iterator[tuple[str, object]]:
    """``(where, parsed line)`` pairs; a line that is not JSON comes as its ``ValueError``."""
    for number, line in enumerate(fp, start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except ValueError as exc:
            yield f"line {number}", exc


def verify_export(source: TextIO | str | Path, *, stream: str | None = None) -> VerifyReport:
    """Verify an export file (a path or an open text file) offline; one stream or all.

    Lines that are not JSON are reported as unreadable rather than raised, like any damage.
    """
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as fp:
            return verify_items(read_export(fp), stream=stream)
    return verify_items(read_export(source), stream=stream)


__all__ = [
    "EXPORT_VERSION",
    "export_header",
    "export_line",
    "read_export",
    "verify_export",
    "write_lines",
]
