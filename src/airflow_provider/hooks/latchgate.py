"""LatchGate as an Airflow connection: host is the gate's URL, or a Unix socket in the extras.

LatchGate has no static secret: the client takes a DPoP-bound lease from the gate itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.platforms.latchgate import LatchGateClient, LatchGatePlatform, LatchGateSyncClient
from ._base import GovflowBaseHook, as_mapping, extra_field

if TYPE_CHECKING:
    from airflow.sdk import Connection


class LatchGateHook(GovflowBaseHook):
    """Connection type ``latchgate``.

    Extra fields: ``socket`` (a Unix socket path, instead of host), ``public_base_url`` (the URL
    the gate signs proofs for, when it differs from host), ``agent_id``, ``actions`` (a JSON
    object mapping actions to LatchGate action ids) and ``timeout`` (seconds).
    """

    conn_name_attr = "latchgate_conn_id"
    default_conn_name = "latchgate_default"
    conn_type = "latchgate"
    hook_name = "LatchGate"

    @staticmethod
    def client_options(conn: Connection) -> dict[str, Any]:
        return {
            "socket": extra_field(conn, "socket"),
            "base_url": conn.host or None,
            "public_base_url": extra_field(conn, "public_base_url"),
            "agent_id": extra_field(conn, "agent_id"),
            "timeout": float(extra_field(conn, "timeout", 30.0)),
        }

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> LatchGatePlatform:
        return LatchGatePlatform(
            actions=as_mapping(extra_field(conn, "actions"), "actions"), **cls.client_options(conn)
        )

    def get_platform(self) -> LatchGatePlatform:
        return self.platform_from_connection(self.get_connection(self.conn_id))

    def get_client(self) -> LatchGateClient:
        """The async client, for calls the platform interface does not cover."""
        return LatchGateClient(**self.client_options(self.get_connection(self.conn_id)))

    def get_sync_client(self) -> LatchGateSyncClient:
        """The blocking client, for use inside a task; close it (``with``) when done."""
        return LatchGateSyncClient(**self.client_options(self.get_connection(self.conn_id)))

    async def acheck(self, platform: Any) -> str:
        # A lease plus one DPoP-signed read: proves the endpoint and public_base_url are right.
        await platform.client.check_connection()
        return (
            f"LatchGate at {platform.client.gate_url} issued a lease and accepted a signed request"
        )


__all__ = ["LatchGateHook"]
