"""The typed error hierarchy every platform maps onto.

Each error carries what a user needs to act: the HTTP ``status`` when there was one, the platform's
own ``code`` and ``detail``, the response ``body`` (already redacted), ``retry_after`` seconds for
rate limits and ``approval_id`` when a human decision is involved. ``str(error)`` never contains a
secret: the transport redacts messages and bodies before building an error.
"""

from __future__ import annotations

from typing import Any


class GovflowError(Exception):
    """Base class of every error govflow raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        status: int | None = None,
        code: str | None = None,
        detail: Any = None,
        body: Any = None,
        retry_after: float | None = None,
        approval_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body
        self.retry_after = retry_after
        self.approval_id = approval_id

    def __str__(self) -> str:
        prefix = f"[{self.platform}] " if self.platform else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{prefix}{self.message}{status}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (Airflow triggerer, Prefect workers): keep the fields.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[GovflowError], message: str, state: dict[str, Any]) -> GovflowError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


# --- configuration -------------------------------------------------------------------------


class ConfigurationError(GovflowError):
    """govflow or a platform client is configured wrongly; the message says what to change."""


class PolicyError(ConfigurationError):
    """A policy file is invalid. ``path`` and ``line`` point at the offending place."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path or "<policy>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line
        self.reason = message


class CapabilityNotSupportedError(ConfigurationError):
    """The platform does not offer the capability that was asked of it (see DESIGN section 2)."""


class CanonicalizationError(GovflowError, ValueError):
    """A value cannot be represented in RFC 8785 canonical JSON (NaN, Infinity, non-str keys...)."""


# --- platform answers ----------------------------------------------------------------------


class PlatformError(GovflowError):
    """The platform answered with an error."""


class AuthenticationError(PlatformError):
    """The credentials were missing, wrong or expired (HTTP 401)."""


class ForbiddenError(PlatformError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class NotFoundError(PlatformError):
    """The addressed object does not exist (HTTP 404)."""


class ConflictError(PlatformError):
    """The request conflicts with the current state (HTTP 409), e.g. an approval already decided."""


class RequestValidationError(PlatformError):
    """The platform rejected the request as malformed (HTTP 400/422); ``detail`` says which field."""


class RateLimitError(PlatformError):
    """Too many requests (HTTP 429); ``retry_after`` is the number of seconds the platform asked for."""


class UnavailableError(PlatformError):
    """The platform is down or overloaded (HTTP 5xx). Safe to retry later."""


class TransportError(GovflowError):
    """No usable HTTP answer: connection refused or dropped, timeout, malformed body."""


# --- governance outcomes -------------------------------------------------------------------


class GovernanceError(GovflowError):
    """A governance outcome that stops the step; never worth an automatic retry."""


class DeniedError(GovernanceError):
    """The platform denied the step. ``reason`` is the platform's explanation."""

    def __init__(self, message: str, *, reason: str | None = None, decision_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason
        self.decision_id = decision_id


class ApprovalRequiredError(GovernanceError):
    """The step needs a human approval first; wait on ``approval_id``."""


class ApprovalDeniedError(GovernanceError):
    """A person denied the approval."""


class ApprovalExpiredError(GovernanceError):
    """The approval expired before anybody decided it."""


class ApprovalFailedError(GovernanceError):
    """The platform could not carry the approval through (status ``failed``)."""


class ApprovalTimeoutError(GovernanceError):
    """govflow stopped waiting before the approval was decided; the approval itself is still pending."""


class ApprovalBindingError(GovernanceError):
    """An approval was presented for a run or step other than the one it was granted to."""


class LedgerError(GovflowError):
    """The evidence ledger could not be read or written."""


__all__ = [
    "ApprovalBindingError",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "ApprovalFailedError",
    "ApprovalRequiredError",
    "ApprovalTimeoutError",
    "AuthenticationError",
    "CanonicalizationError",
    "CapabilityNotSupportedError",
    "ConfigurationError",
    "ConflictError",
    "DeniedError",
    "ForbiddenError",
    "GovernanceError",
    "GovflowError",
    "LedgerError",
    "NotFoundError",
    "PlatformError",
    "PolicyError",
    "RateLimitError",
    "RequestValidationError",
    "TransportError",
    "UnavailableError",
]
