"""The one HTTP client every platform client is built on."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt

from ..._version import __version__
from ..errors import GovflowError, RateLimitError, TransportError, UnavailableError
from ..redaction import Redactor, default_redactor, install_log_redaction
from ._auth import AuthStrategy
from ._errors import (
    ErrorMapper,
    complete_error,
    default_error,
    describe,
    network_error,
    safe_cause,
    sanitize_error,
)
from ._pagination import paginate as _paginate
from ._retry import NOT_SENT_ERRORS, RETRYABLE_NETWORK_ERRORS, RetryPolicy, is_idempotent

logger = logging.getLogger("govflow.transport")

USER_AGENT = f"govflow/{__version__}"
# Requests one client has in flight at once (and its pool size); raise it for slow, far platforms.
DEFAULT_MAX_CONNECTIONS = 10

_T = TypeVar("_T", bound="Transport")


@dataclass
class _Outcome:
    """One attempt: a response (maybe an error response), or a failure before any response."""

    response: httpx.Response | None = None
    error: GovflowError | None = None
    exc: Exception | None = None
    not_sent: bool = False


@dataclass
class _Call:
    method: str
    where: str
    replayable: bool
    policy: RetryPolicy
    attempts: int = 0


class Transport:
    """An ``httpx.AsyncClient`` with govflow's auth, retries, error mapping and redaction.

    Relative paths are joined to ``base_url``. A request for another host (an absolute URL such
    as a presigned download link) never carries the auth strategy's credentials nor the
    platform's default ``headers``; ``authenticated=False`` does the same for the platform's own
    host. Redirects are never followed, so credentials cannot be forwarded by a redirect either.

    ``transport`` is handed to httpx (e.g. ``httpx.AsyncHTTPTransport(uds=path)`` for a Unix
    socket) and closed with this client.
    """

    def __init__(
        self,
        platform: str,
        base_url: str | httpx.URL,
        *,
        auth: httpx.Auth | None = None,
        timeout: float | httpx.Timeout = 30.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        error_mapper: ErrorMapper | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: Iterable[str | SecretStr | None] = (),
        user_agent: str | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.platform = platform
        self.retry_policy = retry or RetryPolicy()
        self.error_mapper = error_mapper
        # Bounded: auth flows register every refreshed token and lease, for as long as the client lives.
        self.redactor = Redactor(secrets, parent=default_redactor, max_secrets=256)
        self._auth = auth
        if isinstance(auth, AuthStrategy):
            auth.bind_redactor(self.redactor)
        # Sent to the platform's own host only; the client-wide headers are just the User-Agent.
        self._headers = httpx.Headers({"Accept": "application/json", **(headers or {})})
        install_log_redaction()
        limits = limits or httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # At most this many requests enter httpx at once; the rest wait on an O(1) semaphore.
        # httpcore's pool rescans every queued request against every connection on each change,
        # which made 50 concurrent invokes on one client 2x slower than 10 (benchmarks/).
        self._slots = asyncio.Semaphore(limits.max_connections or max_connections)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            headers={"User-Agent": user_agent or USER_AGENT},
            transport=transport,
            verify=verify,
            limits=limits,
            follow_redirects=False,
        )

    # --- properties ------------------------------------------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        return self._client.base_url

    @property
    def client(self) -> httpx.AsyncClient:
        """The underlying httpx client (for advanced use; it carries no auth of its own)."""
        return self._client

    @property
    def auth(self) -> httpx.Auth | None:
        return self._auth

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def is_own_origin(self, url: httpx.URL | str) -> bool:
        """Whether ``url`` (absolute or relative) addresses the platform's own scheme, host and port."""
        url = httpx.URL(url)
        if url.is_relative_url:
            return True
        base = self.base_url
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(platform={self.platform!r}, base_url={self.redactor.redact_url(self.base_url)!r})"

    # --- requests --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        authenticated: bool = True,
        raise_for_status: bool = True,
    ) -> httpx.Response:
        """Send a request with retries; return the 2xx response or raise the mapped error.

        ``params`` with a None value are dropped. ``idempotency_key`` is sent in
        ``idempotency_header`` on every attempt and makes a POST/PATCH retryable (see
        ``_retry`` for the full rules). With ``raise_for_status=False`` the last response is
        returned whatever its status (a failure without a response still raises).
        """
        method = method.upper()
        policy = retry or self.retry_policy
        request_headers = dict(headers or {})
        if idempotency_key is not None:
            request_headers[idempotency_header] = idempotency_key
        explicit = httpx.Headers(request_headers)
        query = {k: v for k, v in (params or {}).items() if v is not None} if params else None
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)

        def build() -> httpx.Request:
            request = self._client.build_request(
                method, url, params=query, json=json, content=content, headers=request_headers, **extra
            )
            if self.is_own_origin(request.url):
                # Platform defaults beat httpx's (Accept: */*), explicit headers beat both.
                for name, value in self._headers.items():
                    if name not in explicit:
                        request.headers[name] = value
            return request

        first = build()
        auth = self._auth if authenticated and self.is_own_origin(first.url) else None
        call = _Call(
            method=method,
            where=describe(method, first.url, self.base_url),
            replayable=is_idempotent(method) or idempotency_key is not None,
            policy=policy,
        )
        pending: list[httpx.Request] = [first]

        async def attempt() -> _Outcome:
            request = pending.pop() if pending else build()
            return await self._attempt(request, auth, call)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=lambda state: self._wait(state, call),
            retry=retry_if_result(lambda outcome: self._should_retry(outcome, call)),
            retry_error_callback=lambda state: _last_outcome(state),
            before_sleep=lambda state: self._log_retry(state, call),
            reraise=True,
        )
        outcome: _Outcome = await retrying(attempt)

        if outcome.exc is not None:
            error: GovflowError = network_error(
                outcome.exc,
                where=call.where,
                platform=self.platform,
                attempts=call.attempts,
                redactor=self.redactor,
            )
            sanitize_error(error, self.redactor)
            raise error from safe_cause(outcome.exc, self.redactor)
        if outcome.error is not None and (raise_for_status or outcome.response is None):
            error = outcome.error
            suffix = ""
            if call.attempts > 1:
                suffix = f" after {call.attempts} attempts"
            if error.retry_after is not None and error.retry_after > policy.retry_after_cap:
                suffix += (
                    f" (Retry-After {error.retry_after:g} s exceeds the {policy.retry_after_cap:g} s cap;"
                    " not waiting)"
                )
            if suffix:
                error.message += suffix
                error.args = (error.message, *error.args[1:])
            raise error
        assert outcome.response is not None
        return outcome.response

    async def request_json(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout | None = None,
        authenticated: bool = True,
        raise_for_status: bool = True,
    ) -> Any:
        """Like :meth:`request`, returning the decoded JSON body (None for an empty body).

        A body that is not valid JSON raises :class:`TransportError` (it is not retried: the
        server did answer, and repeating the request could repeat its side effect).
        """
        response = await self.request(
            method,
            url,
            json=json,
            params=params,
            headers=headers,
            content=content,
            idempotency_key=idempotency_key,
            idempotency_header=idempotency_header,
            retry=retry,
            timeout=timeout,
            authenticated=authenticated,
            raise_for_status=raise_for_status,
        )
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            reason = getattr(exc, "msg", None) or type(exc).__name__
            snippet = response.text[:200]
            error = TransportError(
                f"{describe(response.request.method, response.request.url, self.base_url)}: "
                f"response is not valid JSON ({reason})",
                platform=self.platform,
                status=response.status_code,
                code="malformed_json",
                detail=reason,
                body=snippet,
            )
        raise sanitize_error(error, self.redactor)

    def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        items_key: str | None = "items",
        limit: int = 100,
        limit_param: str = "limit",
        offset_param: str = "offset",
        total_key: str | None = "total",
    ) -> AsyncIterator[Any]:
        """Iterate over every item of a limit/offset listing (see :func:`._pagination.paginate`)."""
        return _paginate(
            self,
            path,
            params=params,
            items_key=items_key,
            limit=limit,
            limit_param=limit_param,
            offset_param=offset_param,
            total_key=total_key,
        )

    # --- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool (and the httpx transport given to the constructor); idempotent."""
        await self._client.aclose()

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- internals -------------------------------------------------------------------------

    def map_error(self, response: httpx.Response) -> GovflowError:
        """The platform's mapping (if it has one for this response), else the default; redacted."""
        error: GovflowError | None = None
        if self.error_mapper is not None:
            try:
                error = self.error_mapper(response)
            except Exception as exc:
                # A mapping bug must not replace the platform's answer with a KeyError.
                logger.warning(
                    "%s: the error mapper failed on HTTP %s (%s); using the default mapping",
                    self.platform,
                    response.status_code,
                    type(exc).__name__,
                )
        if error is None:
            error = default_error(response, platform=self.platform, base_url=self.base_url)
        return complete_error(error, response, platform=self.platform, redactor=self.redactor)

    async def _attempt(self, request: httpx.Request, auth: httpx.Auth | None, call: _Call) -> _Outcome:
        call.attempts += 1
        started = time.perf_counter()
        outcome: _Outcome
        try:
            async with self._slots:
                response = await self._client.send(request, auth=auth)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            outcome = _Outcome(exc=exc, not_sent=isinstance(exc, NOT_SENT_ERRORS))
            self._log_attempt(request, type(exc).__name__, started, call)
            return outcome
        except GovflowError as exc:
            # Raised by the auth flow's credentials exchange, before the API request was sent
            # (or after the API answered 401, which it did not act on).
            if exc.platform is None:
                exc.platform = self.platform
            outcome = _Outcome(error=sanitize_error(exc, self.redactor), not_sent=True)
            self._log_attempt(request, type(exc).__name__, started, call)
            return outcome
        self._log_attempt(request, response.status_code, started, call)
        if response.is_success:
            return _Outcome(response=response)
        return _Outcome(response=response, error=self.map_error(response))

    def _should_retry(self, outcome: _Outcome, call: _Call) -> bool:
        # A 429 is a refusal the server did not act on: safe to resend whatever the method.
        refused = isinstance(outcome.error, RateLimitError) and outcome.error.status == 429
        if not (call.replayable or outcome.not_sent or refused):
            return False
        if outcome.exc is not None:
            return isinstance(outcome.exc, RETRYABLE_NETWORK_ERRORS)
        error = outcome.error
        if not isinstance(error, (RateLimitError, UnavailableError)):
            return False
        return error.retry_after is None or error.retry_after <= call.policy.retry_after_cap

    def _wait(self, state: RetryCallState, call: _Call) -> float:
        outcome = _last_outcome(state)
        if outcome.error is not None and outcome.error.retry_after is not None:
            delay = outcome.error.retry_after
        else:
            delay = call.policy.backoff(state.attempt_number)
        return delay

    def _log_attempt(self, request: httpx.Request, result: int | str, started: float, call: _Call) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.1f ms (attempt %d/%d)",
                request.method,
                self.redactor.redact_url(request.url),
                result,
                (time.perf_counter() - started) * 1000,
                call.attempts,
                call.policy.max_attempts,
            )

    def _log_retry(self, state: RetryCallState, call: _Call) -> None:
        if logger.isEnabledFor(logging.DEBUG) and state.next_action is not None:
            outcome = _last_outcome(state)
            honoured = outcome.error is not None and outcome.error.retry_after is not None
            logger.debug(
                "%s: retrying in %.3f s (%s)",
                self.redactor.redact(call.where),
                state.next_action.sleep,
                "Retry-After" if honoured else "backoff",
            )


def _last_outcome(state: RetryCallState) -> _Outcome:
    assert state.outcome is not None
    outcome = state.outcome.result()
    assert isinstance(outcome, _Outcome)
    return outcome


__all__ = ["USER_AGENT", "Transport"]
