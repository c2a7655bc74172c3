"""The one seam between the emulator and govflow's contract validator.

Every rule (violations and their messages, batch uniqueness, PII transforms, the egress leakage
guard) comes from ``govflow.core.platforms.contractgate.validator``, so the emulator and the
local validator cannot disagree about a verdict or a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...core.platforms.contractgate.validator import (
    CompiledContract,
    Contract,
    ContractError,
    apply_egress_leakage,
    apply_transforms,
    compile_contract,
    parse_contract,
)

JSON = dict[str, Any]


class ContractYamlError(Exception):
    """The YAML does not parse (``deferred=False``) or only fails to compile (``deferred``).

    The gateway parses YAML with serde when a version is created or patched, and compiles it
    (regexes, transform types) only on first use: a ``deferred`` error is accepted at create
    time and becomes a 422 at ingest (spec section 5).
    """

    def __init__(self, message: str, *, deferred: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.deferred = deferred


@dataclass(frozen=True)
class Outcome:
    """One event's verdict, violations as wire dicts (field, kind, message)."""

    passed: bool
    violations: list[JSON]
    validation_us: int


@dataclass(frozen=True)
class Meta:
    """What the emulator keeps about a version without compiling it."""

    name: str
    version_label: str
    description: str | None
    compliance_mode: bool
    egress_leakage_mode: str


def _meta(model: Contract | CompiledContract) -> Meta:
    return Meta(
        name=model.name,
        version_label=model.version,
        description=model.description,
        compliance_mode=model.compliance_mode,
        egress_leakage_mode=model.egress_leakage_mode.value,
    )


@dataclass(frozen=True)
class Compiled:
    """A compiled contract version."""

    meta: Meta
    compiled: CompiledContract

    def check(self, event: Any, now: float) -> Outcome:
        """``now`` is the emulator's clock, for freshness rules."""
        result = self.compiled.validate(event, now=now)
        return Outcome(
            result.passed, [v.to_dict() for v in result.violations], result.validation_us
        )

    def uniqueness(self, events: Sequence[Any]) -> list[tuple[int, JSON]]:
        return [(i, v.to_dict()) for i, v in self.compiled.check_uniqueness(events)]

    def transform(self, event: Any, salt: bytes) -> Any:
        return apply_transforms(self.compiled, event, salt=salt)

    def leakage(self, transformed: Any) -> tuple[Any, list[str], list[JSON]]:
        payload, stripped, violations = apply_egress_leakage(self.compiled, transformed)
        return payload, stripped, [v.to_dict() for v in violations]


def parse_version(yaml_text: str) -> Meta:
    """What the gateway does on create/patch: parse only (compile errors come later)."""
    try:
        # strict=False: the gateway silently ignores unknown keys.
        return _meta(parse_contract(yaml_text, strict=False))
    except ContractError as exc:
        raise ContractYamlError(exc.reason) from None


def compile_version(yaml_text: str) -> Compiled:
    try:
        compiled = compile_contract(yaml_text, strict=False)
    except ContractError as exc:
        raise ContractYamlError(exc.reason, deferred=exc.stage == "compile") from None
    return Compiled(_meta(compiled), compiled)


__all__ = ["Compiled", "ContractYamlError", "Meta", "Outcome", "compile_version", "parse_version"]
