"""The interface every platform client offers to the orchestrator adapters.

A platform implements the capabilities it really has (DESIGN.md section 2). Asking for one it
lacks raises :class:`CapabilityNotSupportedError`; adapters call :meth:`Platform.require` when they
are configured so the error comes before a run, not in the middle of one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from ..errors import CapabilityNotSupportedError
from ..models import Approval, Decision, Evidence, GateRequest, RunContext, ValidationReport


class Capability(str, enum.Enum):
    GATE = "gate"
    APPROVALS = "approvals"
    EVIDENCE = "evidence"
    VALIDATE = "validate"


class Platform:
    """Base class: an async client of one governance platform, used with ``async with``."""

    name: str = "platform"
    capabilities: frozenset[Capability] = frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, *capabilities: Capability | str) -> None:
        """Fail fast, at configuration time, if a needed capability is missing."""
        missing = [Capability(c) for c in capabilities if Capability(c) not in self.capabilities]
        if missing:
            offered = ", ".join(sorted(c.value for c in self.capabilities)) or "nothing"
            raise CapabilityNotSupportedError(
                f"{self.name} does not support {', '.join(c.value for c in missing)}; "
                f"it offers: {offered}. Configure a platform that does (see DESIGN section 2)."
            )

    def _unsupported(self, capability: Capability) -> CapabilityNotSupportedError:
        try:
            self.require(capability)
        except CapabilityNotSupportedError as exc:
            return exc
        raise AssertionError("capability is supported but not implemented")  # pragma: no cover

    async def gate(self, context: RunContext, request: GateRequest) -> Decision:
        """Decide (and where the platform does so, execute) a step's request."""
        raise self._unsupported(Capability.GATE)

    async def get_approval(self, approval_id: str) -> Approval:
        """The current state of an approval."""
        raise self._unsupported(Capability.APPROVALS)

    async def record_evidence(self, record: Evidence, *, idempotency_key: str | None = None) -> str:
        """Deliver a sealed evidence record; returns the platform's reference for it.

        The evidence outbox passes the same ``idempotency_key`` on every attempt for one record, so
        a platform that honours it never stores a record twice.
        """
        raise self._unsupported(Capability.EVIDENCE)

    async def validate(
        self,
        contract_id: str,
        records: Iterable[dict[str, Any]],
        *,
        version: str | None = None,
        context: RunContext | None = None,
    ) -> ValidationReport:
        """Validate records against a data contract; ``context`` names the run for evidence."""
        raise self._unsupported(Capability.VALIDATE)

    async def aclose(self) -> None:
        """Release connections; idempotent."""

    async def __aenter__(self) -> Platform:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


__all__ = ["Capability", "Platform"]
