"""Human and JSON output for the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from pydantic import BaseModel

from ..models import isoformat


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return isoformat(value)
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    json.dump(to_jsonable(value), out or sys.stdout, indent=2, ensure_ascii=False, default=str)
    (out or sys.stdout).write("\n")


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO | None = None) -> None:
    """A plain aligned table; empty cells print as '-'."""
    out = out or sys.stdout
    cells = [[("-" if cell in (None, "") else str(cell)) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    line = "  ".join(header.upper().ljust(widths[i]) for i, header in enumerate(headers))
    out.write(line.rstrip() + "\n")
    for row in cells:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


def fields(pairs: Sequence[tuple[str, Any]], out: TextIO | None = None) -> None:
    """``key: value`` lines, aligned, skipping empty values."""
    out = out or sys.stdout
    shown = [(key, value) for key, value in pairs if value not in (None, "", [], {})]
    width = max((len(key) for key, _ in shown), default=0)
    for key, value in shown:
        if isinstance(value, datetime):
            value = isoformat(value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        out.write(f"{key.ljust(width)}  {value}\n")
