"""The example definitions load, and their allowed asset materializes with its contract check."""

import importlib.util
import os
from typing import Any

import dagster as dg

from .conftest import REPO


def load_example() -> Any:
    path = os.path.join(REPO, "example_dags", "dagster_governed_assets.py")
    spec = importlib.util.spec_from_file_location("dagster_governed_assets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_definitions_load_and_run(ledger_url: str, instance: Any) -> None:
    module = load_example()
    dg.Definitions.validate_loadable(module.defs)
    names = {sensor.name for sensor in module.defs.sensors}
    assert names == {
        "govflow_approvals_governed_payouts",
        "govflow_evidence_on_run_success",
        "govflow_evidence_on_run_failure",
    }
    job = module.defs.resolve_job_def("governed_payouts")
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.asset_materializations_for_node("user_events")
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    assert instance.get_run_by_id(result.run_id).tags["govflow/awaiting_approval"] == "true"
