"""The provider description: valid for Airflow's schema and really loaded by ProvidersManager."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from govflow.airflow_provider.get_provider_info import get_provider_info

CONN_TYPES = {
    "govflow_local": "govflow.airflow_provider.hooks.local.GovflowLocalHook",
    "velerian": "govflow.airflow_provider.hooks.velerian.VelerianHook",
    "lattix": "govflow.airflow_provider.hooks.lattix.LattixHook",
    "latchgate": "govflow.airflow_provider.hooks.latchgate.LatchGateHook",
    "contractgate": "govflow.airflow_provider.hooks.contractgate.ContractGateHook",
}


def test_validates_against_airflow_schema() -> None:
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    # What Airflow checks beyond the schema: the name of the distribution, and integrations
    # that every module entry refers to.
    assert info["package-name"] == importlib.metadata.metadata("govflow")["Name"]
    names = {i["integration-name"] for i in info["integrations"]}
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            assert entry["integration-name"] in names
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_secrets_are_password_fields() -> None:
    fields = {
        c["connection-type"]: c["conn-fields"] for c in get_provider_info()["connection-types"]
    }
    assert fields["lattix"]["client_secret"]["schema"]["format"] == "password"
    assert fields["govflow_local"]["database_url"]["schema"]["format"] == "password"


def test_entry_point_is_installed() -> None:
    eps = importlib.metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in eps if ep.dist is not None and ep.dist.name == "govflow"]
    assert [ep.value for ep in ours] == [
        "govflow.airflow_provider.get_provider_info:get_provider_info"
    ]


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_providers_manager_loads_the_provider(providers_manager) -> None:
    provider = providers_manager.providers["govflow"]
    assert provider.data["package-name"] == "govflow"
    assert provider.version == importlib.metadata.version("govflow")


def test_hooks_and_connection_types_registered() -> None:
    # Since 3.3 the hook registry tasks use lives in the task SDK (ProvidersManager.hooks is deprecated).
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks
    for conn_type, class_name in CONN_TYPES.items():
        info = hooks[conn_type]
        assert info is not None, f"{conn_type}: the hook failed to import"
        assert info.hook_class_name == class_name
        assert info.package_name == "govflow"
        assert info.connection_testable


def test_connection_ui_metadata(providers_manager) -> None:
    behaviours = providers_manager.field_behaviours
    assert behaviours["velerian"]["relabeling"] == {"host": "Base URL", "password": "API key"}
    assert behaviours["lattix"]["relabeling"]["password"] == "Bearer token"
    assert "password" in behaviours["latchgate"]["hidden_fields"]
    widgets = providers_manager.connection_form_widgets
    assert "extra__lattix__tenant_id" in widgets
    assert widgets["extra__lattix__client_secret"].is_sensitive
    assert widgets["extra__velerian__abp_id"].package_name == "govflow"
