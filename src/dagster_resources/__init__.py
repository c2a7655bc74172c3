"""govflow for Dagster 1.13: resources, sensors, hooks and asset checks.

Install with ``pip install 'govflow[dagster]'``. The adapter is thin: every platform call, retry
and digest happens in :mod:`govflow.core`, so it behaves the same under Airflow and Prefect.
"""

from __future__ import annotations

try:
    import dagster  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "dagster":
        raise  # Dagster is there but broken: show the real error, not an install hint.
    raise ModuleNotFoundError(
        "govflow.dagster_resources needs Dagster 1.13, which is not installed: "
        "pip install 'govflow[dagster]'",
        name="dagster",
    ) from None

__all__: list[str] = []
