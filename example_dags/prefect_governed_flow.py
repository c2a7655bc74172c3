"""A Prefect 3 flow governed by the embedded local platform, with evidence for every run.

``extract`` asks ``policy.yaml`` whether it may read the warehouse (allowed); ``publish`` asks to
write customer data to a public location (denied, so that task fails and the flow carries on).
``governed`` attaches govflow's evidence hooks: every task run and the flow run leave a record in
the ledger, a ``govflow.evidence.recorded`` Prefect event, and the flow run gets a markdown
artifact listing its records. Afterwards::

    govflow evidence verify
    govflow evidence show "prefect/governed-orders#1"

Run it with ``python example_dags/prefect_governed_flow.py`` (Prefect 3 starts a temporary API
server on first use; on a slow machine set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.runtime import flow_run, task_run

from govflow.core import DeniedError, GateRequest, Governor, LocalPlatform, RunContext
from govflow.prefect_tasks.evidence import governed

POLICY = Path(__file__).with_name("policy.yaml")


def _context() -> RunContext:
    return RunContext(
        orchestrator="prefect",
        pipeline=str(flow_run.flow_name),
        run_id=str(flow_run.id),
        step=str(task_run.name),
        attempt=int(task_run.run_count or 1),
    )


async def _governed_step(request: GateRequest, output: Any) -> Any:
    async with (
        LocalPlatform(POLICY) as platform,
        Governor(platform).step(_context(), request) as step,
    ):
        step.output = output
    return output


@governed
@task
async def extract() -> list[dict[str, int]]:
    orders = [{"order": n, "amount": 10 * n} for n in range(1, 6)]
    return await _governed_step(GateRequest(action="read", resource="warehouse/orders"), orders)


@governed
@task
async def publish(orders: list[dict[str, int]]) -> int:
    request = GateRequest(action="publish", resource="public/orders.csv")
    return await _governed_step(request, len(orders))


@governed
@flow(name="governed-orders")
async def governed_orders() -> int:
    orders = await extract()
    print(f"extract: allowed, read {len(orders)} orders")
    try:
        await publish(orders)
    except DeniedError as denied:
        print(f"publish: denied ({denied.reason})")
    return len(orders)


if __name__ == "__main__":
    asyncio.run(governed_orders())
