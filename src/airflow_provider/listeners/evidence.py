"""An Airflow listener that records evidence for every task instance and DAG run of governed DAGs.

A DAG opts in with the ``governed`` tag (``[govflow] governed_tag`` or
``GOVFLOW_AIRFLOW_GOVERNED_TAG`` renames it), or every DAG is governed with
``GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS=true`` / ``[govflow] govern_all_dags = True``.

Task hooks fire in the worker's task runner (and in the API server for manual state changes), DAG
run hooks in the scheduler (orchestrators.md 1.6). Every hook swallows and logs its errors: evidence
must never fail a task, and the recorder already never raises on the ledger's side.

Evidence must never *slow* a task either, even when the ledger is slow or hung (PostgreSQL down, a
SQLite file locked by another writer). So the hooks only build the record's fields (in the task's
thread: XCom reads talk to the supervisor) and put the ledger write on a bounded queue, which one
daemon thread per process drains in order. A full queue drops the record with a warning. The queue
is flushed, for at most ``GOVFLOW_AIRFLOW_EVIDENCE_FLUSH_TIMEOUT`` seconds (default 5), when the
task runner stops (``before_stopping``) and at interpreter exit; :meth:`EvidenceListener.flush`
does the same on demand.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from airflow.listeners import hookimpl

from ...core import db
from ...core.evidence.ledger import EvidenceLedger
from ...core.evidence.recorder import EvidenceRecorder
from ...core.models import RunContext

logger = logging.getLogger("govflow.airflow.listener")

DEFAULT_GOVERNED_TAG = "governed"
# XCom keys a task may push to tie its governance decisions to its evidence record.
DECISION_XCOM_KEYS = ("govflow_decision",)
DECISIONS_ATTRIBUTE = "_govflow_decisions"


def record_decision(ti: Any, decision: dict[str, Any]) -> None:
    """Attach a governance decision to the running task: the evidence listener references it on
    the task's record, and the extra links read it from the ``govflow_decision`` XCom."""
    task = getattr(ti, "task", None)
    if task is not None:
        decisions = getattr(task, DECISIONS_ATTRIBUTE, None)
        if decisions is None:
            decisions = []
            object.__setattr__(task, DECISIONS_ATTRIBUTE, decisions)
        decisions.append(decision)
    ti.xcom_push(key=DECISION_XCOM_KEYS[0], value=decision)
_TRUE = {"1", "true", "yes", "on"}
_SEEN_LIMIT = 10_000
DEFAULT_QUEUE_SIZE = 10_000
DEFAULT_FLUSH_TIMEOUT = 5.0


def _flush_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("GOVFLOW_AIRFLOW_EVIDENCE_FLUSH_TIMEOUT", "")))
    except ValueError:
        return DEFAULT_FLUSH_TIMEOUT


