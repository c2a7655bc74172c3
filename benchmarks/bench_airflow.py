"""Airflow: what the evidence listener costs a task, and what one triggerer pays to watch approvals.

Runs only where Apache Airflow is installed (the nox ``airflow`` env)::

    .nox/airflow/bin/python benchmarks/bench_airflow.py [--quick]

``make bench`` runs in the dev venv, without Airflow: there :func:`run` returns one note row saying
so. Airflow gets a throw-away ``AIRFLOW_HOME`` (SQLite metadata database, reset in-process) and
govflow a throw-away ledger and approvals database, both set before Airflow is imported.

1. **Listener overhead.** One DAG of 100 trivial ``@task``s, run with ``dag.test()`` (every task in
   this process, as the task runner would), once tagged ``governed`` (the evidence listener
   records ``task.running`` and ``task.finished`` for each task instance, and the run's end) and
   once not, interleaved, best of 3 (1 with ``--quick``) after a warm-up run of each. Rows: task
   instances per second; the note gives the overhead per task instance in ms. The listener only
   queues the ledger writes (a background thread does them), so the time the queue then needs to
   drain is reported separately: it is not on the tasks' path.
2. **Approval trigger polling.** 1,000 pending approvals on the local platform (SQLite, one
   ``gate`` call each), watched by 1,000 ``ApprovalTrigger.run()`` coroutines in one asyncio loop,
   as one triggerer process would, polling every 0.5 s (fixed rate: ``max_poll`` = 0.5 s) for a
   fixed window (10 s, 3 s with ``--quick``). Every ``get_approval`` the platform serves is
   counted (``ApprovalStore.get``). Row: polls served per second, against the rate asked for
   (1,000 / 0.5 s = 2,000/s). Then all 1,000 are approved and the time until the last of the
   1,000 events fires is measured.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TASKS = 100
APPROVALS = 1_000
POLL = 0.5

POLICY = """\
version: 1
default: allow
rules:
  - name: needs-approval
    match:
      action: "payout*"
    decision: require_approval
    reason: benchmark
"""

DAG_TEMPLATE = """
from datetime import datetime, timezone

from airflow.sdk import dag, task


