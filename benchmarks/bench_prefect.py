"""Prefect: what govflow's evidence hooks and gate task cost a flow run.

Runs only where Prefect is installed (the nox ``prefect`` env)::

    .nox/prefect/bin/python benchmarks/bench_prefect.py [--quick]

``make bench`` runs in the dev venv, without Prefect: there :func:`run` returns one note row saying
so. Prefect gets a throw-away ``PREFECT_HOME`` and a test API server (``prefect_test_harness``),
govflow a throw-away ledger (SQLite). Each variant is one flow run of 50 trivial tasks (20 with
``--quick``), interleaved, best of 3 (1 with ``--quick``) after a warm-up run of each:

1. **plain**: no govflow at all: the ceiling.
2. **governed(flow)**: the flow hook records every task run (read back from the API, once the
   API has caught up with the task-run events) and the flow run, then writes the artifact.
3. **governed(flow) + governed(task)**: every task also records in its own completion hook (a
   synchronous ledger append and a Prefect event), the way a task used outside a governed flow
   would.
4. **gate per task**: each task is preceded by a ``gate`` task on the local platform (policy
   decision + its ``gate.decided`` ledger record), under ``governed(flow)``.

Rows: task runs per second of the whole flow run (hooks included); the note gives the overhead
per task run against the plain flow, in ms.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKS = 50
POLICY = "version: 1\ndefault: allow\nrules: []\n"
BENCH = "prefect: flow run of trivial tasks"


def _row(subject: str, ops: float | None, baseline: str, ratio: float | None, notes: str) -> dict[str, Any]:
    return {
        "benchmark": BENCH,
        "subject": subject,
        "ops_per_s": ops,
        "baseline": baseline,
        "ratio": ratio,
        "notes": notes,
    }


def _flows(home: Path, tasks: int) -> dict[str, Callable[[], Any]]:
    from prefect import flow, task

    from govflow.prefect_tasks import GovflowLocalPlatform, gate, governed

    policy = home / "policy.yaml"
    policy.write_text(POLICY)
    block = GovflowLocalPlatform(policy=str(policy), database_url=os.environ["GOVFLOW_LEDGER_URL"])

    @task
    def work(n: int) -> int:
        return n + 1

    governed_work = governed(work)

    @flow(name="bench-plain")
    def plain() -> None:
        for n in range(tasks):
            work(n)

    @governed
    @flow(name="bench-governed-flow")
    def governed_flow() -> None:
        for n in range(tasks):
            work(n)

    @governed
    @flow(name="bench-governed-tasks")
    def governed_tasks() -> None:
        for n in range(tasks):
            governed_work(n)

    @governed
    @flow(name="bench-gated")
    def gated() -> None:
        for n in range(tasks):
            gate(block, "read", resource=f"table/{n}")
            work(n)

    return {
        "plain": plain,
        "governed(flow)": governed_flow,
        "governed(flow) + governed(task)": governed_tasks,
        "gate per task": gated,
    }


def _measure(flows: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for fn in flows.values():  # warm-up: imports, first API calls, table creation
        fn()
    for _ in range(repeats):
        for name, fn in flows.items():
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            best[name] = min(best.get(name, elapsed), elapsed)
    return best


def run(quick: bool = False) -> list[dict[str, Any]]:
    if importlib.util.find_spec("prefect") is None:
        return [
            _row(
                "skipped",
                None,
                "",
                None,
                "Prefect is not installed in this Python; run "
                "`.nox/prefect/bin/python benchmarks/bench_prefect.py`",
            )
        ]
    tasks = 20 if quick else TASKS
    repeats = 1 if quick else 3
    saved = {k: os.environ.get(k) for k in ("PREFECT_HOME", "GOVFLOW_LEDGER_URL", "GOVFLOW_HOME")}
    with tempfile.TemporaryDirectory(prefix="govflow-bench-prefect-") as tmp:
        home = Path(tmp)
        os.environ.update(
            {
                "PREFECT_HOME": str(home / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "GOVFLOW_HOME": str(home / "govflow"),
                "GOVFLOW_LEDGER_URL": f"sqlite:///{home / 'ledger.db'}",
            }
        )
        try:
            from prefect.testing.utilities import prefect_test_harness

            logging.getLogger("prefect").setLevel(logging.WARNING)
            with prefect_test_harness(server_startup_timeout=120):
                best = _measure(_flows(home, tasks), repeats)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    ceiling = best["plain"]
    rows = [_row("plain", tasks / ceiling, "", None, f"{tasks} tasks, best of {repeats}: the ceiling")]
    for name, elapsed in best.items():
        if name == "plain":
            continue
        overhead = (elapsed - ceiling) / tasks * 1000
        rows.append(
            _row(name, tasks / elapsed, "plain", ceiling / elapsed, f"+{overhead:.1f} ms per task run")
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import table

    print(table(run(quick="--quick" in sys.argv[1:])))
