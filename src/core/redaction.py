"""Keep secrets out of logs, error messages and error bodies.

A :class:`Redactor` holds secret values (API keys, client secrets, access tokens) and replaces
them with ``***`` wherever they appear: in text, in URLs (also URL-encoded), and in nested
dict/list structures. Independently of the registered values it always masks

- sensitive headers (``Authorization``, ``X-Api-Key``, ``Cookie``, ``DPoP``, ...),
- sensitive query parameters (``api_key=``, ``token=``, presigned-URL signatures, ...),
- sensitive keys of JSON-like structures (``client_secret``, ``access_token``, ...),
- the password of ``user:password@host`` URLs.

``default_redactor`` is the process-wide registry: every transport forwards its secrets to it,
and :class:`RedactingFilter` (installed by :func:`install_log_redaction` on the loggers
govflow and httpx write to) uses it, so a secret never reaches a log handler even when it
appears in a third-party log line such as httpx's ``HTTP Request: GET <url>``.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

MASK = "***"

# Secrets shorter than this are not registered: masking a 2-character string would mangle every
# message, and a value that short is not a credential worth protecting.
MIN_SECRET_LENGTH = 4

SENSITIVE_HEADERS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "dpop",
        "x-amz-security-token",
    }
)

SENSITIVE_QUERY_PARAMS: frozenset[str] = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "secret",
        "password",
        "passwd",
        "sig",
        "signature",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
    }
)

SENSITIVE_KEYS: frozenset[str] = (
    frozenset(
        {
            "access_token",
            "refresh_token",
            "id_token",
            "client_secret",
            "api_key",
            "apikey",
            "password",
            "secret",
            "token",
        }
    )
    | SENSITIVE_HEADERS
)

_QUERY_PARAM_RE = re.compile(
    r"(?i)(?<=[?&;])("
    + "|".join(re.escape(name) for name in sorted(SENSITIVE_QUERY_PARAMS, key=len, reverse=True))
    + r")=([^&#\s\"'<>]+)"
)
# scheme://user:password@host -> scheme://user:***@host
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):([^/\s@]+)@")


def _reveal(secret: str | SecretStr) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def _variants(value: str) -> set[str]:
    """The forms a secret takes when it ends up in a URL or a JSON string."""
    variants = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replaces registered secret values with ``***``; thread-safe.

    ``parent`` receives every secret added here too (transports forward to
    :data:`default_redactor`). ``max_secrets`` bounds a long-lived registry that keeps learning
    refreshed access tokens; the oldest values are forgotten first.
    """

    def __init__(
        self,
        secrets: Iterable[str | SecretStr | None] = (),
        *,
        parent: Redactor | None = None,
        max_secrets: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._secrets: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._parent = parent
        self._max = max_secrets
        self.add(*secrets)
        # The constructor's secrets (API keys, client secrets) outlive any number of rotations.
        self._pinned = frozenset(self._secrets)

    def add(self, *secrets: str | SecretStr | None) -> None:
        """Register secret values (None, blank and very short values are ignored)."""
        values = [_reveal(s) for s in secrets if s is not None]
        values = [v for v in values if len(v.strip()) >= MIN_SECRET_LENGTH]
        if not values:
            return
        with self._lock:
            for value in values:
                for variant in _variants(value):
                    self._secrets[variant] = None
                    self._secrets.move_to_end(variant)
            if self._max is not None:
                evictable = [v for v in self._secrets if v not in getattr(self, "_pinned", ())]
                for value in evictable[: max(0, len(self._secrets) - self._max)]:
                    del self._secrets[value]
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        if self._parent is not None:
            self._parent.add(*values)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value in self._secrets

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        """Mask registered secrets, sensitive query parameters and URL passwords in ``text``."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _QUERY_PARAM_RE.sub(lambda m: f"{m.group(1)}={MASK}", text)
        return _USERINFO_RE.sub(lambda m: f"{m.group(1)}:{MASK}@", text)

    def redact_url(self, url: object) -> str:
        return self.redact(str(url))

    def redact_headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """A copy of ``headers`` for logs or errors: sensitive headers masked whatever their value."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {
            name: MASK if name.lower() in SENSITIVE_HEADERS else self.redact(value)
            for name, value in items
        }

    def redact_value(self, value: Any) -> Any:
        """A redacted copy of a JSON-like structure (dicts, lists, tuples, strings, scalars)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, SecretStr):
            return MASK
        if isinstance(value, Mapping):
            redacted: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and key.lower() in SENSITIVE_KEYS and item is not None:
                    redacted[self.redact(key)] = MASK
                else:
                    redacted[self.redact(key) if isinstance(key, str) else key] = self.redact_value(item)
            return redacted
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        if isinstance(value, bytes):
            return self.redact(value.decode("utf-8", errors="replace"))
        return value


default_redactor = Redactor(max_secrets=4096)
"""The process-wide registry used by :class:`RedactingFilter` unless it is given another."""


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and any exception text of a record.

    Attach it to handlers (covers every logger) or to specific loggers (covers records logged
    directly on them). It never drops a record.
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor if redactor is not None else default_redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the handler's problem, not ours
            return True
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Pre-render the traceback, redacted; formatters reuse exc_text instead of re-rendering.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor.redact(text)
        elif record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


_installed_lock = threading.Lock()
_installed: set[str] = set()

DEFAULT_REDACTED_LOGGERS = ("govflow.transport", "govflow", "httpx")


def install_log_redaction(*logger_names: str) -> None:
    """Attach a :class:`RedactingFilter` using :data:`default_redactor` to these loggers, once.

    Without names: govflow's transport logger and ``httpx`` (which logs every request URL at
    INFO, query string included).
    """
    with _installed_lock:
        for name in logger_names or DEFAULT_REDACTED_LOGGERS:
            if name not in _installed:
                logging.getLogger(name).addFilter(RedactingFilter(default_redactor))
                _installed.add(name)


def mask_secret(value: str | SecretStr | None) -> str | None:
    """``***`` for a set secret, None for None: for reprs and config dumps."""
    return None if value is None else MASK


__all__ = [
    "MASK",
    "SENSITIVE_HEADERS",
    "SENSITIVE_KEYS",
    "SENSITIVE_QUERY_PARAMS",
    "RedactingFilter",
    "Redactor",
    "default_redactor",
    "install_log_redaction",
    "mask_secret",
]
