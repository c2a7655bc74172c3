"""govflow's orchestrator-free core: models, errors, canonical JSON, transport, platforms, evidence.

The public names are importable from here; they load on first use, so importing one submodule
(``govflow.core.errors`` in an Airflow triggerer, say) does not pull in HTTP and SQL.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    # models
    "Approval": ".models",
    "ApprovalStatus": ".models",
    "Decision": ".models",
    "DecisionOutcome": ".models",
    "Evidence": ".models",
    "GateRequest": ".models",
    "RecordResult": ".models",
    "RunContext": ".models",
    "ValidationReport": ".models",
    "Violation": ".models",
    # errors
    "ApprovalBindingError": ".errors",
    "ApprovalDeniedError": ".errors",
    "ApprovalExpiredError": ".errors",
    "ApprovalFailedError": ".errors",
    "ApprovalRequiredError": ".errors",
    "ApprovalTimeoutError": ".errors",
    "AuthenticationError": ".errors",
    "CanonicalizationError": ".errors",
    "CapabilityNotSupportedError": ".errors",
    "ConfigurationError": ".errors",
    "ConflictError": ".errors",
    "DeniedError": ".errors",
    "ForbiddenError": ".errors",
    "GovernanceError": ".errors",
    "GovflowError": ".errors",
    "LedgerError": ".errors",
    "NotFoundError": ".errors",
    "PlatformError": ".errors",
    "PolicyError": ".errors",
    "RateLimitError": ".errors",
    "RequestValidationError": ".errors",
    "TransportError": ".errors",
    "UnavailableError": ".errors",
    # canonical JSON
    "canonicalize": ".canonical",
    "digest": ".canonical",
    # platforms, approvals, evidence
    "Capability": ".platforms.base",
    "Platform": ".platforms.base",
    "LocalPlatform": ".platforms.local",
    "Policy": ".platforms.local",
    "wait_for_approval": ".approvals",
    "EvidenceLedger": ".evidence",
    "EvidenceRecorder": ".evidence",
    "VerifyReport": ".evidence",
    "Governor": ".governor",
    "GovernedStep": ".governor",
    "syncify": ".sync",
}

if TYPE_CHECKING:
    from .approvals import wait_for_approval
    from .canonical import canonicalize, digest
    from .errors import (
        ApprovalBindingError,
        ApprovalDeniedError,
        ApprovalExpiredError,
        ApprovalFailedError,
        ApprovalRequiredError,
        ApprovalTimeoutError,
        AuthenticationError,
        CanonicalizationError,
        CapabilityNotSupportedError,
        ConfigurationError,
        ConflictError,
        DeniedError,
        ForbiddenError,
        GovernanceError,
        GovflowError,
        LedgerError,
        NotFoundError,
        PlatformError,
        PolicyError,
        RateLimitError,
        RequestValidationError,
        TransportError,
        UnavailableError,
    )
    from .evidence import EvidenceLedger, EvidenceRecorder, VerifyReport
    from .governor import GovernedStep, Governor
    from .models import (
        Approval,
        ApprovalStatus,
        Decision,
        DecisionOutcome,
        Evidence,
        GateRequest,
        RecordResult,
        RunContext,
        ValidationReport,
        Violation,
    )
    from .platforms.base import Capability, Platform
    from .platforms.local import LocalPlatform, Policy
    from .sync import syncify


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'govflow.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "Approval",
    "ApprovalBindingError",
    "ApprovalDeniedError",
    "ApprovalExpiredError",
    "ApprovalFailedError",
    "ApprovalRequiredError",
    "ApprovalStatus",
    "ApprovalTimeoutError",
    "AuthenticationError",
    "CanonicalizationError",
    "Capability",
    "CapabilityNotSupportedError",
    "ConfigurationError",
    "ConflictError",
    "Decision",
    "DecisionOutcome",
    "DeniedError",
    "Evidence",
    "EvidenceLedger",
    "EvidenceRecorder",
    "ForbiddenError",
    "GateRequest",
    "GovernanceError",
    "GovernedStep",
    "Governor",
    "GovflowError",
    "LedgerError",
    "LocalPlatform",
    "NotFoundError",
    "Platform",
    "PlatformError",
    "Policy",
    "PolicyError",
    "RateLimitError",
    "RecordResult",
    "RequestValidationError",
    "RunContext",
    "TransportError",
    "UnavailableError",
    "ValidationReport",
    "VerifyReport",
    "Violation",
    "canonicalize",
    "digest",
    "syncify",
    "wait_for_approval",
]
