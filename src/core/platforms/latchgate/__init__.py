"""LatchGate: agent actions executed through a gate, with DPoP-bound leases, approvals and receipts.

```python
from govflow.core.platforms.latchgate import LatchGateClient, LatchGatePlatform

async with LatchGateClient(base_url="http://localhost:3000") as gate:   # or the Unix socket
    result = await gate.execute("http_fetch", {"url": "https://example.com"})
```

The wire contract is specs/latchgate.md (the official SDK ``latchgate`` 0.2.0 and the server);
docs/platforms/latchgate.md shows every use by example. Needs the ``cryptography`` package
(``pip install 'govflow[latchgate]'``) for the DPoP proofs.
"""

from ._client import (
    DEFAULT_PUBLIC_BASE_URL,
    PUBLIC_BASE_URL_ENV,
    REFUSED_BEFORE_EXECUTION,
    SOCKET_ENV,
    UDS_BASE_URL,
    URL_ENV,
    Endpoint,
    LatchGateClient,
    PendingApproval,
    default_socket_path,
    encode_params,
    request_hash,
    resolve_endpoint,
    validate_identifier,
)
from ._dpop import DPoPKey, access_token_hash, decode_proof, jwk_thumbprint, normalize_htu
from ._errors import (
    LatchGateAPIError,
    LatchGateApprovalNotFoundError,
    LatchGateApprovalRequiredError,
    LatchGateAuthError,
    LatchGateBudgetExhaustedError,
    LatchGateConflictError,
    LatchGateDeniedError,
    LatchGateError,
    LatchGateHtuMismatchError,
    LatchGateIdentifierError,
    LatchGateLeaseExpiredError,
    LatchGateNotFoundError,
    LatchGateRateLimitError,
    LatchGateReplayDetectedError,
    LatchGateRequestError,
    LatchGateTransportError,
    LatchGateUnavailableError,
)
from ._lease import DEFAULT_SCOPES, Lease, LeaseManager
from ._models import (
    ActionInfo,
    ActionResult,
    ActionSummary,
    EgressProfile,
    ExecutionReceipt,
    LatchGateApproval,
    LeaseInfo,
)
from ._platform import (
    LatchGatePlatform,
    decision_from_denial,
    decision_from_pending,
    decision_from_result,
    to_core_approval,
)
from ._sync import LatchGateSyncClient

__all__ = [
    "DEFAULT_PUBLIC_BASE_URL",
    "DEFAULT_SCOPES",
    "PUBLIC_BASE_URL_ENV",
    "REFUSED_BEFORE_EXECUTION",
    "SOCKET_ENV",
    "UDS_BASE_URL",
    "URL_ENV",
    "ActionInfo",
    "ActionResult",
    "ActionSummary",
    "DPoPKey",
    "EgressProfile",
    "Endpoint",
    "ExecutionReceipt",
    "LatchGateAPIError",
    "LatchGateApproval",
    "LatchGateApprovalNotFoundError",
    "LatchGateApprovalRequiredError",
    "LatchGateAuthError",
    "LatchGateBudgetExhaustedError",
    "LatchGateClient",
    "LatchGateConflictError",
    "LatchGateDeniedError",
    "LatchGateError",
    "LatchGateHtuMismatchError",
    "LatchGateIdentifierError",
    "LatchGateLeaseExpiredError",
    "LatchGateNotFoundError",
    "LatchGatePlatform",
    "LatchGateRateLimitError",
    "LatchGateReplayDetectedError",
    "LatchGateRequestError",
    "LatchGateSyncClient",
    "LatchGateTransportError",
    "LatchGateUnavailableError",
    "Lease",
    "LeaseInfo",
    "LeaseManager",
    "PendingApproval",
    "access_token_hash",
    "decision_from_denial",
    "decision_from_pending",
    "decision_from_result",
    "decode_proof",
    "default_socket_path",
    "encode_params",
    "jwk_thumbprint",
    "normalize_htu",
    "request_hash",
    "resolve_endpoint",
    "to_core_approval",
    "validate_identifier",
]
