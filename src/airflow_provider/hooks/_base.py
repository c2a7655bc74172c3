"""What every govflow hook shares: reading the Connection, building the platform, test_connection."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

from ...core.platforms.base import Platform
from ...core.sync import run_sync

T = TypeVar("T")


def extra_field(conn: Connection, name: str, default: Any = None) -> Any:
    """An extra field by its plain name, or by the ``extra__<type>__<name>`` key older UIs write."""
    extra = conn.extra_dejson
    for key in (name, f"extra__{conn.conn_type}__{name}"):
        value = extra.get(key)
        if value not in (None, ""):
            return value
    return default


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def as_mapping(value: Any, field: str) -> dict[str, str]:
    """A JSON object field; the UI may hand it over as text."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError(f"connection extra field {field!r} must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


class GovflowBaseHook(BaseHook):
    """A hook whose connection describes one governance platform.

    Subclasses implement :meth:`platform_from_connection` and :meth:`acheck`; everything else
    (sync and async construction, ``test_connection``, a repr without secrets) lives here.
    """

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        # Connection.get_hook() passes the id as ``<conn_name_attr>=``, operators usually positionally.
        named = kwargs.pop(self.conn_name_attr, None)
        super().__init__(**kwargs)
        self.conn_id: str = conn_id or named or self.default_conn_name
        setattr(self, self.conn_name_attr, self.conn_id)

    def __repr__(self) -> str:
        # Only the id: a connection's secrets never reach a repr (task logs print hooks).
        return f"{type(self).__name__}(conn_id={getattr(self, 'conn_id', None)!r})"

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def platform_from_connection(cls, conn: Connection) -> Platform:
        raise NotImplementedError

    def get_conn(self) -> Platform:
        return self.get_platform()

    def get_platform(self) -> Platform:
        """The core async platform, configured from the connection; use it with ``async with``."""
        return self.platform_from_connection(self.get_connection(self.conn_id))

    @classmethod
    async def aget_platform(cls, conn_id: str | None = None) -> Platform:
        """As :meth:`get_platform`, for triggers: the connection is fetched without blocking the loop."""
        conn = await cls.aget_connection(conn_id or cls.default_conn_name)
        return cls.platform_from_connection(conn)

    # --- test_connection -----------------------------------------------------------------------

    async def acheck(self, platform: Any) -> str:
        """Make one real, cheap call on ``platform``; returns what succeeded, raises on failure."""
        raise NotImplementedError

    async def _acheck_and_close(self, platform: Platform) -> str:
        async with platform:
            return await self.acheck(platform)

    def test_connection(self) -> tuple[bool, str]:
        """Really call the platform; (False, reason) instead of raising, as the Airflow UI expects."""
        try:
            # Built here, outside the loop: the connection lookup is synchronous.
            return True, run_sync(self._acheck_and_close(self.get_platform()))
        except Exception as exc:  # the UI shows the message, whatever went wrong
            return False, f"{type(exc).__name__}: {exc}"


__all__ = ["GovflowBaseHook", "as_bool", "as_mapping", "extra_field", "run_sync"]
