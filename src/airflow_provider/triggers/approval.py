"""``ApprovalTrigger``: waits in the triggerer for a human decision on a govflow approval.

All state lives in the serialised kwargs, and the deadline is an absolute UNIX timestamp, so a
triggerer that restarts (and re-creates the trigger from those kwargs) continues the same wait
instead of starting a new one. Polling, backoff and tolerance of transient platform errors are
:func:`govflow.core.approvals.wait_for_approval`'s; this module only maps its outcome onto exactly
one :class:`TriggerEvent`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ...core.approvals import wait_for_approval
from ...core.errors import (
    ApprovalDeniedError,
    ApprovalExpiredError,
    ApprovalFailedError,
    ApprovalTimeoutError,
    ConfigurationError,
)
from ...core.models import Approval
from ...core.platforms.base import Platform

CLASSPATH = "govflow.airflow_provider.triggers.approval.ApprovalTrigger"

# Which final state each core error stands for; the approval itself is read once more for the event.
_FINAL_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (ApprovalDeniedError, "denied"),
    (ApprovalExpiredError, "expired"),
    (ApprovalFailedError, "failed"),
)


def _local_spec(spec: dict[str, Any]) -> Platform:
    kind = spec.pop("kind", "local")
    if kind != "local":
        raise ConfigurationError(f"unknown platform kind {kind!r}; supported: 'local'")
    from ...core.platforms.local import LocalPlatform  # loaded only where it is used

    unknown = set(spec) - {"database_url", "policy"}
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) in the local platform spec: {', '.join(sorted(unknown))}; "
            "expected database_url and policy"
        )
    return LocalPlatform(spec.get("policy"), database_url=spec.get("database_url"))


def _hook_class(conn_type: str | None, conn_id: str) -> Any:
    from ..hooks import (
        ContractGateHook,
        GovflowLocalHook,
        LatchGateHook,
        LattixHook,
        VelerianHook,
    )

    hooks = (GovflowLocalHook, VelerianHook, LattixHook, LatchGateHook, ContractGateHook)
    for hook in hooks:
        if hook.conn_type == conn_type:
            return hook
    known = ", ".join(hook.conn_type for hook in hooks)
    raise ConfigurationError(
        f"connection {conn_id!r} has conn_type {conn_type!r}, which is not a govflow platform "
        f"(expected one of: {known})"
    )


def _missing_local_default(conn_id: str, exc: Exception) -> bool:
    # The local hook's default connection is optional: without it, LocalPlatform reads the env.
    from airflow.sdk.exceptions import AirflowNotFoundException

    from ..hooks import GovflowLocalHook

    return conn_id == GovflowLocalHook.default_conn_name and isinstance(
        exc, AirflowNotFoundException
    )


def platform_from_conn_id(conn_id: str) -> Platform:
    """The platform an Airflow connection describes, whatever its govflow connection type."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:
        if _missing_local_default(conn_id, exc):
            return _local_spec({})
        raise
    return _hook_class(conn.conn_type, conn_id).platform_from_connection(conn)


async def aplatform_from_conn_id(conn_id: str) -> Platform:
    """As :func:`platform_from_conn_id`, without blocking the loop (for the triggerer)."""
    from airflow.sdk import BaseHook

    try:
        conn = await BaseHook.aget_connection(conn_id)
    except Exception as exc:
        if _missing_local_default(conn_id, exc):
            return _local_spec({})
        raise
    hook = _hook_class(conn.conn_type, conn_id)
    return await hook.aget_platform(conn_id)


def build_platform(spec: Mapping[str, Any]) -> Platform:
    """A platform from a JSON-able spec: ``{"kind": "local", "database_url": ..., "policy": ...}``
    or ``{"conn_id": ...}`` (any govflow connection type; looked up synchronously).
    """
    spec = dict(spec)
    if "conn_id" in spec:
        return platform_from_conn_id(str(spec["conn_id"]))
    return _local_spec(spec)


async def abuild_platform(spec: Mapping[str, Any]) -> Platform:
    """As :func:`build_platform`; a connection is fetched through the hooks' ``aget_platform``."""
    spec = dict(spec)
    if "conn_id" in spec:
        return await aplatform_from_conn_id(str(spec["conn_id"]))
    return _local_spec(spec)


def approval_event(
    status: str, approval_id: str, approval: Approval | None, message: str | None = None
) -> dict[str, Any]:
    """The payload of the one event the trigger yields (and of a poke, so both paths share it)."""
    return {
        "status": status,
        "approval_id": approval_id,
        "approval": approval.model_dump(mode="json") if approval is not None else None,
        "message": message,
    }


class ApprovalTrigger(BaseTrigger):
    """Polls the platform until the approval is decided or ``deadline`` (UNIX seconds) passes.

    Yields one event whose ``status`` is ``approved``, ``denied``, ``expired``, ``failed``,
    ``timeout`` (still pending at the deadline) or ``error`` (the platform refused the request, or
    stayed unreachable until the deadline; ``message`` says why).
    """

    def __init__(
        self,
        approval_id: str,
        platform: Mapping[str, Any],
        *,
        poll_interval: float = 5.0,
        max_poll: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.approval_id = approval_id
        self.platform = dict(platform)
        self.poll_interval = poll_interval
        self.max_poll = max_poll
        self.deadline = deadline
        self._client: Platform | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "approval_id": self.approval_id,
                "platform": self.platform,
                "poll_interval": self.poll_interval,
                "max_poll": self.max_poll,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        payload = await self._wait()
        # Close before yielding: the triggerer may drop the generator right after the event.
        await self._close()
        yield TriggerEvent(payload)

    async def _wait(self) -> dict[str, Any]:
        approval_id = self.approval_id
        try:
            self._client = await abuild_platform(self.platform)
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
            approval = await wait_for_approval(
                self._client,
                approval_id,
                timeout=timeout,
                poll=self.poll_interval,
                max_poll=max(self.max_poll, self.poll_interval),
            )
            return approval_event("approved", approval_id, approval)
        except ApprovalTimeoutError as exc:
            return approval_event("timeout", approval_id, None, str(exc))
        except (ApprovalDeniedError, ApprovalExpiredError, ApprovalFailedError) as exc:
            status = next(name for kind, name in _FINAL_ERRORS if isinstance(exc, kind))
            return approval_event(status, approval_id, await self._final_state(), str(exc))
        except Exception as exc:  # any other failure must still end the wait with one event
            return approval_event("error", approval_id, None, f"{type(exc).__name__}: {exc}")

    async def _final_state(self) -> Approval | None:
        # A decided approval no longer changes; if this one read fails, the event still says why.
        assert self._client is not None
        try:
            return await self._client.get_approval(self.approval_id)
        except Exception:
            return None

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def cleanup(self) -> None:
        # Every exit, including cancellation on timeout or a triggerer restart.
        await self._close()


__all__ = [
    "ApprovalTrigger",
    "abuild_platform",
    "approval_event",
    "build_platform",
    "platform_from_conn_id",
]
