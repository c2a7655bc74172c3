"""Flows that the approval tests deploy with ``flow.serve()`` in a separate process."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from govflow.prefect_tasks import GovflowLocalPlatform, gate_with_pause, governed

STEPS: list[str] = []


@task(persist_result=True)
def prepare_batch(size: int) -> int:
    return size * 10


@governed
@flow(name="govflow-suspending-payout", persist_result=True)
def suspending_payout(policy: str, database_url: str, size: int = 3) -> dict[str, Any]:
    """Prepare a batch, then suspend until the payout is approved (no process waits meanwhile)."""
    amount = prepare_batch(size)
    block = GovflowLocalPlatform(policy=policy, database_url=database_url)
    decision = gate_with_pause(
        block, "payout", resource="bank", payload={"amount": amount}, suspend=True, timeout=600
    )
    return {"amount": amount, "decision": decision}


if __name__ == "__main__":
    import sys

    suspending_payout.serve(name=sys.argv[1], limit=2)
