"""A plain-Python pipeline governed by the embedded local platform.

Three steps ask the policy in ``policy.yaml`` whether they may run:

- ``extract`` reads the warehouse: allowed;
- ``publish`` writes customer data to a public location: denied, with the policy's reason;
- ``payout`` sends money: held until a finance lead approves it, from another terminal::

      govflow approvals list
      govflow approvals approve <approval id> --as finance-lead

Every decision and every step leaves an evidence record; ``govflow evidence verify`` checks the
chain. Run it with ``python example_dags/governed_pipeline.py`` (``make demo`` does it all).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from pathlib import Path

from govflow.core import DeniedError, GateRequest, Governor, LocalPlatform, RunContext

POLICY = Path(__file__).with_name("policy.yaml")


async def run_pipeline(run_id: str, *, approval_timeout: float = 600.0) -> int:
    async with LocalPlatform(POLICY) as platform:
        governor = Governor(platform, approval_timeout=approval_timeout, poll=0.5, max_poll=2.0)
        run = RunContext(orchestrator="python", pipeline="demo_pipeline", run_id=run_id)

        async with governor.step(
            run.model_copy(update={"step": "extract"}), GateRequest(action="read", resource="warehouse/orders")
        ) as step:
            orders = [{"order": n, "amount": 10 * n} for n in range(1, 6)]
            step.output = orders
        print(f"extract: allowed, read {len(orders)} orders")

        try:
            async with governor.step(
                run.model_copy(update={"step": "publish"}), GateRequest(action="publish", resource="public/orders.csv")
            ):
                print("publish: this line never runs")
        except DeniedError as denied:
            print(f"publish: denied ({denied.reason})")

        total = sum(order["amount"] for order in orders)
        print("payout: waiting for a finance lead to approve ...")
        async with governor.step(
            run.model_copy(update={"step": "payout"}),
            GateRequest(action="payout", resource="bank/batch-42", payload={"total": total}),
        ) as step:
            approval = step.approval
            who = f" by {approval.decided_by}" if approval else ""
            step.output = {"paid": total}
        print(f"payout: approved{who}, paid {total}")
    return 0


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("govflow.approvals").setLevel(logging.INFO)
    run_id = sys.argv[1] if len(sys.argv) > 1 else f"run-{uuid.uuid4().hex[:8]}"
    print(f"demo_pipeline {run_id}")
    return asyncio.run(run_pipeline(run_id))


if __name__ == "__main__":
    sys.exit(main())
