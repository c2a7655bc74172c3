"""Velerian as an Airflow connection: host is the base URL, password the API key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.platforms.velerian import VelerianClient, VelerianPlatform, VelerianSyncClient
from ._base import GovflowBaseHook, as_mapping, extra_field

if TYPE_CHECKING:
    from airflow.sdk import Connection


class VelerianHook(GovflowBaseHook):
    """Connection type ``velerian``.

    Extra fields: ``abp_id`` (the pack that governs unmapped actions), ``abps`` (a JSON object
    mapping actions to pack ids) and ``timeout`` (seconds).
    """

    conn_name_attr = "velerian_conn_id"
    default_conn_name = "velerian_default"
    conn_type = "velerian"
    hook_name = "Velerian"

    @staticmethod
    def client_options(conn: Connection) -> dict[str, Any]:
        return {
            "api_key": conn.password or None,
            "base_url": conn.host or None,
            "timeout": float(extra_field(conn, "timeout", 30.0)),
        }

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> VelerianPlatform:
        # Options, not a client: the platform then owns the client and closes it with itself.
        return VelerianPlatform(
            abp_id=extra_field(conn, "abp_id"),
            abps=as_mapping(extra_field(conn, "abps"), "abps"),
            **cls.client_options(conn),
        )

    def get_platform(self) -> VelerianPlatform:
        return self.platform_from_connection(self.get_connection(self.conn_id))

    def get_client(self) -> VelerianClient:
        """The async client, for calls the platform interface does not cover."""
        return VelerianClient(**self.client_options(self.get_connection(self.conn_id)))

    def get_sync_client(self) -> VelerianSyncClient:
        """The blocking client, for use inside a task; close it (``with``) when done."""
        return VelerianSyncClient(**self.client_options(self.get_connection(self.conn_id)))

    async def acheck(self, platform: Any) -> str:
        await platform.client.list_audit_log(limit=1)
        return f"authenticated to Velerian at {platform.client.base_url} (audit log readable)"


__all__ = ["VelerianHook"]
