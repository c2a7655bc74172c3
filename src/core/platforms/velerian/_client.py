"""The async Velerian client: every route of the wire contract (specs/velerian.md) on the core transport."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urljoin

import httpx
from pydantic import SecretStr

from ...errors import ConfigurationError, GovflowError, TransportError, UnavailableError
from ...redaction import install_log_redaction
from ...transport import USER_AGENT, BearerAuth, RetryPolicy, Transport
from ._errors import PLATFORM, VelerianRunTimeoutError, map_error
from ._models import (
    EvidenceExport,
    InvokeResult,
    Page,
    UsageSummary,
    VelerianApproval,
    format_timestamp,
    page_from_body,
)

logger = logging.getLogger("govflow.velerian")

DEFAULT_BASE_URL = "https://app.velerian.ai"
API_PREFIX = "/api/v2"
IDEMPOTENCY_HEADER = "Idempotency-Key"

# govflow's own variable first (so govflow can be pointed elsewhere than the SDK), then the SDK's.
API_KEY_ENV = ("GOVFLOW_VELERIAN_API_KEY", "VELERIAN_API_KEY")
BASE_URL_ENV = ("GOVFLOW_VELERIAN_BASE_URL", "VELERIAN_BASE_URL")

DEFAULT_RUN_POLL_INTERVAL = 3.0
DEFAULT_RUN_TIMEOUT = 900.0

# The SDK's terminal states plus the spellings of a cancelled run: a run that was cancelled will
# not move again, and polling it until the deadline would report a timeout for a finished run.
# "blocked" is a governance verdict, returned like any other result, never raised.
TERMINAL_RUN_STATES = frozenset({"succeeded", "failed", "blocked", "cancelled", "canceled"})

# A request that failed this way never reached the server (transport error codes are the
# httpx exception names), so it cannot have created anything.
_NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})

_C = TypeVar("_C", bound="VelerianClient")


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _env(names: Iterable[str]) -> tuple[str, str] | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def resolve_api_key(api_key: str | SecretStr | None) -> SecretStr:
    """The explicit key, else ``GOVFLOW_VELERIAN_API_KEY``, else ``VELERIAN_API_KEY``."""
    if api_key is None:
        found = _env(API_KEY_ENV)
        if found is None:
            raise ConfigurationError(
                "no Velerian API key: pass api_key=..., or set GOVFLOW_VELERIAN_API_KEY or "
                "VELERIAN_API_KEY (a tenant admin mints vk_live_... keys in the Velerian app)",
                platform=PLATFORM,
            )
        api_key = found[1]
    secret = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    if not secret.get_secret_value().strip():
        raise ConfigurationError(
            "the Velerian API key is empty: pass the key itself, or omit api_key to read "
            "GOVFLOW_VELERIAN_API_KEY / VELERIAN_API_KEY",
            platform=PLATFORM,
        )
    return secret


def resolve_base_url(base_url: str | None) -> str:
    """The API origin (optionally with a path prefix), without a trailing ``/``.

    Explicit argument, else ``GOVFLOW_VELERIAN_BASE_URL``, else ``VELERIAN_BASE_URL``, else
    ``https://app.velerian.ai``. A URL ending in ``/api/v2`` is refused: the SDK would silently
    call ``/api/v2/api/v2/...`` with it (spec section 3).
    """
    source = "base_url"
    if base_url is None:
        found = _env(BASE_URL_ENV)
        source, base_url = found if found is not None else ("the default", DEFAULT_BASE_URL)
    value = base_url.strip()
    if not value:
        raise ConfigurationError(
            f"the Velerian base URL is empty; omit it to use {DEFAULT_BASE_URL}", platform=PLATFORM
        )
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"{source} {value!r} is not a URL ({exc})", platform=PLATFORM) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"{source} {value!r} must be an http(s) origin such as {DEFAULT_BASE_URL}",
            platform=PLATFORM,
        )
    if url.query or url.fragment:
        raise ConfigurationError(
            f"{source} {value!r} must not carry a query or fragment", platform=PLATFORM
        )
    value = value.rstrip("/")
    if url.path.rstrip("/").lower().endswith(API_PREFIX):
        origin = value[: -len(API_PREFIX)]
        raise ConfigurationError(
            f"{source} {value!r} ends in {API_PREFIX}: give the origin instead ({origin!r}). "
            f"govflow adds {API_PREFIX} itself, and the network routes live under /api/agenticx, "
            f"so a base URL with {API_PREFIX} would send every request to the wrong path",
            platform=PLATFORM,
        )
    return value


def segment(value: str, what: str) -> str:
    """One path segment, percent-encoded: an id containing ``/`` or ``?`` cannot reach another route."""
    text = str(value)
    if not text:
        raise ValueError(f"{what} must not be empty")
    return quote(text, safe="")


class VelerianClient:
    """Async client of Velerian's governed-run and evidence API; use it with ``async with``.

    ```python
    async with VelerianClient() as velerian:           # key and URL from the environment
        result = await velerian.invoke_abp(abp_id, {"prompt": "Summarize the filing"})
        if result.requires_human:
            approval = await velerian.get_approval(result.approval_id)
    ```

    Configuration: explicit arguments, then ``GOVFLOW_VELERIAN_API_KEY`` / ``VELERIAN_API_KEY``
    and ``GOVFLOW_VELERIAN_BASE_URL`` / ``VELERIAN_BASE_URL``, then ``https://app.velerian.ai``.
    ``base_url`` is the origin (a path prefix is fine); it must not end in ``/api/v2``.

    Paths given to :meth:`request` and friends resolve as in the SDK: an absolute
    ``http(s)://`` URL is used as is (but the API key is only ever sent to ``base_url``'s own
    host), ``/x`` is origin-relative, and a bare ``x`` is mounted under ``/api/v2/``.

    Retries (``retry``, default 4 attempts with full-jitter backoff, ``Retry-After`` honoured up
    to 60 s) cover GETs and DELETEs on 429, 5xx and network failures. **Invoke POSTs**
    (:meth:`invoke_abp`, :meth:`invoke_network`) always carry an ``Idempotency-Key`` (a fresh
    UUID per call, the same on every attempt), yet by default they are retried only when the
    server cannot have acted on them: a 429, or a connection that was never made. Velerian is not
    known to honour the key (spec section 12.8), and the SDK's blind retry of a 502 that came
    after the server accepted the invocation creates a duplicate invocation. When your
    deployment does deduplicate on ``Idempotency-Key`` (the govflow emulator does), pass
    ``retry_invokes=True`` to retry those ambiguous failures too. An ambiguous failure that is
    not retried says so in its message, with the key, so the caller can look the invocation up
    in the audit log before invoking again.
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
    ) -> None:
        key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        self._api_root = self._base_url + API_PREFIX + "/"
        self.retry_invokes = retry_invokes
        install_log_redaction(logger.name)
        self._http = Transport(
            PLATFORM,
            self._base_url + "/",
            auth=BearerAuth(key),
            timeout=timeout,
            retry=retry,
            error_mapper=self._map_error,
            transport=transport,
            secrets=[key],
            user_agent=user_agent or f"{USER_AGENT} (velerian)",
        )

    # --- configuration -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The origin every path is resolved against (no trailing ``/``)."""
        return self._base_url

    @property
    def transport(self) -> Transport:
        """The core transport (auth, retries, redaction) this client sends through."""
        return self._http

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    def resolve_url(self, path: str) -> str:
        """The URL a path resolves to (spec section 3).

        Unlike the SDK, a bare path is always mounted under ``/api/v2/``, even one that looks like
        a scheme (``"a:b"``); ``".."`` segments still climb (``"../x"`` is ``/api/x``).
        """
        if path[:8].lower().startswith(("http://", "https://")):
            return path
        if path.startswith("/"):
            return self._base_url + path
        return urljoin(self._api_root, "./" + path)

    def __repr__(self) -> str:
        return f"VelerianClient(base_url={self._base_url!r})"

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
        """Any route, with auth, retries and typed errors; returns the 2xx ``httpx.Response``.

        ``params`` with a None value are dropped; ``json=None`` sends no body. A POST is retried
        on ambiguous failures only when you pass ``idempotency_key`` (sent as
        ``Idempotency-Key``), so only do that for routes that honour it.
        """
        return await self._http.request(
            method,
            self.resolve_url(path),
            params=params,
            json=json,
            headers=headers,
            content=content,
            timeout=timeout,
            idempotency_key=idempotency_key,
        )

    async def get(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """Authenticated GET (see :meth:`request`)."""
        return await self.request("GET", path, params=params, **kwargs)

    async def post(self, path: str, *, json: Any = None, **kwargs: Any) -> httpx.Response:
        """Authenticated POST, sent once unless the server refused it (see :meth:`request`)."""
        return await self.request("POST", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """Authenticated DELETE (see :meth:`request`)."""
        return await self.request("DELETE", path, **kwargs)

    async def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._http.request_json("GET", self.resolve_url(path), params=params)

    # --- governed runs -----------------------------------------------------------------------

    async def invoke_abp(
        self, abp_id: str, payload: Any, *, idempotency_key: str | None = None
    ) -> InvokeResult:
        """Run a governed invocation of a deployed ABP (``POST /api/v2/abps/{abp_id}/invoke``).

        The body is ``{"payload": payload}``. Needs ``runs:write``; an ABP that is not deployed
        gives :class:`VelerianConflictError`. Decide on ``is_allowed``, ``requires_human``
        (held for a person under ``approval_id``) and ``withheld``; ``outcome`` is free text.
        """
        path = f"abps/{segment(abp_id, 'abp_id')}/invoke"
        body = await self._invoke(path, {"payload": payload}, None, idempotency_key)
        return InvokeResult.from_body(body, where=f"POST {API_PREFIX}/{path}")

    async def invoke_network(
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
        """Queue a governed run of an AgenticX network (``POST /api/agenticx/networks/{slug}/invoke?async=true``).

        ``wait=False`` (the default here; the SDK waits by default) returns the accepted body
        unchanged: ``run_id``, ``run_url``, ``status: "queued"``. Collect the run later with
        :meth:`await_run`, e.g. from a deferrable Airflow trigger, without holding a worker.
        ``wait=True`` polls until the run is terminal and returns the run row with ``slug``,
        ``run_id`` (a string), ``prompt_id`` (deprecated alias), ``run_url`` and
        ``model_id_used`` set, like the SDK. A ``blocked`` run is returned, not raised.
        """
        body: dict[str, Any] = {"prompt_text": prompt_text}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        ids = list(attachment_ids or [])
        if ids:
            body["attachment_ids"] = ids
        path = f"/api/agenticx/networks/{segment(slug, 'slug')}/invoke"
        accepted = await self._invoke(path, body, {"async": "true"}, idempotency_key)
        if not isinstance(accepted, dict) or accepted.get("run_id") in (None, ""):
            raise TransportError(
                f"POST {path}: the accepted body has no run_id",
                platform=PLATFORM,
                code="unexpected_response",
                body=accepted,
            )
        run_id = str(accepted["run_id"])
        if not wait:
            return accepted
        run = await self.await_run(run_id, poll_interval=poll_interval, run_timeout=run_timeout)
        return {
            **run,
            "slug": slug,
            "run_id": run_id,
            "prompt_id": run_id,
            "run_url": accepted.get("run_url"),
            "model_id_used": run.get("model_id"),
        }

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """One pack run (``GET /api/v2/pack-runs/{run_id}``), as the row the server sends."""
        path = f"{API_PREFIX}/pack-runs/{segment(run_id, 'run_id')}"
        row = await self._get_json(path)
        if not isinstance(row, dict):
            raise TransportError(
                f"GET {path}: expected a run object, got {type(row).__name__}",
                platform=PLATFORM,
                code="unexpected_response",
            )
        return row

    async def await_run(
        self,
        run_id: str,
        *,
        poll_interval: float = DEFAULT_RUN_POLL_INTERVAL,
        run_timeout: float = DEFAULT_RUN_TIMEOUT,
    ) -> dict[str, Any]:
        """Poll a pack run until it is terminal (succeeded, failed, blocked; or cancelled) and return its row.

        GETs at once, then every ``poll_interval`` seconds (never past the deadline; with
        ``run_timeout=0`` exactly one GET). Past ``run_timeout`` raises
        :class:`VelerianRunTimeoutError` carrying ``run_id``; the run itself goes on.
        """
        if poll_interval <= 0:
            raise ConfigurationError(f"poll_interval ({poll_interval}) must be positive seconds")
        if run_timeout < 0:
            raise ConfigurationError(f"run_timeout ({run_timeout}) must be zero or more seconds")
        started = time.monotonic()
        deadline = started + run_timeout
        while True:
            run = await self.get_run(run_id)
            status = run.get("status")
            if isinstance(status, str) and status in TERMINAL_RUN_STATES:
                return run
            now = time.monotonic()
            if now >= deadline:
                raise VelerianRunTimeoutError(
                    run_id,
                    run_status=status if isinstance(status, str) else None,
                    waited_s=round(now - started, 3),
                )
            logger.debug("pack run %s is %s; polling again", run_id, status)
            await asyncio.sleep(min(poll_interval, deadline - now))

    async def _invoke(
        self, path: str, body: dict[str, Any], params: Mapping[str, Any] | None, key: str | None
    ) -> Any:
        """POST an invocation with an Idempotency-Key; retry ambiguous failures only if trusted."""
        key = key or new_idempotency_key()
        url = self.resolve_url(path)
        try:
            if self.retry_invokes:
                return await self._http.request_json("POST", url, json=body, params=params, idempotency_key=key)
            # The header without ``idempotency_key=``: the transport then treats the POST as
            # non-replayable and retries only what the server provably did not act on.
            return await self._http.request_json(
                "POST", url, json=body, params=params, headers={IDEMPOTENCY_HEADER: key}
            )
        except (UnavailableError, TransportError) as exc:
            if not (isinstance(exc, TransportError) and exc.code in _NOT_SENT):
                _note_ambiguous(exc, key)
            raise

    # --- evidence ----------------------------------------------------------------------------

    async def invocation_evidence(
        self, abp_id: str, invocation_id: str, format: str | None = None
    ) -> EvidenceExport:
        """An export of one invocation's evidence pack (needs ``evidence:read``)."""
        path = f"abps/{segment(abp_id, 'abp_id')}/invocations/{segment(invocation_id, 'invocation_id')}/evidence"
        body = await self._get_json(path, {"format": format})
        return EvidenceExport.from_body(body, where=f"GET {API_PREFIX}/{path}")

    async def evidence_package(
        self, abp_id: str, since: str | datetime, format: str | None = None
    ) -> EvidenceExport:
        """An export of an ABP's evidence at or after ``since`` (ISO 8601 text or a datetime)."""
        path = f"abps/{segment(abp_id, 'abp_id')}/evidence-package"
        body = await self._get_json(path, {"since": format_timestamp(since), "format": format})
        return EvidenceExport.from_body(body, where=f"GET {API_PREFIX}/{path}")

    async def download_export(self, export: EvidenceExport) -> bytes:
        """The export's bytes.

        ``delivery="stream"``: ``download_url`` is an API path, fetched with the API key.
        ``"presigned"`` (and any delivery govflow does not know): a storage link, fetched with
        **no** Authorization header and none of the API's default headers, whatever its host, so
        the key never reaches storage (the SDK sends it there).
        """
        url = export.download_url
        if export.delivery == "stream":
            # The transport still withholds the key if this URL points at another host.
            response = await self._http.request("GET", self.resolve_url(url), headers={"Accept": "*/*"})
            return response.content
        if not url[:8].lower().startswith(("http://", "https://")):
            raise TransportError(
                f"export {export.export_id}: a {export.delivery!r} download_url must be an absolute URL",
                platform=PLATFORM,
                code="unexpected_response",
            )
        response = await self._http.request("GET", url, authenticated=False, headers={"Accept": "*/*"})
        return response.content

    # --- usage and audit ---------------------------------------------------------------------

    async def usage_summary(
        self, *, evidence_limit: int | None = None, evidence_offset: int | None = None
    ) -> UsageSummary:
        """The tenant's usage summary with one page of evidence-pack rows."""
        path = "usage/summary"
        body = await self._get_json(
            path, {"evidence_limit": evidence_limit, "evidence_offset": evidence_offset}
        )
        return UsageSummary.from_body(body, where=f"GET {API_PREFIX}/{path}")

    def iter_usage_evidence(self, *, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every evidence-pack row of the usage summary, paged by ``evidence_limit``/``evidence_offset``."""
        return self.iter_paginated(
            "usage/summary",
            page_size=page_size,
            limit_param="evidence_limit",
            offset_param="evidence_offset",
            items_key="evidence_packs",
            total_key="evidence_total",
        )

    async def list_audit_log(
        self,
        *,
        action: str | None = None,
        resource_kind: str | None = None,
        resource_id: str | None = None,
        actor_user_id: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[dict[str, Any]]:
        """One page of the audit log (needs ``audit:read``); rows are plain dicts."""
        params = _audit_filters(action, resource_kind, resource_id, actor_user_id, since, until)
        body = await self._get_json("audit-log", {**params, "limit": limit, "offset": offset})
        return page_from_body(body, f"GET {API_PREFIX}/audit-log")

    def iter_audit_log(
        self,
        *,
        action: str | None = None,
        resource_kind: str | None = None,
        resource_id: str | None = None,
        actor_user_id: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every matching audit-log row, page after page."""
        params = _audit_filters(action, resource_kind, resource_id, actor_user_id, since, until)
        return self.iter_paginated("audit-log", params=params, page_size=page_size)

    # --- approvals ---------------------------------------------------------------------------

    async def list_approvals(
        self,
        *,
        status: str | None = None,
        abp_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        **filters: Any,
    ) -> Page[VelerianApproval]:
        """One page of ``GET /api/v2/approvals`` (``status``, ``abp_id`` and any other filters)."""
        body = await self._get_json(
            "approvals", {**filters, "status": status, "abp_id": abp_id, "limit": limit, "offset": offset}
        )
        rows = page_from_body(body, f"GET {API_PREFIX}/approvals")
        page = Page[VelerianApproval](
            items=[VelerianApproval.from_body(row, where=f"GET {API_PREFIX}/approvals") for row in rows.items],
            limit=rows.limit,
            offset=rows.offset,
            total=rows.total,
        )
        page.raw = rows.raw
        return page

    async def iter_approvals(
        self,
        *,
        status: str | None = None,
        abp_id: str | None = None,
        page_size: int = 100,
        **filters: Any,
    ) -> AsyncIterator[VelerianApproval]:
        """Every matching approval, page after page."""
        rows = self.iter_paginated(
            "approvals", params={**filters, "status": status, "abp_id": abp_id}, page_size=page_size
        )
        async for row in rows:
            yield VelerianApproval.from_body(row, where=f"GET {API_PREFIX}/approvals")

    async def get_approval(self, approval_id: str) -> VelerianApproval:
        """One approval (``GET /api/v2/approvals/{id}``).

        The spec names only the list route; this one is served by govflow's emulator. Against
        a server without it, use :meth:`iter_approvals` and pick the id.
        """
        path = f"approvals/{segment(approval_id, 'approval_id')}"
        body = await self._get_json(path)
        return VelerianApproval.from_body(body, where=f"GET {API_PREFIX}/{path}")

    # --- pagination --------------------------------------------------------------------------

    def iter_paginated(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        page_size: int = 100,
        limit_param: str = "limit",
        offset_param: str = "offset",
        items_key: str = "items",
        total_key: str | None = "total",
    ) -> AsyncIterator[Any]:
        """Every row of a limit/offset listing.

        Unlike the SDK, the offset advances by the rows received, so a server that caps the
        page size below ``page_size`` is still walked to the end; iteration stops on an empty
        page, when ``offset`` reaches ``total_key``'s value, or on a page shorter than the
        server's page size. A ``items_key`` that is not a list is an error, not a silent
        iteration over a dict's keys.
        """
        return self._http.paginate(
            self.resolve_url(path),
            params=params,
            items_key=items_key,
            limit=page_size,
            limit_param=limit_param,
            offset_param=offset_param,
            total_key=total_key,
        )

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
        if self._http.is_own_origin(url):
            where = f"{response.request.method} {url.path}"
        else:
            where = f"{response.request.method} {url.copy_with(query=None, fragment=None)}"
        return map_error(response, where)


def _audit_filters(
    action: str | None,
    resource_kind: str | None,
    resource_id: str | None,
    actor_user_id: str | None,
    since: str | datetime | None,
    until: str | datetime | None,
) -> dict[str, Any]:
    return {
        "action": action,
        "resource_kind": resource_kind,
        "resource_id": resource_id,
        "actor_user_id": actor_user_id,
        "since": format_timestamp(since) if since is not None else None,
        "until": format_timestamp(until) if until is not None else None,
    }


def _note_ambiguous(error: GovflowError, key: str) -> None:
    error.message += (
        f"; the invocation may have been created (Idempotency-Key {key}): look it up in the "
        "audit log before invoking again"
    )
    error.args = (error.message, *error.args[1:])


__all__ = [
    "API_KEY_ENV",
    "API_PREFIX",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_RUN_POLL_INTERVAL",
    "DEFAULT_RUN_TIMEOUT",
    "IDEMPOTENCY_HEADER",
    "TERMINAL_RUN_STATES",
    "VelerianClient",
    "new_idempotency_key",
    "resolve_api_key",
    "resolve_base_url",
]
