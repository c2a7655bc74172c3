"""The async ContractGate client: every route of specs/contractgate.md on the core transport."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from ...errors import ConfigurationError, GovflowError, TransportError
from ...redaction import Redactor, install_log_redaction
from ...transport import USER_AGENT, ApiKeyAuth, RetryPolicy, Transport
from ._errors import (
    MAX_BODY_BYTES,
    MAX_EVENT_BYTES,
    MAX_EVENTS_PER_BATCH,
    ContractGatePayloadTooLargeError,
    map_error,
)
from ._models import (
    PLATFORM,
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
    RateLimitInfo,
    ReplayResult,
    VersionHash,
)

logger = logging.getLogger("govflow.contractgate")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAY_HEADER = "X-Idempotency-Replay"
NDJSON_CONTENT_TYPE = "application/x-ndjson"
MAX_IDEMPOTENCY_KEY_CHARS = 255

# govflow's own variable first (so govflow can be pointed elsewhere than other tools), then the
# platform's. The SDK reads no environment at all and has no default base URL.
API_KEY_ENV = ("GOVFLOW_CONTRACTGATE_API_KEY", "CONTRACTGATE_API_KEY")
BASE_URL_ENV = ("GOVFLOW_CONTRACTGATE_BASE_URL", "CONTRACTGATE_BASE_URL")
PUBLISHED_BASE_URLS = ("https://api.datacontractgate.com", "https://app.datacontractgate.com")

_C = TypeVar("_C", bound="ContractGateClient")


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _env(names: Iterable[str]) -> tuple[str, str] | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def resolve_api_key(api_key: str | SecretStr | None) -> SecretStr:
    """The explicit key, else ``GOVFLOW_CONTRACTGATE_API_KEY``, else ``CONTRACTGATE_API_KEY``.

    The gateway refuses any key shorter than 12 characters or not starting with ``cg_`` without
    looking it up (spec section 1), so such a key is a ConfigurationError here, before a run.
    """
    if api_key is None:
        found = _env(API_KEY_ENV)
        if found is None:
            raise ConfigurationError(
                "no ContractGate API key: pass api_key=..., or set GOVFLOW_CONTRACTGATE_API_KEY or "
                "CONTRACTGATE_API_KEY (keys look like cg_live_<48 hex>; mint one on the Account page)",
                platform=PLATFORM,
            )
        api_key = found[1]
    secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    value = secret.get_secret_value().strip()
    if not value:
        raise ConfigurationError(
            "the ContractGate API key is empty: pass the key itself, or omit api_key to read "
            "GOVFLOW_CONTRACTGATE_API_KEY / CONTRACTGATE_API_KEY",
            platform=PLATFORM,
        )
    if not value.startswith("cg_") or len(value) < 12:
        raise ConfigurationError(
            "the ContractGate API key does not look like one (cg_live_ followed by 48 hex "
            "characters); the gateway would refuse it",
            platform=PLATFORM,
        )
    return SecretStr(value)


def resolve_base_url(base_url: str | None) -> str:
    """The gateway's origin (optionally with a path prefix), without a trailing ``/``.

    Explicit argument, else ``GOVFLOW_CONTRACTGATE_BASE_URL``, else ``CONTRACTGATE_BASE_URL``.
    There is no default, as in the SDK: ContractGate is hosted under several names and often
    self-hosted, and sending a key to a guessed host is worse than asking.
    """
    source = "base_url"
    if base_url is None:
        found = _env(BASE_URL_ENV)
        if found is None:
            raise ConfigurationError(
                "no ContractGate base URL: pass base_url=..., or set GOVFLOW_CONTRACTGATE_BASE_URL "
                f"or CONTRACTGATE_BASE_URL (hosted: {PUBLISHED_BASE_URLS[0]}; a self-hosted "
                "gateway listens on port 3001 by default)",
                platform=PLATFORM,
            )
        source, base_url = found
    value = base_url.strip()
    if not value:
        raise ConfigurationError("the ContractGate base URL is empty", platform=PLATFORM)
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{source} {value!r} is not a URL ({exc})", platform=PLATFORM) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"{source} {value!r} must be an http(s) origin such as {PUBLISHED_BASE_URLS[0]}",
            platform=PLATFORM,
        )
    if url.query or url.fragment:
        raise ConfigurationError(f"{source} {value!r} must not carry a query or fragment", platform=PLATFORM)
    value = value.rstrip("/")
    if url.path.rstrip("/").lower().endswith("/v1"):
        raise ConfigurationError(
            f"{source} {value!r} ends in /v1: give the origin instead ({value[:-3]!r}); govflow "
            "adds /v1 to the ingest routes itself, and the other routes have no /v1",
            platform=PLATFORM,
        )
    return value


def segment(value: str, what: str) -> str:
    """One path segment, percent-encoded: an id containing ``/`` or ``?`` cannot reach another route."""
    text = str(value)
    if not text:
        raise ValueError(f"{what} must not be empty")
    return quote(text, safe="")


def split_pin(contract_id: str, version: str | None) -> tuple[str, str | None]:
    """``"<uuid>@1.1.0"`` -> ``("<uuid>", "1.1.0")``; an explicit ``version`` wins; ``"<uuid>@"``
    is unpinned."""
    contract, _, suffix = str(contract_id).partition("@")
    return contract, version if version is not None else (suffix or None)


# --- encoding and splitting ------------------------------------------------------------------


def encode_event(event: Any, index: int | None = None) -> bytes:
    """Compact UTF-8 JSON, as the gateway measures an event (spec 11.1)."""
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        where = f"event {index}" if index is not None else "the event"
        raise TypeError(
            f"{where} is not JSON: {exc} (convert datetimes, decimals and NaN before ingesting)"
        ) from None


def _as_events(events: Any) -> tuple[list[Any], bool]:
    """``(events, is_batch)``: a mapping or a scalar is one event, any other iterable a batch."""
    if isinstance(events, Mapping):
        return [events if isinstance(events, dict) else dict(events)], False
    if isinstance(events, (str, bytes, bytearray)) or events is None:
        return [events], False
    if isinstance(events, Iterable):
        return list(events), True
    return [events], False


def _encode_one(events: Any) -> EncodedBatch:
    items, is_batch = _as_events(events)
    parts = [encode_event(event, index if is_batch else None) for index, event in enumerate(items)]
    return EncodedBatch(0, parts, is_batch)


@dataclass(frozen=True)
class EncodedBatch:
    """A slice of the input, encoded once: retries send these exact bytes again."""

    offset: int
    parts: list[bytes]
    as_array: bool = True

    def body(self, ndjson: bool) -> bytes:
        if ndjson:
            return b"".join(part + b"\n" for part in self.parts)
        if not self.as_array:
            return self.parts[0]
        return b"[" + b",".join(self.parts) + b"]"

    def __len__(self) -> int:
        return len(self.parts)


def encode_batches(
    events: Iterable[Any],
    *,
    max_events: int = MAX_EVENTS_PER_BATCH,
    max_bytes: int = MAX_BODY_BYTES,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> list[EncodedBatch]:
    """Encode ``events`` and cut them into batches the gateway accepts (spec 11.1).

    At most ``max_events`` events and ``max_bytes`` of body per batch, in input order. An event
    whose compact JSON is ``max_event_bytes`` or more can never be accepted:
    :class:`ContractGatePayloadTooLargeError` names it before anything is sent.
    """
    if max_events < 1 or max_bytes < 3:
        raise ValueError("max_events must be at least 1 and max_bytes at least 3")
    batches: list[EncodedBatch] = []
    parts: list[bytes] = []
    size = 2  # "[" and "]"; each event adds its bytes plus "," or "\n"
    start = 0
    for index, event in enumerate(events):
        part = encode_event(event, index)
        if len(part) >= max_event_bytes:
            raise ContractGatePayloadTooLargeError(
                f"event {index} is {len(part)} bytes of JSON; the gateway accepts events under "
                f"{max_event_bytes} bytes: split or trim it",
                platform=PLATFORM,
                event_index=index,
            )
        if parts and (len(parts) >= max_events or size + len(part) + 1 > max_bytes):
            batches.append(EncodedBatch(start, parts))
            start, parts, size = index, [], 2
        parts.append(part)
        size += len(part) + 1
    if parts:
        batches.append(EncodedBatch(start, parts))
    return batches


def split_batches(
    events: Iterable[Any], *, max_events: int = MAX_EVENTS_PER_BATCH, max_bytes: int = MAX_BODY_BYTES
) -> list[list[Any]]:
    """``events`` cut into lists of at most ``max_events`` events and ``max_bytes`` of JSON."""
    items = list(events)
    batches = encode_batches(items, max_events=max_events, max_bytes=max_bytes)
    return [items[b.offset : b.offset + len(b)] for b in batches]


class ContractGateClient:
    """Async client of the ContractGate gateway; use it with ``async with``.

    ```python
    async with ContractGateClient() as cg:        # key and URL from the environment
        result = await cg.ingest(contract_id, [{"user_id": "u_1", ...}])
        for event in result.failures:
            print(event.index, [v.kind for v in event.violations], event.quarantine_id)
    ```

    Configuration: explicit arguments, then ``GOVFLOW_CONTRACTGATE_API_KEY`` /
    ``CONTRACTGATE_API_KEY`` and ``GOVFLOW_CONTRACTGATE_BASE_URL`` / ``CONTRACTGATE_BASE_URL``.
    There is no default base URL. The key goes in ``x-api-key`` to that origin only.
    ``headers`` adds default headers (e.g. ``x-org-id`` for a gateway in dev-no-auth mode; a
    production gateway ignores it).

    Retries (``retry``, default 4 attempts, full-jitter backoff, ``Retry-After`` honoured up to
    60 s): GETs on 408, 429, 5xx and network failures; every POST on a 429 and on a connection
    that was never made. **Ingest** always carries an ``Idempotency-Key`` (a fresh UUID per call
    unless you pass one; the same on every attempt, with the very same body bytes), and the
    gateway deduplicates on it, so an ingest is also retried after a 5xx, a 408, a timeout or a
    dropped connection, without storing the batch twice: a replayed answer has
    ``result.replayed`` set. Other POSTs (egress, replay, contract changes) are sent once.
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
    ) -> None:
        key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        install_log_redaction(logger.name)
        self._http = Transport(
            PLATFORM,
            self._base_url + "/",
            auth=ApiKeyAuth(key, "x-api-key"),
            timeout=timeout,
            retry=retry,
            headers=headers,
            error_mapper=self._map_error,
            transport=transport,
            secrets=[key],
            user_agent=user_agent or f"{USER_AGENT} (contractgate)",
        )

    # --- configuration -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The gateway origin every path is joined to (no trailing ``/``)."""
        return self._base_url

    @property
    def transport(self) -> Transport:
        """The core transport (auth, retries, redaction) this client sends through."""
        return self._http

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    def __repr__(self) -> str:
        return f"ContractGateClient(base_url={self._base_url!r})"

    def _url(self, path: str) -> str:
        return self._base_url + (path if path.startswith("/") else "/" + path)

    # --- the escape hatch --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        timeout: float | httpx.Timeout | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Any route (``path`` from the origin, e.g. ``"/health"``), with auth, retries and typed errors.

        A POST is retried after an ambiguous failure only with ``idempotency_key``, which the
        gateway honours on ``/v1/ingest`` only.
        """
        return await self._http.request(
            method,
            self._url(path),
            params=params,
            json=json,
            headers=headers,
            content=content,
            timeout=timeout,
            idempotency_key=idempotency_key,
        )

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        return await self._http.request_json(
            method, self._url(path), params=params, json=json, headers=headers, timeout=timeout
        )

    # --- ingest ------------------------------------------------------------------------------

    async def ingest(
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
        """Validate and store a batch (``POST /v1/ingest/{contract_id}``, spec sections 3 and 6.5).

        ``events``: a list (or any iterable) of events, or one mapping (a batch of one), sent
        as a JSON array or, with ``ndjson=True``, as NDJSON. ``version`` pins a version (draft,
        stable or deprecated); ``"<uuid>@<version>"`` works too, an explicit ``version`` wins.
        ``dry_run`` validates without storing; ``atomic`` stores nothing if any event fails.

        Failed events are results, not errors: 200 (all passed), 207 (some failed) and 422 with
        per-event results (all failed, an atomic rejection, or a deprecated pin, whose answer
        lacks ``resolved_version``) all return an :class:`IngestResult`; check ``failed``,
        ``failures`` or ``all_passed``. Any other status raises (see ``_errors``).

        The body is encoded once and sent byte for byte on every attempt with the same
        ``Idempotency-Key`` (the gateway matches a retry by the key and the SHA-256 of the raw
        body), so retries never store a batch twice. Send one batch per call (at most 1000
        events, 10 MB); :meth:`ingest_batches` splits a larger list.
        """
        contract, pin = split_pin(contract_id, version)
        batch = _encode_one(events)
        return await self._ingest(contract, batch, pin, dry_run, atomic, idempotency_key, ndjson, timeout)

    async def ingest_batches(
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
        """:meth:`ingest` for any number of events: one request per batch the gateway accepts.

        Batches hold at most ``max_events`` events and ``max_bytes`` of body and are sent in
        order; ``result.offset`` is where each starts in ``events`` (``record()`` indexes add
        it). Each batch's key is ``<idempotency_key>.<n>`` (just the key when there is one
        batch), so calling again with the same ``idempotency_key`` after a failure resends
        nothing the gateway already stored (for its 24 h idempotency window). ``atomic`` holds
        per request, so it is refused when the events need more than one.
        """
        contract, pin = split_pin(contract_id, version)
        batches = encode_batches(events, max_events=max_events, max_bytes=max_bytes)
        if atomic and len(batches) > 1:
            raise ConfigurationError(
                f"atomic=True holds for one request, and these events need {len(batches)}; "
                "validate with dry_run=True first, or raise max_events/max_bytes within the limits",
                platform=PLATFORM,
            )
        base = idempotency_key or new_idempotency_key()
        results: list[IngestResult] = []
        for number, batch in enumerate(batches):
            key = base if len(batches) == 1 else f"{base}.{number}"
            try:
                result = await self._ingest(contract, batch, pin, dry_run, atomic, key, ndjson, timeout)
            except GovflowError as exc:
                if number:
                    exc.message += (
                        f"; batches 0-{number - 1} of {len(batches)} were accepted: call again with "
                        f"idempotency_key={base!r} to resume without storing them twice"
                    )
                    exc.args = (exc.message, *exc.args[1:])
                raise
            results.append(result)
        return results

    async def _ingest(
        self,
        contract: str,
        batch: EncodedBatch,
        version: str | None,
        dry_run: bool,
        atomic: bool,
        idempotency_key: str | None,
        ndjson: bool,
        timeout: float | None,
    ) -> IngestResult:
        key = idempotency_key or new_idempotency_key()
        if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            raise ConfigurationError(
                f"the Idempotency-Key is {len(key)} characters; the gateway accepts at most "
                f"{MAX_IDEMPOTENCY_KEY_CHARS}",
                platform=PLATFORM,
            )
        path = f"/v1/ingest/{segment(contract, 'contract_id')}"
        params = {
            "version": version,
            "dry_run": "true" if dry_run else None,
            "atomic": "true" if atomic else None,
        }
        content_type = NDJSON_CONTENT_TYPE if ndjson else "application/json"
        response = await self._http.request(
            "POST",
            self._url(path),
            params=params,
            content=batch.body(ndjson),
            headers={"Content-Type": content_type},
            idempotency_key=key,
            timeout=timeout,
            raise_for_status=False,
        )
        body = _decode(response, f"POST {path}", self._http.redactor)
        status = response.status_code
        if not (200 <= status < 300 or (status == 422 and _is_batch_body(body))):
            raise self._http.map_error(response)
        result = IngestResult.from_body(body, where=f"POST {path}")
        result.status_code = status
        result.replayed = response.headers.get(REPLAY_HEADER, "").strip().lower() == "true"
        result.idempotency_key = key
        result.rate_limit = RateLimitInfo.from_headers(response.headers)
        result.offset = batch.offset
        return result

    # --- egress ------------------------------------------------------------------------------

    async def egress(
        self,
        contract_id: str,
        events: Any,
        *,
        version: str | None = None,
        disposition: str | None = None,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> EgressResult:
        """Validate an outbound payload (``POST /egress/{contract_id}``, spec 6.6).

        ``disposition`` is ``block`` (the gateway's default: only passing records in
        ``payload``), ``fail`` (nothing once one fails) or ``tag`` (everything). Forward only
        ``result.payload``. The 422 of a ``fail`` disposition is returned as a result (the SDK
        raises it). The version travels in ``X-Contract-Version`` (``"<uuid>@<v>"`` works too);
        a deprecated version is a 400. Sent once: egress audits and quarantines.
        """
        contract, pin = split_pin(contract_id, version)
        path = f"/egress/{segment(contract, 'contract_id')}"
        batch = _encode_one(events)
        headers = {"Content-Type": "application/json"}
        if pin is not None:
            headers["X-Contract-Version"] = pin
        response = await self._http.request(
            "POST",
            self._url(path),
            params={"disposition": disposition, "dry_run": "true" if dry_run else None},
            content=batch.body(False),
            headers=headers,
            timeout=timeout,
            raise_for_status=False,
        )
        body = _decode(response, f"POST {path}", self._http.redactor)
        status = response.status_code
        egress_result = isinstance(body, dict) and isinstance(body.get("outcomes"), list) and "failed" in body
        if not (200 <= status < 300 or (status == 422 and egress_result)):
            raise self._http.map_error(response)
        result = EgressResult.from_body(body, where=f"POST {path}")
        result.status_code = status
        return result

    # --- audit and stats ---------------------------------------------------------------------

    async def audit(
        self, *, contract_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[AuditEntry]:
        """One page of audit rows, newest first (``GET /audit``; the gateway caps ``limit`` at 500)."""
        params = {"limit": limit, "offset": offset, "contract_id": contract_id}
        body = await self._json("GET", "/audit", params=params)
        return AuditEntry.list_from_body(body, where="GET /audit")

    async def iter_audit(
        self, *, contract_id: str | None = None, page_size: int = 100
    ) -> AsyncIterator[AuditEntry]:
        """Every audit row, newest first, page after page."""
        rows = self._http.paginate(
            self._url("/audit"),
            params={"contract_id": contract_id},
            items_key=None,
            total_key=None,
            limit=min(page_size, 500),
        )
        async for row in rows:
            yield AuditEntry.from_body(row, where="GET /audit")

    async def stats(self) -> IngestionStats:
        """Ingestion statistics of the key's org (``GET /stats``)."""
        return IngestionStats.from_body(await self._json("GET", "/stats"), where="GET /stats")

    async def contract_stats(self, contract_id: str) -> IngestionStats:
        """Ingestion statistics of one contract (``GET /ingest/{id}/stats``)."""
        path = f"/ingest/{segment(contract_id, 'contract_id')}/stats"
        return IngestionStats.from_body(await self._json("GET", path), where=f"GET {path}")

    # --- contracts ---------------------------------------------------------------------------

    async def list_contracts(self) -> list[Contract]:
        """Every contract the key can see (``GET /contracts``; summary rows, no timestamps)."""
        return Contract.list_from_body(await self._json("GET", "/contracts"), where="GET /contracts")

    async def find_contract(self, name: str) -> Contract | None:
        """The contract named ``name`` (names are unique per org), or None."""
        for contract in await self.list_contracts():
            if contract.name == name:
                return contract
        return None

    async def get_contract(self, contract_id: str) -> Contract:
        path = f"/contracts/{segment(contract_id, 'contract_id')}"
        return Contract.from_body(await self._json("GET", path), where=f"GET {path}")

    async def create_contract(
        self,
        name: str,
        yaml_content: str,
        *,
        description: str | None = None,
        multi_stable_resolution: str | None = None,
    ) -> Contract:
        """``POST /contracts``: a new contract with a **draft** version ``1.0.0`` (promote it to ingest)."""
        body: dict[str, Any] = {"name": name, "yaml_content": yaml_content}
        if description is not None:
            body["description"] = description
        if multi_stable_resolution is not None:
            body["multi_stable_resolution"] = multi_stable_resolution
        return Contract.from_body(await self._json("POST", "/contracts", json=body), where="POST /contracts")

    async def update_contract(
        self,
        contract_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        multi_stable_resolution: str | None = None,
    ) -> Contract:
        """``PATCH /contracts/{id}``: rename, describe, or switch ``strict``/``fallback`` resolution."""
        body = {
            key: value
            for key, value in (
                ("name", name),
                ("description", description),
                ("multi_stable_resolution", multi_stable_resolution),
            )
            if value is not None
        }
        path = f"/contracts/{segment(contract_id, 'contract_id')}"
        return Contract.from_body(await self._json("PATCH", path, json=body), where=f"PATCH {path}")

    async def delete_contract(self, contract_id: str) -> None:
        """``DELETE /contracts/{id}`` (a soft delete: the contract answers 404 from then on)."""
        await self.request("DELETE", f"/contracts/{segment(contract_id, 'contract_id')}")

    async def name_history(self, contract_id: str) -> list[dict[str, Any]]:
        """``GET /contracts/{id}/name-history``: rows of ``{id, contract_id, old_name, new_name,
        changed_at}``."""
        path = f"/contracts/{segment(contract_id, 'contract_id')}/name-history"
        return _rows(await self._json("GET", path), f"GET {path}")

    async def deploy_contract(
        self,
        name: str,
        yaml_content: str,
        *,
        source: str | None = None,
        deployed_by: str | None = None,
    ) -> DeployResult:
        """``POST /contracts/deploy``: find or create ``name``, add the YAML's ``version`` as stable,
        and deprecate every other stable version. Refused (400) while quarantine rows are pending."""
        body: dict[str, Any] = {"name": name, "yaml_content": yaml_content}
        if source is not None:
            body["source"] = source
        if deployed_by is not None:
            body["deployed_by"] = deployed_by
        data = await self._json("POST", "/contracts/deploy", json=body)
        return DeployResult.from_body(data, where="POST /contracts/deploy")

    # --- versions ----------------------------------------------------------------------------

    def _version_path(self, contract_id: str, version: str | None = None, action: str | None = None) -> str:
        path = f"/contracts/{segment(contract_id, 'contract_id')}/versions"
        if version is not None:
            path += f"/{segment(version, 'version')}"
        if action is not None:
            path += f"/{action}"
        return path

    async def list_versions(self, contract_id: str) -> list[ContractVersion]:
        """Every version, newest first (summary rows: no YAML)."""
        path = self._version_path(contract_id)
        return ContractVersion.list_from_body(await self._json("GET", path), where=f"GET {path}")

    async def get_version(self, contract_id: str, version: str) -> ContractVersion:
        path = self._version_path(contract_id, version)
        return ContractVersion.from_body(await self._json("GET", path), where=f"GET {path}")

    async def get_latest_stable(self, contract_id: str) -> ContractVersion:
        """The stable version promoted last; ConflictError (409) if there is none."""
        path = self._version_path(contract_id, "latest-stable")
        return ContractVersion.from_body(await self._json("GET", path), where=f"GET {path}")

    async def latest_version_hash(self, contract_id: str) -> VersionHash:
        """``GET /v1/contracts/{id}/version``: the latest stable version and SHA-256 of its YAML."""
        path = f"/v1/contracts/{segment(contract_id, 'contract_id')}/version"
        return VersionHash.from_body(await self._json("GET", path), where=f"GET {path}")

    async def create_version(self, contract_id: str, version: str, yaml_content: str) -> ContractVersion:
        """A new **draft** version (409 if it exists; version strings are free text)."""
        path = self._version_path(contract_id)
        body = {"version": version, "yaml_content": yaml_content}
        return ContractVersion.from_body(await self._json("POST", path, json=body), where=f"POST {path}")

    async def update_version(self, contract_id: str, version: str, yaml_content: str) -> ContractVersion:
        """Replace a draft's YAML; 409 once it is stable or deprecated."""
        path = self._version_path(contract_id, version)
        data = await self._json("PATCH", path, json={"yaml_content": yaml_content})
        return ContractVersion.from_body(data, where=f"PATCH {path}")

    async def delete_version(self, contract_id: str, version: str) -> None:
        """Delete a draft; 409 otherwise."""
        await self.request("DELETE", self._version_path(contract_id, version))

    async def promote_version(self, contract_id: str, version: str) -> ContractVersion:
        """draft -> stable. Other stable versions stay stable; 409 from any other state."""
        path = self._version_path(contract_id, version, "promote")
        return ContractVersion.from_body(await self._json("POST", path), where=f"POST {path}")

    async def deprecate_version(self, contract_id: str, version: str) -> ContractVersion:
        """stable -> deprecated. Ingest pinned to it is then quarantined whole (a 422 result)."""
        path = self._version_path(contract_id, version, "deprecate")
        return ContractVersion.from_body(await self._json("POST", path), where=f"POST {path}")

    # --- quarantine and replay ---------------------------------------------------------------

    async def list_quarantine(
        self, *, contract_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[QuarantineRow]:
        """One page of quarantined events, newest first (``GET /quarantine``; limit 1-500).

        The gateway writes quarantine rows after it answers, so a row may appear a moment
        after the ingest that created it.
        """
        params = {"contract_id": contract_id, "limit": limit, "offset": offset}
        body = await self._json("GET", "/quarantine", params=params)
        return QuarantineRow.list_from_body(body, where="GET /quarantine")

    async def iter_quarantine(
        self, *, contract_id: str | None = None, page_size: int = 100
    ) -> AsyncIterator[QuarantineRow]:
        """Every quarantined event, page after page."""
        rows = self._http.paginate(
            self._url("/quarantine"),
            params={"contract_id": contract_id},
            items_key=None,
            total_key=None,
            limit=max(1, min(page_size, 500)),
        )
        async for row in rows:
            yield QuarantineRow.from_body(row, where="GET /quarantine")

    async def replay_quarantine(
        self,
        contract_id: str,
        ids: Sequence[str],
        *,
        target_version: str | None = None,
        timeout: float | None = None,
    ) -> ReplayResult:
        """Re-validate quarantined events (``POST /contracts/{id}/quarantine/replay``, body ``ids``).

        1 to 1000 ids. Without ``target_version`` the latest stable is used (with fallback if
        the contract's policy says so). Each id gets an ``outcome``; replaying a replayed id
        again is a harmless ``already_replayed``.
        """
        id_list = [str(i) for i in ids]
        if not 1 <= len(id_list) <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"replay takes 1 to {MAX_EVENTS_PER_BATCH} ids, got {len(id_list)}")
        body: dict[str, Any] = {"ids": id_list}
        if target_version is not None:
            body["target_version"] = target_version
        path = f"/contracts/{segment(contract_id, 'contract_id')}/quarantine/replay"
        data = await self._json("POST", path, json=body, timeout=timeout)
        return ReplayResult.from_body(data, where=f"POST {path}")

    async def replay_events(
        self,
        event_ids: Sequence[str],
        *,
        version: str | None = None,
        contract_id: str | None = None,
        timeout: float | None = None,
    ) -> EventReplayResult:
        """``POST /quarantine/replay``: replay ids of any contracts (grouped by the gateway)."""
        body: dict[str, Any] = {"event_ids": [str(i) for i in event_ids]}
        if version is not None:
            body["version"] = version
        if contract_id is not None:
            body["contract_id"] = contract_id
        data = await self._json("POST", "/quarantine/replay", json=body, timeout=timeout)
        return EventReplayResult.from_body(data, where="POST /quarantine/replay")

    async def replay_history(self, contract_id: str, quarantine_id: str) -> list[dict[str, Any]]:
        """One quarantined event's history: a ``source`` row, then failed and passed replays."""
        path = (
            f"/contracts/{segment(contract_id, 'contract_id')}/quarantine/"
            f"{segment(quarantine_id, 'quarantine_id')}/replay-history"
        )
        return _rows(await self._json("GET", path), f"GET {path}")

    async def replay_attempts(self, *, event_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """``GET /quarantine/replay-history``: replay attempts (of one event, or all), newest first."""
        params = {"event_id": event_id, "limit": limit}
        path = "/quarantine/replay-history"
        return _rows(await self._json("GET", path, params=params), f"GET {path}")

    # --- playground and health ---------------------------------------------------------------

    async def playground_validate(self, yaml_content: str, event: Any) -> PlaygroundResult:
        """Validate ``event`` against unsaved contract YAML (``POST /playground/validate``).

        Nothing is stored. Transforms run with an empty salt, so hashes differ from real ingest.
        Bad YAML is a :class:`ContractGateValidationFailedError` (422).
        """
        body = {"yaml_content": yaml_content, "event": event}
        data = await self._json("POST", "/playground/validate", json=body)
        return PlaygroundResult.from_body(data, where="POST /playground/validate")

    async def health(self) -> dict[str, Any]:
        """``GET /health`` (no auth needed): ``{"status": "ok", "version", "service"}``."""
        data = await self._http.request_json("GET", self._url("/health"), authenticated=False)
        return data if isinstance(data, dict) else {"status": data}

    # --- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        await self._http.aclose()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- internals ---------------------------------------------------------------------------

    def _map_error(self, response: httpx.Response) -> GovflowError:
        url = response.request.url
        return map_error(response, f"{response.request.method} {url.path}")


def _is_batch_body(body: Any) -> bool:
    # The SDK's rule (spec section 2): a 422 carrying per-event results is an ingest outcome.
    return isinstance(body, dict) and isinstance(body.get("results"), list) and "failed" in body


def _decode(response: httpx.Response, where: str, redactor: Redactor) -> Any:
    """The JSON body of a response, None when empty; non-JSON on a 2xx is a TransportError."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        if 200 <= response.status_code < 300:
            raise TransportError(
                f"{where}: response is not valid JSON",
                platform=PLATFORM,
                status=response.status_code,
                code="malformed_json",
                body=redactor.redact(response.text[:200]),
            ) from None
        return None


def _rows(body: Any, where: str) -> list[dict[str, Any]]:
    if body is None:
        return []
    if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
        raise TransportError(
            f"{where}: expected a JSON array of objects", platform=PLATFORM, code="unexpected_response"
        )
    return body


__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "IDEMPOTENCY_HEADER",
    "NDJSON_CONTENT_TYPE",
    "REPLAY_HEADER",
    "ContractGateClient",
    "EncodedBatch",
    "encode_batches",
    "encode_event",
    "new_idempotency_key",
    "resolve_api_key",
    "resolve_base_url",
    "split_batches",
    "split_pin",
]
