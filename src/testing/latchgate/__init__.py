"""A stateful LatchGate gateway emulator over real HTTP (TCP and a real Unix domain socket).

It follows the wire contract in ``specs/latchgate.md`` (the §10 checklist, leases §2, DPoP §3.1,
the error catalogue §4.3, receipts and approvals §5, JCS §6) and makes the choices the contract
leaves open, listed below. Users and benchmarks can run it as a process::

    python -m govflow.testing.latchgate --port 8083            # TCP
    python -m govflow.testing.latchgate --uds /tmp/lg/gate.sock  # Unix socket only

In tests::

    from govflow.testing.faults import drop
    from govflow.testing.latchgate import LatchGateEmulator, after_accept, gate_error

    emu = LatchGateEmulator()                         # lease_ttl=300, public_base_url=None
    with emu.serve() as base_url:                     # http://127.0.0.1:<free port>
        emu.inject("POST", "/v1/actions/*/execute", gate_error("rate_limited"),
                   after_accept(drop()))
        ...                                           # drive a client against base_url
        assert len(emu.executions) == 1               # the action ran once

    with emu.serve_unix("/tmp/lg-test/gate.sock") as socket_path:
        ...                                           # clients: public_base_url=emu.public_base_url

Test-facing API (thread-safe; the servers run in background threads):

- ``LatchGateEmulator(lease_ttl=300, public_base_url=None, *, principal="dev:anonymous",
  max_scopes=None, fs_root_prefixes=(), dpop_key_cache=False, budget_error="policy_denied")``.
- Serving: ``serve(host, port)`` / ``start`` / ``stop`` (TCP; ``server`` is the
  BackgroundServer, stop and start it again for "gateway down for a while", the port stays);
  ``serve_unix(path)`` / ``start_unix`` / ``stop_unix`` (``unix_server``); ``base_url``,
  ``socket_path``, ``public_base_url`` (settable).
- Actions: ``actions`` = seeded ids by behaviour: ``echo`` (``echo``: 200, output ``{"ok": true,
  "echo": <request body>}``), ``needs_approval`` (``http_post``: 202), ``denied``
  (``shell_exec``: 403 ``policy_denied``), ``egress`` (``http_fetch``: proxy allowlist
  ``httpbin.org``, ``api.example.com``; 200 in the http_api output shape). ``add_action(
  action_id, *, requires_approval=False, deny_reason=None, egress=None, cost=1, risk_level=None,
  output=None, verification="verified", failure=None, request_schema=None,
  max_request_bytes=65536, version="1.0.0", declared_side_effects=())``, ``remove_action``,
  ``action(id)``.
- Approvals: ``decide_approval(id, "approved" | "denied" | "expired" | "failed", by=, reason=)``,
  ``approval(id)``, ``approvals``.
- Budgets: ``set_budget(max_calls, *, session_id=None, error=None)``, ``budgets``,
  ``budget_error``, ``default_budget``.
- Leases and time: ``leases``, ``expire_leases()``, ``revoke_leases()``, ``restart()`` (a new
  signing key), ``advance_clock(seconds)``, ``drain(True | False)``, ``jwks``.
- Faults: ``inject(method, path_or_pattern, *faults)``, ``pending_faults``, ``reset_faults``;
  builders from :mod:`govflow.testing.faults` plus ``gate_error(code, **fields)`` and
  ``after_accept(fault)`` from this package.
- Records: ``requests`` / ``requests_to(method, pattern)`` / ``clear_requests`` (headers incl.
  ``Authorization`` and ``DPoP``, body; ``client`` is None over the Unix socket),
  ``executions`` (every execution, agent or approval: assert nothing ran twice), ``receipts``
  (by id; ``receipt_public_key`` / ``receipt_key_id`` check their signatures). ``reset()``
  reseeds everything but the signing key, the constructor's configuration and the servers.
- Helpers for clients' unit tests: ``verify_proof(proof, htm=, htu=, lease_jwt=, cnf_jkt=,
  now=)`` (the server-order checks, raising ``DPoPError`` with the server's ``deny_reason``),
  ``normalize_htu``, ``jwk_thumbprint``.

Choices the contract leaves open, point by point:

1. Transport and ``public_base_url``. TCP on 127.0.0.1 (a free port by default) and/or a real
   Unix domain socket (``serve_unix``; the socket's directory is created 0700, a stale socket
   file is replaced, the file is removed on stop). DPoP ``htu`` is checked against
   ``public_base_url`` + the route path: the constructor's value if given (trailing ``/``
   stripped), else the TCP base URL once TCP is served (what ``latchgate up --expose-http
   ADDR`` configures), else the server's default ``http://localhost:3000``. So an SDK that
   talks to the Unix socket without ``public_base_url`` (htu ``http://localhost/...``), or
   reaches TCP by another name than the public one (``127.0.0.1`` vs ``localhost``, a proxy),
   gets 401 ``invalid_dpop`` "htu mismatch", as against the real server.
2. Leases (``POST /v1/leases``). The body is read as axum's ``Json`` extractor does, before
   anything else: a content type other than ``application/json`` (or ``*+json``) -> 415, bad
   JSON -> 400, a missing field, a wrong type or an unknown top-level field -> 422, all three
   with axum-like **plain-text** bodies. Unknown keys inside ``dpop_jwk`` and ``budgets`` are
   ignored (no ``deny_unknown_fields`` there); ``budgets.max_cost_usd_cents`` is ignored. Then:
   draining (503 ``draining``), scopes not within ``max_scopes`` (None: unrestricted, as the
   ``none`` identity provider) -> 403 ``scope_not_permitted``, ``fs_root`` (relative -> 400
   ``invalid_fs_root``; not under one of ``fs_root_prefixes``, none by default -> 403
   ``fs_root_denied``; both with ``message``), then the issuer's checks with the server's
   messages: kty, crv, empty scopes, scope format, and (spec §2.1) x/y that are not base64url
   32-byte coordinates of a P-256 point -> 400 ``invalid_request`` + ``message``. The lease is
   a real ES256 JWT (header ``alg, typ, kid``; claims ``iss, sub, aud, exp, nbf, iat, jti,
   session_id, scope, budgets?, cnf.jkt``) signed with a per-emulator key published at
   ``/.well-known/jwks.json``; ``sub`` is ``principal`` (``dev:anonymous``); TTL ``lease_ttl``
   capped at 3600; ``expires_at`` is RFC 3339 with second precision. ``session_id`` and
   ``lease_jti`` are UUIDv7. The lease rate limit (50 rps) is not emulated (inject
   ``gate_error("rate_limit_exceeded")``).
3. Authentication, exactly in the server's order (spec §3.1): ``Authorization`` missing ->
   401 ``missing_auth_header``; not ``DPoP <token>`` (``Bearer`` included) -> ``invalid_lease``;
   ``DPoP`` header missing -> ``missing_auth_header``; lease JWT (kid, ES256 signature, iss/aud,
   required claims, ``exp`` with zero leeway -> ``lease_expired``, ``nbf``, anything else ->
   ``invalid_lease``; ``expire_leases()`` / ``revoke_leases()`` / ``restart()`` force the
   same answers); then the proof: 3 segments, strict base64url, header ``typ`` ``dpop+jwt``,
   ``alg`` ``ES256``, ``jwk`` present with EC / P-256 / x / y on the curve, its RFC 7638
   thumbprint equal to the lease's ``cnf.jkt``, the raw r||s signature (64 bytes), payload
   claims ``jti, htm, htu, iat`` (integer), ``ath``, ``htm``, normalised ``htu``, ``iat``
   within [now-60, now+5], ``ath`` (constant-time). Every proof failure is 401
   ``invalid_dpop`` with the server's ``deny_reason`` text ("htu mismatch: expected '...', got
   '...'", "iat too old: ...", "DPoP key thumbprint does not match lease cnf.jkt (key binding
   failure)", "signature verification failed", ...). Then the replay store: the proof ``jti``
   is consumed (global, 180 s, even if a later step denies); seen -> 401 ``replay_detected``;
   100 000 live entries -> 503 ``replay_cache_unavailable``. **The server's verifying-key cache
   is off by default** (``dpop_key_cache=False``): every proof's header is checked, so a client
   bug is never masked; with ``True``, as the server, a key that verified once for a ``cnf.jkt``
   is reused and later headers are not parsed (a wrong ``typ`` then passes). The per-session
   execute rate limit (20 rps, pre-auth) is not emulated (inject ``gate_error("rate_limited")``,
   429 with ``Retry-After: 1``).
4. Execute (``POST /v1/actions/{id}/execute``), in the server's pipeline order: draining (503)
   -> authentication -> unknown action (404 ``action_not_found``) -> body -> policy -> 202 or
   budget debit -> execution. Body: empty is ``{}``; the raw bytes are read whatever the
   content type; invalid JSON (NaN, Infinity and lone surrogates included), a compact form over
   the action's ``max_request_bytes`` (65 536), nesting deeper than 10 or an array over 100
   items (the server's schema-step limits), or failing the action's request schema -> 422
   ``{"error": "schema_violation"}`` (no other field). Schemas support a JSON Schema subset
   (``type``, ``enum``, ``minLength``, ``maxLength``, ``required``, ``properties``,
   ``additionalProperties: false``, ``items``). ``request_hash`` is ``"sha256:" + hex(SHA-256(
   JCS(body)))`` with govflow's RFC 8785 canonicaliser; a body it refuses (deeper than 32, an
   integer beyond 2**53-1) -> 500 ``internal_error``. Policy, in this order: a lease without
   the ``tools:call`` scope, the action's ``deny_reason``, a request ``url`` whose host is not
   in the action's proxy allowlist, and a used-up budget -> 403 ``policy_denied`` with
   ``deny_reason``, ``principal``, ``action_id`` and ``remediation`` ("Run: latchgate policy
   grant <principal> <action_id>"). Approval-required actions answer 202 ``{"decision":
   "pending_approval", "approval_id", "request_hash", "trace_id"}`` and do not debit the
   budget. Success: 200 ``ExecutionResponse`` (§1.5) with UUIDv7 ids; ``output`` per the
   action; ``verification`` from the action's ``verification``; ``runtime`` with a small
   ``duration_ms``, ``exit_code`` 0 and a made-up ``fuel_consumed``. A provider failure
   (``failure="provider_error"``) is 502 ``action_execution_failed``; the execution is still
   recorded with a failed receipt (the side effect may have happened).
5. Budgets. A lease with ``budgets`` gets a per-session counter (``max_calls``, or unlimited
   when absent); ``set_budget(n)`` gives every later lease without budgets a counter of ``n``;
   ``set_budget(n, session_id=...)`` resets one session's counter. Each allowed execution
   debits the action's ``cost`` (1 by default, as the server's one call per execute; other
   values are an emulator extension). A used-up budget answers as ``budget_error`` says:
   ``"policy_denied"`` (default, the real server's usual 403 ``policy_denied`` "budget
   exhausted: no calls remaining"; SDK ``LatchGateDenied``) or ``"budget_exhausted"`` (403
   ``{"error": "budget_exhausted"}``, the debit race; SDK ``LatchGateBudgetExhausted``). Denied,
   invalid and approval-pending requests and operator-approved executions debit nothing. A
   renewed lease is a new session with its own (or no) budget, as on the server.
6. Approvals. An approval is bound to the session that asked for it. ``decide_approval`` and
   ``POST /_emulator/approvals/{id}/decide {"decision", "by"?, "reason"?}`` (outside /v1, no
   auth; 404 unknown, 409 not pending, 422 bad decision) stand in for the operator API, which
   is not emulated (no operator keys, no ``/v1/approvals/{id}/approve``). ``approved`` executes
   the stored request once under the approval, as the server's operator approve does (an
   execution with ``source="approval"``, a receipt; the control route's answer includes the
   execution body with its ``approval`` block); the poll then says ``approved`` with that
   ``receipt_id``. ``denied`` -> ``reason`` (``"no reason provided"`` without one);
   ``failed`` -> ``reason`` (``"execution_failed"`` without one); ``expired``, or 300 s without
   a decision, makes the approval vanish: the poll answers a bare 404, as after the server's
   TTL. The poll (``GET /v1/approvals/{id}/poll``) runs the same authentication but answers any
   auth failure with a **bare 401** (503 for the replay store), and a bare 404 for an unknown
   id or another session's approval; otherwise ``{status, receipt_id?, reason?,
   retry_after_seconds?}`` (2 while pending). Re-executing after approval is a new request:
   an approval-required action answers 202 again.
7. Receipts (``GET /v1/receipts/{id}``, lease auth with JSON errors; any valid lease reads any
   receipt; 404 ``{"error": "not_found"}``): §5.2's fields; ``provider_receipt`` is the output;
   ``normalized_result`` ``success`` / ``provider_failure``; ``verification_outcome`` from the
   action (``verified`` carries ``evidence``, ``verification_failed`` a ``reason``);
   ``failure_class`` null, ``provider_error`` or ``verification_failed``; ``result_hash`` is
   lowercase hex SHA-256 of the JCS of the ten hashed fields; ``receipt_signature`` is hex
   Ed25519 over the ASCII ``result_hash`` with the emulator's receipt key
   (``signing_key_id`` = ``receipt_key_id``); ``signature_status`` ``valid``; timestamps RFC
   3339 with microseconds.
8. Other routes (§1.6, unauthenticated; any ``Authorization``/``DPoP`` sent is ignored and its
   jti never recorded): ``GET /v1/actions`` (``{actions: [{action_id, version,
   risk_level}]}``), ``GET /v1/actions/{id}`` (detail with ``egress`` externally tagged:
   ``"none"``, ``{"proxy_allowlist": {"allowed_domains": [...]}}`` or null; unknown -> bare 404),
   ``GET /v1/actions/{id}/schema/request`` (bare 404 without a schema), ``GET /healthz``,
   ``GET /readyz`` (``ready``; ``not_ready`` + 503 while draining; ``redis`` false as with
   ``latchgate up``), ``GET /.well-known/jwks.json``. Unknown routes: bare 404; a known path
   with another method: bare 405 with ``Allow``; no trailing-slash redirects; bodies over
   1 MiB: 413 (plain text). The operator/admin router, audit and metrics are not emulated.
9. Faults. ``inject`` takes the builders of :mod:`govflow.testing.faults` (``rate_limited``,
   ``server_error``, ``slow``, ``drop``, ``truncate``, ``malformed_json``, ``respond``), applied
   before the request is processed (it is recorded, nothing else happens);
   ``gate_error(code)`` gives the server's exact answer for any code of its catalogue;
   ``after_accept(fault)`` processes the request first (the action runs, the receipt exists),
   then answers with ``fault``. ``malformed_json()`` sends a truncated ``ExecutionResponse``.
10. Clock and ids. ``advance_clock`` moves one clock for lease expiry, the proof iat window
    (so proofs made with the real time become "iat too old"), the replay TTL and the approval
    TTL; use ``expire_leases()`` to expire leases alone. All server ids are UUIDv7.

Control routes for a separate process (outside /v1, no auth; not recorded, never faulted):
``POST /_emulator/approvals/{id}/decide``, ``POST /_emulator/inject {"method", "path",
"faults": [...]}`` (``faults.py``'s JSON form, ``{"kind": "gate_error", "code": ...}``,
``"after_accept": true``), ``POST /_emulator/actions`` (``add_action`` arguments), ``POST
/_emulator/budget {"max_calls", "session_id"?, "error"?}``, ``POST /_emulator/drain
{"draining"}``, ``POST /_emulator/clock/advance {"seconds"}``, ``POST /_emulator/{reset,
reset-faults, expire-leases, revoke-leases, restart, clear-requests}``, ``GET
/_emulator/{state, requests, executions, receipts}``.
"""

