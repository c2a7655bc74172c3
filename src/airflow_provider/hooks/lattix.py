"""Lattix as an Airflow connection: host is the base URL, password the bearer token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core.platforms.lattix import LattixClient, LattixPlatform, LattixSyncClient
from ._base import GovflowBaseHook, extra_field

if TYPE_CHECKING:
    from airflow.sdk import Connection


class LattixHook(GovflowBaseHook):
    """Connection type ``lattix``.

    Extra fields: ``tenant_id``, ``user_id``, ``client_id`` and ``client_secret`` (for the session
    exchange instead of a bearer token), ``decision`` (``policy_resolve`` or ``protection_plan``)
    and ``timeout`` (seconds).
    """

    conn_name_attr = "lattix_conn_id"
    default_conn_name = "lattix_default"
    conn_type = "lattix"
    hook_name = "Lattix"

    @staticmethod
    def client_options(conn: Connection) -> dict[str, Any]:
        options: dict[str, Any] = {
            "base_url": conn.host or None,
            "tenant_id": extra_field(conn, "tenant_id"),
            "user_id": extra_field(conn, "user_id"),
            "timeout": float(extra_field(conn, "timeout", 30.0)),
        }
        # Credentials as a set, as LattixClient reads them: only pass what the connection holds,
        # so an empty connection still falls back to LATTIX_* from the environment.
        credentials = {
            "bearer_token": conn.password or None,
            "client_id": extra_field(conn, "client_id"),
            "client_secret": extra_field(conn, "client_secret"),
        }
        options.update({k: v for k, v in credentials.items() if v is not None})
        return options

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> LattixPlatform:
        return LattixPlatform(
            decision=extra_field(conn, "decision", "policy_resolve"), **cls.client_options(conn)
        )

    def get_platform(self) -> LattixPlatform:
        return self.platform_from_connection(self.get_connection(self.conn_id))

    def get_client(self) -> LattixClient:
        """The async client, for routes the platform interface does not cover."""
        return LattixClient(**self.client_options(self.get_connection(self.conn_id)))

    def get_sync_client(self) -> LattixSyncClient:
        """The blocking client, for use inside a task; close it (``with``) when done."""
        return LattixSyncClient(**self.client_options(self.get_connection(self.conn_id)))

    async def acheck(self, platform: Any) -> str:
        identity = await platform.client.whoami()
        tenant = getattr(identity.caller, "tenant_id", None)
        return f"authenticated to Lattix at {platform.client.base_url}" + (
            f" (tenant {tenant})" if tenant else ""
        )


__all__ = ["LattixHook"]
