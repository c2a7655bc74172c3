"""``governed_payouts``: the governed demo pipeline as an Airflow DAG.

The same story as ``governed_pipeline.py``, told with the govflow Airflow operators against the
local platform connection ``govflow_local_default`` (its extra names ``policy.yaml`` and the
``contracts/`` directory next to this file; ``scripts/demo_airflow.sh`` defines it through
``AIRFLOW_CONN_GOVFLOW_LOCAL_DEFAULT``):

- ``extract``: the policy allows reading the warehouse; the decision is the task's XCom;
- ``publish``: writing customer data to a public location is denied, so the task fails (without
  retries); nothing waits on it except ``report``, whose trigger rule is ``all_done``;
- ``validate``: the records are checked against the ``user_events`` contract, locally;
- ``payout``: sending money needs a finance lead's approval; the task defers until someone runs
  ``govflow approvals approve <id> --as finance-lead``, then continues;
- ``report``: sums up what happened, whatever the outcome of the others.

The DAG is tagged ``governed``, so the govflow listener records evidence for every task and the
run, in the stream ``airflow/governed_payouts``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, task

from govflow.airflow_provider.operators import ContractValidationOperator, GovernanceGateOperator

CONN_ID = "govflow_local_default"

# Purchase events of batch 42: every record matches the user_events contract.
EVENTS: list[dict[str, Any]] = [
    {"user_id": "u_1001", "event_type": "purchase", "timestamp": 1763800000, "amount": 40.0},
    {"user_id": "u_1002", "event_type": "purchase", "timestamp": 1763800060, "amount": 35.5},
    {"user_id": "u_1003", "event_type": "purchase", "timestamp": 1763800120, "amount": 74.5},
]
TOTAL = sum(event["amount"] for event in EVENTS)


@dag(
    dag_id="governed_payouts",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["governed", "govflow-example"],
    default_args={"retries": 0},
    doc_md=__doc__,
)
def governed_payouts() -> None:
    extract = GovernanceGateOperator(
        task_id="extract",
        action="read",
        resource="warehouse/orders",
        purpose="nightly payout batch",
        conn_id=CONN_ID,
    )

    publish = GovernanceGateOperator(
        task_id="publish",
        action="publish",
        resource="public/orders.csv",
        conn_id=CONN_ID,
    )

    validate = ContractValidationOperator(
        task_id="validate",
        contract_id="user_events",
        records=EVENTS,
        conn_id=CONN_ID,
        max_failed=0,
    )

    payout = GovernanceGateOperator(
        task_id="payout",
        action="payout",
        resource="bank/batch-42",
        payload={"total": TOTAL, "records": len(EVENTS)},
        conn_id=CONN_ID,
        deferrable=True,
        poll_interval=1.0,
        approval_timeout=3600,
    )

    @task(trigger_rule="all_done")
    def report(**context: Any) -> dict[str, Any]:
        """What each step left in XCom (``None`` for a step that failed before pushing one)."""
        ti = context["ti"]
        summary = {
            step: ti.xcom_pull(task_ids=step)
            for step in ("extract", "publish", "validate", "payout")
        }
        for step, value in summary.items():
            print(f"{step}: {value!r}")
        return {step: value is not None for step, value in summary.items()}

    extract >> [publish, validate]
    validate >> payout
    [publish, payout] >> report()


the_dag = governed_payouts()
