"""govflow: governance for workflow orchestrators.

The orchestrator-free core lives in :mod:`govflow.core`; the orchestrator adapters are
:mod:`govflow.airflow_provider`, :mod:`govflow.prefect_tasks` and :mod:`govflow.dagster_resources`.
"""

from ._version import __version__

__all__ = ["__version__"]
