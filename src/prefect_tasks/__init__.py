"""govflow for Prefect 3: credential blocks, tasks, state hooks and evidence artifacts.

Install with ``pip install 'govflow[prefect]'``. The adapter is thin: every platform call, retry
and digest happens in :mod:`govflow.core`, so it behaves the same under Airflow and Dagster.
"""

from __future__ import annotations

try:
    import prefect  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "prefect":
        raise  # Prefect is there but broken: show the real error, not an install hint.
    raise ModuleNotFoundError(
        "govflow.prefect_tasks needs Prefect 3, which is not installed: "
        "pip install 'govflow[prefect]'",
        name="prefect",
    ) from None

__all__: list[str] = []
