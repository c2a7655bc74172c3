"""The async Lattix client: the nine ``/v1/sdk/*`` routes, three auth modes, the SDK's helper flows.

```python
async with LattixClient("https://lattix.example", bearer_token=token, tenant_id="acme-prod") as lattix:
    plan = await lattix.protection_plan(
        operation="protect",
        workload={"application": "claims-api", "environment": "prod"},
        resource={"kind": "document", "id": "claim-8812"},
    )
```

Wire rules (specs/lattix.md sections 1, 2, 6), and where govflow differs from the official SDK:

- URL = base URL (trimmed, trailing ``/`` removed) + route: a base URL with a path prefix works.
- Headers: the caller's extra ``headers``, then ``x-lattix-tenant-id``/``x-lattix-user-id`` (when
  set and non-blank; they overwrite same-named extra headers), then ``Authorization`` (overrides
  an extra one). A blank bearer token means no Authorization header.
- Unset optional request fields are omitted (section 1 allows it); ``labels`` and ``attributes``
  are always sent.
- Retries (the SDK has none): GETs are retried on connection errors, 429 (Retry-After honoured)
  and 5xx. The three decision POSTs (protection-plan, policy-resolve, key-access-plan) have no
  side effect, so they carry a fresh ``Idempotency-Key`` per call and are retried the same way
  (``retry_decisions=False`` sends them once). artifact-register and evidence do have side
  effects: they are retried only when the caller passes an ``idempotency_key`` (the evidence
  outbox always does), and a server that honours it (govflow's emulator does) stores them once.
  Without a key they are sent once, except when the server provably did not see them
  (connection refused, 429).
- Unknown response fields and future enum values never fail a call (see ``_models``).
- Client credentials are exchanged lazily, refreshed *before* expiry like the SDK, and also once
  after a 401 (the SDK does not).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx
from pydantic import SecretStr, ValidationError

from ...errors import ConfigurationError
from ...redaction import SENSITIVE_HEADERS
from ...transport import BearerAuth, RetryPolicy, Transport
from ._auth import LattixSessionAuth, describe_validation_error, normalize_scopes
from ._checks import (
    check_artifact_registration,
    check_bootstrap,
    check_evidence_ingestion,
    check_key_access_plan,
    check_policy_resolution,
    check_protection_plan,
)
from ._errors import PLATFORM, serialization_error, server_error
from ._models import (
    ArtifactProfile,
    CallerIdentityResponse,
    EvidenceEventType,
    KeyAccessOperation,
    LattixRequest,
    LattixResponse,
    ProtectionOperation,
    ResourceDescriptor,
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
    WorkloadDescriptor,
)

if TYPE_CHECKING:
    from ._sync import LattixSyncClient

logger = logging.getLogger("govflow.lattix")

ENV_BASE_URL = "LATTIX_BASE_URL"
ENV_BEARER_TOKEN = "LATTIX_BEARER_TOKEN"
ENV_TENANT_ID = "LATTIX_TENANT_ID"
ENV_USER_ID = "LATTIX_USER_ID"
ENV_CLIENT_ID = "LATTIX_CLIENT_ID"
ENV_CLIENT_SECRET = "LATTIX_CLIENT_SECRET"

DEFAULT_TOKEN_EXCHANGE_PATH = "/v1/sdk/session"
TENANT_HEADER = "x-lattix-tenant-id"
USER_HEADER = "x-lattix-user-id"

AuthKind = Literal["bearer_token", "client_credentials", "trusted_headers", "none"]

_R = TypeVar("_R", bound=LattixResponse)
_Q = TypeVar("_Q", bound=LattixRequest)

WorkloadLike = WorkloadDescriptor | Mapping[str, Any]
ResourceLike = ResourceDescriptor | Mapping[str, Any]


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value is not None and value.strip() else None


def _reveal(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _normalize_base_url(base_url: str | None) -> str:
    value = (base_url or "").strip().rstrip("/")
    if not value:
        raise ConfigurationError(
            f"base_url cannot be empty: pass base_url= or set {ENV_BASE_URL}", platform=PLATFORM
        )
    if not value.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"base_url must be an http:// or https:// URL, got {value!r}", platform=PLATFORM
        )
    return value


def _exchange_url(base_url: str, path: str) -> str:
    path = path.strip()
    if path.lower().startswith(("http://", "https://")):
        return path
    if not path:
        raise ConfigurationError("token_exchange_path cannot be empty", platform=PLATFORM)
    return base_url + (path if path.startswith("/") else "/" + path)


def _build(cls: type[_Q], request: _Q | None, fields: Mapping[str, Any]) -> _Q:
    given = {name: value for name, value in fields.items() if value is not None}
    if request is None:
        return cls.model_validate(given)
    if given:
        raise TypeError(f"pass either a {cls.__name__} or keyword fields, not both ({', '.join(given)})")
    if not isinstance(request, cls):
        raise TypeError(f"expected a {cls.__name__}, got {type(request).__name__}")
    return request


@dataclass(frozen=True)
class PreparedProtection:
    """The checked answers of :meth:`LattixClient.prepare_local_protection`."""

    bootstrap: SdkBootstrapResponse
    policy_resolution: SdkPolicyResolveResponse
    protection_plan: SdkProtectionPlanResponse

    @property
    def artifact_profile(self) -> ArtifactProfile:
        """The profile the platform resolved: the one to produce."""
        return self.protection_plan.execution.artifact_profile


@dataclass(frozen=True)
class KeyAccessAuthorization:
    """The checked answers of :meth:`LattixClient.authorize_key_access`."""

    policy_resolution: SdkPolicyResolveResponse
    key_access_plan: SdkKeyAccessPlanResponse


@dataclass(frozen=True)
class RegisteredArtifact:
    """The checked answers of :meth:`LattixClient.register_artifact`."""

    registration: SdkArtifactRegisterResponse
    evidence: SdkEvidenceIngestResponse


class LattixClient:
    """Async client of the Lattix SDK control plane; use it with ``async with``.

    Configuration: explicit arguments first, then the environment (``LATTIX_BASE_URL``,
    ``LATTIX_TENANT_ID``, ``LATTIX_USER_ID``, and, only when none of ``bearer_token``,
    ``client_id``, ``client_secret`` is passed, ``LATTIX_BEARER_TOKEN``, ``LATTIX_CLIENT_ID``,
    ``LATTIX_CLIENT_SECRET``), then defaults. Auth, as in the SDK:

    - a non-blank ``bearer_token``: ``Authorization: Bearer <token>`` on every call;
    - otherwise ``client_id`` + ``client_secret`` (+ ``tenant_id``, required): a session
      exchanged at ``token_exchange_path`` (relative to the base URL, or an absolute URL);
    - otherwise no Authorization: ``tenant_id``/``user_id`` headers alone (trusted headers).

    The tenant and user headers are sent in every mode when set.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        bearer_token: str | SecretStr | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | SecretStr | None = None,
        token_exchange_path: str = DEFAULT_TOKEN_EXCHANGE_PATH,
        requested_scopes: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        retry_decisions: bool = True,
    ) -> None:
        self.base_url = _normalize_base_url(base_url if base_url is not None else _env(ENV_BASE_URL))
        if bearer_token is None and client_id is None and client_secret is None:
            # Credentials come as a set: with any of them passed, none is read from the
            # environment, so a stray LATTIX_BEARER_TOKEN cannot override explicit credentials.
            bearer_token = _env(ENV_BEARER_TOKEN)
            client_id = _env(ENV_CLIENT_ID)
            client_secret = _env(ENV_CLIENT_SECRET)
        tenant = (tenant_id if tenant_id is not None else _env(ENV_TENANT_ID) or "").strip()
        user = (user_id if user_id is not None else _env(ENV_USER_ID) or "").strip()
        self.tenant_id: str | None = tenant or None
        self.user_id: str | None = user or None
        self.retry_decisions = retry_decisions

        token = (_reveal(bearer_token) or "").strip()
        secret = _reveal(client_secret)
        if (client_id is None) != (secret is None):
            raise ConfigurationError("client_id and client_secret must be provided together", platform=PLATFORM)
        if client_id is not None and (not client_id.strip() or not (secret or "").strip()):
            raise ConfigurationError("client_id and client_secret cannot be blank", platform=PLATFORM)

        auth: httpx.Auth | None = None
        self._session_auth: LattixSessionAuth | None = None
        self.auth_kind: AuthKind
        if token:
            auth = BearerAuth(SecretStr(token))
            self.auth_kind = "bearer_token"
            if client_id is not None:
                logger.debug("lattix: a bearer token is configured; client credentials are not used")
        elif client_id is not None and secret is not None:
            if self.tenant_id is None:
                raise ConfigurationError(
                    "tenant_id is required when sdk client credentials are configured", platform=PLATFORM
                )
            self._session_auth = LattixSessionAuth(
                _exchange_url(self.base_url, token_exchange_path),
                tenant_id=self.tenant_id,
                client_id=client_id.strip(),
                client_secret=SecretStr(secret.strip()),
                requested_scopes=normalize_scopes(requested_scopes),
            )
            auth = self._session_auth
            self.auth_kind = "client_credentials"
        else:
            self.auth_kind = "trusted_headers" if self.tenant_id or self.user_id else "none"

        # Extra headers first, then the identity headers over them (section 2.1).
        extra = httpx.Headers(dict(headers or {}))
        if self.tenant_id is not None:
            extra[TENANT_HEADER] = self.tenant_id
        if self.user_id is not None:
            extra[USER_HEADER] = self.user_id
        self._headers = extra
        sensitive = [value for name, value in extra.items() if name.lower() in SENSITIVE_HEADERS]
        self._transport = Transport(
            PLATFORM,
            self.base_url + "/",
            auth=auth,
            timeout=timeout,
            retry=retry,
            error_mapper=server_error,
            transport=transport,
            secrets=sensitive,
            verify=verify,
        )

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The core transport (retries, redaction); for diagnostics."""
        return self._transport

    @property
    def session(self) -> SdkSessionExchangeResponse | None:
        """The current client-credentials session, if one was exchanged."""
        return self._session_auth.session if self._session_auth is not None else None

    @property
    def session_exchanges(self) -> int:
        """How many session exchanges this client has made."""
        return self._session_auth.exchanges if self._session_auth is not None else 0

    @property
    def is_closed(self) -> bool:
        return self._transport.is_closed

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> LattixClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def sync(self, *, call_timeout: float | None = None) -> LattixSyncClient:
        """A blocking view of this client (hand over a client not used on another loop yet)."""
        from ._sync import LattixSyncClient

        return LattixSyncClient(client=self, call_timeout=call_timeout)

    def __repr__(self) -> str:
        return f"LattixClient(base_url={self.base_url!r}, auth={self.auth_kind!r}, tenant_id={self.tenant_id!r})"

    # --- plumbing --------------------------------------------------------------------------

    def _decision_key(self) -> str | None:
        # A fresh key per call, the same on every attempt: lets the transport retry a pure decision.
        return f"govflow-{uuid.uuid4().hex}" if self.retry_decisions else None

    async def _call(
        self,
        method: str,
        route: str,
        model: type[_R],
        body: LattixRequest | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> _R:
        headers = httpx.Headers(self._headers)
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        response = await self._transport.request(
            method, route, content=content, headers=headers, idempotency_key=idempotency_key
        )
        return self._parse(model, response)

    def _parse(self, model: type[_R], response: httpx.Response) -> _R:
        # Read as text and parsed as JSON whatever the Content-Type, like the SDK.
        route = f"{response.request.method} {response.request.url.path}"
        redact = self._transport.redactor.redact
        try:
            data: Any = json.loads(response.text)
        except ValueError as exc:
            reason = getattr(exc, "msg", None) or type(exc).__name__
            raise serialization_error(redact(reason), status=response.status_code, route=route) from None
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            raise serialization_error(
                redact(describe_validation_error(exc)), status=response.status_code, route=route
            ) from None
        parsed._raw_json = data
        return parsed

    # --- GET routes ------------------------------------------------------------------------

    async def capabilities(self) -> SdkCapabilitiesResponse:
        """``GET /v1/sdk/capabilities``: auth posture, default scopes, per-route scopes."""
        return await self._call("GET", "v1/sdk/capabilities", SdkCapabilitiesResponse)

    async def whoami(self) -> CallerIdentityResponse:
        """``GET /v1/sdk/whoami``: the caller as the server sees it."""
        return await self._call("GET", "v1/sdk/whoami", CallerIdentityResponse)

    async def bootstrap(self) -> SdkBootstrapResponse:
        """``GET /v1/sdk/bootstrap``: enforcement model, supported operations and profiles."""
        return await self._call("GET", "v1/sdk/bootstrap", SdkBootstrapResponse)

    # --- session ---------------------------------------------------------------------------

    async def exchange_session(self) -> SdkSessionExchangeResponse:
        """``POST /v1/sdk/session`` now (client-credentials mode only); the session is then reused.

        Calls exchange on their own when needed; this is for checking credentials up front.
        """
        auth = self._session_auth
        if auth is None:
            raise ConfigurationError(
                "exchange_session() needs client credentials (client_id, client_secret, tenant_id) "
                "and no bearer token",
                platform=PLATFORM,
            )

        async def send(request: httpx.Request) -> httpx.Response:
            # Only Content-Type: no Authorization, no x-lattix-* and no extra headers (section 2.4).
            return await self._transport.request(
                "POST",
                request.url,
                content=request.content,
                headers={"Content-Type": "application/json"},
                authenticated=False,
            )

        return await auth.exchange(send)

    # --- decision routes -------------------------------------------------------------------

    async def protection_plan(
        self,
        request: SdkProtectionPlanRequest | None = None,
        *,
        operation: ProtectionOperation | str | None = None,
        workload: WorkloadLike | None = None,
        resource: ResourceLike | None = None,
        preferred_artifact_profile: ArtifactProfile | str | None = None,
        content_digest: str | None = None,
        content_size_bytes: int | None = None,
        purpose: str | None = None,
        labels: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> SdkProtectionPlanResponse:
        """``POST /v1/sdk/protection-plan``: how to protect (or access, rewrap) this data locally.

        Pass a request model, or its fields as keywords. ``allow: false`` is returned, not raised.
        """
        body = _build(
            SdkProtectionPlanRequest,
            request,
            {
                "operation": operation,
                "workload": workload,
                "resource": resource,
                "preferred_artifact_profile": preferred_artifact_profile,
                "content_digest": content_digest,
                "content_size_bytes": content_size_bytes,
                "purpose": purpose,
                "labels": labels,
                "attributes": attributes,
            },
        )
        return await self._call(
            "POST", "v1/sdk/protection-plan", SdkProtectionPlanResponse, body, idempotency_key=self._decision_key()
        )

    async def policy_resolve(
        self,
        request: SdkPolicyResolveRequest | None = None,
        *,
        operation: ProtectionOperation | str | None = None,
        workload: WorkloadLike | None = None,
        resource: ResourceLike | None = None,
        content_digest: str | None = None,
        content_size_bytes: int | None = None,
        purpose: str | None = None,
        labels: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> SdkPolicyResolveResponse:
        """``POST /v1/sdk/policy-resolve``: the ABAC decision from metadata only."""
        body = _build(
            SdkPolicyResolveRequest,
            request,
            {
                "operation": operation,
                "workload": workload,
                "resource": resource,
                "content_digest": content_digest,
                "content_size_bytes": content_size_bytes,
                "purpose": purpose,
                "labels": labels,
                "attributes": attributes,
            },
        )
        return await self._call(
            "POST", "v1/sdk/policy-resolve", SdkPolicyResolveResponse, body, idempotency_key=self._decision_key()
        )

    async def key_access_plan(
        self,
        request: SdkKeyAccessPlanRequest | None = None,
        *,
        operation: KeyAccessOperation | str | None = None,
        workload: WorkloadLike | None = None,
        resource: ResourceLike | None = None,
        artifact_profile: ArtifactProfile | str | None = None,
        key_reference: str | None = None,
        content_digest: str | None = None,
        purpose: str | None = None,
        labels: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> SdkKeyAccessPlanResponse:
        """``POST /v1/sdk/key-access-plan``: authorization of a local wrap/unwrap/rewrap."""
        body = _build(
            SdkKeyAccessPlanRequest,
            request,
            {
                "operation": operation,
                "workload": workload,
                "resource": resource,
                "artifact_profile": artifact_profile,
                "key_reference": key_reference,
                "content_digest": content_digest,
                "purpose": purpose,
                "labels": labels,
                "attributes": attributes,
            },
        )
        return await self._call(
            "POST", "v1/sdk/key-access-plan", SdkKeyAccessPlanResponse, body, idempotency_key=self._decision_key()
        )

    # --- side-effecting routes -------------------------------------------------------------

    async def artifact_register(
        self,
        request: SdkArtifactRegisterRequest | None = None,
        *,
        operation: ProtectionOperation | str | None = None,
        workload: WorkloadLike | None = None,
        resource: ResourceLike | None = None,
        artifact_profile: ArtifactProfile | str | None = None,
        artifact_digest: str | None = None,
        artifact_locator: str | None = None,
        decision_id: str | None = None,
        key_reference: str | None = None,
        purpose: str | None = None,
        labels: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SdkArtifactRegisterResponse:
        """``POST /v1/sdk/artifact-register``: catalog a protected artifact by digest.

        With ``idempotency_key`` the call is retried on transient failures under that key.
        """
        body = _build(
            SdkArtifactRegisterRequest,
            request,
            {
                "operation": operation,
                "workload": workload,
                "resource": resource,
                "artifact_profile": artifact_profile,
                "artifact_digest": artifact_digest,
                "artifact_locator": artifact_locator,
                "decision_id": decision_id,
                "key_reference": key_reference,
                "purpose": purpose,
                "labels": labels,
                "attributes": attributes,
            },
        )
        return await self._call(
            "POST", "v1/sdk/artifact-register", SdkArtifactRegisterResponse, body, idempotency_key=idempotency_key
        )

    async def evidence(
        self,
        request: SdkEvidenceIngestRequest | None = None,
        *,
        event_type: EvidenceEventType | str | None = None,
        workload: WorkloadLike | None = None,
        resource: ResourceLike | None = None,
        artifact_profile: ArtifactProfile | str | None = None,
        artifact_digest: str | None = None,
        decision_id: str | None = None,
        outcome: str | None = None,
        occurred_at: datetime | str | None = None,
        purpose: str | None = None,
        labels: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> SdkEvidenceIngestResponse:
        """``POST /v1/sdk/evidence``: an audit event (protect, access, rewrap, deny).

        ``occurred_at`` is a datetime (sent as RFC 3339 UTC) or a string. With
        ``idempotency_key`` the call is retried on transient failures under that key.
        """
        body = _build(
            SdkEvidenceIngestRequest,
            request,
            {
                "event_type": event_type,
                "workload": workload,
                "resource": resource,
                "artifact_profile": artifact_profile,
                "artifact_digest": artifact_digest,
                "decision_id": decision_id,
                "outcome": outcome,
                "occurred_at": occurred_at,
                "purpose": purpose,
                "labels": labels,
                "attributes": attributes,
            },
        )
        return await self._call(
            "POST", "v1/sdk/evidence", SdkEvidenceIngestResponse, body, idempotency_key=idempotency_key
        )

    # --- helper flows (section 8), with the fail-closed checks ----------------------------

    async def prepare_local_protection(
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
        """bootstrap -> policy-resolve -> protection-plan, each answer checked (the SDK's flow).

        Raises LattixDeniedError when policy or plan says no, LattixFailClosedError when an
        answer breaks the local-only contract. Returns the three answers; the artifact profile
        to produce is ``.artifact_profile``.
        """
        operation = ProtectionOperation(operation)
        bootstrap = await self.bootstrap()
        check_bootstrap(bootstrap, operation, preferred_artifact_profile)
        common: dict[str, Any] = {
            "operation": operation,
            "workload": workload,
            "resource": resource,
            "content_digest": content_digest,
            "content_size_bytes": content_size_bytes,
            "purpose": purpose,
            "labels": list(labels),
            "attributes": dict(attributes or {}),
        }
        resolution = await self.policy_resolve(**common)
        check_policy_resolution(resolution, operation)
        plan = await self.protection_plan(**common, preferred_artifact_profile=preferred_artifact_profile)
        check_protection_plan(plan, operation)
        return PreparedProtection(bootstrap, resolution, plan)

    async def authorize_key_access(
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
        """policy-resolve -> key-access-plan, checked (the SDK's access/rewrap key step).

        The policy operation follows the key operation: unwrap -> access, rewrap -> rewrap,
        wrap -> protect.
        """
        key_operation = KeyAccessOperation(operation)
        policy_operation = {
            KeyAccessOperation.WRAP: ProtectionOperation.PROTECT,
            KeyAccessOperation.UNWRAP: ProtectionOperation.ACCESS,
            KeyAccessOperation.REWRAP: ProtectionOperation.REWRAP,
        }.get(key_operation)
        if policy_operation is None:
            raise ConfigurationError(
                f"unknown key access operation {key_operation}; use wrap, unwrap or rewrap", platform=PLATFORM
            )
        shared: dict[str, Any] = {
            "workload": workload,
            "resource": resource,
            "content_digest": content_digest,
            "purpose": purpose,
            "labels": list(labels),
            "attributes": dict(attributes or {}),
        }
        resolution = await self.policy_resolve(
            operation=policy_operation, content_size_bytes=content_size_bytes, **shared
        )
        check_policy_resolution(resolution, policy_operation)
        plan = await self.key_access_plan(
            operation=key_operation, artifact_profile=artifact_profile, key_reference=key_reference, **shared
        )
        check_key_access_plan(plan, key_operation, artifact_profile)
        return KeyAccessAuthorization(resolution, plan)

    async def register_artifact(
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
        """artifact-register -> evidence(``success``), both checked: the end of the SDK's protect flow.

        ``idempotency_key`` (recommended) makes both calls retryable; the evidence call uses
        ``<key>:evidence``.
        """
        operation = ProtectionOperation(operation)
        shared: dict[str, Any] = {
            "workload": workload,
            "resource": resource,
            "artifact_profile": artifact_profile,
            "artifact_digest": artifact_digest,
            "decision_id": decision_id,
            "purpose": purpose,
            "labels": list(labels),
            "attributes": dict(attributes or {}),
        }
        registration = await self.artifact_register(
            operation=operation,
            artifact_locator=artifact_locator,
            key_reference=key_reference,
            idempotency_key=idempotency_key,
            **shared,
        )
        check_artifact_registration(registration)
        evidence = await self.evidence(
            event_type=EvidenceEventType(str(operation)),
            outcome="success",
            idempotency_key=f"{idempotency_key}:evidence" if idempotency_key else None,
            **shared,
        )
        check_evidence_ingestion(evidence)
        return RegisteredArtifact(registration, evidence)


__all__ = [
    "DEFAULT_TOKEN_EXCHANGE_PATH",
    "ENV_BASE_URL",
    "ENV_BEARER_TOKEN",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_TENANT_ID",
    "ENV_USER_ID",
    "KeyAccessAuthorization",
    "LattixClient",
    "PreparedProtection",
    "RegisteredArtifact",
]
