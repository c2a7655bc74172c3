"""The Lattix emulator over real HTTP, with plain httpx: routes, auth modes, session exchange,
errors, deny rules, misbehaviour switches, idempotency and fault injection."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from govflow.testing.faults import (
    drop,
    expired_token,
    malformed_json,
    rate_limited,
    server_error,
    slow,
    truncate,
)
from govflow.testing.lattix import (
    DEFAULT_SCOPES,
    ENUMS,
    FUTURE_ENUM_VALUES,
    MISBEHAVIOURS,
    OMIT,
    ROUTES,
    UNKNOWN_FIELD,
    UNKNOWN_OBJECT,
    LattixEmulator,
    after_processing,
    response_problems,
    sdk_refusals,
)

WORKLOAD = {"application": "claims-api", "environment": "prod"}
RESOURCE = {"kind": "document", "id": "claim-8812"}
DIGEST = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

BODIES: dict[str, dict[str, Any]] = {
    "protection-plan": {"operation": "protect", "workload": WORKLOAD, "resource": RESOURCE},
    "policy-resolve": {"operation": "access", "workload": WORKLOAD, "resource": RESOURCE},
    "key-access-plan": {
        "operation": "wrap",
        "workload": WORKLOAD,
        "resource": RESOURCE,
        "artifact_profile": "tdf",
        "key_reference": "kms://acme/claims/current",
    },
    "artifact-register": {
        "operation": "protect",
        "workload": WORKLOAD,
        "resource": RESOURCE,
        "artifact_profile": "tdf",
        "artifact_digest": DIGEST,
    },
    "evidence": {
        "event_type": "protect",
        "workload": WORKLOAD,
        "resource": RESOURCE,
        "artifact_digest": DIGEST,
        "outcome": "success",
    },
}

# Settings a test may change; the fixture puts them back, so one server serves the module.
_SETTINGS = (
    "auth_mode",
    "key_transport",
    "extra_fields",
    "future_enums",
    "strict_requests",
    "strict_session_headers",
    "session_exchange",
    "session_ttl",
    "operation_scopes",
)


@pytest.fixture(scope="module")
def server() -> Iterator[LattixEmulator]:
    emu = LattixEmulator()
    with emu.serve():
        yield emu


@pytest.fixture
def emu(server: LattixEmulator) -> Iterator[LattixEmulator]:
    saved = {name: getattr(server, name) for name in _SETTINGS}
    server.reset()
    yield server
    for name, value in saved.items():
        setattr(server, name, value)
    server.reset()


@pytest.fixture(scope="module")
def http(server: LattixEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def session_body(emu: LattixEmulator, **changes: Any) -> dict[str, Any]:
    body = {
        "tenant_id": emu.tenant_id,
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "requested_scopes": [],
    }
    return {**body, **changes}


def call(
    http: httpx.Client,
    emu: LattixEmulator,
    route: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to ``route``: the seeded token (unless ``headers``), a default body."""
    method, path = ROUTES[route]
    if route == "session":
        return http.post(path, json=session_body(emu) if body is None else body)
    headers = bearer(emu.bearer_token) if headers is None else headers
    if method == "GET":
        return http.get(path, headers=headers)
    return http.post(path, headers=headers, json=BODIES[route] if body is None else body)


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "status"}
    assert (body["error"], body["status"]) == (error, status)
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- routes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(ROUTES))
def test_every_route_answers_a_model_the_sdk_accepts(
    emu: LattixEmulator, http: httpx.Client, route: str
) -> None:
    response = call(http, emu, route)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert response_problems(route, body) == []
    assert sdk_refusals(route, body, BODIES.get(route), profile="tdf") == []
    if route != "session":
        assert body["service"] == "lattix-platform-api"
        assert body["status"] == ("ok" if route == "whoami" else "ready")
        assert body["caller"] == {
            "tenant_id": emu.tenant_id,
            "principal_id": emu.user_id,
            "subject": emu.subject,
            "auth_source": "bearer_token",
            "scopes": list(DEFAULT_SCOPES),
        }


