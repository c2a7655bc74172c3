"""ContractGate: data contracts, batch ingest with per-event violations, versions, quarantine and replay.

```python
from govflow.core.platforms.contractgate import ContractGateClient, ContractGatePlatform

async with ContractGateClient() as cg:        # CONTRACTGATE_API_KEY / CONTRACTGATE_BASE_URL
    result = await cg.ingest(contract_id, events)
```

The wire contract is specs/contractgate.md (the gateway at nightmoose/contractgate and SDK
0.4.0); docs/platforms/contractgate.md shows every use by example. The local validator is the
``validator`` subpackage.
"""

from ._client import (
    API_KEY_ENV,
    BASE_URL_ENV,
    IDEMPOTENCY_HEADER,
    REPLAY_HEADER,
    ContractGateClient,
    encode_batches,
    split_batches,
)
from ._errors import (
    MAX_BODY_BYTES,
    MAX_EVENT_BYTES,
    MAX_EVENTS_PER_BATCH,
    ContractGateAuthError,
    ContractGateBadRequestError,
    ContractGateConflictError,
    ContractGateError,
    ContractGateHTTPError,
    ContractGateIdempotencyConflictError,
    ContractGateNotFoundError,
    ContractGatePayloadTooLargeError,
    ContractGatePlanLimitError,
    ContractGateRateLimitError,
    ContractGateServerError,
    ContractGateTimeoutError,
    ContractGateValidationFailedError,
)
from ._local import CONTRACTS_ENV, LocalContract, LocalContracts
from ._models import (
    DEPRECATED_VERSION_KIND,
    KNOWN_VIOLATION_KINDS,
    AuditEntry,
    Contract,
    ContractGateViolation,
    ContractVersion,
    DeployResult,
    EgressOutcome,
    EgressResult,
    EventReplayOutcome,
    EventReplayResult,
    EventResult,
    IngestionStats,
    IngestResult,
    PlaygroundResult,
    QuarantineRow,
    RateLimitInfo,
    ReplayOutcome,
    ReplayResult,
    VersionHash,
    ViolationKind,
)
from ._platform import ContractGatePlatform, report_from_ingest
from ._sync import ContractGateSyncClient

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "CONTRACTS_ENV",
    "DEPRECATED_VERSION_KIND",
    "IDEMPOTENCY_HEADER",
    "KNOWN_VIOLATION_KINDS",
    "MAX_BODY_BYTES",
    "MAX_EVENTS_PER_BATCH",
    "MAX_EVENT_BYTES",
    "REPLAY_HEADER",
    "AuditEntry",
    "Contract",
    "ContractGateAuthError",
    "ContractGateBadRequestError",
    "ContractGateClient",
    "ContractGateConflictError",
    "ContractGateError",
    "ContractGateHTTPError",
    "ContractGateIdempotencyConflictError",
    "ContractGateNotFoundError",
    "ContractGatePayloadTooLargeError",
    "ContractGatePlanLimitError",
    "ContractGatePlatform",
    "ContractGateRateLimitError",
    "ContractGateServerError",
    "ContractGateSyncClient",
    "ContractGateTimeoutError",
    "ContractGateValidationFailedError",
    "ContractGateViolation",
    "ContractVersion",
    "DeployResult",
    "EgressOutcome",
    "EgressResult",
    "EventReplayOutcome",
    "EventReplayResult",
    "EventResult",
    "IngestResult",
    "IngestionStats",
    "LocalContract",
    "LocalContracts",
    "PlaygroundResult",
    "QuarantineRow",
    "RateLimitInfo",
    "ReplayOutcome",
    "ReplayResult",
    "VersionHash",
    "ViolationKind",
    "encode_batches",
    "report_from_ingest",
    "split_batches",
]