@dag(dag_id={dag_id!r}, schedule=None, tags={tags!r},
     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
def pipeline():
    @task
    def noop():
        return None

    for i in range({tasks}):
        noop.override(task_id=f"t{{i:03d}}")()


the_dag = pipeline()
"""


def _row(
    benchmark: str, subject: str, ops: float | None, baseline: str, ratio: float | None, notes: str
) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "subject": subject,
        "ops_per_s": ops,
        "baseline": baseline,
        "ratio": ratio,
        "notes": notes,
    }


def _setup(home: Path) -> None:
    """Environment for Airflow and govflow; must happen before ``import airflow``."""
    os.environ.setdefault("AIRFLOW_HOME", str(home / "airflow"))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(home / "airflow" / "dags"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["GOVFLOW_HOME"] = str(home / "govflow")
    os.environ["GOVFLOW_LEDGER_URL"] = f"sqlite:///{home / 'ledger.db'}"
    os.environ.pop("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS", None)
    os.environ.pop("GOVFLOW_AIRFLOW_GOVERNED_TAG", None)


def _load_dag(path: Path, dag_id: str) -> Any:
    from airflow.sdk import DAG

    spec = importlib.util.spec_from_file_location(f"govflow_bench_dag_{dag_id}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id)


# --- 1. listener overhead --------------------------------------------------------------------


def bench_listener(quick: bool) -> list[dict[str, Any]]:
    from airflow.configuration import conf
    from airflow.utils import db as airflow_db
    from airflow.utils.state import DagRunState

    from govflow.airflow_provider.listeners import get_evidence_listener
    from govflow.core.evidence.ledger import EvidenceLedger

    airflow_db.resetdb()
    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    dags = {}
    for name, tags in (("plain", ["bench"]), ("governed", ["bench", "governed"])):
        dag_id = f"govflow_bench_{name}"
        path = folder / f"{dag_id}.py"
        path.write_text(DAG_TEMPLATE.format(dag_id=dag_id, tags=tags, tasks=TASKS))
        dags[name] = _load_dag(path, dag_id)

    listener = get_evidence_listener()
    best = {"plain": float("inf"), "governed": float("inf")}
    drain = float("inf")
    repeats = 1 if quick else 3
    for repeat in range(repeats + 1):  # the first round warms up (execution API start-up)
        for name in ("plain", "governed"):
            started = time.perf_counter()
            run = dags[name].test()
            elapsed = time.perf_counter() - started
            if run.state != DagRunState.SUCCESS:
                raise RuntimeError(f"{name} DAG run ended {run.state}")
            flush_started = time.perf_counter()
            if not listener.flush(120):
                raise RuntimeError("the evidence queue did not drain in 120 s")
            flushed = time.perf_counter() - flush_started
            if repeat:
                best[name] = min(best[name], elapsed)
                if name == "governed":
                    drain = min(drain, flushed)

    records = EvidenceLedger(os.environ["GOVFLOW_LEDGER_URL"]).records(
        "airflow/govflow_bench_governed"
    )
    per_run = 2 * TASKS + 1  # running + finished per task, and the run's end
    expected = per_run * (repeats + 1)
    if len(records) != expected:
        raise RuntimeError(f"ledger holds {len(records)} records, expected {expected}")
    if EvidenceLedger(os.environ["GOVFLOW_LEDGER_URL"]).records("airflow/govflow_bench_plain"):
        raise RuntimeError("the untagged DAG left evidence")

    plain = TASKS / best["plain"]
    governed = TASKS / best["governed"]
    overhead_ms = (best["governed"] - best["plain"]) / TASKS * 1000
    bench = f"dag.test(): {TASKS} trivial tasks, task instances/s"
    how = f"best of {repeats} after a warm-up"
    return [
        _row(
            bench,
            "untagged (no evidence)",
            plain,
            "",
            None,
            f"{best['plain']:.2f} s per run; {how}",
        ),
        _row(
            bench,
            "governed (evidence listener)",
            governed,
            "untagged (no evidence)",
            governed / plain,
            f"{best['governed']:.2f} s per run, {overhead_ms:+.2f} ms per task instance; "
            f"{per_run} records written by the listener's thread, queue empty "
            f"{drain * 1000:.0f} ms after the run returned",
        ),
    ]


# --- 2. approval trigger polling --------------------------------------------------------------


def bench_trigger(quick: bool, home: Path) -> list[dict[str, Any]]:
    from govflow.airflow_provider.triggers import ApprovalTrigger
    from govflow.core.models import GateRequest, RunContext
    from govflow.core.platforms.local import LocalPlatform
    from govflow.core.platforms.local.approvals import ApprovalStore

    policy = home / "policy.yaml"
    policy.write_text(POLICY)
    database_url = f"sqlite:///{home / 'approvals.db'}"
    spec = {"kind": "local", "database_url": database_url, "policy": str(policy)}
    platform = LocalPlatform(policy, database_url=database_url)

    async def open_all() -> list[str]:
        ids = []
        for i in range(APPROVALS):
            ctx = RunContext(
                orchestrator="airflow", pipeline="payouts", run_id=f"run-{i}", step="wait"
            )
            decision = await platform.gate(ctx, GateRequest(action="payout", resource="bank"))
            assert decision.pending and decision.approval_id
            ids.append(decision.approval_id)
        return ids

    created = time.perf_counter()
    ids = asyncio.run(open_all())
    create_s = time.perf_counter() - created

    served = [0]
    lock = threading.Lock()
    original = ApprovalStore.get

    def counted(self: Any, approval_id: str) -> Any:
        with lock:
            served[0] += 1
        return original(self, approval_id)

    window = 3.0 if quick else 10.0
    fired: dict[str, float] = {}

    async def watch() -> tuple[int, float, float, int, float]:
        deadline = time.time() + 3600

        async def one(approval_id: str) -> None:
            trigger = ApprovalTrigger(
                approval_id, spec, poll_interval=POLL, max_poll=POLL, deadline=deadline
            )
            try:
                async for event in trigger.run():
                    if event.payload["status"] != "approved":
                        raise RuntimeError(f"{approval_id}: {event.payload}")
                    fired[approval_id] = time.perf_counter()
            finally:
                await trigger.cleanup()

        tasks = [asyncio.create_task(one(i)) for i in ids]
        await asyncio.sleep(2 * POLL)  # every trigger has built its platform and is polling
        with lock:
            start_count = served[0]
        started = time.perf_counter()
        await asyncio.sleep(window)
        with lock:
            polls = served[0] - start_count
        elapsed = time.perf_counter() - started
        if fired:
            raise RuntimeError(f"{len(fired)} triggers fired before any approval was decided")

        approve_started = time.perf_counter()
        approver = LocalPlatform(policy, database_url=database_url)

        def approve_all() -> None:
            for approval_id in ids:
                approver.decide(approval_id, approve=True, by="bench")

        await asyncio.to_thread(approve_all)
        approved = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
        last = max(fired.values())
        return polls, elapsed, approved - approve_started, len(fired), last - approve_started

    quiet = logging.getLogger("govflow")  # 2,000 "waiting for"/"approved" info lines otherwise
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    ApprovalStore.get = counted  # type: ignore[method-assign]
    try:
        polls, elapsed, approve_s, count, all_fired_s = asyncio.run(watch())
    finally:
        ApprovalStore.get = original  # type: ignore[method-assign]
        quiet.setLevel(level)
    if count != APPROVALS:
        raise RuntimeError(f"{count} of {APPROVALS} events fired")

    asked = APPROVALS / POLL
    rate = polls / elapsed
    bench = f"ApprovalTrigger: {APPROVALS:,} pending approvals, one asyncio loop, polls/s"
    return [
        _row(
            bench,
            f"asked for (poll every {POLL:g} s)",
            asked,
            "",
            None,
            f"{APPROVALS:,} triggers x 1/{POLL:g} s; local platform, SQLite",
        ),
        _row(
            bench,
            "served (get_approval calls)",
            rate,
            f"asked for (poll every {POLL:g} s)",
            rate / asked,
            f"{polls:,} in {elapsed:.1f} s; opening {APPROVALS:,} took {create_s:.1f} s; "
            f"approving all took {approve_s:.1f} s and all {count:,} events had fired "
            f"{all_fired_s:.1f} s after approving began",
        ),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    if importlib.util.find_spec("airflow") is None:
        return [
            _row(
                "airflow",
                "skipped",
                None,
                "",
                None,
                "Apache Airflow is not installed in this Python; run "
                "`.nox/airflow/bin/python benchmarks/bench_airflow.py`",
            ),
        ]
    saved = {k: os.environ.get(k) for k in ("GOVFLOW_HOME", "GOVFLOW_LEDGER_URL")}
    with tempfile.TemporaryDirectory(prefix="govflow-bench-airflow-") as tmp:
        home = Path(tmp)
        if "airflow" in sys.modules:
            print(
                "bench_airflow: airflow was imported already; its configuration stands",
                file=sys.stderr,
            )
        _setup(home)
        try:
            rows = bench_listener(quick)
            rows += bench_trigger(quick, home)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import table

    print(table(run(quick="--quick" in sys.argv[1:])))
