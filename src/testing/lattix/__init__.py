"""A stateful emulator of the Lattix SDK control plane (``/v1/sdk/*``), over real HTTP.

Built from the wire contract (shared/specs/lattix.md); the official SDK needs a native library,
so the spec's §11 examples are the fidelity check (tests/core/test_lattix_spec_examples.py).

```python
from govflow.testing.lattix import LattixEmulator, after_processing
from govflow.testing.faults import drop, rate_limited

emu = LattixEmulator(auth_mode="bearer_token")      # or "trusted_headers" / the default, both
with emu.serve() as base_url:                       # http://127.0.0.1:<free port>
    headers = {"Authorization": f"Bearer {emu.bearer_token}"}
    emu.deny("document", label="pii", purpose="analytics")
    emu.misbehave("plaintext_transport")            # fail-closed checks must trip
    emu.inject("POST", "evidence", rate_limited(retry_after=0), after_processing(drop()))
    ...
    assert len(emu.evidence) == 1 and emu.count("POST", "evidence") == 3
```

Seeded world (the spec's example world, so its examples reproduce): tenant ``acme-prod``
(``emu.tenant_id``), principal ``svc-claims`` (``emu.user_id``) with subject
``spiffe://acme.test/claims-api``, a static bearer token (``emu.bearer_token``, random), client
credentials ``claims-batch`` / random secret (``emu.client_id``, ``emu.client_secret``), OIDC
auth configuration as in §11 ``AUTHCFG``. Everything is a constructor argument.

Test API: ``serve()`` / ``start()`` / ``stop()`` (state and port survive a stop, for "platform
down for a while"), ``base_url``; ``add_token(tenant_id=, subject=, scopes=, expires_in=)``,
``add_client()``, ``expire_tokens()``, ``revoke(token)``, ``advance_clock(seconds)``,
``session_tokens``; ``deny(...)`` / ``allow(rule_id=None)``; ``misbehave(...)`` /
``misbehaving(...)`` / ``override(route, path, value)`` / ``behave()``; ``inject(method, path,
*faults)`` / ``reset_faults()``; ``requests`` / ``requests_to()`` / ``count(method, path)``;
``evidence`` / ``evidence_records`` / ``artifacts`` / ``idempotent_replays``; ``reset()``.
Routes can be named by path or by name (``"evidence"``, ``"protection-plan"``, ...).

Choices the spec leaves open ([INF] / [EMU]), point by point
------------------------------------------------------------

Authentication (§2)
 1. ``auth_mode="bearer_token"``: ``Authorization: Bearer <token>`` required. None -> 401
    ``unauthorized`` "bearer token required"; not ``Bearer <value>``, unknown, revoked or
    expired -> 401 ``invalid_token``. These 401s carry ``WWW-Authenticate: Bearer ...``.
 2. ``auth_mode="trusted_headers"``: the caller is ``x-lattix-tenant-id`` + ``x-lattix-user-id``
    (both required, blank = absent; else 401 ``unauthorized``); any tenant is accepted (the
    gateway vouches); ``Authorization`` is not looked at. Caller: principal = subject = user,
    ``auth_source: "trusted_headers"``, ``scopes: []`` (as the §11 example).
 3. ``auth_mode="bearer_token_or_trusted_headers"``: a presented ``Authorization`` header is
    always validated (a bad token is 401, never a silent fallback to the headers); without one,
    both trusted headers are needed.
 4. With a valid token, ``x-lattix-tenant-id`` ≠ the token's tenant -> 403 ``forbidden``;
    ``x-lattix-user-id`` is ignored (the token names the principal).
 5. Scopes: a token caller lacking a ``default_required_scopes`` scope (``platform-api.access``)
    or a scope of ``route_scopes[route]`` (default none, advertised in capabilities ``routes``)
    -> 403 ``insufficient_scope``. Trusted-header callers are not scope-checked.
 6. Operation scopes (``operation_scopes=True``): protection-plan and policy-resolve need
    ``sdk.<operation>`` in a token caller's scopes; lacking it is a policy denial (200,
    ``allow: false``, warning "caller lacks scope 'sdk.rewrap'"), not an HTTP error. The seeded
    token has the §11 caller's scopes plus ``sdk.rewrap``.
 7. ``POST /v1/sdk/session``: body fields all required (422 otherwise); unknown client, wrong
    secret or body ``tenant_id`` ≠ the client's tenant -> 401 ``invalid_client`` "client
    authentication failed" (one answer for all). ``requested_scopes`` must be a subset of the
    client's scopes (else 403 ``invalid_scope``); ``[]`` grants all of them. ``scope`` is the
    granted scopes sorted, space-separated. Tokens are ``lx_sess_<hex>``, live ``session_ttl``
    seconds (default 900) on the emulator clock, caller principal = client_id, subject
    ``sdk:<client_id>``, ``auth_source: "sdk_client_credentials"``.
 8. ``strict_session_headers=True``: an exchange carrying ``Authorization`` or any
    ``x-lattix-*`` header -> 400 ``invalid_request`` (the SDK sends only Content-Type; this
    catches a client leaking its token). ``session_exchange=False`` answers 404, as a server
    that dropped the route (later cores did) would.
 9. ``expire_tokens()`` expires every token that has a lifetime (session tokens,
    ``add_token(expires_in=...)``); the static bearer token stays valid (use ``revoke``).

Errors (§6)
10. Body ``{"error": "<snake_case>", "message": "...", "status": <int>}``, exactly these keys.
    Order of checks: route (404 ``not_found``, 405 ``method_not_allowed`` with ``Allow``),
    auth (401/403), ``Content-Type: application/json`` on POST (415
    ``unsupported_media_type``, as a Rust JSON extractor does), JSON syntax (400
    ``invalid_json``; NaN/Infinity and bad UTF-8 too), model (422 ``invalid_request``). The
    session route checks headers (8.), then Content-Type, JSON, model, credentials.
11. 422 messages are serde-like: ``missing field 'artifact_digest'``, ``operation: unknown
    variant 'encrypt', expected one of 'protect', 'access', 'rewrap'``, ``workload: missing
    field 'application'``; the first problem only. A trailing slash is 404 (no redirect).
12. Missing or null is accepted for every optional field; null labels/attributes mean []/{}.
    Unknown request fields are ignored (serde's default); ``strict_requests=True`` -> 422.
    ``content_size_bytes`` must be an integer in 0..2^64-1 (not a float, not a bool).

Responses (§5, §9)
13. Only the spec's fields and enum values, with §9's fixed strings; ``status`` ``"ready"``,
    ``"ok"`` for whoami. Capabilities lists the five POST data routes (domains policy, policy,
    keys, artifacts, evidence). Bootstrap lists all operations and profiles, domains
    ``policy`` and ``keys``; protection-plan answers ``platform_domains`` ``[policy]``, the
    other POST routes ``[]`` (as §11).
14. Resolved profile (protection-plan ``preferred_artifact_profile``, key-access-plan
    ``artifact_profile``): the request's, else ``default_artifact_profile`` (``tdf``).
15. ``*_present`` is false for null, missing and ``""``. ``occurred_at`` is echoed only when it
    is an RFC 3339 timestamp with an offset (Go's ``0001-01-01T00:00:00Z`` is one), else null.
    Digests are not checked (fixtures use ``sha256:abc123``).
16. ``required_scopes``: protection-plan ``[platform-api.access, sdk.<op>]``, policy-resolve
    ``[sdk.<op>]``, key-access-plan ``[]``, artifact-register and evidence
    ``[platform-api.access]`` (as §11). ``send_only`` lists ``content digest`` only when one
    was sent. ``policy_inputs`` are those of labels, purpose, attributes that are non-empty.
17. Policy-resolve: allow -> ``required_actions [artifact_register, evidence]``,
    ``evidence_expected [<operation>]``; deny -> ``[evidence]`` and ``[deny]``, the reason in
    ``warnings``. Artifact-register ``evidence_expected``: the operation plus ``access``.
18. Key transport: ``emu.key_transport`` (constructor ``key_transport``) forces one mode for
    protection-plan and key-access-plan. Unset: protection-plan says ``local_provided``
    (origin ``caller``); key-access-plan says ``local_provided`` when ``key_reference`` is
    absent or one of the SDK's inline placeholders (``local-tdf-key``...), else
    ``wrapped_key_reference`` (origin ``kms``, stable reference preferred). KEM adds
    ``public_key_distribution: "tenant_jwks"``, ``exchange_algorithm: "ml-kem-768"``.
    ``raw_key_delivery_forbidden`` is always true.
19. Deny rules (``deny(resource_kind, label=, operation=, purpose=, application=,
    resource_id=, reason=, routes=)``) match when every given criterion matches (``label``: is
    one of the labels) and apply to protection-plan, policy-resolve and key-access-plan: 200
    with ``allow: false``, never an HTTP error. The default reason for label + purpose is the
    §11 wording "label 'pii' is not permitted for purpose 'analytics'". Artifact registration
    and evidence are always accepted (unless misbehaving).

Evidence and idempotency (§1 says the real server has none)
20. [emulator choice] ``POST /v1/sdk/evidence`` honours an ``Idempotency-Key`` header, per
    tenant: a key seen with an accepted event returns the first response verbatim (plus the
    header ``Idempotent-Replayed: true``) and stores nothing; the same key with a different
    body -> 422 ``idempotency_key_reused``. Unaccepted or failed requests are not remembered,
    so their retry is processed. Other routes ignore the header.
21. ``emu.evidence`` holds every accepted event (the request body as sent) exactly once;
    ``emu.count("POST", "evidence")`` counts raw POSTs, faulted and replayed ones included.

Faults
22. ``inject(method, path, *faults)`` takes the builders of ``govflow.testing.faults``
    (``rate_limited``, ``server_error``, ``slow``, ``drop``, ``truncate``, ``malformed_json``,
    ``expired_token``, ``respond``); they apply before the request is processed (nothing is
    stored). ``after_processing(fault)`` processes the request first (the event is stored,
    the idempotency key remembered) and then answers with the fault instead: the "response
    lost" case that idempotency exists for. Recorded paths are without the path prefix.

Misbehaviour: ``misbehave(*names, routes=None, times=None)`` (``names`` from ``MISBEHAVIOURS``)
breaks one fail-closed check of the official SDK in otherwise normal 200 answers, on every route
where the check applies, until ``behave()`` (or for ``times`` answers):

- ``enforcement_model``: bootstrap ``enforcement_model: "platform_side_enforcement"``
- ``plaintext_to_platform``: bootstrap ``plaintext_to_platform: true``
- ``supported_operations``: bootstrap ``supported_operations: ["access"]`` (no protect, rewrap)
- ``supported_artifact_profiles``: bootstrap ``["detached_signature"]`` (lacks tdf, envelope)
- ``allow``: ``decision.allow: false`` in protection-plan, policy-resolve, key-access-plan,
  nothing else changed (unlike ``deny``)
- ``protect_locally``: ``execution.protect_locally`` / ``handling.protect_locally`` false
- ``plaintext_transport``: ``"allowed"`` in protection-plan ``decision``, policy-resolve
  ``handling``, evidence ``ingestion``
- ``send_plaintext_to_platform``: true in protection-plan, key-access-plan, artifact-register
- ``raw_key_delivery_forbidden``: ``key_transport.raw_key_delivery_forbidden: false``
  (protection-plan, key-access-plan)
- ``key_transport_mode``: ``key_transport.mode: "raw_key_release"`` (not a §4 mode)
- ``artifact_profile``: key-access-plan ``execution.artifact_profile`` ≠ the requested one
- ``key_operation``: key-access-plan ``decision.operation`` ≠ the request's
- ``local_cryptographic_operation``: key-access-plan ``execution.local_cryptographic_operation``
  false
- ``accepted``: ``registration.accepted`` / ``ingestion.accepted`` false (such an evidence
  event is not stored)
- ``missing_required_field``: any route, ``caller`` (session: ``access_token``) removed

``override(route, "a.b.c", value)`` sets any field (``OMIT`` removes it), e.g.
``override("bootstrap", "auth_configuration", OMIT)``.

Tolerance switches (attributes, also constructor arguments): ``extra_fields=True`` adds
``x_future_field`` to every object of a 2xx body and ``x_future_object`` at its top;
``future_enums=True`` adds values of a later version (``FUTURE_ENUM_VALUES``) to
``supported_operations`` / ``supported_artifact_profiles`` and uses them for ``auth_mode`` and
``auth_configuration.mode`` / ``proof_of_possession`` (advisory fields no check relies on).

What the official SDK would refuse: ``sdk_refusals(route, body, request, operation=, profile=)``
lists the model problems (``response_problems``: a missing required field, a wrong type, an
enum value outside §4) and the failed fail-closed checks (``fail_closed_problems``) of an
answer. Normal answers give ``[]``; each misbehaviour gives at least one entry.

Control routes (unauthenticated, loopback test tool; not under the path prefix): ``POST
/_lattix/faults`` ``{"method", "path", "faults": [...], "after_processing": bool}``, ``POST
/_lattix/deny`` (``deny`` kwargs), ``POST /_lattix/misbehave`` ``{"names", "routes", "times"}``,
``POST /_lattix/tokens`` (``add_token`` kwargs), ``POST /_lattix/{reset, behave, allow,
expire-tokens, reset-faults}``, ``GET /_lattix/evidence``, ``GET /_lattix/requests``.

As a process: ``python -m govflow.testing.lattix --port 8081`` prints the base URL, token,
tenant and client credentials as ``LATTIX_*=`` lines, then serves until interrupted.
"""

from __future__ import annotations

from ._checks import RESPONSE_FIELDS, fail_closed_problems, response_problems, sdk_refusals
from ._emulator import (
    DEFAULT_SCOPES,
    AfterProcessing,
    ClientCredentials,
    DenyRule,
    EvidenceRecord,
    LattixEmulator,
    TokenInfo,
    after_processing,
)
from ._misbehaviour import FUTURE_ENUM_VALUES, MISBEHAVIOURS, OMIT, UNKNOWN_FIELD, UNKNOWN_OBJECT
from ._schema import ENUMS, REQUEST_FIELDS, ROUTES, SERVICE

__all__ = [
    "DEFAULT_SCOPES",
    "ENUMS",
    "FUTURE_ENUM_VALUES",
    "MISBEHAVIOURS",
    "OMIT",
    "REQUEST_FIELDS",
    "RESPONSE_FIELDS",
    "ROUTES",
    "SERVICE",
    "UNKNOWN_FIELD",
    "UNKNOWN_OBJECT",
    "AfterProcessing",
    "ClientCredentials",
    "DenyRule",
    "EvidenceRecord",
    "LattixEmulator",
    "TokenInfo",
    "after_processing",
    "fail_closed_problems",
    "response_problems",
    "sdk_refusals",
]
