"""The provider description Airflow reads through the ``apache_airflow_provider`` entry point.

Connection forms are declarative (``conn-fields``/``ui-field-behaviour``): Airflow 3.2+ deprecates
the hook methods that built them, and these need no Flask imports.
"""

from __future__ import annotations

import importlib.util
from typing import Any

_PACKAGE = "govflow.airflow_provider"
_DOCS = "https://github.com/govflow/govflow/tree/main/docs"

_STRING = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}
_JSON_OBJECT = {"type": ["object", "string", "null"]}
_TIMEOUT = {"label": "Timeout (s)", "schema": {"type": ["number", "null"], "default": 30}}

# (integration name, docs page, conn type, hook class, hook name, ui-field-behaviour, conn-fields)
_PLATFORMS: list[tuple[str, str, str, str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "govflow local",
        "local.md",
        "govflow_local",
        "local.GovflowLocalHook",
        "govflow (local policy and ledger)",
        {"hidden-fields": ["host", "schema", "login", "password", "port"]},
        {
            "policy": {
                "label": "Policy file",
                "description": "Path to a policy YAML file; empty allows everything (still recorded).",
                "schema": _STRING,
            },
            "database_url": {
                "label": "Ledger database URL",
                "description": "SQLAlchemy URL of the approvals and evidence database; empty uses the default.",
                "schema": _SECRET,
            },
            "contracts": {
                "label": "Contracts",
                "description": "A contract YAML file or a directory of them; enables validation.",
                "schema": _STRING,
            },
        },
    ),
    (
        "Velerian",
        "velerian.md",
        "velerian",
        "velerian.VelerianHook",
        "Velerian",
        {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {"host": "https://api.velerian.example", "password": "vel_..."},
        },
        {
            "abp_id": {
                "label": "Default ABP id",
                "description": "Pack that governs unmapped actions.",
                "schema": _STRING,
            },
            "abps": {
                "label": "ABPs by action",
                "description": 'JSON, e.g. {"summarize": "abp_123"}',
                "schema": _JSON_OBJECT,
            },
            "timeout": _TIMEOUT,
        },
    ),
    (
        "Lattix",
        "lattix.md",
        "lattix",
        "lattix.LattixHook",
        "Lattix",
        {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL", "password": "Bearer token"},
            "placeholders": {"host": "https://lattix.example"},
        },
        {
            "tenant_id": {"label": "Tenant id", "schema": _STRING},
            "user_id": {"label": "User id", "schema": _STRING},
            "client_id": {
                "label": "Client id",
                "description": "With the client secret, instead of a bearer token.",
                "schema": _STRING,
            },
            "client_secret": {"label": "Client secret", "schema": _SECRET},
            "decision": {
                "label": "Decision route",
                "schema": {
                    "type": ["string", "null"],
                    "enum": ["policy_resolve", "protection_plan", None],
                    "default": "policy_resolve",
                },
            },
            "timeout": _TIMEOUT,
        },
    ),
    (
        "LatchGate",
        "latchgate.md",
        "latchgate",
        "latchgate.LatchGateHook",
        "LatchGate",
        {
            # No static secret: the client takes a DPoP-bound lease from the gate.
            "hidden-fields": ["schema", "login", "password", "port"],
            "relabeling": {"host": "Gate URL"},
            "placeholders": {"host": "http://localhost:3000"},
        },
        {
            "socket": {
                "label": "Unix socket",
                "description": "Path of the gate's socket, instead of a URL.",
                "schema": _STRING,
            },
            "public_base_url": {
                "label": "Public base URL",
                "description": "The URL the gate signs proofs for, if not the gate URL.",
                "schema": _STRING,
            },
            "agent_id": {"label": "Agent id", "schema": _STRING},
            "actions": {
                "label": "Actions",
                "description": 'JSON, e.g. {"fetch": "http_fetch"}',
                "schema": _JSON_OBJECT,
            },
            "timeout": _TIMEOUT,
        },
    ),
    (
        "ContractGate",
        "contractgate.md",
        "contractgate",
        "contractgate.ContractGateHook",
        "ContractGate",
        {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"host": "Base URL", "password": "API key"},
            "placeholders": {"host": "https://contractgate.example"},
        },
        {
            "dry_run": {
                "label": "Dry run",
                "description": "Validate without storing or forwarding events.",
                "schema": {"type": "boolean", "default": False},
            },
            "atomic": {"label": "Atomic batches", "schema": {"type": "boolean", "default": False}},
            "timeout": _TIMEOUT,
        },
    ),
]

# Modules written alongside the hooks; listed only once they exist, or Airflow reports them broken.
_OPTIONAL = ("operators", "sensors", "triggers")


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"{_PACKAGE}.{module}") is not None
    except ImportError:
        return False


def get_provider_info() -> dict[str, Any]:
    # "govflow" itself is an integration too: sensors and triggers serve every platform.
    integrations = [
        {"integration-name": "govflow", "external-doc-url": _DOCS, "tags": ["software"]}
    ]
    integrations += [
        {
            "integration-name": name,
            "external-doc-url": f"{_DOCS}/platforms/{page}",
            "tags": ["software"],
        }
        for name, page, *_ in _PLATFORMS
    ]
    info: dict[str, Any] = {
        "package-name": "govflow",
        "name": "govflow",
        "description": "Governance for Airflow: policy gates, human approvals, data contracts and "
        "tamper-evident evidence on the local ledger, Velerian, Lattix, LatchGate and ContractGate.",
        "integrations": integrations,
        "hooks": [
            {"integration-name": name, "python-modules": [f"{_PACKAGE}.hooks.{hook.split('.')[0]}"]}
            for name, _, _, hook, *_ in _PLATFORMS
        ],
        "connection-types": [
            {
                "connection-type": conn_type,
                "hook-class-name": f"{_PACKAGE}.hooks.{hook}",
                "hook-name": hook_name,
                "ui-field-behaviour": behaviour,
                "conn-fields": fields,
            }
            for _, _, conn_type, hook, hook_name, behaviour, fields in _PLATFORMS
        ],
    }
    for kind in _OPTIONAL:
        if _exists(kind):
            info[kind] = [{"integration-name": "govflow", "python-modules": [f"{_PACKAGE}.{kind}"]}]
    if _exists("links"):
        info["extra-links"] = [
            f"{_PACKAGE}.links.{name}"
            for name in ("GovernanceEvidenceLink", "VelerianEvidenceLink", "LatchGateReceiptLink")
        ]
    return info
