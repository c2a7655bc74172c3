"""The govflow Airflow plugin: registers the evidence listener.

Declared under the ``airflow.plugins`` entry point, not only in provider info: provider-declared
plugins load only with ``[core] lazy_discover_providers = False`` (orchestrators.md 1.2).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .listeners import get_evidence_listener


class GovflowPlugin(AirflowPlugin):
    name = "govflow"
    listeners = [get_evidence_listener()]  # noqa: RUF012 (AirflowPlugin declares a plain list)


__all__ = ["GovflowPlugin"]
