"""ContractGate as an Airflow connection: host is the base URL, password the API key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.platforms.contractgate import (
    ContractGateClient,
    ContractGatePlatform,
    ContractGateSyncClient,
)
from ._base import GovflowBaseHook, as_bool, extra_field

if TYPE_CHECKING:
    from airflow.sdk import Connection


class ContractGateHook(GovflowBaseHook):
    """Connection type ``contractgate``.

    Extra fields: ``dry_run`` and ``atomic`` (how ``validate`` ingests) and ``timeout`` (seconds).
    """

    conn_name_attr = "contractgate_conn_id"
    default_conn_name = "contractgate_default"
    conn_type = "contractgate"
    hook_name = "ContractGate"

    @staticmethod
    def client_options(conn: Connection) -> dict[str, Any]:
        return {
            "api_key": conn.password or None,
            "base_url": conn.host or None,
            "timeout": float(extra_field(conn, "timeout", 30.0)),
        }

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> ContractGatePlatform:
        return ContractGatePlatform(
            dry_run=as_bool(extra_field(conn, "dry_run")),
            atomic=as_bool(extra_field(conn, "atomic")),
            **cls.client_options(conn),
        )

    def get_platform(self) -> ContractGatePlatform:
        return self.platform_from_connection(self.get_connection(self.conn_id))

    def get_client(self) -> ContractGateClient:
        """The async client, for contracts, versions and quarantine."""
        return ContractGateClient(**self.client_options(self.get_connection(self.conn_id)))

    def get_sync_client(self) -> ContractGateSyncClient:
        """The blocking client, for use inside a task; close it (``with``) when done."""
        return ContractGateSyncClient(**self.client_options(self.get_connection(self.conn_id)))

    async def acheck(self, platform: Any) -> str:
        contracts = await platform.client.list_contracts()
        return f"authenticated to ContractGate at {platform.client.base_url} ({len(contracts)} contracts)"


__all__ = ["ContractGateHook"]
