"""One authenticated request as the route handlers see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers

from ._ratelimit import Outcome
from ._store import Credential, World


@dataclass(frozen=True)
class Settings:
    """Emulator-wide knobs the handlers read (see the package docstring)."""

    batch_limit: int = 1000
    monthly_event_cap: int | None = None
    plan: str = "free"


@dataclass
class Call:
    world: World
    cred: Credential
    settings: Settings
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Headers
    body: bytes
    # The /v1/ingest token spend, whose numbers go into the X-RateLimit-* headers.
    rate: Outcome | None = field(default=None)

    @property
    def org_id(self) -> str:
        return self.cred.org_id

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def source_ip(self) -> str | None:
        """``X-Forwarded-For`` (first entry), else ``X-Real-IP``, as the gateway records it."""
        raw = self.headers.get("x-forwarded-for") or self.headers.get("x-real-ip")
        if raw is None:
            return None
        return raw.split(",")[0].strip()


__all__ = ["Call", "Settings"]
