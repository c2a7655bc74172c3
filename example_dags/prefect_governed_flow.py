"""``governed-payouts``: the governed demo pipeline as a Prefect 3 flow, on the local platform.

The local platform block points at ``policy.yaml`` and the ``contracts/`` directory next to this
file; approvals and evidence live in govflow's ledger (``GOVFLOW_HOME``).

- ``extract``: reading the warehouse is allowed by the policy's default;
- ``publish``: writing customer data to a public location is denied, so that task fails (without
  retries) and the flow carries on;
- ``validate``: the records are checked against the ``user_events`` contract, locally;
- ``payout``: sending money needs a finance lead's approval. The flow run is paused (``Paused``
  in the UI) while the approval is pending and resumes by itself once someone decides::

      govflow approvals list --status pending
      govflow approvals approve <id> --as finance-lead

``governed`` records evidence for the flow run and every task run (decisions, approvals, the
parameters' digest), emits a ``govflow.evidence.recorded`` Prefect event per record and leaves a
markdown artifact on the flow run. Afterwards: ``govflow evidence verify``.

Run it with ``python example_dags/prefect_governed_flow.py`` (Prefect starts a temporary API
server; on a slow machine set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120), or see
``scripts/demo_prefect.sh``, which also plays the finance lead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task

from govflow.prefect_tasks import (
    GovernanceDenied,
    GovflowLocalPlatform,
    gate,
    gate_with_pause,
    governed,
    validate_records,
)

HERE = Path(__file__).parent
LOCAL = GovflowLocalPlatform(policy=str(HERE / "policy.yaml"), contracts=str(HERE / "contracts"))

# Purchase events of batch 42: every record matches the user_events contract.
EVENTS = [
    {"user_id": f"customer-{n}", "event_type": "purchase", "timestamp": 1_767_225_600 + n, "amount": 10.0 * n}
    for n in range(1, 6)
]


@task
def extract(decision: dict[str, Any]) -> list[dict[str, Any]]:
    print(f"extract: {decision['outcome']} ({decision['reason']}), read {len(EVENTS)} events")
    return EVENTS


@task
def report(total: float) -> str:
    return f"paid out {total:.2f} for batch 42"


@governed
@flow(name="governed-payouts")
def governed_payouts(batch: int = 42) -> str:
    extract_gate = gate(LOCAL, "read", resource="warehouse/purchases", purpose="nightly payout batch")
    events = extract(extract_gate)

    publish = gate(LOCAL, "publish", resource="public/purchases.csv", return_state=True)
    if publish.is_failed():
        try:
            publish.result()
        except GovernanceDenied as denied:
            print(f"publish: denied ({denied})")

    checked = validate_records(LOCAL, "user_events", events)
    print(f"validate: {len(checked['records'])} records passed the {checked['contract_id']} contract")

    total = sum(e["amount"] for e in events)
    decision = gate_with_pause(
        LOCAL,
        "payout",
        resource="bank/transfers",
        payload={"batch": batch, "total": total},
        timeout=600,
        poll_interval=1,
        approval_poll=0.5,
    )
    who = (decision.get("approval") or {}).get("decided_by")
    print(f"payout: allowed after approval {decision['approval_id']} by {who}")
    return report(total)


if __name__ == "__main__":
    print(governed_payouts())