class _Emitter:
    """One daemon thread per process that runs queued calls in order; ``submit`` never blocks.

    A forked child (Airflow's task runner forks) does not inherit the parent's thread: the first
    ``submit`` in a new process starts a fresh queue and thread, and registers the exit flush there
    (the task runner clears the atexit handlers it inherits and runs the ones added after the fork).
    """

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        self.maxsize = maxsize
        self._guard = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[Callable[[], Any]] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def _ensure(self) -> queue.Queue[Callable[[], Any]]:
        pid = os.getpid()
        if self._pid == pid and self._thread is not None and self._thread.is_alive():
            return self._queue
        with self._guard:
            if self._pid != pid:  # a new process: whatever the parent queued is the parent's
                self._queue = queue.Queue(self.maxsize)
                self._pid = pid
                self._thread = None
                atexit.register(self.flush)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._drain, args=(self._queue,), name="govflow-evidence", daemon=True
                )
                self._thread.start()
        return self._queue

    @staticmethod
    def _drain(work: queue.Queue[Callable[[], Any]]) -> None:
        while True:
            call = work.get()
            try:
                call()
            except Exception:  # the recorder never raises; anything else must not kill the thread
                logger.warning("govflow listener: evidence not recorded", exc_info=True)
            finally:
                work.task_done()

    def submit(self, call: Callable[[], Any]) -> bool:
        try:
            self._ensure().put_nowait(call)
            return True
        except queue.Full:
            self.dropped += 1
            logger.warning(
                "govflow listener: evidence queue full (%d waiting; the ledger is slow or "
                "unreachable), record dropped",
                self.maxsize,
            )
            return False

    def pending(self) -> int:
        return self._queue.unfinished_tasks if self._pid == os.getpid() else 0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is written, at most ``timeout`` seconds; True if done."""
        if self._pid != os.getpid():
            return True  # nothing was queued in this process
        timeout = _flush_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        work = self._queue
        with work.all_tasks_done:
            while work.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.warning(
                        "govflow listener: %d evidence record(s) not written after %.1fs",
                        work.unfinished_tasks,
                        timeout,
                    )
                    return False
                work.all_tasks_done.wait(left)
        return True


def _airflow_conf(key: str) -> str | None:
    try:
        from airflow.configuration import conf

        value = conf.get("govflow", key, fallback=None)
        return str(value) if value is not None else None
    except Exception:  # no [govflow] section, or conf unusable in this process
        return None


def _state(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _tag_names(tags: Any) -> set[str]:
    # DAG.tags holds strings; DagModel.tags holds DagTag rows with a .name.
    names: set[str] = set()
    for tag in tags or ():
        name = tag if isinstance(tag, str) else getattr(tag, "name", None)
        if name:
            names.add(str(name))
    return names


def _dag_tags(obj: Any) -> set[str]:
    """Tags of the DAG behind a task instance or DAG run, from whatever the hook was given."""
    task = getattr(obj, "task", None)
    for dag in (getattr(task, "dag", None), getattr(obj, "dag", None)):
        if dag is not None and getattr(dag, "tags", None) is not None:
            return _tag_names(dag.tags)
    dag_model = getattr(obj, "dag_model", None)  # ORM objects in the scheduler / API server
    if dag_model is not None:
        return _tag_names(getattr(dag_model, "tags", None))
    return set()


_emitter = _Emitter()  # shared by every listener of the process: one thread, one order


class EvidenceListener:
    """Pluggy listener (``@hookimpl`` methods); one instance is registered by ``GovflowPlugin``."""

    def __init__(self) -> None:
        # (ti id, try_number) of running events already recorded: a deferred task fires twice.
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._lock = threading.Lock()
        self._emitter = _emitter

    # --- background emission ---------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for this process's queued records to reach the ledger, at most ``timeout`` s.

        ``None`` means ``GOVFLOW_AIRFLOW_EVIDENCE_FLUSH_TIMEOUT`` (default 5). Returns True when
        the queue is empty, False when the ledger was still busy at the deadline.
        """
        return self._emitter.flush(timeout)

    @property
    def pending(self) -> int:
        """Records queued (or being written) in this process."""
        return self._emitter.pending()

    @property
    def dropped(self) -> int:
        """Records dropped in this process because the queue was full."""
        return self._emitter.dropped

    def _emit(self, **fields: Any) -> None:
        # The ledger URL is the one in force when the hook fired; opening the ledger (which may
        # touch the database) happens on the worker thread.
        url = db.default_database_url()

        def write() -> None:
            EvidenceRecorder(EvidenceLedger(url)).record(**fields)

        self._emitter.submit(write)

    # --- opt-in -------------------------------------------------------------------------

    @staticmethod
    def govern_all_dags() -> bool:
        env = os.environ.get("GOVFLOW_AIRFLOW_GOVERN_ALL_DAGS")
        if env is not None and env.strip():
            return env.strip().lower() in _TRUE
        return (_airflow_conf("govern_all_dags") or "").strip().lower() in _TRUE

    @staticmethod
    def governed_tag() -> str:
        return (
            os.environ.get("GOVFLOW_AIRFLOW_GOVERNED_TAG")
            or _airflow_conf("governed_tag")
            or DEFAULT_GOVERNED_TAG
        )

    def is_governed(self, tags: set[str]) -> bool:
        return self.govern_all_dags() or self.governed_tag() in tags

    # --- hook point for decisions --------------------------------------------------------

    def decision_references(self, ti: Any) -> dict[str, str]:
        """References to the governance decisions the task recorded with :func:`record_decision`.

        Read from the running operator, not from XCom: pulling a key a task never pushed makes
        Airflow log an error in the task's log. Override to find decisions elsewhere.
        """
        decisions = getattr(getattr(ti, "task", None), DECISIONS_ATTRIBUTE, None)
        refs: dict[str, str] = {}
        for value in decisions or ():
            if isinstance(value, dict):
                refs.update({f"govflow_decision.{k}": str(v) for k, v in value.items() if v is not None})
            elif value is not None:
                refs["govflow_decision"] = str(value)
        return refs

    # --- task instance hooks ---------------------------------------------------------------

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        try:
            if self._resuming(task_instance) or not self._first_running(task_instance):
                return
            self._record_task(task_instance, "task.running", "running")
        except Exception:
            logger.warning("govflow listener: running event not recorded", exc_info=True)

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._finished(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(
        self, previous_state: Any, task_instance: Any, error: str | BaseException | None
    ) -> None:
        # The same hook covers UP_FOR_RETRY: keep the two apart in the record.
        retry = _state(getattr(task_instance, "state", None)) == "up_for_retry"
        self._finished(task_instance, "up_for_retry" if retry else "failed", error)

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._finished(task_instance, "skipped")

    # --- DAG run hooks ---------------------------------------------------------------------

    @hookimpl
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        self._record_dag_run(dag_run, "dag_run.running", "running", msg)

    @hookimpl
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        self._record_dag_run(dag_run, "dag_run.finished", "success", msg)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self._record_dag_run(dag_run, "dag_run.finished", "failed", msg)

    @hookimpl
    def before_stopping(self, component: Any) -> None:
        # The task runner's last hook before its process exits: give the queue a bounded chance.
        try:
            self.flush()
        except Exception:
            logger.warning("govflow listener: evidence flush failed", exc_info=True)

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _resuming(ti: Any) -> bool:
        # A task resuming from deferral runs in a new worker process, where _seen is empty.
        server = getattr(ti, "_ti_context_from_server", None)
        return bool(getattr(server, "next_method", None))

    def _first_running(self, ti: Any) -> bool:
        key = (str(getattr(ti, "id", None)), int(getattr(ti, "try_number", 0) or 0))
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > _SEEN_LIMIT:
                self._seen.popitem(last=False)
        return True

    def _finished(self, ti: Any, outcome: str, error: str | BaseException | None = None) -> None:
        try:
            self._record_task(ti, "task.finished", outcome, error)
        except Exception:
            logger.warning("govflow listener: %s event not recorded", outcome, exc_info=True)

    def _record_task(
        self, ti: Any, event: str, outcome: str, error: str | BaseException | None = None
    ) -> None:
        tags = _dag_tags(ti)
        if not self.is_governed(tags):
            return
        map_index = getattr(ti, "map_index", None)
        context = RunContext(
            orchestrator="airflow",
            pipeline=ti.dag_id,
            run_id=ti.run_id,
            step=ti.task_id,
            attempt=int(getattr(ti, "try_number", 1) or 1),
            map_index=map_index if isinstance(map_index, int) and map_index >= 0 else None,
        )
        references: dict[str, str] = {}
        if event == "task.finished":
            try:
                references = self.decision_references(ti)
            except Exception:  # XCom trouble loses the references, never the record
                logger.warning("govflow listener: decision references not read", exc_info=True)
        details: dict[str, Any] = {"dag_tags": sorted(tags)}
        if ti_id := getattr(ti, "id", None):
            details["ti_id"] = str(ti_id)
        if failed := outcome in ("failed", "up_for_retry"):
            details["state"] = outcome
        started_at: datetime | None = getattr(ti, "start_date", None)
        ended_at: datetime | None = (
            getattr(ti, "end_date", None) if event == "task.finished" else None
        )
        self._emit(
            context=context,
            event=event,
            outcome=outcome,
            started_at=started_at,
            ended_at=ended_at,
            references=references,
            error=(error or "failed") if failed else None,
            details=details,
        )

    def _record_dag_run(self, dag_run: Any, event: str, outcome: str, msg: str) -> None:
        try:
            tags = _dag_tags(dag_run)
            if not self.is_governed(tags):
                return
            context = RunContext(
                orchestrator="airflow", pipeline=dag_run.dag_id, run_id=dag_run.run_id
            )
            details: dict[str, Any] = {"dag_tags": sorted(tags)}
            if run_type := _state(getattr(dag_run, "run_type", None)):
                details["run_type"] = run_type
            self._emit(
                context=context,
                event=event,
                outcome=outcome,
                started_at=getattr(dag_run, "start_date", None),
                ended_at=getattr(dag_run, "end_date", None)
                if event == "dag_run.finished"
                else None,
                error=msg if outcome == "failed" and msg else None,
                details=details,
            )
        except Exception:
            logger.warning("govflow listener: %s event not recorded", event, exc_info=True)


_listener: EvidenceListener | None = None


def get_evidence_listener() -> EvidenceListener:
    """The process-wide listener: one dedupe memory per process, like OpenLineage's."""
    global _listener
    if _listener is None:
        _listener = EvidenceListener()
    return _listener


__all__ = [
    "DECISION_XCOM_KEYS",
    "DEFAULT_GOVERNED_TAG",
    "EvidenceListener",
    "get_evidence_listener",
]
