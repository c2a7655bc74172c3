"""The shared HTTP layer of every platform client: auth, retries, error mapping, pagination.

```python
from govflow.core.transport import BearerAuth, RetryPolicy, Transport

async with Transport("velerian", "https://app.velerian.ai/api/v2/", auth=BearerAuth(key)) as http:
    run = await http.request_json("POST", "abps/x/invoke", json=body, idempotency_key=key)
    async for row in http.paginate("audit-log"):
        ...
```
"""

from ._auth import AccessToken, ApiKeyAuth, AuthStrategy, BearerAuth, ClientCredentialsAuth
from ._client import USER_AGENT, Transport
from ._errors import ErrorMapper, default_error, extract_code_detail, response_body
from ._retry import IDEMPOTENT_METHODS, NO_RETRY, RetryPolicy, is_idempotent, parse_retry_after

__all__ = [
    "IDEMPOTENT_METHODS",
    "NO_RETRY",
    "USER_AGENT",
    "AccessToken",
    "ApiKeyAuth",
    "AuthStrategy",
    "BearerAuth",
    "ClientCredentialsAuth",
    "ErrorMapper",
    "RetryPolicy",
    "Transport",
    "default_error",
    "extract_code_detail",
    "is_idempotent",
    "parse_retry_after",
    "response_body",
]
