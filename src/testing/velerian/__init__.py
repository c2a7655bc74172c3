"""A stateful Velerian emulator on real HTTP, for testing Velerian clients without the platform.

It follows the wire contract in ``specs/velerian.md`` (routes R1 to R10) and makes the choices
the contract leaves open, listed below. Users and benchmarks can run it as a process::

    python -m govflow.testing.velerian --port 8080     # prints the base URL, key and ABP ids

In tests::

    from govflow.testing.faults import server_error
    from govflow.testing.velerian import VelerianEmulator, after_accept

    emu = VelerianEmulator(page_cap=500)            # seeded on construction
    with emu.serve() as base_url:                   # the origin, e.g. http://127.0.0.1:54321
        emu.inject("POST", "/api/v2/abps/*/invoke", after_accept(server_error(502)))
        ...                                         # drive a client with emu.api_key
        assert len(emu.invocations) == 1            # no duplicate invocation

Test-facing API (thread-safe; the server runs in a background thread):

- ``VelerianEmulator(page_cap=500, api_key=None, export_ttl=900, approval_ttl=None,
  run_steps=1, rate_limit=None)``; ``serve(host, port)`` yields the origin (no ``/api/v2``) and
  also starts the storage server (``storage.url``); ``server`` is the API's BackgroundServer
  (stop/restart it for "platform down for a while"); ``reset()`` reseeds everything but keeps
  ``api_key`` and the servers, so one served emulator can serve a whole test module.
- ``api_key`` (every scope, tenant ``tenant-1``), ``add_key(scopes, tenant=, revoked=,
  user_id=, expires_in=)``, ``revoke_key``, ``key_id``.
- ``abps``: seeded ids by behaviour (``allow``, ``block``, ``approval``, ``error``, ``draft``,
  ``stream``); ``add_abp(behaviour=, state=, tenant=, delivery=, name=)``, ``set_abp_state``.
  ``networks``: seeded slugs by behaviour (``succeed``, ``blocked``, ``failed``);
  ``add_network``.
- ``decide_approval(id, "approved" | "denied" | "expired", by=, reason=)``, ``approval(id)``,
  ``approvals``.
- ``inject(method, path_or_pattern, *faults)``, ``pending_faults``, ``reset_faults``;
  ``advance_time(seconds)``.
- Records: ``invocations`` (every invocation created), ``requests`` / ``requests_to(method,
  pattern)`` / ``clear_requests`` (what the API received, headers included),
  ``storage_requests`` (what the storage server received), ``audit``, ``evidence_packs``.

Choices the contract leaves open (specs/velerian.md section 12), point by point:

1. Approvals. An invoke of an ``approval`` ABP creates a pending approval
   ``{id, status, abp_id, invocation_id, evidence_pack_id, requested_at, requested_by,
   decided_at, decided_by, reason}`` and writes the audit row ``approval.requested``. Statuses:
   ``pending``, ``approved``, ``denied``, ``expired``. A decision comes from
   ``emu.decide_approval(id, decision, by=..., reason=...)`` or the control route
   ``POST /_emulator/approvals/{id}/decide {"decision", "reason", "by"?}`` (outside /api/v2, no
   auth; 404 unknown, 409 when not pending, 422 bad decision), and writes ``approval.<status>``.
   With ``approval_ttl=`` seconds, a pending approval expires once that old (decided_by null).
   ``GET /api/v2/approvals`` pages newest first, filters ``status``, ``abp_id``,
   ``invocation_id``. **Emulator addition:** ``GET /api/v2/approvals/{id}`` returns one approval
   (the real API has no known single-approval route; a client waiting on one approval needs it).
   Both need ``runs:read``. A decision changes only the approval: the invocation and its evidence
   pack stay as recorded, and no output is released (the held invocation answered
   ``output: null``; a caller re-runs the step once approved).
2. Outcomes, by the ABP's behaviour. ``allow``: ``allowed``, is_allowed, not withheld, two
   satisfied conditions, ``output = {text, model_id, echo: <payload>}``. ``block``: ``blocked``,
   withheld, one unsatisfied ``block`` condition. ``approval``: ``requires_approval``,
   requires_human, withheld, ``approval_id``. ``error``: ``error``, not withheld,
   ``constraint_count`` 0, ``model_error`` set. Conditions are ``{constraint_id, effect,
   satisfied?}``. Every field of ``InvokeResponse`` is always present (null when unset).
   An ABP not in state ``deployed`` (the seeded ``draft``) answers 409. The request body must be
   ``{"payload": {...}}``; anything else is a FastAPI-style 422.
3. Evidence. Every invocation except ``error`` seals an evidence pack (a hash chain per tenant,
   ``chain_hash = sha256(prev_chain_hash + JSON of the pack)``); R2 on an invocation without one
   (``error``) or of another ABP is 404. ``format`` is ``json`` (default, application/json) or
   ``zip`` (application/zip holding ``manifest.json``); another value is 422. ``artifact_kind``:
   ``invocation_evidence`` (R2), ``evidence_package`` (R3), ``run_evidence`` (pack runs).
   ``expires_at`` = now + ``export_ttl`` (900 s). **Delivery is a per-ABP setting**
   (``add_abp(delivery=...)``): ``presigned`` by default, ``stream`` for the seeded ``stream``
   ABP and for pack-run evidence. A presigned ``download_url`` points at a second server (host
   127.0.0.2 where the OS allows it, else another port) that checks an HMAC signature and the
   expiry, and, like S3, **rejects any request carrying an Authorization header** (400
   ``InvalidArgument``); its requests are kept in ``emu.storage_requests``. A stream
   ``download_url`` is ``/api/v2/exports/{id}/content`` (origin-relative), served only for stream
   exports of the key's tenant until ``expires_at`` (else 404), with ``evidence:read``, as
   application/json or application/zip with a Content-Disposition. R3's ``since`` is required
   (422 ``missing`` when absent, FastAPI body), inclusive ("at or after"), and accepts ISO-8601
   with ``Z`` or an offset, or a date; naive means UTC. No packs since then: an empty package,
   not 404.
4. Usage summary. ``evidence_packs`` is a **list** of ``{id, abp_id, invocation_id, created_at,
   chain_hash, s3_key}``, newest first, paged by ``evidence_limit`` (default 50, capped at
   ``page_cap``) and ``evidence_offset``, with ``evidence_limit``, ``evidence_offset`` and
   ``evidence_total`` echoed. ``governed_runs = {total, allowed, blocked, held_for_approval,
   errored, window_days: 30}`` counts every invocation; ``adoption = {active_abps,
   active_api_keys, active_users_30d}``. Needs ``runs:read``.
5. Audit log. **Every authenticated call** to the API writes a row, whatever its status
   (403, 404, 409 and 422 included; ``metadata.status_code`` says which), except reads of the
   audit log itself (each would shift the offsets of the next page) and requests rejected before
   a key is known (401) or by the rate limit (429); ``emu.requests`` has those. Rows:
   ``{id, created_at, tenant_id, action, resource_kind, resource_id, actor_user_id, api_key_id,
   metadata}``. Actions: ``abp.invoke``, ``approval.requested``, ``approval.approved``,
   ``approval.denied``, ``approval.expired``, ``evidence.export``, ``evidence.package_export``,
   ``export.download``, ``usage.read``, ``network.invoke``, ``pack_run.read``, ``pack_run.list``,
   ``approval.list``, ``approval.read``. Order: ``created_at`` desc, then ``id`` (creation times
   are strictly increasing, so the order is total and stable across pages). ``total`` is
   present. Filters ``action``, ``resource_kind``, ``resource_id``, ``actor_user_id`` (exact);
   ``since`` inclusive, ``until`` exclusive.
6. Pagination and validation. ``limit`` defaults to 50 and is **silently capped** at
   ``page_cap`` (500 by default, so any ``limit`` >= 100 the SDK sends is honoured; construct
   with a small ``page_cap`` to exercise clients), and the effective ``limit`` is echoed.
   ``limit`` < 1, ``offset`` < 0 or a non-integer is a FastAPI-style 422; an offset past the
   end is 200 with ``items: []``.
7. Scopes. R1 and R6 need ``runs:write``; R2, R3 and R10 ``evidence:read``; R5 ``audit:read``;
   R4, R7, R8 (and the single approval) and R9 ``runs:read``. Coarse ``read`` grants every
   ``*:read`` scope and ``write`` every ``*:write`` one (``write`` does not imply ``read``).
   The scope is checked before the resource is looked up (403 before 404); another tenant's
   resources are 404 ("not visible"). 401: no or malformed Bearer header (``Not
   authenticated``), or an unknown, revoked or expired key (``Invalid or expired API key``),
   with ``WWW-Authenticate: Bearer``.
8. Rate limiting. Off by default. ``rate_limit=(n, seconds)`` allows ``n`` requests per key per
   fixed window, then 429 ``{"detail": "Rate limit exceeded"}`` with an integer ``Retry-After``.
   Injected ``rate_limited(...)`` faults work regardless.
9. Idempotency. POSTs are **not deduplicated** by default: a retried invoke creates a second
   invocation (observable in ``emu.invocations``). **Emulator choice (the real server's behaviour
   is unknown, spec 12.8):** a POST with an ``Idempotency-Key`` header (1 to 255 characters,
   else 400) is remembered per tenant: a repeat with the same method, path and JSON body gets the
   first answer again (same status and body, header ``Idempotent-Replayed: true``) and creates
   nothing; a repeat with a different request is 422. Only 2xx answers are remembered, so a
   request that failed is evaluated afresh. A replay is still an audited call
   (``metadata.idempotent_replay``).
10. IDs, keys and time. IDs are UUID4 strings; keys are ``vk_live_`` + 32 URL-safe characters,
    stored as SHA-256 hashes; ``add_key(expires_in=...)`` makes one expire; a revoked or expired
    key gets 401 at once. Timestamps are UTC, microsecond precision, ``Z`` suffix.
    ``advance_time`` moves the emulator's clock (expiries, TTLs).
11. Pack runs. ``POST /api/agenticx/networks/{slug}/invoke?async=true`` answers 202
    ``{run_id, run_url, status: "queued"}``; each ``GET /api/v2/pack-runs/{id}`` then moves the
    run one step: the 1st poll sees ``queued``, the 2nd ``running``, the 3rd and later the
    terminal state (``run_steps=n`` makes each step last n polls). The terminal state is the
    network's behaviour: ``succeeded``, ``blocked`` (governance_pass false with reasons) or
    ``failed`` (``error`` set). Row: ``{id, status, model_id, output_text, governance_pass,
    governance_reasons, evidence_download_url (stream), metadata, attachment_ids, created_at,
    started_at, finished_at}`` (no slug, run_url or prompt_id, as the SDK expects). Without
    ``async=true`` the run completes at once and the answer is the synchronous shape ``{slug,
    run_id, run_url, prompt_id, output_text, model_id_used, governance_pass, governance_reasons,
    evidence_download_url}`` (200). ``GET /api/v2/pack-runs`` pages runs newest first (filter
    ``status``) and does not move them. Unknown slug: 404; bad body: 422.
12. Non-JSON errors, trailing slashes, redirects. Faults (``inject``) reuse
    :mod:`govflow.testing.faults` builders, plus ``gateway_error(502)`` (an nginx HTML page) and
    ``after_accept(fault)`` (the request takes effect, then the client gets ``fault``: the way a
    blind POST retry duplicates an invocation). Unknown routes are 404 and wrong methods 405,
    both ``{"detail": ...}``; the emulator never redirects (no trailing-slash redirects).

Control routes for a separate process (outside /api/v2, no auth): ``POST
/_emulator/approvals/{id}/decide``, ``POST /_emulator/inject {"method", "path", "faults": [...]}``
(``faults.py``'s JSON form, ``{"kind": "html", "status": 502}``, ``"after_accept": true``),
``POST /_emulator/reset-faults``, ``POST /_emulator/keys {"scopes", "tenant"}``, ``POST
/_emulator/clock/advance {"seconds"}``, ``GET /_emulator/state`` and ``POST /_emulator/reset``
(both answer the key, ABP ids, slugs and counts; ``reset`` reseeds, keeping the key). They are not recorded in
``requests`` and never get faults.
"""

from __future__ import annotations

from ._emulator import ALL_SCOPES, TENANT, VelerianEmulator
from ._faults import AfterAccept, RawResponse, after_accept, fault_from_dict, gateway_error

__all__ = [
    "ALL_SCOPES",
    "TENANT",
    "AfterAccept",
    "RawResponse",
    "VelerianEmulator",
    "after_accept",
    "fault_from_dict",
    "gateway_error",
]
