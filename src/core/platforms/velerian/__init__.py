"""Velerian: governed invocations of deployed packs (ABPs), evidence exports, audit log, approvals.

```python
from govflow.core.platforms.velerian import VelerianClient, VelerianPlatform

async with VelerianClient() as velerian:      # GOVFLOW_VELERIAN_* or VELERIAN_* from the env
    result = await velerian.invoke_abp(abp_id, {"prompt": "Summarize the filing"})
```

The wire contract is specs/velerian.md (the official SDK 0.1.2); docs/platforms/velerian.md
shows every use by example.
"""

from ._client import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    IDEMPOTENCY_HEADER,
    TERMINAL_RUN_STATES,
    VelerianClient,
)
from ._errors import (
    VelerianAPIError,
    VelerianAuthError,
    VelerianConflictError,
    VelerianError,
    VelerianForbiddenError,
    VelerianNotFoundError,
    VelerianRateLimitError,
    VelerianRunTimeoutError,
    VelerianServerError,
    VelerianValidationError,
)
from ._models import (
    EvidenceExport,
    InvokeResult,
    Page,
    UsageSummary,
    VelerianApproval,
    approval_status,
)
from ._platform import VelerianPlatform, decision_from_invoke, to_core_approval
from ._sync import VelerianSyncClient

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "IDEMPOTENCY_HEADER",
    "TERMINAL_RUN_STATES",
    "EvidenceExport",
    "InvokeResult",
    "Page",
    "UsageSummary",
    "VelerianAPIError",
    "VelerianApproval",
    "VelerianAuthError",
    "VelerianClient",
    "VelerianConflictError",
    "VelerianError",
    "VelerianForbiddenError",
    "VelerianNotFoundError",
    "VelerianPlatform",
    "VelerianRateLimitError",
    "VelerianRunTimeoutError",
    "VelerianServerError",
    "VelerianSyncClient",
    "VelerianValidationError",
    "approval_status",
    "decision_from_invoke",
    "to_core_approval",
]
