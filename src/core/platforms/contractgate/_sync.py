"""A blocking ContractGate client for plain threads (Airflow hooks, Dagster ops), on the core sync facade."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from ...sync import LoopThread, SyncIterator, SyncProxy
from ...transport import RetryPolicy
from ._client import ContractGateClient
from ._errors import MAX_BODY_BYTES, MAX_EVENTS_PER_BATCH
from ._models import (
    AuditEntry,
    Contract,
    ContractVersion,
    DeployResult,
    EgressResult,
    EventReplayResult,
    IngestionStats,
    IngestResult,
    PlaygroundResult,
    QuarantineRow,
    ReplayResult,
    VersionHash,
)

_Y = TypeVar("_Y")


class ContractGateSyncClient:
    """:class:`ContractGateClient` with blocking methods of the same names and results.

    ```python
    with ContractGateSyncClient() as cg:
        result = cg.ingest(contract_id, events)
        for row in cg.iter_quarantine(contract_id=contract_id):
            ...
    ```

    The async client lives on one private event-loop thread for this object's whole life, so
    its connection pool is reused, and calls are safe from any thread, including one running
    an event loop of its own. The arguments are :class:`ContractGateClient`'s, plus
    ``call_timeout`` (a bound on each blocking call as a whole, retries included; None waits as
    long as the call takes) and ``loop``, a :class:`LoopThread` to share with other clients.
    """

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        call_timeout: float | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        # Built on the loop thread, where its connection pool will live.
        self._proxy: SyncProxy[ContractGateClient] = SyncProxy.build(
            _build,
            api_key,
            base_url,
            timeout,
            retry,
            headers,
            user_agent,
            transport,
            loop=loop,
            timeout=call_timeout,
        )
        self._client = self._proxy.target
        self._call_timeout = call_timeout

    @property
    def client(self) -> ContractGateClient:
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
        return self.run(self._client.request(method, path, **kwargs))

    # --- ingest and egress -------------------------------------------------------------------

    def ingest(
        self,
        contract_id: str,
        events: Any,
        *,
        version: str | None = None,
        dry_run: bool = False,
        atomic: bool = False,
        idempotency_key: str | None = None,
        ndjson: bool = False,
        timeout: float | None = None,
    ) -> IngestResult:
        return self.run(
            self._client.ingest(
                contract_id,
                events,
                version=version,
                dry_run=dry_run,
                atomic=atomic,
                idempotency_key=idempotency_key,
                ndjson=ndjson,
                timeout=timeout,
            )
        )

    def ingest_batches(
        self,
        contract_id: str,
        events: Iterable[Any],
        *,
        version: str | None = None,
        dry_run: bool = False,
        atomic: bool = False,
        idempotency_key: str | None = None,
        ndjson: bool = False,
        max_events: int = MAX_EVENTS_PER_BATCH,
        max_bytes: int = MAX_BODY_BYTES,
        timeout: float | None = None,
    ) -> list[IngestResult]:
        return self.run(
            self._client.ingest_batches(
                contract_id,
                events,
                version=version,
                dry_run=dry_run,
                atomic=atomic,
                idempotency_key=idempotency_key,
                ndjson=ndjson,
                max_events=max_events,
                max_bytes=max_bytes,
                timeout=timeout,
            )
        )

    def egress(
        self,
        contract_id: str,
        events: Any,
        *,
        version: str | None = None,
        disposition: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> EgressResult:
        return self.run(
            self._client.egress(
                contract_id,
                events,
                version=version,
                disposition=disposition,
                dry_run=dry_run,
                timeout=timeout,
            )
        )

    # --- audit and stats ---------------------------------------------------------------------

    def audit(self, *, contract_id: str | None = None, limit: int = 50, offset: int = 0) -> list[AuditEntry]:
        return self.run(self._client.audit(contract_id=contract_id, limit=limit, offset=offset))

    def iter_audit(self, *, contract_id: str | None = None, page_size: int = 100) -> SyncIterator[AuditEntry]:
        return self._iter(self._client.iter_audit(contract_id=contract_id, page_size=page_size))

    def stats(self) -> IngestionStats:
        return self.run(self._client.stats())

    def contract_stats(self, contract_id: str) -> IngestionStats:
        return self.run(self._client.contract_stats(contract_id))

    # --- contracts and versions --------------------------------------------------------------

    def list_contracts(self) -> list[Contract]:
        return self.run(self._client.list_contracts())

    def find_contract(self, name: str) -> Contract | None:
        return self.run(self._client.find_contract(name))

    def get_contract(self, contract_id: str) -> Contract:
        return self.run(self._client.get_contract(contract_id))

    def create_contract(
        self,
        name: str,
        yaml_content: str,
        *,
        description: str | None = None,
        multi_stable_resolution: str | None = None,
    ) -> Contract:
        return self.run(
            self._client.create_contract(
                name, yaml_content, description=description, multi_stable_resolution=multi_stable_resolution
            )
        )

    def update_contract(
        self,
        contract_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        multi_stable_resolution: str | None = None,
    ) -> Contract:
        return self.run(
            self._client.update_contract(
                contract_id,
                name=name,
                description=description,
                multi_stable_resolution=multi_stable_resolution,
            )
        )

    def delete_contract(self, contract_id: str) -> None:
        self.run(self._client.delete_contract(contract_id))

    def name_history(self, contract_id: str) -> list[dict[str, Any]]:
        return self.run(self._client.name_history(contract_id))

    def deploy_contract(
        self, name: str, yaml_content: str, *, source: str | None = None, deployed_by: str | None = None
    ) -> DeployResult:
        return self.run(
            self._client.deploy_contract(name, yaml_content, source=source, deployed_by=deployed_by)
        )

    def list_versions(self, contract_id: str) -> list[ContractVersion]:
        return self.run(self._client.list_versions(contract_id))

    def get_version(self, contract_id: str, version: str) -> ContractVersion:
        return self.run(self._client.get_version(contract_id, version))

    def get_latest_stable(self, contract_id: str) -> ContractVersion:
        return self.run(self._client.get_latest_stable(contract_id))

    def latest_version_hash(self, contract_id: str) -> VersionHash:
        return self.run(self._client.latest_version_hash(contract_id))

    def create_version(self, contract_id: str, version: str, yaml_content: str) -> ContractVersion:
        return self.run(self._client.create_version(contract_id, version, yaml_content))

    def update_version(self, contract_id: str, version: str, yaml_content: str) -> ContractVersion:
        return self.run(self._client.update_version(contract_id, version, yaml_content))

    def delete_version(self, contract_id: str, version: str) -> None:
        self.run(self._client.delete_version(contract_id, version))

    def promote_version(self, contract_id: str, version: str) -> ContractVersion:
        return self.run(self._client.promote_version(contract_id, version))

    def deprecate_version(self, contract_id: str, version: str) -> ContractVersion:
        return self.run(self._client.deprecate_version(contract_id, version))

    # --- quarantine and replay ---------------------------------------------------------------

    def list_quarantine(
        self, *, contract_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[QuarantineRow]:
        return self.run(self._client.list_quarantine(contract_id=contract_id, limit=limit, offset=offset))

    def iter_quarantine(
        self, *, contract_id: str | None = None, page_size: int = 100
    ) -> SyncIterator[QuarantineRow]:
        return self._iter(self._client.iter_quarantine(contract_id=contract_id, page_size=page_size))

    def replay_quarantine(
        self,
        contract_id: str,
        ids: Sequence[str],
        *,
        target_version: str | None = None,
        timeout: float | None = None,
    ) -> ReplayResult:
        return self.run(
            self._client.replay_quarantine(contract_id, ids, target_version=target_version, timeout=timeout)
        )

    def replay_events(
        self,
        event_ids: Sequence[str],
        *,
        version: str | None = None,
        contract_id: str | None = None,
        timeout: float | None = None,
    ) -> EventReplayResult:
        return self.run(
            self._client.replay_events(event_ids, version=version, contract_id=contract_id, timeout=timeout)
        )

    def replay_history(self, contract_id: str, quarantine_id: str) -> list[dict[str, Any]]:
        return self.run(self._client.replay_history(contract_id, quarantine_id))

    def replay_attempts(self, *, event_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.run(self._client.replay_attempts(event_id=event_id, limit=limit))

    # --- playground and health ---------------------------------------------------------------

    def playground_validate(self, yaml_content: str, event: Any) -> PlaygroundResult:
        return self.run(self._client.playground_validate(yaml_content, event))

    def health(self) -> dict[str, Any]:
        return self.run(self._client.health())

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool and stop the loop thread; idempotent."""
        self._proxy.close()

    @property
    def closed(self) -> bool:
        return self._proxy.closed

    def __enter__(self) -> ContractGateSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ContractGateSyncClient(base_url={self.base_url!r})"


def _build(
    api_key: str | SecretStr | None,
    base_url: str | None,
    timeout: float | httpx.Timeout,
    retry: RetryPolicy | None,
    headers: Mapping[str, str] | None,
    user_agent: str | None,
    transport: httpx.AsyncBaseTransport | None,
) -> ContractGateClient:
    # SyncProxy.build reserves ``loop`` and ``timeout`` for itself, so the client's own
    # ``timeout`` travels positionally.
    return ContractGateClient(
        api_key,
        base_url=base_url,
        timeout=timeout,
        retry=retry,
        headers=headers,
        user_agent=user_agent,
        transport=transport,
    )


__all__ = ["ContractGateSyncClient"]