from __future__ import annotations

try:
    import cryptography  # noqa: F401
except ImportError as exc:  # the emulator signs leases and verifies DPoP proofs
    raise ImportError(
        "the LatchGate emulator needs cryptography: pip install 'govflow[latchgate,testing]'"
    ) from exc

from ._crypto import DPoPError, jwk_thumbprint, normalize_htu, verify_proof
from ._emulator import (
    APPROVAL_TTL,
    DEFAULT_PRINCIPAL,
    DEFAULT_PUBLIC_BASE_URL,
    Action,
    Approval,
    Budget,
    Execution,
    LatchGateEmulator,
    Lease,
)
from ._faults import ERROR_CATALOGUE, AfterAccept, after_accept, fault_from_dict, gate_error
from ._server import UnixBackgroundServer

__all__ = [
    "APPROVAL_TTL",
    "DEFAULT_PRINCIPAL",
    "DEFAULT_PUBLIC_BASE_URL",
    "ERROR_CATALOGUE",
    "Action",
    "AfterAccept",
    "Approval",
    "Budget",
    "DPoPError",
    "Execution",
    "LatchGateEmulator",
    "Lease",
    "UnixBackgroundServer",
    "after_accept",
    "fault_from_dict",
    "gate_error",
    "jwk_thumbprint",
    "normalize_htu",
    "verify_proof",
]
