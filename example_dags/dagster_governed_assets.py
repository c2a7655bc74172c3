"""Governed Dagster assets: a policy gate, a payout that needs a finance lead, a data contract and
evidence for every step and run, all on govflow's local platform (example_dags/policy.yaml).

- ``user_events`` is allowed by the policy's default and checked against the ``user_events``
  contract (a blocking asset check: bad records stop the payout in the same run).
- ``payout`` needs an approval (rule ``payouts-need-finance-approval``). It gates with
  ``wait=False``: the first run stops and nothing is held while the finance lead decides; after
  ``govflow approvals approve <id> --as finance-lead``, the approval sensor launches
  ``governed_payouts`` again and the payout runs with the granted approval.
- The evidence hooks record each step, the evidence sensors each run; the materializations carry
  the decision and a ``govflow evidence show`` reference to its record.

Try it: ``dagster dev -f example_dags/dagster_governed_assets.py`` (needs dagster-webserver), or
``scripts/demo_dagster.sh`` for the whole story in a terminal.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from govflow.dagster_resources import (
    GovflowLocalResource,
    approval_sensor,
    contract_asset_check,
    evidence_on_failure,
    evidence_on_success,
    evidence_sensors,
)

HERE = Path(__file__).resolve().parent
EVIDENCE_HOOKS = {evidence_on_success, evidence_on_failure}


@dg.asset(hooks=EVIDENCE_HOOKS, kinds={"python"})
def user_events(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> list[dict[str, Any]]:
    """This month's purchase events (allowed by the policy's default)."""
    govflow.gate(context, "extract", resource="warehouse/user_events")
    return [
        {"user_id": "acme-supplies", "event_type": "purchase", "timestamp": 1767225600, "amount": 800.0},
        {"user_id": "acme-supplies", "event_type": "purchase", "timestamp": 1767312000, "amount": 450.0},
    ]


user_events_contract = contract_asset_check(user_events, "user_events", blocking=True)


@dg.asset(deps=[user_events], hooks=EVIDENCE_HOOKS, kinds={"python"})
def payout(context: dg.AssetExecutionContext, govflow: GovflowLocalResource) -> dg.MaterializeResult[None]:
    """Pay the supplier: money leaves the company only with a finance lead's approval."""
    decision = govflow.gate(
        context,
        "payout",
        resource="bank/acme-supplies",
        payload={"amount": 1250.0, "currency": "EUR", "batch": 42},
        wait=False,  # no run waits for the human: the approval sensor launches the job again
    )
    approval = decision["approval"] or {}
    return dg.MaterializeResult(
        metadata={"amount": 1250.0, "approved_by": approval.get("decided_by") or "policy"}
    )


governed_payouts = dg.define_asset_job("governed_payouts", selection=[user_events, payout])

defs = dg.Definitions(
    assets=[user_events, payout],
    asset_checks=[user_events_contract],
    jobs=[governed_payouts],
    sensors=[
        approval_sensor(governed_payouts, default_status=dg.DefaultSensorStatus.RUNNING),
        *evidence_sensors(),
    ],
    resources={
        # The ledger and approvals live in GOVFLOW_LEDGER_URL (default: GOVFLOW_HOME/govflow.db),
        # which the `govflow` CLI reads too.
        "govflow": GovflowLocalResource(
            policy=str(HERE / "policy.yaml"), contracts=str(HERE / "contracts")
        ),
    },
)
