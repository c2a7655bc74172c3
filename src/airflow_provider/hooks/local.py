"""The embedded local platform (policy file, approvals and evidence ledger in SQL) as a connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...core import db
from ...core.platforms.local import LocalPlatform
from ._base import GovflowBaseHook, extra_field

if TYPE_CHECKING:
    from airflow.sdk import Connection


class GovflowLocalHook(GovflowBaseHook):
    """Connection type ``govflow_local``; every field is optional.

    Extra fields: ``policy`` (a policy YAML path; none allows everything, still recorded),
    ``database_url`` (the ledger; default ``GOVFLOW_LEDGER_URL`` or the user's SQLite file; may
    hold a password, so the UI treats it as a secret) and ``contracts`` (contract files or a
    directory, which enables ``validate``). Without a connection of that id the hook falls back to
    the same environment variables as :class:`LocalPlatform`.
    """

    conn_name_attr = "govflow_conn_id"
    default_conn_name = "govflow_local_default"
    conn_type = "govflow_local"
    hook_name = "govflow (local policy and ledger)"

    @classmethod
    def platform_options(cls, conn: Connection) -> dict[str, Any]:
        return {
            "policy": extra_field(conn, "policy"),
            "database_url": extra_field(conn, "database_url"),
            "contracts": extra_field(conn, "contracts"),
        }

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> LocalPlatform:
        options = cls.platform_options(conn)
        return LocalPlatform(
            options["policy"], database_url=options["database_url"], contracts=options["contracts"]
        )

    def get_platform(self) -> LocalPlatform:
        return self.platform_from_connection(self.get_connection(self.conn_id))

    async def acheck(self, platform: Any) -> str:
        # The policy was loaded when the platform was built; reading the streams opens the ledger.
        streams = platform.ledger.streams()
        return (
            f"policy {platform.policy!r} loaded; ledger {db.display_url(platform.database_url)} "
            f"opened ({len(streams)} evidence streams)"
        )


__all__ = ["GovflowLocalHook"]
