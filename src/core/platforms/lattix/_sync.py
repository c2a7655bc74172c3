"""A blocking Lattix client for plain threads (Airflow workers, Dagster ops, scripts).

Every call runs on the client's own event-loop thread (:class:`govflow.core.sync.SyncProxy`), so
it works from any thread, also one that is already running an event loop (Prefect, Jupyter), and
the connection pool lives between calls.

```python
with LattixSyncClient("https://lattix.example", bearer_token=token) as lattix:
    print(lattix.whoami().caller.principal_id)
```
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from ...sync import SyncProxy
from ._client import (
    KeyAccessAuthorization,
    LattixClient,
    PreparedProtection,
    RegisteredArtifact,
    ResourceLike,
    WorkloadLike,
)
from ._models import (
    ArtifactProfile,
    CallerIdentityResponse,
    KeyAccessOperation,
    ProtectionOperation,
    SdkArtifactRegisterRequest,
    SdkArtifactRegisterResponse,
    SdkBootstrapResponse,
    SdkCapabilitiesResponse,
    SdkEvidenceIngestRequest,
    SdkEvidenceIngestResponse,
    SdkKeyAccessPlanRequest,
    SdkKeyAccessPlanResponse,
    SdkPolicyResolveRequest,
    SdkPolicyResolveResponse,
    SdkProtectionPlanRequest,
    SdkProtectionPlanResponse,
    SdkSessionExchangeResponse,
)

_T = TypeVar("_T")


class LattixSyncClient:
    """The blocking twin of :class:`LattixClient`: same arguments, same methods, same models.

    The route methods take a request model or the same keyword fields as the async client.
    ``call_timeout`` bounds each call as a whole (retries included); None waits as long as the
    client's own timeouts and retries take.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        client: LattixClient | None = None,
        call_timeout: float | None = None,
        **options: Any,
    ) -> None:
        if client is not None and (base_url is not None or options):
            raise TypeError("pass either client= or the LattixClient arguments, not both")
        self._client = client if client is not None else LattixClient(base_url, **options)
        self._proxy = SyncProxy(self._client, timeout=call_timeout)

    @property
    def async_client(self) -> LattixClient:
        """The wrapped async client (use it only on this client's loop)."""
        return self._client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def session(self) -> SdkSessionExchangeResponse | None:
        return self._client.session

    @property
    def session_exchanges(self) -> int:
        return self._client.session_exchanges

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self._proxy.run(coro)

    # --- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool and stop the loop thread; idempotent."""
        self._proxy.close()

    @property
    def closed(self) -> bool:
        return self._proxy.closed

    def __enter__(self) -> LattixSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LattixSyncClient({self._client!r})"

    # --- routes ----------------------------------------------------------------------------

    def capabilities(self) -> SdkCapabilitiesResponse:
        return self._run(self._client.capabilities())

    def whoami(self) -> CallerIdentityResponse:
        return self._run(self._client.whoami())

    def bootstrap(self) -> SdkBootstrapResponse:
        return self._run(self._client.bootstrap())

    def exchange_session(self) -> SdkSessionExchangeResponse:
        return self._run(self._client.exchange_session())

    def protection_plan(
        self, request: SdkProtectionPlanRequest | None = None, /, **fields: Any
    ) -> SdkProtectionPlanResponse:
        return self._run(self._client.protection_plan(request, **fields))

    def policy_resolve(
        self, request: SdkPolicyResolveRequest | None = None, /, **fields: Any
    ) -> SdkPolicyResolveResponse:
        return self._run(self._client.policy_resolve(request, **fields))

    def key_access_plan(
        self, request: SdkKeyAccessPlanRequest | None = None, /, **fields: Any
    ) -> SdkKeyAccessPlanResponse:
        return self._run(self._client.key_access_plan(request, **fields))

    def artifact_register(
        self,
        request: SdkArtifactRegisterRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> SdkArtifactRegisterResponse:
        return self._run(self._client.artifact_register(request, idempotency_key=idempotency_key, **fields))

    def evidence(
        self,
        request: SdkEvidenceIngestRequest | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> SdkEvidenceIngestResponse:
        return self._run(self._client.evidence(request, idempotency_key=idempotency_key, **fields))

    # --- helper flows ----------------------------------------------------------------------

    def prepare_local_protection(
        self,
        workload: WorkloadLike,
        resource: ResourceLike,
        *,
        operation: Literal["protect", "rewrap"] | ProtectionOperation = ProtectionOperation.PROTECT,
        preferred_artifact_profile: ArtifactProfile | str | None = None,
        content_digest: str | None = None,
        content_size_bytes: int | None = None,
        purpose: str | None = None,
        labels: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
    ) -> PreparedProtection:
        return self._run(
            self._client.prepare_local_protection(
                workload,
                resource,
                operation=operation,
                preferred_artifact_profile=preferred_artifact_profile,
                content_digest=content_digest,
                content_size_bytes=content_size_bytes,
                purpose=purpose,
                labels=labels,
                attributes=attributes,
            )
        )

    def authorize_key_access(
        self,
        workload: WorkloadLike,
        resource: ResourceLike,
        *,
        operation: Literal["wrap", "unwrap", "rewrap"] | KeyAccessOperation = KeyAccessOperation.UNWRAP,
        artifact_profile: ArtifactProfile | str = ArtifactProfile.TDF,
        key_reference: str | None = None,
        content_digest: str | None = None,
        content_size_bytes: int | None = None,
        purpose: str | None = None,
        labels: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
    ) -> KeyAccessAuthorization:
        return self._run(
            self._client.authorize_key_access(
                workload,
                resource,
                operation=operation,
                artifact_profile=artifact_profile,
                key_reference=key_reference,
                content_digest=content_digest,
                content_size_bytes=content_size_bytes,
                purpose=purpose,
                labels=labels,
                attributes=attributes,
            )
        )

    def register_artifact(
        self,
        workload: WorkloadLike,
        resource: ResourceLike,
        *,
        artifact_profile: ArtifactProfile | str,
        artifact_digest: str,
        operation: Literal["protect", "rewrap"] | ProtectionOperation = ProtectionOperation.PROTECT,
        artifact_locator: str | None = None,
        decision_id: str | None = None,
        key_reference: str | None = None,
        purpose: str | None = None,
        labels: Sequence[str] = (),
        attributes: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> RegisteredArtifact:
        return self._run(
            self._client.register_artifact(
                workload,
                resource,
                artifact_profile=artifact_profile,
                artifact_digest=artifact_digest,
                operation=operation,
                artifact_locator=artifact_locator,
                decision_id=decision_id,
                key_reference=key_reference,
                purpose=purpose,
                labels=labels,
                attributes=attributes,
                idempotency_key=idempotency_key,
            )
        )


__all__ = ["LattixSyncClient"]