def test_bootstrap_and_capabilities_advertise_everything(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    boot = call(http, emu, "bootstrap").json()
    assert boot["supported_operations"] == list(ENUMS["ProtectionOperation"])
    assert boot["supported_artifact_profiles"] == list(ENUMS["ArtifactProfile"])
    assert boot["auth_mode"] == "bearer_token_or_trusted_headers"
    caps = call(http, emu, "capabilities").json()
    assert caps["default_required_scopes"] == ["platform-api.access"]
    assert {r["route"] for r in caps["routes"]} == {
        path for name, (method, path) in ROUTES.items() if method == "POST" and name != "session"
    }


def test_request_summary_echoes_the_request(emu: LattixEmulator, http: httpx.Client) -> None:
    body = {
        "operation": "rewrap",
        "workload": {"application": "a", "environment": None, "component": "c"},
        "resource": {"kind": "table", "id": "", "mime_type": "text/csv"},
        "preferred_artifact_profile": None,
        "content_digest": "sha256:abc123",  # fixtures use short placeholders: not validated
        "content_size_bytes": 0,
        "purpose": "archive",
        "labels": ["a", "b", "c"],
        "attributes": {"x": "1", "y": "2"},
    }
    summary = call(http, emu, "protection-plan", body).json()["request_summary"]
    assert summary == {
        "operation": "rewrap",
        "workload_application": "a",
        "workload_environment": None,
        "workload_component": "c",
        "resource_kind": "table",
        "resource_id": "",
        "mime_type": "text/csv",
        "preferred_artifact_profile": "tdf",  # resolved default
        "content_digest_present": True,
        "content_size_bytes": 0,
        "label_count": 3,
        "attribute_count": 2,
        "purpose": "archive",
    }
    evidence = call(http, emu, "evidence", {**BODIES["evidence"], "decision_id": ""}).json()
    assert evidence["request_summary"]["decision_id_present"] is False  # "" counts as absent
    odd_time = {**BODIES["evidence"], "occurred_at": "yesterday"}
    assert call(http, emu, "evidence", odd_time).json()["request_summary"]["occurred_at"] is None


@pytest.mark.parametrize(
    ("key_reference", "forced", "mode"),
    [
        (None, None, "local_provided"),
        ("local-tdf-key", None, "local_provided"),
        ("kms://acme/claims/current", None, "wrapped_key_reference"),
        ("tenant-key-01", "authorized_key_release", "authorized_key_release"),
        (None, "kem_encapsulated_cek", "kem_encapsulated_cek"),
    ],
)
def test_key_transport_modes(
    emu: LattixEmulator,
    http: httpx.Client,
    key_reference: str | None,
    forced: str | None,
    mode: str,
) -> None:
    emu.key_transport = forced
    body = {**BODIES["key-access-plan"], "key_reference": key_reference}
    transport = call(http, emu, "key-access-plan", body).json()["execution"]["key_transport"]
    assert transport["mode"] == mode
    assert transport["raw_key_delivery_forbidden"] is True
    assert (transport["key_material_origin"] == "caller") == (mode == "local_provided")


# --- authentication -------------------------------------------------------------------------------

TRUSTED = {"x-lattix-tenant-id": "acme-dev", "x-lattix-user-id": "alice"}


def test_bearer_token_mode(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.auth_mode = "bearer_token"
    assert call(http, emu, "whoami").json()["caller"]["auth_source"] == "bearer_token"
    body = assert_error(call(http, emu, "whoami", headers={}), 401, "unauthorized")
    assert body["message"] == "bearer token required"
    assert call(http, emu, "whoami", headers={}).headers["www-authenticate"].startswith("Bearer")
    assert_error(call(http, emu, "whoami", headers=TRUSTED), 401, "unauthorized")
    unknown = call(http, emu, "whoami", headers=bearer("nope"))
    assert_error(unknown, 401, "invalid_token")
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert_error(call(http, emu, "whoami", headers=basic), 401, "invalid_token")


def test_header_tenant_must_match_the_token(emu: LattixEmulator, http: httpx.Client) -> None:
    same = {**bearer(emu.bearer_token), "x-lattix-tenant-id": emu.tenant_id}
    assert call(http, emu, "whoami", headers=same).status_code == 200
    other = {**bearer(emu.bearer_token), "x-lattix-tenant-id": "someone-else"}
    assert_error(call(http, emu, "protection-plan", headers=other), 403, "forbidden")
    # The user header does not change who a token caller is.
    user = {**bearer(emu.bearer_token), "x-lattix-user-id": "mallory"}
    assert call(http, emu, "whoami", headers=user).json()["caller"]["principal_id"] == emu.user_id


def test_trusted_headers_mode(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.auth_mode = "trusted_headers"
    caller = call(http, emu, "whoami", headers=TRUSTED).json()["caller"]
    assert caller == {
        "tenant_id": "acme-dev",
        "principal_id": "alice",
        "subject": "alice",
        "auth_source": "trusted_headers",
        "scopes": [],
    }
    # Authorization is not looked at, not even a bad one.
    both = {**TRUSTED, **bearer("garbage")}
    assert call(http, emu, "whoami", headers=both).json()["caller"]["principal_id"] == "alice"
    assert_error(call(http, emu, "whoami"), 401, "unauthorized")
    tenant_only = {"x-lattix-tenant-id": "acme-dev"}
    assert_error(call(http, emu, "whoami", headers=tenant_only), 401, "unauthorized")
    blank = {"x-lattix-tenant-id": "acme-dev", "x-lattix-user-id": ""}
    assert_error(call(http, emu, "whoami", headers=blank), 401, "unauthorized")
    # Trusted callers have no scopes and are not scope-checked: every operation goes through.
    rewrap = {**BODIES["protection-plan"], "operation": "rewrap"}
    plan = call(http, emu, "protection-plan", rewrap, headers=TRUSTED).json()
    assert plan["decision"]["allow"] is True


def test_either_mode(emu: LattixEmulator, http: httpx.Client) -> None:
    assert emu.auth_mode == "bearer_token_or_trusted_headers"
    assert call(http, emu, "whoami").json()["caller"]["auth_source"] == "bearer_token"
    assert call(http, emu, "whoami", headers=TRUSTED).json()["caller"]["tenant_id"] == "acme-dev"
    # A presented token is validated, never skipped in favour of the headers.
    both = {**TRUSTED, **bearer("garbage")}
    assert_error(call(http, emu, "whoami", headers=both), 401, "invalid_token")
    body = assert_error(call(http, emu, "whoami", headers={}), 401, "unauthorized")
    assert "x-lattix-tenant-id" in body["message"]


def test_added_tokens_scopes_and_revocation(emu: LattixEmulator, http: httpx.Client) -> None:
    token = emu.add_token(tenant_id="globex", subject="etl", scopes=["platform-api.access"])
    caller = call(http, emu, "whoami", headers=bearer(token)).json()["caller"]
    assert caller == {
        "tenant_id": "globex",
        "principal_id": "etl",
        "subject": "etl",
        "auth_source": "bearer_token",
        "scopes": ["platform-api.access"],
    }
    # Without sdk.protect a protect is a policy denial, not an HTTP error.
    plan = call(http, emu, "protection-plan", headers=bearer(token)).json()
    assert plan["decision"]["allow"] is False
    assert plan["warnings"] == ["caller lacks scope 'sdk.protect'"]
    emu.operation_scopes = False
    assert call(http, emu, "protection-plan", headers=bearer(token)).json()["decision"]["allow"]
    # Without the default scope every route is 403.
    weak = emu.add_token(scopes=["sdk.protect"])
    assert_error(call(http, emu, "whoami", headers=bearer(weak)), 403, "insufficient_scope")
    emu.revoke(token)
    assert_error(call(http, emu, "whoami", headers=bearer(token)), 401, "invalid_token")


def test_token_lifetimes(emu: LattixEmulator, http: httpx.Client) -> None:
    short = emu.add_token(expires_in=60)
    assert call(http, emu, "whoami", headers=bearer(short)).status_code == 200
    emu.advance_clock(61)
    body = assert_error(call(http, emu, "whoami", headers=bearer(short)), 401, "invalid_token")
    assert "expired" in body["message"]
    assert call(http, emu, "whoami").status_code == 200  # the static token never expires


# --- session exchange -----------------------------------------------------------------------------


def test_session_exchange(emu: LattixEmulator, http: httpx.Client) -> None:
    response = call(http, emu, "session", session_body(emu, requested_scopes=["sdk.protect"]))
    assert response.status_code == 200, response.text
    session = response.json()
    assert set(session) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "tenant_id",
        "client_id",
        "subject",
    }
    assert session["token_type"] == "Bearer" and session["expires_in"] == emu.session_ttl == 900
    assert session["scope"] == "sdk.protect"
    assert session["subject"] == f"sdk:{emu.client_id}"
    assert emu.session_tokens == [session["access_token"]]
    # A session token without platform-api.access cannot call anything.
    token = session["access_token"]
    assert_error(call(http, emu, "whoami", headers=bearer(token)), 403, "insufficient_scope")
    # [] grants every scope of the client.
    full = call(http, emu, "session").json()
    assert full["scope"] == " ".join(DEFAULT_SCOPES)
    caller = call(http, emu, "whoami", headers=bearer(full["access_token"])).json()["caller"]
    assert caller["auth_source"] == "sdk_client_credentials"
    assert caller["principal_id"] == emu.client_id


def test_session_expiry(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.session_ttl = 30
    session = call(http, emu, "session").json()
    assert session["expires_in"] == 30
    token = session["access_token"]
    assert call(http, emu, "whoami", headers=bearer(token)).status_code == 200
    emu.advance_clock(31)
    assert_error(call(http, emu, "whoami", headers=bearer(token)), 401, "invalid_token")

    fresh = call(http, emu, "session").json()["access_token"]
    assert call(http, emu, "whoami", headers=bearer(fresh)).status_code == 200
    emu.expire_tokens()
    assert_error(call(http, emu, "whoami", headers=bearer(fresh)), 401, "invalid_token")
    assert call(http, emu, "whoami").status_code == 200  # the static bearer token stays valid


def test_session_failures(emu: LattixEmulator, http: httpx.Client) -> None:
    for bad in (
        session_body(emu, client_secret="wrong"),
        session_body(emu, client_id="stranger"),
        session_body(emu, tenant_id="globex"),
    ):
        body = assert_error(call(http, emu, "session", bad), 401, "invalid_client")
        assert body["message"] == "client authentication failed"
    refused = session_body(emu, requested_scopes=["admin"])
    assert_error(call(http, emu, "session", refused), 403, "invalid_scope")
    missing = session_body(emu)
    del missing["requested_scopes"]
    assert_error(call(http, emu, "session", missing), 422, "invalid_request")
    assert emu.session_tokens == []


def test_session_exchange_carries_only_content_type(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    path = ROUTES["session"][1]
    for leaked in (bearer(emu.bearer_token), {"x-lattix-tenant-id": emu.tenant_id}):
        response = http.post(path, json=session_body(emu), headers=leaked)
        body = assert_error(response, 400, "invalid_request")
        assert next(iter(leaked)).lower() in body["message"]
    emu.strict_session_headers = False
    assert http.post(path, json=session_body(emu), headers=bearer("x")).status_code == 200
    unsupported = http.post(path, content=json.dumps(session_body(emu)))
    assert_error(unsupported, 415, "unsupported_media_type")
    emu.session_exchange = False
    assert_error(call(http, emu, "session"), 404, "not_found")


# --- errors ---------------------------------------------------------------------------------------


def test_routing_errors(emu: LattixEmulator, http: httpx.Client) -> None:
    auth = bearer(emu.bearer_token)
    assert_error(http.get("/v1/sdk/nothing", headers=auth), 404, "not_found")
    assert_error(http.get("/v1/sdk/whoami/", headers=auth), 404, "not_found")
    assert_error(http.get("/", headers=auth), 404, "not_found")
    wrong = http.post("/v1/sdk/whoami", headers=auth, json={})
    assert_error(wrong, 405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]
    assert_error(http.get("/v1/sdk/evidence", headers=auth), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b'{"operation": "protect",', 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'{"operation": NaN}', 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[]", 422, "invalid_request"),
    ],
)
def test_malformed_bodies(
    emu: LattixEmulator, http: httpx.Client, content: bytes, status: int, error: str
) -> None:
    headers = {**bearer(emu.bearer_token), "Content-Type": "application/json"}
    response = http.post(ROUTES["protection-plan"][1], headers=headers, content=content)
    assert_error(response, status, error)


def test_content_type_is_required_on_posts(emu: LattixEmulator, http: httpx.Client) -> None:
    content = json.dumps(BODIES["evidence"])
    for content_type in (None, "text/plain"):
        headers = bearer(emu.bearer_token)
        if content_type:
            headers["Content-Type"] = content_type
        response = http.post(ROUTES["evidence"][1], headers=headers, content=content)
        assert_error(response, 415, "unsupported_media_type")
    headers = {**bearer(emu.bearer_token), "Content-Type": "application/json; charset=utf-8"}
    assert http.post(ROUTES["evidence"][1], headers=headers, content=content).status_code == 200
    assert emu.evidence == [BODIES["evidence"]]


@pytest.mark.parametrize(
    ("route", "change", "message"),
    [
        ("protection-plan", {"operation": "encrypt"}, "operation: unknown variant 'encrypt'"),
        ("key-access-plan", {"operation": "protect"}, "operation: unknown variant 'protect'"),
        ("evidence", {"event_type": "audit"}, "event_type: unknown variant 'audit'"),
        ("artifact-register", {"artifact_digest": None}, "artifact_digest: invalid type: null"),
        ("artifact-register", {"artifact_profile": "zip"}, "artifact_profile: unknown variant"),
        ("protection-plan", {"workload": {"environment": "x"}}, "workload: missing field"),
        ("protection-plan", {"resource": "document"}, "resource: invalid type"),
        ("protection-plan", {"labels": "pii"}, "labels: invalid type"),
        ("protection-plan", {"attributes": {"n": 1}}, "attributes: invalid type"),
        ("protection-plan", {"content_size_bytes": -1}, "content_size_bytes: invalid value"),
        ("protection-plan", {"content_size_bytes": 1.5}, "content_size_bytes: invalid value"),
        ("protection-plan", {"content_size_bytes": True}, "content_size_bytes: invalid value"),
        ("policy-resolve", {"purpose": 3}, "purpose: invalid type"),
    ],
)
def test_schema_violations_are_422(
    emu: LattixEmulator, http: httpx.Client, route: str, change: dict[str, Any], message: str
) -> None:
    body = assert_error(call(http, emu, route, {**BODIES[route], **change}), 422, "invalid_request")
    assert body["message"].startswith(message)


def test_missing_required_fields_are_422(emu: LattixEmulator, http: httpx.Client) -> None:
    for route, body in BODIES.items():
        for required in (
            "workload",
            "resource",
            "event_type" if route == "evidence" else "operation",
        ):
            partial = {k: v for k, v in body.items() if k != required}
            error = assert_error(call(http, emu, route, partial), 422, "invalid_request")
            assert error["message"] == f"missing field '{required}'"
    partial = {k: v for k, v in BODIES["artifact-register"].items() if k != "artifact_digest"}
    error = assert_error(call(http, emu, "artifact-register", partial), 422, "invalid_request")
    assert error["message"] == "missing field 'artifact_digest'"


def test_nulls_and_unknown_request_fields(emu: LattixEmulator, http: httpx.Client) -> None:
    nulls = {
        "operation": "protect",
        "workload": {"application": "a", "environment": None, "component": None},
        "resource": {"kind": "k", "id": None, "mime_type": None},
        "preferred_artifact_profile": None,
        "content_digest": None,
        "content_size_bytes": None,
        "purpose": None,
        "labels": None,
        "attributes": None,
    }
    summary = call(http, emu, "protection-plan", nulls).json()["request_summary"]
    assert (summary["label_count"], summary["attribute_count"]) == (0, 0)
    extra = {**BODIES["evidence"], "idempotency_key": "k", "workload": {**WORKLOAD, "x": 1}}
    assert call(http, emu, "evidence", extra).status_code == 200
    emu.strict_requests = True
    body = assert_error(call(http, emu, "evidence", extra), 422, "invalid_request")
    assert body["message"] == "unknown field 'idempotency_key'"


def test_auth_is_checked_before_the_body(emu: LattixEmulator, http: httpx.Client) -> None:
    response = http.post(ROUTES["evidence"][1], content=b"{", headers={"Content-Type": "x"})
    assert_error(response, 401, "unauthorized")


# --- deny rules -----------------------------------------------------------------------------------


def test_deny_by_resource_kind(emu: LattixEmulator, http: httpx.Client) -> None:
    rule = emu.deny("document", reason="documents are frozen")
    plan = call(http, emu, "protection-plan").json()
    assert plan["decision"]["allow"] is False
    assert plan["warnings"] == ["documents are frozen"]
    resolve = call(http, emu, "policy-resolve").json()
    assert resolve["decision"]["allow"] is False
    assert resolve["decision"]["required_actions"] == ["evidence"]
    assert resolve["handling"]["evidence_expected"] == ["deny"]
    assert call(http, emu, "key-access-plan").json()["decision"]["allow"] is False
    # Registration and evidence are not decisions: a deny event must be recordable.
    assert call(http, emu, "artifact-register").json()["registration"]["accepted"] is True
    deny_event = {**BODIES["evidence"], "event_type": "deny", "outcome": "denied"}
    assert call(http, emu, "evidence", deny_event).json()["ingestion"]["accepted"] is True
    other = {**BODIES["protection-plan"], "resource": {"kind": "table"}}
    assert call(http, emu, "protection-plan", other).json()["decision"]["allow"] is True
    emu.allow(rule)
    assert call(http, emu, "protection-plan").json()["decision"]["allow"] is True


def test_deny_criteria_combine(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.deny(label="pii", purpose="analytics")
    emu.deny(operation="rewrap", routes=["protection-plan"])
    with_pii = {**BODIES["policy-resolve"], "labels": ["pii", "x"], "purpose": "analytics"}
    resolve = call(http, emu, "policy-resolve", with_pii).json()
    assert resolve["warnings"] == ["label 'pii' is not permitted for purpose 'analytics'"]
    other_purpose = {**with_pii, "purpose": "archive"}
    assert call(http, emu, "policy-resolve", other_purpose).json()["decision"]["allow"] is True
    rewrap = {**BODIES["protection-plan"], "operation": "rewrap"}
    plan = call(http, emu, "protection-plan", rewrap).json()
    assert plan["decision"]["allow"] is False
    assert plan["warnings"] == ["denied by policy: operation 'rewrap'"]
    rewrap_resolve = {**BODIES["policy-resolve"], "operation": "rewrap"}
    assert call(http, emu, "policy-resolve", rewrap_resolve).json()["decision"]["allow"] is True
    assert len(emu.rules) == 2
    emu.allow()
    assert emu.rules == []
    with pytest.raises(ValueError, match="deny rules apply"):
        emu.deny(routes=["evidence"])


# --- misbehaviour ---------------------------------------------------------------------------------

CASES = [(name, route) for name, patches in MISBEHAVIOURS.items() for route in patches]


@pytest.mark.parametrize(("name", "route"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_each_misbehaviour_breaks_what_the_sdk_checks(
    emu: LattixEmulator, http: httpx.Client, name: str, route: str
) -> None:
    def refusals() -> list[str]:
        response = call(http, emu, route)
        assert response.status_code == 200, response.text
        return sdk_refusals(route, response.json(), BODIES.get(route), profile="tdf")

    assert refusals() == []
    emu.misbehave(name, routes=[route], times=1)
    assert refusals() != []
    assert refusals() == []  # times=1: the next answer is normal again


def test_misbehaviour_scope_and_lifetime(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.misbehave("plaintext_transport")
    assert call(http, emu, "protection-plan").json()["decision"]["plaintext_transport"] == "allowed"
    assert call(http, emu, "policy-resolve").json()["handling"]["plaintext_transport"] == "allowed"
    ingestion = call(http, emu, "evidence").json()["ingestion"]
    assert ingestion["plaintext_transport"] == "allowed"
    assert call(http, emu, "protection-plan").json()["decision"]["plaintext_transport"] == "allowed"
    emu.behave()
    assert sdk_refusals("evidence", call(http, emu, "evidence").json()) == []
    with emu.misbehaving("enforcement_model"):
        boot = call(http, emu, "bootstrap").json()
        assert boot["enforcement_model"] != "embedded_local_library"
    assert call(http, emu, "bootstrap").json()["enforcement_model"] == "embedded_local_library"
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        emu.misbehave("be_nice")
    with pytest.raises(ValueError, match="applies to none"):
        emu.misbehave("enforcement_model", routes=["evidence"])


def test_unaccepted_evidence_is_not_stored(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.misbehave("accepted", routes=["evidence"], times=1)
    assert call(http, emu, "evidence").json()["ingestion"]["accepted"] is False
    assert emu.evidence == []
    assert call(http, emu, "evidence").json()["ingestion"]["accepted"] is True
    assert len(emu.evidence) == 1


def test_override_sets_and_removes_fields(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.override("bootstrap", "auth_configuration", OMIT)
    emu.override("bootstrap", "supported_artifact_profiles", ["envelope"])
    emu.override("protection-plan", "execution.key_transport", None, times=1)
    boot = call(http, emu, "bootstrap").json()
    assert "auth_configuration" not in boot
    assert response_problems("bootstrap", boot) == []  # the object has a client-side default
    refused = sdk_refusals("bootstrap", boot, profile="tdf")
    assert refused == ["bootstrap: supported_artifact_profiles contains 'tdf'"]
    plan = call(http, emu, "protection-plan").json()
    assert plan["execution"]["key_transport"] is None
    assert sdk_refusals("protection-plan", plan) == []  # absent key_transport: local_provided
    with pytest.raises(ValueError, match="unknown route"):
        emu.override("nowhere", "x", 1)


def test_extra_fields_are_tolerated_by_the_models(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.extra_fields = True
    for route in ROUTES:
        body = call(http, emu, route).json()
        assert UNKNOWN_FIELD in body and UNKNOWN_OBJECT in body
        assert response_problems(route, body) == [], route
        nested = [v for v in body.values() if isinstance(v, dict) and v is not body[UNKNOWN_OBJECT]]
        assert all(UNKNOWN_FIELD in v for v in nested)
    assert call(http, emu, "evidence").status_code == 200


def test_future_enum_values(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.future_enums = True
    boot = call(http, emu, "bootstrap").json()
    assert FUTURE_ENUM_VALUES["ProtectionOperation"] in boot["supported_operations"]
    assert FUTURE_ENUM_VALUES["ArtifactProfile"] in boot["supported_artifact_profiles"]
    assert boot["auth_mode"] == FUTURE_ENUM_VALUES["AuthMode"]
    assert boot["auth_configuration"]["mode"] == FUTURE_ENUM_VALUES["SdkAuthConfigurationMode"]
    # The official SDK fails on these (§4); a tolerant client must not.
    assert response_problems("bootstrap", boot) != []
    assert sdk_refusals("bootstrap", boot, profile="tdf")[0].startswith("bootstrap: auth_mode")
    for value in FUTURE_ENUM_VALUES.values():
        assert all(value not in values for values in ENUMS.values())


# --- evidence idempotency -------------------------------------------------------------------------


def post_evidence(
    http: httpx.Client, emu: LattixEmulator, key: str | None, body: Any = None, **kw: Any
) -> httpx.Response:
    headers = bearer(emu.bearer_token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return http.post(
        ROUTES["evidence"][1],
        headers=headers,
        json=BODIES["evidence"] if body is None else body,
        **kw,
    )


def test_idempotency_key_makes_evidence_exactly_once(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    first = post_evidence(http, emu, "rec-1")
    again = post_evidence(http, emu, "rec-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert emu.evidence == [BODIES["evidence"]]
    assert emu.count("POST", "evidence") == 2
    assert emu.idempotent_replays == 1
    assert emu.evidence_records[0].idempotency_key == "rec-1"
    post_evidence(http, emu, "rec-2")
    assert len(emu.evidence) == 2
    changed = {**BODIES["evidence"], "outcome": "failure"}
    reused = post_evidence(http, emu, "rec-1", changed)
    assert_error(reused, 422, "idempotency_key_reused")
    assert len(emu.evidence) == 2


def test_without_a_key_every_post_is_an_event(emu: LattixEmulator, http: httpx.Client) -> None:
    post_evidence(http, emu, None)
    post_evidence(http, emu, None)
    assert emu.evidence == [BODIES["evidence"], BODIES["evidence"]]


def test_idempotency_keys_are_per_tenant(emu: LattixEmulator, http: httpx.Client) -> None:
    other = emu.add_token(tenant_id="globex")
    post_evidence(http, emu, "same")
    headers = {**bearer(other), "Idempotency-Key": "same"}
    response = http.post(ROUTES["evidence"][1], headers=headers, json=BODIES["evidence"])
    assert "idempotent-replayed" not in response.headers
    assert [r.caller["tenant_id"] for r in emu.evidence_records] == [emu.tenant_id, "globex"]


def test_a_lost_response_retried_with_its_key_is_stored_once(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    emu.inject("POST", "evidence", after_processing(drop()))
    with pytest.raises(httpx.TransportError):
        post_evidence(http, emu, "rec-9")
    assert len(emu.evidence) == 1  # processed before the connection dropped
    retry = post_evidence(http, emu, "rec-9")
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert len(emu.evidence) == 1
    assert emu.count("POST", "evidence") == 2


def test_a_5xx_after_processing_and_a_timeout_after_processing(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    emu.inject("POST", "evidence", after_processing(server_error(502)))
    assert post_evidence(http, emu, "k").status_code == 502
    emu.inject("POST", "evidence", after_processing(slow(5)))
    with pytest.raises(httpx.ReadTimeout):
        post_evidence(http, emu, "k2", timeout=0.3)
    assert post_evidence(http, emu, "k").headers["idempotent-replayed"] == "true"
    assert post_evidence(http, emu, "k2").headers["idempotent-replayed"] == "true"
    assert len(emu.evidence) == 2


def test_faults_before_processing_store_nothing(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.inject("POST", "evidence", rate_limited(retry_after=0), server_error(503), drop())
    assert post_evidence(http, emu, "k").status_code == 429
    assert post_evidence(http, emu, "k").status_code == 503
    with pytest.raises(httpx.TransportError):
        post_evidence(http, emu, "k")
    assert emu.evidence == []
    assert "idempotent-replayed" not in post_evidence(http, emu, "k").headers
    assert len(emu.evidence) == 1 and emu.count("POST", "evidence") == 4


def test_concurrent_duplicates_store_one_event(emu: LattixEmulator) -> None:
    statuses: list[int] = []

    def post() -> None:
        with httpx.Client(base_url=emu.base_url, timeout=10.0) as client:
            statuses.append(post_evidence(client, emu, "race").status_code)

    threads = [threading.Thread(target=post) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    assert len(emu.evidence) == 1 and emu.idempotent_replays == 11


# --- fault injection ------------------------------------------------------------------------------


def test_injected_faults_are_per_method_and_path(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.inject("GET", "/v1/sdk/whoami", rate_limited(retry_after=7))
    assert emu.pending_faults("GET", "whoami") == 1
    assert call(http, emu, "bootstrap").status_code == 200  # another route
    limited = call(http, emu, "whoami")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert call(http, emu, "whoami").status_code == 200  # consumed
    emu.inject("*", "*", server_error(500))
    assert call(http, emu, "evidence").status_code == 500
    emu.inject("POST", "evidence", expired_token())
    assert call(http, emu, "evidence").status_code == 401
    emu.inject("GET", "bootstrap", slow(0.05), drop())
    emu.reset_faults()
    assert call(http, emu, "bootstrap").status_code == 200


def test_transport_faults(emu: LattixEmulator, http: httpx.Client) -> None:
    emu.inject("GET", "whoami", malformed_json(), drop(), truncate(), slow(0.05))
    garbled = call(http, emu, "whoami")
    assert garbled.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        garbled.json()
    with pytest.raises(httpx.TransportError):
        call(http, emu, "whoami")
    with pytest.raises(httpx.TransportError):
        call(http, emu, "whoami")
    assert call(http, emu, "whoami").json()["status"] == "ok"  # slow, then the normal answer
    assert emu.count("GET", "whoami") == 4


def test_a_slow_request_abandoned_by_the_client_is_not_processed(
    emu: LattixEmulator, http: httpx.Client
) -> None:
    emu.inject("POST", "evidence", slow(5))
    with pytest.raises(httpx.ReadTimeout):
        post_evidence(http, emu, "slow", timeout=0.2)
    assert emu.evidence == []


def test_requests_are_recorded(emu: LattixEmulator, http: httpx.Client) -> None:
    post_evidence(http, emu, "rec")
    call(http, emu, "whoami")
    first, second = emu.requests
    assert (first.method, first.path) == ("POST", "/v1/sdk/evidence")
    assert first.header("Idempotency-Key") == "rec"
    assert first.header("content-type") == "application/json"
    assert first.json() == BODIES["evidence"]
    assert (second.method, second.path, second.body) == ("GET", "/v1/sdk/whoami", b"")
    assert emu.requests_to("POST") == [first]
    assert emu.count() == 2


# --- serving --------------------------------------------------------------------------------------


def test_path_prefix_and_restart() -> None:
    emu = LattixEmulator("bearer_token", path_prefix="/api/")
    with emu.serve() as base_url:
        assert base_url.endswith("/api") and base_url == emu.base_url
        with httpx.Client(base_url=base_url) as http:
            assert call(http, emu, "evidence").status_code == 200
        root = httpx.get(f"{emu.root_url}/v1/sdk/whoami", headers=bearer(emu.bearer_token))
        assert_error(root, 404, "not_found")
        assert [r.path for r in emu.requests] == ["/v1/sdk/evidence", "/v1/sdk/whoami"]
        emu.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base_url}/v1/sdk/whoami")
        assert emu.start() == base_url  # the same port, the same state
        assert len(emu.evidence) == 1
        assert httpx.get(f"{base_url}/v1/sdk/whoami", headers=bearer(emu.bearer_token)).is_success


def test_control_routes(emu: LattixEmulator, http: httpx.Client) -> None:
    control = httpx.Client(base_url=f"{emu.root_url}/_lattix")
    faults = {"method": "POST", "path": "evidence", "faults": [{"kind": "drop"}]}
    assert control.post("/faults", json={**faults, "after_processing": True}).json()["pending"] == 1
    with pytest.raises(httpx.TransportError):
        post_evidence(http, emu, "c")
    assert control.get("/evidence").json() == [BODIES["evidence"]]
    rule = control.post("/deny", json={"resource_kind": "document"}).json()["rule_id"]
    assert call(http, emu, "protection-plan").json()["decision"]["allow"] is False
    assert control.post("/allow").status_code == 200 and rule
    token = control.post("/tokens", json={"tenant_id": "globex"}).json()["token"]
    assert (
        call(http, emu, "whoami", headers=bearer(token)).json()["caller"]["tenant_id"] == "globex"
    )
    control.post("/misbehave", json={"names": ["accepted"], "times": 1})
    assert call(http, emu, "artifact-register").json()["registration"]["accepted"] is False
    assert [r["path"] for r in control.get("/requests").json()][-1] == "/v1/sdk/artifact-register"
    assert control.post("/reset").status_code == 200
    assert emu.evidence == [] and emu.requests == []
    assert_error(control.post("/nonsense"), 404, "not_found")
    control.close()


def test_runs_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "govflow.testing.lattix", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["LATTIX_TENANT_ID"] == "acme-prod"
        assert info["LATTIX_CLIENT_ID"] == "claims-batch" and info["LATTIX_CLIENT_SECRET"]
        who = httpx.get(
            f"{info['LATTIX_BASE_URL']}/v1/sdk/whoami", headers=bearer(info["LATTIX_BEARER_TOKEN"])
        )
        assert who.json()["caller"]["tenant_id"] == "acme-prod"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
