"""Run every benchmark and print one table: ``python benchmarks/run.py [--quick] [-k NAME]``.

Imports each ``benchmarks/bench_*.py`` that defines ``run(quick: bool = False) -> list[dict]``,
prints all rows in one aligned table under a header describing the machine, and writes the same
data to ``benchmarks/results/latest.json``. Row shape: see benchmarks/README.md. A benchmark that
raises is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
COLUMNS = ("benchmark", "subject", "ops_per_s", "baseline", "ratio", "notes")


def discover(selection: list[str]) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if not selection or any(wanted in name for wanted in selection):
            found.append((name, path))
    return found


def load(path: Path) -> ModuleType:
    """Import ``bench_x.py`` as the top-level module ``bench_x``.

    Under its own name, with benchmarks/ on sys.path, so that worker processes started with the
    "spawn" method (which inherit sys.path) can import it again to unpickle its functions.
    """
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(path.stem)


def normalise(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """Bring a row to the shared shape; also accepts {name, ops/s, ratio vs ceiling, notes}."""
    if "ops_per_s" in row:
        out = {column: row.get(column) for column in COLUMNS}
    else:  # the first bench_ledger shape
        out = {
            "benchmark": name,
            "subject": row.get("name", "?"),
            "ops_per_s": row.get("ops/s"),
            "baseline": "ceiling" if row.get("ratio vs ceiling") not in (None, 1.0) else "",
            "ratio": None,
            "notes": row.get("notes", ""),
        }
        if out["baseline"]:
            out["ratio"] = row["ratio vs ceiling"]
    out["benchmark"] = out["benchmark"] or name
    out["subject"] = out["subject"] or ""
    out["baseline"] = out["baseline"] or ""
    out["notes"] = out["notes"] or ""
    out["ops_per_s"] = float(out["ops_per_s"]) if out["ops_per_s"] is not None else None
    out["ratio"] = float(out["ratio"]) if out["ratio"] is not None else None
    return out


def machine() -> dict[str, Any]:
    try:
        from govflow import __version__ as govflow_version
    except ImportError:
        govflow_version = "not installed"
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "processor": _cpu_model() or platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "govflow": govflow_version,
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _format_ops(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    headers = ("benchmark", "subject", "ops/s", "vs", "ratio", "notes")
    cells = [
        (
            row["benchmark"],
            row["subject"],
            _format_ops(row["ops_per_s"]),
            row["baseline"],
            "" if row["ratio"] is None else f"{row['ratio']:.2f}x",
            row["notes"],
        )
        for row in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
    right = {2, 4}  # numbers align right

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(tuple("-" * w for w in widths))]
    previous = None
    for row, cell in zip(rows, cells, strict=True):
        if previous is not None and row["benchmark"] != previous:
            out.append("")  # a blank line between benchmarks keeps groups readable
        previous = row["benchmark"]
        out.append(line(cell))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke-test the suite)")
    parser.add_argument(
        "-k",
        dest="selection",
        action="append",
        default=[],
        help="only bench_*NAME*.py (repeatable)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})"
    )
    args = parser.parse_args(argv)

    info = machine()
    print(
        f"govflow benchmarks  {info['date']}  govflow {info['govflow']}\n"
        f"{info['python']} on {info['platform']} ({info['machine']}), "
        f"{info['cpu_count']} CPUs ({info['usable_cpus']} usable), {info['processor']}\n"
        f"mode: {'quick' if args.quick else 'full'}; ratios compare rows of the same run: "
        "ops/s of the row divided by ops/s of its 'vs' row (higher is faster)\n"
    )

    rows: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    timings: dict[str, float] = {}
    benchmarks = discover(args.selection)
    if not benchmarks:
        print("no benchmarks matched", file=sys.stderr)
        return 1
    for name, path in benchmarks:
        started = time.perf_counter()
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        try:
            module = load(path)
            runner = getattr(module, "run", None)
            if not callable(runner):
                print(f"  skipped: {path.name} has no run()", file=sys.stderr)
                continue
            rows.extend(normalise(name, row) for row in runner(quick=args.quick))
        except Exception as exc:  # one broken benchmark must not hide the others
            errors.append({"benchmark": name, "error": f"{type(exc).__name__}: {exc}"})
            traceback.print_exc()
        timings[name] = round(time.perf_counter() - started, 2)

    print()
    print(table(rows))
    for error in errors:
        print(f"\nFAILED {error['benchmark']}: {error['error']}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "quick": args.quick,
        "seconds": timings,
        "rows": rows,
        "errors": errors,
    }
    args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
