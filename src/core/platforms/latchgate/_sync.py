"""A blocking LatchGate client for plain threads (Airflow hooks, Dagster ops), on the core sync facade."""

from __future__ import annotations

import os
from collections.abc import Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ...sync import LoopThread, SyncProxy
from ...transport import RetryPolicy
from ._client import LatchGateClient, PendingApproval
from ._lease import DEFAULT_RENEW_MARGIN
from ._models import (
    ActionInfo,
    ActionResult,
    ActionSummary,
    EgressProfile,
    ExecutionReceipt,
    LatchGateApproval,
    LeaseInfo,
)

_Y = TypeVar("_Y")


class LatchGateSyncClient:
    """:class:`LatchGateClient` with blocking methods of the same names and results.

    ```python
    with LatchGateSyncClient(base_url="http://localhost:3000") as gate:
        result = gate.execute("http_fetch", {"url": "https://example.com"})
    ```

    The async client lives on one private event-loop thread for this object's whole life, so
    its lease and connection pool are reused between calls; calls are safe from any thread,
    including one running an event loop of its own. The arguments are
    :class:`LatchGateClient`'s, plus ``call_timeout`` (a bound on each blocking call as a whole,
    None by default) and ``loop`` (a :class:`LoopThread` to share with other clients).
    """

    def __init__(
        self,
        *,
        socket: str | os.PathLike[str] | None = None,
        base_url: str | None = None,
        public_base_url: str | None = None,
        timeout: float = 30.0,
        agent_id: str | None = None,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
        retry: RetryPolicy | None = None,
        renew_margin: float = DEFAULT_RENEW_MARGIN,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str | None = None,
        call_timeout: float | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "socket": socket,
            "base_url": base_url,
            "public_base_url": public_base_url,
            "timeout": timeout,
            "agent_id": agent_id,
            "scopes": scopes,
            "max_calls": max_calls,
            "max_cost_usd_cents": max_cost_usd_cents,
            "retry": retry,
            "renew_margin": renew_margin,
            "transport": transport,
            "user_agent": user_agent,
        }
        # Built on the loop thread, where its connection pool and lease lock will live.
        # (SyncProxy.build reserves ``timeout`` for itself, so the options travel as one dict.)
        self._proxy: SyncProxy[LatchGateClient] = SyncProxy.build(_build, options, loop=loop, timeout=call_timeout)
        self._client = self._proxy.target

    @property
    def client(self) -> LatchGateClient:
        """The async client (use it only through :meth:`run` from other threads)."""
        return self._client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def public_base_url(self) -> str:
        return self._client.public_base_url

    @property
    def gate_url(self) -> str:
        return self._client.gate_url

    @property
    def socket_path(self) -> str | None:
        return self._client.socket_path

    @property
    def lease(self) -> LeaseInfo | None:
        return self._client.lease

    @property
    def session_id(self) -> str | None:
        return self._client.session_id

    @property
    def lease_jti(self) -> str | None:
        return self._client.lease_jti

    @property
    def leases_issued(self) -> int:
        return self._client.leases_issued

    def run(self, coro: Coroutine[Any, Any, _Y]) -> _Y:
        """Run any coroutine of :attr:`client` on the client's loop and block for its result."""
        return self._proxy.run(coro)

    # --- the API -----------------------------------------------------------------------------

    def connect(
        self,
        *,
        agent_id: str | None = None,
        scopes: Iterable[str] | None = None,
        max_calls: int | None = None,
        max_cost_usd_cents: int | None = None,
    ) -> LeaseInfo:
        return self._proxy.run(
            self._client.connect(
                agent_id=agent_id, scopes=scopes, max_calls=max_calls, max_cost_usd_cents=max_cost_usd_cents
            )
        )

    def check_connection(self) -> LeaseInfo:
        return self._proxy.run(self._client.check_connection())

    def execute(self, action_id: str, params: Mapping[str, Any] | None = None) -> ActionResult:
        return self._proxy.run(self._client.execute(action_id, params))

    def get_receipt(self, receipt_id: str) -> ExecutionReceipt:
        return self._proxy.run(self._client.get_receipt(receipt_id))

    def get_approval_status(self, approval_id: str) -> LatchGateApproval:
        return self._proxy.run(self._client.get_approval_status(approval_id))

    def pending_approval(self, approval_id: str) -> PendingApproval | None:
        return self._client.pending_approval(approval_id)

    def get_action(self, action_id: str) -> ActionInfo:
        return self._proxy.run(self._client.get_action(action_id))

    def get_action_egress(self, action_id: str) -> EgressProfile:
        return self._proxy.run(self._client.get_action_egress(action_id))

    def list_actions(self) -> list[ActionSummary]:
        return self._proxy.run(self._client.list_actions())

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool and stop the loop thread; idempotent."""
        self._proxy.close()

    @property
    def closed(self) -> bool:
        return self._proxy.closed

    def __enter__(self) -> LatchGateSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LatchGateSyncClient({self._client!r})"


def _build(options: dict[str, Any]) -> LatchGateClient:
    return LatchGateClient(**options)


__all__ = ["LatchGateSyncClient"]
