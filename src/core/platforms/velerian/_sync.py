"""A blocking Velerian client for plain threads (Airflow hooks, Dagster ops), on the core sync facade."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from ...sync import LoopThread, SyncIterator, SyncProxy
from ...transport import RetryPolicy
from ._client import DEFAULT_RUN_POLL_INTERVAL, DEFAULT_RUN_TIMEOUT, VelerianClient
from ._models import EvidenceExport, InvokeResult, Page, UsageSummary, VelerianApproval

_Y = TypeVar("_Y")


class VelerianSyncClient:
    """:class:`VelerianClient` with blocking methods of the same names and results.

    ```python
    with VelerianSyncClient() as velerian:
        result = velerian.invoke_abp(abp_id, {"prompt": "..."})
        for row in velerian.iter_audit_log(action="abp.invoke"):
            ...
    ```

    The async client lives on one private event-loop thread for this object's whole life (its
    connection pool is reused between calls); calls are safe from any thread, including one
    that is running an event loop of its own. The arguments are :class:`VelerianClient`'s, plus
    ``call_timeout``, a bound on each blocking call as a whole (retries and run polling
    included; None, the default, waits as long as the call takes) and ``loop``, a
    :class:`LoopThread` to share with other clients. Close it (or use
    ``with``) to stop the thread; a client that is garbage collected is closed too.
    """

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_invokes: bool = False,
        call_timeout: float | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        # Built on the loop thread, where its connection pool will live.
        self._proxy: SyncProxy[VelerianClient] = SyncProxy.build(
            _build,
            api_key,
            base_url,
            timeout,
            retry,
            user_agent,
            transport,
            retry_invokes,
            loop=loop,
            timeout=call_timeout,
        )
        self._client = self._proxy.target
        self._call_timeout = call_timeout

    @property
    def client(self) -> VelerianClient:
        """The async client (use it only through :meth:`run` from other threads)."""
        return self._client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def run(self, coro: Coroutine[Any, Any, _Y]) -> _Y:
        """Run any coroutine of :attr:`client` on the client's loop and block for its result."""
        return self._proxy.run(coro)

    def _iter(self, iterator: AsyncIterator[_Y]) -> SyncIterator[_Y]:
        return SyncIterator(iterator, self._proxy.loop_thread, self._call_timeout)

    # --- raw ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self._proxy.run(self._client.request(method, path, **kwargs))
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    # --- governed runs -----------------------------------------------------------------------

    def invoke_abp(self, abp_id: str, payload: Any, *, idempotency_key: str | None = None) -> InvokeResult:
        return self._proxy.run(self._client.invoke_abp(abp_id, payload, idempotency_key=idempotency_key))

    def invoke_network(
        self,
        slug: str,
        prompt_text: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        attachment_ids: Iterable[str] | None = None,
        wait: bool = False,
        poll_interval: float = DEFAULT_RUN_POLL_INTERVAL,
        run_timeout: float = DEFAULT_RUN_TIMEOUT,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        return self._proxy.run(
            self._client.invoke_network(
                slug,
                prompt_text,
                metadata=metadata,
                attachment_ids=attachment_ids,
                wait=wait,
                poll_interval=poll_interval,
                run_timeout=run_timeout,
                idempotency_key=idempotency_key,
            )
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._proxy.run(self._client.get_run(run_id))

    def await_run(
        self,
        run_id: str,
        *,
        poll_interval: float = DEFAULT_RUN_POLL_INTERVAL,
        run_timeout: float = DEFAULT_RUN_TIMEOUT,
    ) -> dict[str, Any]:
        return self._proxy.run(
            self._client.await_run(run_id, poll_interval=poll_interval, run_timeout=run_timeout)
        )

    # --- evidence ----------------------------------------------------------------------------

    def invocation_evidence(self, abp_id: str, invocation_id: str, format: str | None = None) -> EvidenceExport:
        return self._proxy.run(self._client.invocation_evidence(abp_id, invocation_id, format))

    def evidence_package(self, abp_id: str, since: str | datetime, format: str | None = None) -> EvidenceExport:
        return self._proxy.run(self._client.evidence_package(abp_id, since, format))

    def download_export(self, export: EvidenceExport) -> bytes:
        return self._proxy.run(self._client.download_export(export))

    # --- usage and audit ---------------------------------------------------------------------

    def usage_summary(
        self, *, evidence_limit: int | None = None, evidence_offset: int | None = None
    ) -> UsageSummary:
        return self._proxy.run(
            self._client.usage_summary(evidence_limit=evidence_limit, evidence_offset=evidence_offset)
        )

    def iter_usage_evidence(self, *, page_size: int = 100) -> SyncIterator[dict[str, Any]]:
        return self._iter(self._client.iter_usage_evidence(page_size=page_size))

    def list_audit_log(self, **filters: Any) -> Page[dict[str, Any]]:
        """See :meth:`VelerianClient.list_audit_log` for the filters, ``limit`` and ``offset``."""
        return self._proxy.run(self._client.list_audit_log(**filters))

    def iter_audit_log(self, **filters: Any) -> SyncIterator[dict[str, Any]]:
        """See :meth:`VelerianClient.iter_audit_log` for the filters and ``page_size``."""
        return self._iter(self._client.iter_audit_log(**filters))

    # --- approvals ---------------------------------------------------------------------------

    def list_approvals(self, **filters: Any) -> Page[VelerianApproval]:
        return self._proxy.run(self._client.list_approvals(**filters))

    def iter_approvals(self, **filters: Any) -> SyncIterator[VelerianApproval]:
        return self._iter(self._client.iter_approvals(**filters))

    def get_approval(self, approval_id: str) -> VelerianApproval:
        return self._proxy.run(self._client.get_approval(approval_id))

    def iter_paginated(self, path: str, params: Mapping[str, Any] | None = None, **options: Any) -> SyncIterator[Any]:
        """See :meth:`VelerianClient.iter_paginated`."""
        return self._iter(self._client.iter_paginated(path, params, **options))

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool and stop the loop thread; idempotent."""
        self._proxy.close()

    @property
    def closed(self) -> bool:
        return self._proxy.closed

    def __enter__(self) -> VelerianSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VelerianSyncClient(base_url={self.base_url!r})"


def _build(
    api_key: str | SecretStr | None,
    base_url: str | None,
    timeout: float | httpx.Timeout,
    retry: RetryPolicy | None,
    user_agent: str | None,
    transport: httpx.AsyncBaseTransport | None,
    retry_invokes: bool,
) -> VelerianClient:
    # SyncProxy.build reserves ``loop`` and ``timeout`` for itself, so the client's own
    # ``timeout`` travels positionally.
    return VelerianClient(
        api_key,
        base_url=base_url,
        timeout=timeout,
        retry=retry,
        user_agent=user_agent,
        transport=transport,
        retry_invokes=retry_invokes,
    )


__all__ = ["VelerianSyncClient"]
