"""govflow for Apache Airflow 3.3: connections, operators, sensors, triggers and an evidence listener.

Install with ``pip install 'govflow[airflow]'``. The adapter is thin: every platform call, retry
and digest happens in :mod:`govflow.core`, so it behaves the same under Prefect and Dagster.
"""

from __future__ import annotations

try:
    import airflow  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "airflow":
        raise  # Airflow is there but broken: show the real error, not an install hint.
    raise ModuleNotFoundError(
        "govflow.airflow_provider needs Apache Airflow 3.3, which is not installed: "
        "pip install 'govflow[airflow]'",
        name="airflow",
    ) from None

__all__: list[str] = []
