"""govflow for Dagster 1.13: resources, sensors, hooks and asset checks.

Install with ``pip install 'govflow[dagster]'``. The adapter is thin: every platform call, retry
and digest happens in :mod:`govflow.core`, so it behaves the same under Airflow and Prefect.

- Resources (one per platform): :class:`GovflowLocalResource`, :class:`VelerianResource`,
  :class:`LattixResource`, :class:`LatchGateResource`, :class:`ContractGateResource`.
- Approvals without a held run: gate with ``wait=False`` and add :func:`approval_sensor`.
- Contracts: :func:`contract_asset_check`.
- Evidence: :func:`evidence_sensors` (every run), :data:`evidence_on_success` /
  :data:`evidence_on_failure` hooks (every step).
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

from .checks import contract_asset_check
from .context import APPROVAL_TAG, AWAITING_TAG, PENDING_TAG, run_context
from .evidence import evidence_hooks, evidence_on_failure, evidence_on_success, evidence_sensors
from .resources import (
    ContractGateResource,
    GovernancePending,
    GovflowLocalResource,
    GovflowResource,
    LatchGateResource,
    LattixResource,
    VelerianResource,
)
from .sensors import approval_sensor

__all__: list[str] = [
    "APPROVAL_TAG",
    "AWAITING_TAG",
    "PENDING_TAG",
    "ContractGateResource",
    "GovernancePending",
    "GovflowLocalResource",
    "GovflowResource",
    "LatchGateResource",
    "LattixResource",
    "VelerianResource",
    "approval_sensor",
    "contract_asset_check",
    "evidence_hooks",
    "evidence_on_failure",
    "evidence_on_success",
    "evidence_sensors",
    "run_context",
]
