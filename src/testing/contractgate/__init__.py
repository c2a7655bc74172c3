"""A stateful ContractGate gateway emulator on real HTTP, for testing ContractGate clients.

It follows the wire contract ``specs/contractgate.md`` (sections 1-4, 6, 7, 8, 10, 11) and
validates through govflow's local validator (``govflow.core.platforms.contractgate.validator``),
so its violation messages are the validator's. Users and benchmarks can run it as a process::

    python -m govflow.testing.contractgate --port 8082    # prints the base URL, key, contract ids

In tests::

    from govflow.testing.contractgate import ContractGateEmulator, after_processing
    from govflow.testing.faults import drop

    emu = ContractGateEmulator()                      # seeded on construction
    with emu.serve() as base_url:                     # e.g. http://127.0.0.1:54321
        emu.inject("POST", "/v1/ingest/*", after_processing(drop()))
        ...                                           # drive a client with emu.api_key
        assert len(emu.accepted) == 1                 # no double write after a retry

Test-facing API (thread-safe; the server runs in a background thread):

- ``ContractGateEmulator(batch_limit=1000, rate_limit_rps=None, rate_limit_burst=None, *,
  api_key=None, monthly_event_cap=None, plan="free")``; ``serve(host, port)`` yields the base
  URL (``base_url``, ``server``); ``reset()`` reseeds and keeps the key, the org and the seeded
  contract ids (so one served emulator can serve a whole test session).
- ``api_key`` (``cg_live_`` + 48 hex), ``org_id``; ``add_api_key(allowed_contract_ids=,
  rate_limit_rps=, rate_limit_burst=, org_id=)``, ``add_session_token(org_id=,
  rate_limited=)``, ``revoke_key(key)``.
- ``contracts``: seeded name -> id. ``"user_events"`` (``api_user_events.yaml``),
  ``"hero_events"`` (``hero_events_v1.0.0.yaml`` as row 1.0.0 and ``hero_events_v1.1.0.yaml``
  as 1.1.0, both promoted in that order as in spec 10.B, so 1.1.0 is the latest stable; policy
  ``strict``), ``"order_events"`` (``order_events_nested.yaml``; its contract name is the YAML's,
  ``order_events_nested``), ``"user_events_pii"`` (``user_events_pii_transform.yaml``). Every
  other seeded contract has one stable row ``1.0.0``. The files ship in ``contracts/``
  (``example_contract(filename)`` reads one).
- ``add_contract(yaml_text, *, state="stable", name=, description=,
  multi_stable_resolution="strict", version="1.0.0", store_event_payloads=True, org_id=)`` ->
  id; ``add_version(contract_id, yaml_text, *, state="draft", version=None)`` -> version (default:
  the YAML's ``version`` label); ``promote(id, v)``, ``deprecate(id, v)``, ``version(id, v)``
  (VersionResponse dicts); ``set_resolution(id, "fallback")``, ``set_store_payloads(id, bool)``.
  Illegal transitions raise ``ValueError`` with the gateway's 409 text.
- Records: ``quarantine`` (every quarantine row, all fields, oldest first), ``accepted`` (every
  event stored as forwarded, as stored, i.e. transformed), ``forwarded`` (those rows with
  contract, version, replay source), ``audit`` (every audit row), ``idempotency_keys``,
  ``events_used``; ``set_quarantine_status(id, "reviewed" | "purged")``.
- ``inject(method, path_or_pattern, *faults)``, ``pending_faults``, ``reset_faults``;
  ``requests`` / ``requests_to(method, pattern)`` / ``clear_requests``; ``advance_time(seconds)``;
  ``database_down`` (attribute).

Choices the spec leaves open, point by point:

Authentication and errors (spec 1, 4, 11.7)
 1. ``x-api-key`` is checked as the gateway does: shorter than 12 characters or not ``cg_`` ->
    401 at once; otherwise the first 12 characters find the key and ``base64(sha256(key))`` must
    match. Missing, malformed, unknown, revoked and out-of-scope keys (``allowed_contract_ids``,
    RFC-065) all answer 401 ``{"error": "Unauthorized: missing or invalid API key", "status":
    401}``. Revocation is immediate (the gateway's 60 s verdict cache is not emulated).
 2. ``Authorization: Bearer <token>`` takes precedence over ``x-api-key``. There is no Supabase:
    tokens come from ``add_session_token()`` (opaque, not JWTs); any other bearer is a 401.
    ``x-org-id`` is ignored (dev-no-auth mode is not emulated).
 3. Orgs: every key belongs to one; another org's contract is 404 ``Contract not found: <id>``
    (never 403), as are deleted contracts.
 4. Unauthenticated: ``/health``, ``/ready`` and the ``/_emulator/`` control routes only; the
    gateway's ``/openapi.json``, ``/metrics``, ``/demo``, ``/published``, ``/catalog`` routes do
    not exist here (404).
 5. Errors are ``{"error": <Display text>, "status": <int>}`` with the spec's texts. Texts the
    spec does not give are the emulator's: duplicate version ``Version <v> already exists on
    contract <id>``, deploy with pending quarantine, replay id count, bad ids in bodies.
    Contract names are not unique (deploy takes the newest live contract of the name).
 6. axum extractor rejections are plain text with axum's prefixes and serde-like details
    produced in Python (same shape, not byte-identical): 415 ``Expected request with
    `Content-Type: application/json```, 400 ``Failed to parse the request body as JSON: ...``,
    422 ``Failed to deserialize the JSON body into the target type: missing field `ids```,
    400 ``Failed to deserialize query string: dry_run: provided string was not `true` or
    `false```, and a bad UUID in a ``Path<Uuid>`` route 400 ``Invalid URL: UUID parsing
    failed: ...``. Unknown routes are 404 and wrong methods 405 (with ``Allow``), both with an
    empty body, as axum's; there are no trailing-slash redirects.
 7. Body limits are checked first (before auth): 10 MB on ``/v1/*``, 1 MB elsewhere -> 413
    ``text/plain`` ``length limit exceeded`` (tower-http's).
 8. Bodies the gateway builds as ``serde_json::Value`` (ingest, legacy ingest, egress,
    playground, the deprecated-pin 422) have their keys sorted at every level; struct bodies
    (contracts, versions, audit, quarantine, stats) keep the spec's field order. Stored payloads
    (``raw_event``) come back as stored here (Postgres ``jsonb`` would reorder keys by length).

Ingest (spec 3, 6.2-6.5, 11.1, 11.3, 11.6)
 9. ``/v1/ingest`` runs the check order of spec 6.5. The query flags are parsed first (axum
    extractors run before the handler: ``dry_run=yes`` is a plain 400); then a bad contract id is
    JSON 400 ``Invalid request: invalid contract_id: <raw>`` (before the rate limit).
10. ``batch_limit`` (default 1000, the spec's) bounds v1 ingest, legacy ingest and egress
    batches: ``Invalid request: Empty event batch``, ``Invalid request: Batch too large: <n>
    events submitted, maximum is <limit>``. Replay id lists are always 1 to 1000.
11. Per-event limit 1 MB on the compact JSON of each event -> 413 ``{"error": "Payload too
    large: Event at index N exceeds the 1 MB per-event limit (S bytes)", "status": 413}``; an
    NDJSON line over 1 MB likewise (``NDJSON line N ...``). JSON errors are 400 ``Invalid
    request: JSON parse error: ...``. NDJSON (``Content-Type`` containing
    ``application/x-ndjson``) skips empty and ``\\r`` lines; a bad line is 400 ``Invalid
    request: NDJSON parse error at line <i>: ...`` with ``i`` zero-based (the gateway's
    ``enumerate``). No Content-Type means JSON.
12. **Writes are synchronous.** The gateway writes audit, quarantine and forward rows (and the
    idempotency record) fire-and-forget after answering, so a read right afterwards can miss
    them; here every row exists before the response is sent. Clients must not rely on either.
13. ``quarantine_id`` is set only for failures that were stored: null on passes, dry runs,
    atomic rejections and deprecated pins. ``forwarded`` = passed and stored.
14. ``validation_us`` is the validator's own measurement (whole microseconds, so a fast event
    can report 0); non-object events and deprecated pins always report 0. Freshness rules are
    judged on the emulator clock (``advance_time`` ages events).
15. Transforms run through the validator's ``apply_transforms`` for passing and failing
    events, with the version that decided each event. Ingest and egress use a random 32-byte
    salt per contract (kept across ``reset()`` for seeded contracts); the playground uses an
    empty salt. Hosted hash values cannot be reproduced (spec 8).
16. Deprecated pin (spec 6.4): the 422 body is exactly the spec's (no ``resolved_version``, no
    ``atomic``, no ``status``; this is what trips SDK 0.4.0's ``KeyError``). Every event gets a
    quarantine row with ``violation_details`` ``{"kind": "deprecated_contract_version",
    "pinned_version": v, "latest_stable": <latest stable, when there is one>}`` and
    ``violation_count`` 1; no audit or forward rows; nothing on a dry run; the answer is not
    stored under an ``Idempotency-Key`` (the gateway returns before that write).
17. Atomic rejection writes one summary audit row: ``passed`` false, ``violation_count`` = the
    failing events, ``violation_details`` ``[{"index", "violations"}]``, ``raw_event``
    ``{"atomic": true, "batch_rejected": true, "batch_size", "failing_count"}``,
    ``validation_us`` 0, the resolved version.
18. Fallback (spec 6.3), then batch uniqueness (the ``quality`` rules of the resolved version,
    through the validator's ``check_uniqueness``), in that order.
19. Payload storage: self-hosted semantics, so bodies are stored unless a contract's
    ``store_event_payloads`` is off (``set_store_payloads``): then audit ``raw_event`` is ``{}``,
    quarantine payloads are null with ``payload_redacted: true``, and replay reports
    ``redacted``. ``GET /contracts`` reports the flag.
20. Plan cap: off unless ``monthly_event_cap``. Every stored v1 or legacy event is metered
    (not dry runs, atomic rejections, egress or replays); at or above the cap a non-dry-run
    ingest is 429 ``{"error": "plan_limit_exceeded", "detail", "plan", "limit", "used",
    "period": "YYYY-MM", "upgrade_url", "status": 429}``.

Idempotency (spec 11.4, v1 ingest only)
21. As the spec: ``Idempotency-Key`` over 255 bytes -> 400 ``Invalid request: Idempotency-Key
    must be ≤ 255 characters``; the lookup (after the rate limit, before the body is parsed) is
    on (key, contract) and needs an equal ``sha256_hex`` of the raw body; a hit replays the
    stored status and body with ``X-Idempotency-Replay: true``; another body is 422
    ``{"error": "idempotency_conflict", "detail": "A different request body was already
    submitted with this Idempotency-Key."}``. Records are kept 24 h (emulator clock) for every
    ingest outcome (200, 207, 422, atomic 422), never for dry runs, deprecated pins or errors.
    A key is unique on its own: reusing it on another contract overwrites the record. The hash
    covers the body only, so a dry run with a stored key and the same body gets the stored
    (non-dry-run) answer, as the gateway does. There is no dedup without the header.

Rate limits (spec 11.5)
22. Off unless configured: ``rate_limit_rps`` / ``rate_limit_burst`` (constructor: the seeded
    key; ``add_api_key``: that key) turn limiting on for the key, the other one defaulting to
    100 rps / burst 1000. Off, buckets still count (tokens bottom out at 0, nothing is denied),
    so the headers look like a busy key's. The bucket starts full and refills on the emulator
    clock (``advance_time``).
23. When on, exactly the spec: one token per authenticated request (denied: bare 429
    ``{"error": "Rate limit exceeded — too many requests", "status": 429}``, no extra headers),
    a second on ``/v1/ingest`` (denied: 429 ``{"error": "rate_limit_exceeded", "detail":
    "Rate limit of N req/sec exceeded. Retry after Mms.", "retry_after_ms": M}``).
    ``X-RateLimit-Limit/-Remaining/-Reset`` are on every response of a ``/v1/*`` route that
    passed authentication: successes, errors, the v1 429, idempotency replays and conflicts
    (routes other than ingest, and a bad ingest id, report the bucket without spending).
    ``Reset`` is now (whole seconds) when allowed, else now + the wait rounded up. Session
    tokens: 500 rps, burst 2000, enforced with ``add_session_token(rate_limited=True)``.

Contracts and versions (spec 2, 6.1)
24. Routes of 6.1. ``POST /contracts`` makes draft ``1.0.0``; version strings are free text;
    PATCH of a name records ``name-history``; DELETE is soft (then 404). ``GET /contracts`` is
    newest first; versions by ``created_at`` descending.
25. YAML that does not parse (or lacks required keys) is 422 ``Invalid contract YAML: ...`` at
    create/patch; compile-only errors (bad regex, transform on a non-string field) are accepted
    there and become that 422 at ingest, egress or replay, as the gateway compiles on first use.
26. ``import_source`` is always ``native`` and ``requires_review`` false (no ODCS import).
27. Deploy: the row version is the YAML's ``version`` label; a contract created by deploy has
    no draft 1.0.0; 409 if that version exists; 400 ``Invalid request: Contract '<n>' has N
    pending quarantined events; replay or purge them before deploying``.
28. ``GET /audit``: the org's rows newest first (all directions, replays, atomic summaries),
    ``limit`` (default 50) capped at 500, ``offset``. ``GET /stats`` and ``GET
    /ingest/{id}/stats`` count the same rows; ``pass_rate`` is a fraction (0.0 to 1.0).

Quarantine and replay (spec 6.7)
29. ``GET /quarantine`` lists source rows (not failed-replay rows) of both directions with the
    spec's fields; ``replay_count``, ``last_replayed_at`` and ``last_replay_passed`` are derived
    from the replay attempts.
30. Replay as the spec. A passed replay writes an audit row (the source's direction, the replay
    request's source IP) and a forward row and stamps the source; a failed one writes only a
    linked quarantine row (``new_quarantine_id`` is the nil UUID in the answer, as the
    gateway's). ``reviewed`` / ``purged`` are set with ``set_quarantine_status`` only (no route).
31. ``POST /quarantine/replay``: unknown, foreign, already replayed, purged and redacted ids are
    ``passed: false`` with ``version: null`` (``version`` is the version matched or attempted);
    an error of one contract's group (unknown version 404, no stable 409) fails the request.
32. ``.../replay-history`` entries: ``source`` as the spec, ``failed_replay`` ``{kind, id,
    contract_version, violation_count, violations, created_at}``, ``passed_replay`` ``{kind, id
    (the audit row), contract_version, created_at}``. ``GET /quarantine/replay-history``:
    ``event_id`` optional, ``limit`` default 50 (1 to 500), newest first.

Egress, legacy ingest, playground, health (spec 6.2, 6.5, 6.6, 6.8)
33. Egress follows the gateway: ``X-Contract-Version`` (trimmed; empty ignored) over the
    ``@v`` suffix over the latest stable; key scope is checked before the contract lookup; a
    deprecated version is 400 ``Invalid request: Version <v> on contract <id> is deprecated; pin
    a stable version for egress``; a bad ``disposition`` is a plain-text query 400. Leakage
    ``strip``/``fail`` and the actions and statuses of spec 6.6; rows with ``direction:
    egress`` unless a dry run (``stripped_fields`` sorted, as the gateway lists them). No
    idempotency and no second rate-limit token.
34. Legacy ``/ingest/{uuid}[@v]``: JSON extractor (415/400 plain text), 1 MB body limit, pin
    sources ``header`` / ``path`` / ``default_stable``, no ``index``, ``quarantine_id``,
    NDJSON, idempotency or second token; deprecated: 422 ``{"error", "status": 422, "batch":
    {..., "version_pin_source": "pinned_deprecated"}}``. ``envelope`` is not emulated.
35. Playground needs a key, answers 200 for failing events and 422 ``Invalid contract YAML:
    ...`` for YAML that does not parse or compile.
36. ``/ready`` reports ``pool: {"size": 10, "idle": 9}``. With ``database_down = True``,
    ``/ready`` is 503 ``{"status": "degraded", "db": "error"}`` and every authenticated route
    500 ``{"error": "Database error", "status": 500}``.

Faults (``govflow.testing.faults`` builders, plus ``request_timeout()``: the ``TimeoutLayer``'s
408 with an empty body, and ``after_processing(fault)``: the request takes effect, then the
client gets ``fault``) are taken one per matching request, in order, before the request is
processed (``slow`` delays, then processes). Every request except the control routes is
recorded. Control routes (no auth, not recorded, never faulted): ``GET /_emulator/state``,
``POST /_emulator/reset``, ``POST /_emulator/inject {"method", "path", "faults": [...],
"after_processing"?}`` (``{"kind": "timeout"}`` too), ``POST /_emulator/reset-faults``, ``POST
/_emulator/contracts {"yaml_content", "state"?, ...}``, ``POST
/_emulator/contracts/{id}/versions {"yaml_content", "state"?, "version"?}``, ``POST
/_emulator/contracts/{id}/versions/{v}/{promote|deprecate}``, ``POST /_emulator/keys``, ``POST
/_emulator/clock/advance {"seconds"}``, ``POST /_emulator/database {"up"}``, ``GET
/_emulator/{quarantine,accepted,audit,requests}``.
"""

from __future__ import annotations

from ._emulator import SEEDED, ContractGateEmulator, example_contract
from ._faults import (
    AfterProcessing,
    RawResponse,
    after_processing,
    fault_from_dict,
    request_timeout,
)

__all__ = [
    "SEEDED",
    "AfterProcessing",
    "ContractGateEmulator",
    "RawResponse",
    "after_processing",
    "example_contract",
    "fault_from_dict",
    "request_timeout",
]
