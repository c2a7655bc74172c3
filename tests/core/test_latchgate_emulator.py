"""The LatchGate emulator's own behaviour, over real HTTP with plain httpx.

The DPoP proofs here are built by this file with ``cryptography`` alone (``Agent`` below), not by
govflow's client or the official SDK, so the emulator's verification is checked independently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from govflow.testing.faults import drop, malformed_json, server_error, slow
from govflow.testing.latchgate import LatchGateEmulator, after_accept, gate_error, normalize_htu

GOLDEN = Path(__file__).parent.parent / "data" / "latchgate_jcs_golden.json"
EXECUTE_FIELDS = {
    "decision", "trace_id", "action_id", "grant_id", "receipt_id", "output",
    "verification_outcome", "verification", "runtime",
}  # fmt: skip
RECEIPT_HASHED = (
    "receipt_id", "grant_id", "provider_module_digest", "provider_receipt", "normalized_result",
    "verification_outcome", "effect_evidence", "started_at", "finished_at", "failure_class",
)  # fmt: skip


# --- an independent DPoP client ---------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_of(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }


def es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Agent:
    """A DPoP key, its lease, and proofs that can be broken in every way the spec lists."""

    def __init__(self, http: httpx.Client, base: str) -> None:
        self.http = http
        self.base = base  # the public base URL the proofs name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.lease = ""
        self.session_id = ""

    def connect(self, **extra: Any) -> httpx.Response:
        resp = self.http.post(
            "/v1/leases", json={"scopes": ["tools:call"], "dpop_jwk": jwk_of(self.key), **extra}
        )
        if resp.status_code == 200:
            self.lease, self.session_id = resp.json()["lease_jwt"], resp.json()["session_id"]
        return resp

    def proof(
        self,
        method: str,
        path: str,
        *,
        header: dict[str, Any] | None = None,
        drop_header: tuple[str, ...] = (),
        claims: dict[str, Any] | None = None,
        signer: ec.EllipticCurvePrivateKey | None = None,
        embed: ec.EllipticCurvePrivateKey | None = None,
        lease: str | None = None,
    ) -> str:
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk_of(embed or self.key)}
        head.update(header or {})
        for name in drop_header:
            head.pop(name)
        token = self.lease if lease is None else lease
        payload = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": self.base + path,
            "iat": int(time.time()),
            "ath": b64(hashlib.sha256(token.encode()).digest()),
        }
        payload.update(claims or {})
        signing_input = f"{b64(compact(head))}.{b64(compact(payload))}"
        return f"{signing_input}.{b64(es256(signer or self.key, signing_input.encode()))}"

    def headers(self, method: str, path: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"DPoP {self.lease}", "DPoP": self.proof(method, path, **kw)}

    def execute(
        self, action_id: str, body: Any = None, *, raw: bytes | None = None, **kw: Any
    ) -> httpx.Response:
        path = f"/v1/actions/{action_id}/execute"
        content = raw if raw is not None else json.dumps({} if body is None else body).encode()
        headers = {**self.headers("POST", path, **kw), "Content-Type": "application/json"}
        return self.http.post(path, content=content, headers=headers)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers("GET", path, **kw))


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LatchGateEmulator, str]]:
    emulator = LatchGateEmulator()
    with emulator.serve() as url:
        yield emulator, url


@pytest.fixture
def emu(served: tuple[LatchGateEmulator, str]) -> LatchGateEmulator:
    served[0].reset()
    return served[0]


@pytest.fixture
def http(emu: LatchGateEmulator, served: tuple[LatchGateEmulator, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1], timeout=10) as client:
        yield client


@pytest.fixture
def agent(emu: LatchGateEmulator, http: httpx.Client) -> Agent:
    """An agent with a fresh lease (so the DPoP key cache, if on, is cold)."""
    a = Agent(http, emu.public_base_url)
    assert a.connect().status_code == 200
    return a


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A short directory for Unix sockets (AF_UNIX paths are limited to ~104 bytes)."""
    path = tempfile.mkdtemp(prefix="lgemu-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def error(resp: httpx.Response) -> str:
    return str(resp.json()["error"])


# --- htu normalisation (spec §6, the server's 6 cases) --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://host.example/path?q=1#frag", "https://host.example/path"),
        ("HTTPS://HOST.EXAMPLE/Path", "https://host.example/Path"),
        ("https://host.example:443/api", "https://host.example/api"),
        ("http://host.example:80/api", "http://host.example/api"),
        ("https://host.example:8443/api", "https://host.example:8443/api"),
        ("https://host.example/path%2Fsegment", "https://host.example/path%2Fsegment"),
    ],
)
def test_htu_normalisation_cases(raw: str, normalised: str) -> None:
    assert normalize_htu(raw) == normalised


def test_htu_normalisation_edges() -> None:
    assert normalize_htu("http://Host.Example") == "http://host.example/"
    assert normalize_htu("http://[::1]:80/x") == "http://[::1]/x"
    with pytest.raises(ValueError, match="://"):
        normalize_htu("host.example/path")


@pytest.mark.parametrize(
    ("proof_htu", "accepted"),
    [
        ("https://host.example/v1/actions/echo/execute?q=1#frag", True),
        ("HTTPS://HOST.EXAMPLE/v1/actions/echo/execute", True),
        ("https://host.example:443/v1/actions/echo/execute", True),
        ("https://host.example:8443/v1/actions/echo/execute", False),  # port kept
        ("https://host.example/V1/actions/echo/execute", False),  # path case kept
        ("https://host.example/v1/actions%2Fecho/execute", False),  # encoding kept
        ("http://host.example/v1/actions/echo/execute", False),  # scheme differs
        ("host.example/v1/actions/echo/execute", False),  # no scheme: rejected
    ],
)
def test_the_server_normalises_both_htus_before_comparing(
    emu: LatchGateEmulator, http: httpx.Client, proof_htu: str, accepted: bool
) -> None:
    emu.public_base_url = "https://Host.Example:443/"  # behind a TLS proxy
    agent = Agent(http, "unused")
    agent.connect()
    resp = agent.execute("echo", {}, claims={"htu": proof_htu})
    if accepted:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 401 and error(resp) == "invalid_dpop"
        assert "htu" in resp.json()["deny_reason"]


# --- the 13 DPoP scenarios of the server's test vectors ------------------------------------------


def _proof_for(case: str, agent: Agent) -> tuple[dict[str, str], str | None]:
    """Headers for one scenario of definitions/test_vectors/dpop/test_cases.json, and the text
    its ``error_contains`` (or the server's reason) promises; None: the proof is valid."""
    path = "/v1/actions/echo/execute"
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    auth = {"Authorization": f"DPoP {agent.lease}"}
    if case == "valid_proof":
        return {**auth, "DPoP": agent.proof("POST", path)}, None
    if case == "wrong_method":
        return {**auth, "DPoP": agent.proof("GET", path)}, "htm mismatch"
    if case == "wrong_url":
        return {**auth, "DPoP": agent.proof("POST", "/v1/actions/other/execute")}, "htu mismatch"
    if case == "expired_iat":
        return {**auth, "DPoP": agent.proof("POST", path, claims={"iat": now - 70})}, "iat too old"
    if case == "future_iat":
        proof = agent.proof("POST", path, claims={"iat": now + 65})
        return {**auth, "DPoP": proof}, "iat too far in future"
    if case == "wrong_key_binding":  # a valid proof by a key the lease is not bound to
        return {**auth, "DPoP": agent.proof("POST", path, signer=other, embed=other)}, "cnf.jkt"
    if case == "wrong_ath":
        proof = agent.proof("POST", path, claims={"ath": b64(hashlib.sha256(b"lease-B").digest())})
        return {**auth, "DPoP": proof}, "ath"
    if case == "tampered_header":
        h, p, s = agent.proof("POST", path).split(".")
        return {**auth, "DPoP": f"{h}X.{p}.{s}"}, ""
    if case == "tampered_payload":
        h, p, s = agent.proof("POST", path).split(".")
        return {**auth, "DPoP": f"{h}.{p}X.{s}"}, "signature verification failed"
    if case == "header_key_vs_signing_key_mismatch":
        # Signed with the lease's key A, embedding key B: the binding check (before the
        # signature, in the server's order) rejects B.
        proof = agent.proof("POST", path, embed=other)
        return {**auth, "DPoP": proof}, "key binding failure"
    if case == "missing_jwk_header":
        return {**auth, "DPoP": agent.proof("POST", path, drop_header=("jwk",))}, "jwk"
    if case == "wrong_typ":
        return {**auth, "DPoP": agent.proof("POST", path, header={"typ": "JWT"})}, "typ"
    if case == "two_part_token":
        h, p, _ = agent.proof("POST", path).split(".")
        return {**auth, "DPoP": f"{h}.{p}"}, "3 dot-separated segments"
    raise AssertionError(case)


DPOP_CASES = [
    "valid_proof", "wrong_method", "wrong_url", "expired_iat", "future_iat", "wrong_key_binding",
    "wrong_ath", "tampered_header", "tampered_payload", "header_key_vs_signing_key_mismatch",
    "missing_jwk_header", "wrong_typ", "two_part_token",
]  # fmt: skip


@pytest.mark.parametrize("case", DPOP_CASES)
def test_dpop_test_vector_scenarios(agent: Agent, http: httpx.Client, case: str) -> None:
    headers, reason = _proof_for(case, agent)
    resp = http.post("/v1/actions/echo/execute", json={"q": 1}, headers=headers)
    if reason is None:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "invalid_dpop"
    assert set(body) == {"error", "deny_reason"}
    assert reason in body["deny_reason"]


def test_a_signature_by_another_key_than_the_embedded_one_fails_the_signature(
    emu: LatchGateEmulator, http: httpx.Client
) -> None:
    """Embedding the lease's key B but signing with A passes the binding, fails the signature."""
    agent = Agent(http, emu.public_base_url)
    agent.connect()
    intruder = ec.generate_private_key(ec.SECP256R1())
    resp = agent.execute("echo", {}, signer=intruder)
    assert resp.status_code == 401
    assert resp.json()["deny_reason"] == "signature verification failed"


# Each row: the proof has this defect and the next one; the server reports the first.
ORDER = [
    ({"header": {"typ": "JWT", "alg": "HS256"}}, "typ must be 'dpop+jwt'"),
    ({"header": {"alg": "HS256", "jwk": {"kty": "RSA"}}}, "alg must be 'ES256'"),
    ({"header": {"jwk": {"kty": "RSA", "crv": "P-256"}}}, "jwk.kty must be 'EC'"),
    ({"header": {"jwk": {"kty": "EC", "crv": "P-384"}}}, "jwk.crv must be 'P-256'"),
    ({"header": {"jwk": {"kty": "EC", "crv": "P-256", "y": "AA"}}}, "jwk.x is required"),
    (
        {"header": {"jwk": {"kty": "EC", "crv": "P-256", "x": "A", "y": "AA"}}},
        "invalid base64url in jwk.x",
    ),
    (
        {
            "header": {
                "jwk": {"kty": "EC", "crv": "P-256", "x": b64(bytes(32)), "y": b64(bytes(32))}
            }
        },
        "point not on curve",
    ),
    ({"other_key": True, "claims": {"htm": "GET"}}, "key binding failure"),
    ({"bad_signature": True, "claims": {"htm": "GET"}}, "signature verification failed"),
    ({"claims": {"iat": "now"}}, "payload claims invalid"),
    ({"claims": {"htm": "GET", "htu": "http://elsewhere/x"}}, "htm mismatch"),
    ({"claims": {"htu": "http://elsewhere/x", "iat": 1}}, "htu mismatch"),
    ({"claims": {"iat": 1, "ath": "nope"}}, "iat too old"),
    ({"claims": {"ath": "nope"}}, "ath does not match"),
]


@pytest.mark.parametrize(("defects", "reported"), ORDER)
def test_proof_checks_run_in_the_servers_order(
    agent: Agent, http: httpx.Client, defects: dict[str, Any], reported: str
) -> None:
    path = "/v1/actions/echo/execute"
    kw: dict[str, Any] = {"claims": defects.get("claims"), "header": defects.get("header")}
    if defects.get("other_key"):
        other = ec.generate_private_key(ec.SECP256R1())
        kw.update(signer=other, embed=other)
    if defects.get("bad_signature"):
        kw["signer"] = ec.generate_private_key(ec.SECP256R1())
    proof = agent.proof("POST", path, **kw)
    resp = http.post(path, json={}, headers={"Authorization": f"DPoP {agent.lease}", "DPoP": proof})
    assert (resp.status_code, error(resp)) == (401, "invalid_dpop")
    assert reported in resp.json()["deny_reason"]


def test_header_and_lease_checks_come_before_the_proof(
    emu: LatchGateEmulator, agent: Agent, http: httpx.Client
) -> None:
    path = "/v1/actions/echo/execute"
    bad_proof = "only.two"
    cases = [
        ({"DPoP": bad_proof}, "missing_auth_header"),
        ({"Authorization": f"Bearer {agent.lease}", "DPoP": bad_proof}, "invalid_lease"),
        ({"Authorization": "DPoP", "DPoP": bad_proof}, "invalid_lease"),
        ({"Authorization": f"DPoP {agent.lease}"}, "missing_auth_header"),
        ({"Authorization": "DPoP a.b.c", "DPoP": bad_proof}, "invalid_lease"),
        ({"Authorization": f"DPoP {agent.lease[:-4]}AAAA", "DPoP": bad_proof}, "invalid_lease"),
    ]
    for headers, code in cases:
        resp = http.post(path, json={}, headers=headers)
        assert (resp.status_code, error(resp)) == (401, code), headers
    emu.expire_leases()
    resp = http.post(
        path, json={}, headers={"Authorization": f"DPoP {agent.lease}", "DPoP": bad_proof}
    )
    assert (resp.status_code, error(resp)) == (401, "lease_expired")  # the lease first
    assert emu.executions == []


def test_authentication_comes_before_the_action_lookup(agent: Agent, http: httpx.Client) -> None:
    resp = http.post("/v1/actions/nope/execute", json={}, headers={"DPoP": "x"})
    assert (resp.status_code, error(resp)) == (401, "missing_auth_header")
    resp = agent.execute("nope", {})
    assert resp.status_code == 404
    assert resp.json() == {"error": "action_not_found"}


def test_a_lease_expires_with_zero_leeway_and_a_restart_invalidates_it(
    emu: LatchGateEmulator, http: httpx.Client
) -> None:
    agent = Agent(http, emu.public_base_url)
    agent.connect()
    emu.restart()
    resp = agent.execute("echo", {})
    assert (resp.status_code, error(resp)) == (401, "invalid_lease")
    agent.connect()
    emu.revoke_leases()
    assert error(agent.execute("echo", {})) == "invalid_lease"
    agent.connect()
    emu.advance_clock(emu.lease_ttl + 1)  # the lease's exp has passed
    resp = agent.execute("echo", {}, claims={"iat": int(time.time() + emu.lease_ttl + 1)})
    assert (resp.status_code, error(resp)) == (401, "lease_expired")


def test_the_key_cache_when_on_skips_header_checks_after_a_success(http: httpx.Client) -> None:
    emu = LatchGateEmulator(dpop_key_cache=True)
    with emu.serve() as url, httpx.Client(base_url=url) as client:
        agent = Agent(client, emu.public_base_url)
        agent.connect()
        assert agent.execute("echo", {}, header={"typ": "JWT"}).status_code == 401  # cold cache
        assert agent.execute("echo", {}).status_code == 200  # caches the key for cnf.jkt
        assert agent.execute("echo", {}, header={"typ": "JWT"}).status_code == 200  # as the server
        assert (
            agent.execute("echo", {}, signer=ec.generate_private_key(ec.SECP256R1())).status_code
            == 401
        )


# --- replay ----------------------------------------------------------------------------------------


def test_a_replayed_proof_is_rejected_and_the_jti_is_consumed_even_when_denied(
    emu: LatchGateEmulator, agent: Agent, http: httpx.Client
) -> None:
    path = "/v1/actions/echo/execute"
    headers = agent.headers("POST", path)
    assert http.post(path, json={}, headers=headers).status_code == 200
    resp = http.post(path, json={}, headers=headers)
    assert (resp.status_code, resp.json()) == (401, {"error": "replay_detected"})
    assert len(emu.executions) == 1

    denied_path = "/v1/actions/shell_exec/execute"
    denied = agent.headers("POST", denied_path)
    assert error(http.post(denied_path, json={}, headers=denied)) == "policy_denied"
    assert error(http.post(denied_path, json={}, headers=denied)) == "replay_detected"


def test_the_jti_space_is_global_across_leases(emu: LatchGateEmulator, http: httpx.Client) -> None:
    a, b = Agent(http, emu.public_base_url), Agent(http, emu.public_base_url)
    a.connect()
    b.connect()
    assert a.execute("echo", {}, claims={"jti": "shared-jti"}).status_code == 200
    assert error(b.execute("echo", {}, claims={"jti": "shared-jti"})) == "replay_detected"


def test_an_invalid_proof_does_not_consume_its_jti(agent: Agent) -> None:
    assert error(agent.execute("echo", {}, claims={"jti": "j1", "htm": "GET"})) == "invalid_dpop"
    assert agent.execute("echo", {}, claims={"jti": "j1"}).status_code == 200


# --- leases ------------------------------------------------------------------------------------------


def test_lease_response_and_jwt(emu: LatchGateEmulator, http: httpx.Client) -> None:
    agent = Agent(http, emu.public_base_url)
    resp = agent.connect(budgets={"max_calls": 3})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"lease_jwt", "session_id", "lease_jti", "expires_at"}
    assert uuid.UUID(body["session_id"]).version == 7
    assert uuid.UUID(body["lease_jti"]).version == 7
    assert len(body["expires_at"]) == 20 and body["expires_at"].endswith("Z")
    header_b64, claims_b64, _ = body["lease_jwt"].split(".")
    header, claims = json.loads(unb64(header_b64)), json.loads(unb64(claims_b64))
    jwks = http.get("/.well-known/jwks.json").json()
    assert header == {"alg": "ES256", "typ": "JWT", "kid": jwks["keys"][0]["kid"]}
    jwk = jwk_of(agent.key)
    thumbprint = b64(
        hashlib.sha256(rfc8785.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")})).digest()
    )
    assert claims["cnf"] == {"jkt": thumbprint}
    assert claims["iss"] == claims["aud"] == "latchgate"
    assert claims["sub"] == "dev:anonymous"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"] == body["lease_jti"] and claims["session_id"] == body["session_id"]
    assert claims["scope"] == ["tools:call"] and claims["budgets"] == {"max_calls": 3}
    assert emu.leases[0].session_id == body["session_id"]
    assert emu.budgets[body["session_id"]] == {"max_calls": 3, "used": 0, "remaining": 3}


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"agent_id": "a"}, 422, "unknown field `agent_id`"),
        ({"session_id": "s"}, 422, "unknown field `session_id`"),
        ({"drop": "dpop_jwk"}, 422, "missing field `dpop_jwk`"),
        ({"drop": "scopes"}, 422, "missing field `scopes`"),
        ({"scopes": "tools:call"}, 422, "scopes"),
        ({"budgets": {"max_calls": -1}}, 422, "max_calls"),
    ],
)
def test_lease_body_rejections_are_axum_plain_text(
    http: httpx.Client, body: dict[str, Any], status: int, text: str
) -> None:
    request: dict[str, Any] = {
        "scopes": ["tools:call"],
        "dpop_jwk": jwk_of(ec.generate_private_key(ec.SECP256R1())),
    }
    if "drop" in body:
        request.pop(body["drop"])
    else:
        request.update(body)
    resp = http.post("/v1/leases", json=request)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/plain")
    assert text in resp.text


def test_lease_content_type_and_json_syntax(http: httpx.Client) -> None:
    resp = http.post("/v1/leases", content=b"{}", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415 and "application/json" in resp.text
    resp = http.post(
        "/v1/leases", content=b'{"scopes": [', headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and resp.text.startswith(
        "Failed to parse the request body as JSON"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kty": "RSA"}, "dpop_jwk.kty must be 'EC', got 'RSA'"),
        ({"crv": "P-384"}, "dpop_jwk.crv must be 'P-256', got 'P-384'"),
        ({"x": "AAAA"}, "dpop_jwk.x and dpop_jwk.y"),
        ({"y": b64(bytes(32))}, "dpop_jwk.x and dpop_jwk.y"),
        ({"scopes": []}, "scopes must not be empty"),
        ({"scopes": ["Tools"]}, "invalid scope 'Tools'"),
        ({"scopes": ["nocolon"]}, "invalid scope 'nocolon'"),
    ],
)
def test_lease_issuer_checks_answer_invalid_request(
    http: httpx.Client, change: dict[str, Any], message: str
) -> None:
    jwk = jwk_of(ec.generate_private_key(ec.SECP256R1()))
    scopes = change.pop("scopes", ["tools:call"])
    resp = http.post("/v1/leases", json={"scopes": scopes, "dpop_jwk": {**jwk, **change}})
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"
    assert message in resp.json()["message"]


def test_lease_custom_scopes_extra_jwk_members_and_ignored_cost_budget(http: httpx.Client) -> None:
    jwk = {**jwk_of(ec.generate_private_key(ec.SECP256R1())), "kid": "ignored"}
    body = {
        "scopes": ["tools:call", "audit:read", "acme:reports"],
        "dpop_jwk": jwk,
        "budgets": {"max_cost_usd_cents": 5},
    }
    assert http.post("/v1/leases", json=body).status_code == 200


def test_lease_scope_and_fs_root_policies(http: httpx.Client) -> None:
    emu = LatchGateEmulator(max_scopes=["tools:call"], fs_root_prefixes=["/srv/agents"])
    with emu.serve() as url, httpx.Client(base_url=url) as client:
        jwk = jwk_of(ec.generate_private_key(ec.SECP256R1()))
        resp = client.post("/v1/leases", json={"scopes": ["audit:read"], "dpop_jwk": jwk})
        assert (resp.status_code, resp.json()) == (403, {"error": "scope_not_permitted"})
        resp = client.post(
            "/v1/leases", json={"scopes": ["tools:call"], "dpop_jwk": jwk, "fs_root": "rel/dir"}
        )
        assert (resp.status_code, error(resp)) == (400, "invalid_fs_root") and resp.json()[
            "message"
        ]
        resp = client.post(
            "/v1/leases", json={"scopes": ["tools:call"], "dpop_jwk": jwk, "fs_root": "/etc"}
        )
        assert (resp.status_code, error(resp)) == (403, "fs_root_denied")
        resp = client.post(
            "/v1/leases",
            json={"scopes": ["tools:call"], "dpop_jwk": jwk, "fs_root": "/srv/agents/a/../b"},
        )
        assert resp.status_code == 200 and resp.json()["fs_root"] == "/srv/agents/b"


def test_lease_ttl_is_capped(http: httpx.Client) -> None:
    assert LatchGateEmulator(lease_ttl=10_000).lease_ttl == 3600


def test_draining_refuses_leases_and_executes(
    emu: LatchGateEmulator, agent: Agent, http: httpx.Client
) -> None:
    emu.drain()
    assert (agent.execute("echo", {}).status_code, error(agent.execute("echo", {}))) == (
        503,
        "draining",
    )
    assert agent.connect().json() == {"error": "draining"}
    assert http.get("/readyz").status_code == 503
    emu.drain(False)
    assert agent.execute("echo", {}).status_code == 200


# --- execute ---------------------------------------------------------------------------------------


def test_execute_answers_an_execution_response(emu: LatchGateEmulator, agent: Agent) -> None:
    resp = agent.execute("echo", {"b": 2, "a": [1, "x"]})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == EXECUTE_FIELDS
    assert body["decision"] == "executed" and body["action_id"] == "echo"
    assert body["output"] == {"ok": True, "echo": {"b": 2, "a": [1, "x"]}}
    assert body["verification"] == {"outcome": "verified", "is_fully_successful": True}
    assert body["verification_outcome"] == "verified"
    assert set(body["runtime"]) == {"duration_ms", "exit_code", "fuel_consumed"}
    for key in ("trace_id", "grant_id", "receipt_id"):
        assert uuid.UUID(body[key]).version == 7
    [execution] = emu.executions
    assert execution.receipt_id == body["receipt_id"] and execution.source == "agent"
    assert (
        execution.request_hash
        == "sha256:" + hashlib.sha256(rfc8785.dumps({"a": [1, "x"], "b": 2})).hexdigest()
    )
    assert execution.session_id == agent.session_id


def test_request_hash_matches_the_jcs_golden_vectors(emu: LatchGateEmulator, agent: Agent) -> None:
    emu.add_action("golden", requires_approval=True)
    for case in json.loads(GOLDEN.read_text(encoding="utf-8")):
        resp = agent.execute("golden", case["input"])
        assert resp.status_code == 202, case["description"]
        assert resp.json()["request_hash"] == case["sha256"], case["description"]


def test_an_empty_body_is_an_empty_object(emu: LatchGateEmulator, agent: Agent) -> None:
    emu.add_action("golden", requires_approval=True)
    resp = agent.execute("golden", raw=b"")
    assert resp.json()["request_hash"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b'{"x": "\\ud800"}',
        b"\xff\xfe",
        b'{"d":' * 11 + b"1" + b"}" * 11,
        json.dumps({"items": list(range(101))}).encode(),
        json.dumps({"big": "x" * 70_000}).encode(),
    ],
    ids=[
        "syntax",
        "nan",
        "infinity",
        "lone-surrogate",
        "utf8",
        "depth-11",
        "101-items",
        "over-64k",
    ],
)
def test_invalid_bodies_are_schema_violations(
    emu: LatchGateEmulator, agent: Agent, raw: bytes
) -> None:
    resp = agent.execute("echo", raw=raw)
    assert (resp.status_code, resp.json()) == (422, {"error": "schema_violation"})
    assert emu.executions == []


def test_limits_are_inclusive(agent: Agent) -> None:
    deep: Any = 1
    for _ in range(10):
        deep = {"d": deep}
    assert agent.execute("echo", deep).status_code == 200
    assert agent.execute("echo", {"items": list(range(100))}).status_code == 200


def test_numbers_the_canonicaliser_refuses_are_internal_errors(agent: Agent) -> None:
    resp = agent.execute("echo", raw=b'{"n": 18446744073709551615}')
    assert (resp.status_code, resp.json()) == (500, {"error": "internal_error"})


def test_the_action_schema_is_enforced(emu: LatchGateEmulator, agent: Agent) -> None:
    for body in (
        {},
        {"url": ""},
        {"url": "https://httpbin.org/get", "extra": 1},
        {"url": "https://httpbin.org", "method": "POST"},
    ):
        assert agent.execute("http_fetch", body).json() == {"error": "schema_violation"}
    assert (
        agent.execute("http_fetch", {"url": "https://httpbin.org/get", "method": "GET"}).status_code
        == 200
    )


def test_bodies_over_one_mebibyte_are_413(agent: Agent) -> None:
    resp = agent.execute("echo", raw=b"x" * (1_048_576 + 1))
    assert resp.status_code == 413


def test_policy_denial_body(agent: Agent) -> None:
    resp = agent.execute("shell_exec", {})
    assert resp.status_code == 403
    assert resp.json() == {
        "error": "policy_denied",
        "deny_reason": "no ACL entry allows principal 'dev:anonymous' to call 'shell_exec'",
        "principal": "dev:anonymous",
        "action_id": "shell_exec",
        "remediation": "Run: latchgate policy grant dev:anonymous shell_exec",
    }


def test_a_lease_without_tools_call_is_denied_by_policy(
    emu: LatchGateEmulator, http: httpx.Client
) -> None:
    agent = Agent(http, emu.public_base_url)
    agent.connect(scopes=["audit:read"])
    resp = agent.execute("echo", {})
    assert (resp.status_code, error(resp)) == (403, "policy_denied")
    assert "tools:call" in resp.json()["deny_reason"]


def test_a_provider_failure_is_502_but_the_execution_is_recorded(
    emu: LatchGateEmulator, agent: Agent
) -> None:
    emu.add_action("flaky", failure="provider_error")
    resp = agent.execute("flaky", {})
    assert (resp.status_code, resp.json()) == (502, {"error": "action_execution_failed"})
    [execution] = emu.executions
    assert not execution.succeeded
    receipt = emu.receipts[execution.receipt_id]
    assert receipt["failure_class"] == "provider_error"
    assert receipt["verification_outcome"] == {"status": "provider_failed_before_verification"}


def test_custom_output(emu: LatchGateEmulator, agent: Agent) -> None:
    emu.add_action("const", output={"ok": True, "n": 1})
    emu.add_action("calc", output=lambda p: {"ok": True, "sum": p["a"] + p["b"]})
    assert agent.execute("const", {}).json()["output"] == {"ok": True, "n": 1}
    assert agent.execute("calc", {"a": 2, "b": 3}).json()["output"] == {"ok": True, "sum": 5}


# --- budgets ---------------------------------------------------------------------------------------


def test_a_lease_budget_runs_out_as_a_policy_denial(
    emu: LatchGateEmulator, http: httpx.Client
) -> None:
    agent = Agent(http, emu.public_base_url)
    agent.connect(budgets={"max_calls": 2})
    assert agent.execute("shell_exec", {}).status_code == 403  # denied requests debit nothing
    assert [agent.execute("echo", {}).status_code for _ in range(2)] == [200, 200]
    resp = agent.execute("echo", {})
    assert resp.status_code == 403
    assert resp.json()["error"] == "policy_denied"
    assert resp.json()["deny_reason"] == "budget exhausted: no calls remaining"
    assert len(emu.executions) == 2
    assert emu.budgets[agent.session_id] == {"max_calls": 2, "used": 2, "remaining": 0}


def test_the_debit_race_answer_is_budget_exhausted(
    emu: LatchGateEmulator, http: httpx.Client
) -> None:
    emu.set_budget(1, error="budget_exhausted")  # every new lease without budgets gets 1 call
    agent = Agent(http, emu.public_base_url)
    agent.connect()
    assert agent.execute("echo", {}).status_code == 200
    resp = agent.execute("echo", {})
    assert (resp.status_code, resp.json()) == (403, {"error": "budget_exhausted"})


def test_budgets_per_session_cost_and_unlimited(emu: LatchGateEmulator, http: httpx.Client) -> None:
    emu.add_action("pricey", cost=3)
    agent = Agent(http, emu.public_base_url)
    agent.connect(budgets={})  # budgets without max_calls: unlimited
    assert all(agent.execute("echo", {}).status_code == 200 for _ in range(3))
    emu.set_budget(4, session_id=agent.session_id)
    assert agent.execute("pricey", {}).status_code == 200
    assert agent.execute("pricey", {}).status_code == 403
    assert agent.execute("echo", {}).status_code == 200
    assert emu.budgets[agent.session_id]["remaining"] == 0


# --- approvals ---------------------------------------------------------------------------------------


def test_approval_required_then_approved(emu: LatchGateEmulator, agent: Agent) -> None:
    resp = agent.execute("http_post", {"url": "https://httpbin.org/post"})
    assert resp.status_code == 202
    body = resp.json()
    assert set(body) == {"decision", "approval_id", "request_hash", "trace_id"}
    assert body["decision"] == "pending_approval"
    assert (
        body["request_hash"]
        == "sha256:"
        + hashlib.sha256(rfc8785.dumps({"url": "https://httpbin.org/post"})).hexdigest()
    )
    approval_id = body["approval_id"]
    poll = f"/v1/approvals/{approval_id}/poll"
    assert agent.get(poll).json() == {"status": "pending", "retry_after_seconds": 2}
    assert emu.executions == []

    decided = emu.decide_approval(approval_id, "approved", by="alice")
    [execution] = emu.executions
    assert execution.source == "approval" and execution.approval_id == approval_id
    assert decided["execution"]["approval"]["approved_by"] == "alice"
    assert agent.get(poll).json() == {"status": "approved", "receipt_id": execution.receipt_id}
    receipt = agent.get(f"/v1/receipts/{execution.receipt_id}")
    assert receipt.status_code == 200

    again = agent.execute("http_post", {"url": "https://httpbin.org/post"})
    assert again.status_code == 202  # re-executing asks again
    with pytest.raises(ValueError, match="already approved"):
        emu.decide_approval(approval_id, "denied")


@pytest.mark.parametrize(
    ("decision", "reason", "expected"),
    [
        ("denied", "not today", {"status": "denied", "reason": "not today"}),
        ("denied", None, {"status": "denied", "reason": "no reason provided"}),
        ("failed", None, {"status": "failed", "reason": "execution_failed"}),
        ("failed", "provider_timeout", {"status": "failed", "reason": "provider_timeout"}),
    ],
)
def test_approval_denied_or_failed(
    emu: LatchGateEmulator,
    agent: Agent,
    decision: Any,
    reason: str | None,
    expected: dict[str, Any],
) -> None:
    approval_id = agent.execute("http_post", {}).json()["approval_id"]
    emu.decide_approval(approval_id, decision, reason=reason)
    assert agent.get(f"/v1/approvals/{approval_id}/poll").json() == expected
    assert emu.executions == []


def test_an_expired_approval_vanishes(emu: LatchGateEmulator, agent: Agent) -> None:
    approval_id = agent.execute("http_post", {}).json()["approval_id"]
    emu.decide_approval(approval_id, "expired")
    resp = agent.get(f"/v1/approvals/{approval_id}/poll")
    assert (resp.status_code, resp.content) == (404, b"")
    other = agent.execute("http_post", {}).json()["approval_id"]
    emu.advance_clock(301)  # the approval TTL passes (and with it the lease)
    assert emu.approval(other).status == "expired"


def test_poll_failures_are_bare(emu: LatchGateEmulator, agent: Agent, http: httpx.Client) -> None:
    approval_id = agent.execute("http_post", {}).json()["approval_id"]
    path = f"/v1/approvals/{approval_id}/poll"
    for resp in (
        http.get(path),
        http.get(path, headers={"Authorization": f"DPoP {agent.lease}", "DPoP": "x.y"}),
        agent.get(path, claims={"htm": "POST"}),
    ):
        assert (resp.status_code, resp.content) == (401, b"")
    stranger = Agent(http, emu.public_base_url)
    stranger.connect()
    resp = stranger.get(path)  # another session's approval
    assert (resp.status_code, resp.content) == (404, b"")
    resp = agent.get("/v1/approvals/unknown/poll")
    assert (resp.status_code, resp.content) == (404, b"")


def test_decide_route(emu: LatchGateEmulator, agent: Agent, http: httpx.Client) -> None:
    approval_id = agent.execute("http_post", {"n": 1}).json()["approval_id"]
    route = f"/_emulator/approvals/{approval_id}/decide"
    assert http.post(route, json={"decision": "maybe"}).status_code == 422
    resp = http.post(route, json={"decision": "approved", "by": "bob"})
    assert resp.status_code == 200
    assert resp.json()["status"] == "approved" and resp.json()["decided_by"] == "bob"
    assert resp.json()["execution"]["output"] == {"ok": True, "echo": {"n": 1}}
    assert http.post(route, json={"decision": "denied"}).status_code == 409
    assert (
        http.post("/_emulator/approvals/nope/decide", json={"decision": "denied"}).status_code
        == 404
    )
    assert len(emu.executions) == 1
    assert all(not r.path.startswith("/_emulator") for r in emu.requests)


# --- receipts ------------------------------------------------------------------------------------------


def test_receipt_fields_hash_and_signature(
    emu: LatchGateEmulator, agent: Agent, http: httpx.Client
) -> None:
    receipt_id = agent.execute("echo", {"q": 1}).json()["receipt_id"]
    reader = Agent(http, emu.public_base_url)  # any valid lease reads any receipt
    reader.connect()
    resp = reader.get(f"/v1/receipts/{receipt_id}")
    assert resp.status_code == 200
    receipt = resp.json()
    assert receipt["receipt_id"] == receipt_id
    assert receipt["provider_receipt"] == {"ok": True, "echo": {"q": 1}}
    assert receipt["normalized_result"]["kind"] == "success"
    assert receipt["verification_outcome"]["status"] == "verified"
    assert receipt["failure_class"] is None and receipt["effect_evidence"] == []
    assert receipt["signature_status"] == "valid"
    expected = hashlib.sha256(rfc8785.dumps({k: receipt[k] for k in RECEIPT_HASHED})).hexdigest()
    assert receipt["result_hash"] == expected
    key = Ed25519PublicKey.from_public_bytes(emu.receipt_public_key)
    key.verify(bytes.fromhex(receipt["receipt_signature"]), receipt["result_hash"].encode())
    assert receipt["signing_key_id"] == emu.receipt_key_id
    assert emu.receipts[receipt_id] == receipt


@pytest.mark.parametrize(
    ("verification", "fully"),
    [
        ("verified", True),
        ("unverifiable_declared", True),
        ("verification_failed", False),
        ("skipped", False),
    ],
)
def test_is_fully_successful(
    emu: LatchGateEmulator, agent: Agent, verification: Any, fully: bool
) -> None:
    emu.add_action("v", verification=verification)
    body = agent.execute("v", {}).json()
    assert body["verification"] == {"outcome": verification, "is_fully_successful": fully}
    receipt = agent.get(f"/v1/receipts/{body['receipt_id']}").json()
    assert receipt["verification_outcome"]["status"] == verification


def test_receipt_errors(agent: Agent, http: httpx.Client) -> None:
    resp = agent.get("/v1/receipts/unknown")
    assert (resp.status_code, resp.json()) == (404, {"error": "not_found"})
    resp = http.get("/v1/receipts/unknown")
    assert (resp.status_code, resp.json()) == (401, {"error": "missing_auth_header"})
    resp = agent.get("/v1/receipts/unknown", claims={"htm": "POST"})
    assert error(resp) == "invalid_dpop"


# --- actions and egress --------------------------------------------------------------------------------


def test_action_discovery_is_unauthenticated(emu: LatchGateEmulator, http: httpx.Client) -> None:
    actions = http.get("/v1/actions").json()["actions"]
    assert {a["action_id"] for a in actions} == set(emu.actions.values())
    assert {"action_id": "shell_exec", "version": "1.0.0", "risk_level": "critical"} in actions
    detail = http.get("/v1/actions/http_fetch").json()
    assert detail["egress"] == {
        "proxy_allowlist": {"allowed_domains": ["httpbin.org", "api.example.com"]}
    }
    assert detail["io"]["has_request_schema"] is True
    assert set(detail) >= {
        "action_id",
        "version",
        "provider_module_digest",
        "risk_level",
        "resource_limits",
        "io",
        "egress",
        "declared_side_effects",
    }
    assert http.get("/v1/actions/echo").json()["egress"] == "none"
    emu.add_action("broken", egress="invalid")
    assert http.get("/v1/actions/broken").json()["egress"] is None
    resp = http.get("/v1/actions/nope")
    assert (resp.status_code, resp.content) == (404, b"")
    assert http.get("/v1/actions/http_fetch/schema/request").json()["required"] == ["url"]
    resp = http.get("/v1/actions/echo/schema/request")
    assert (resp.status_code, resp.content) == (404, b"")


def test_egress_allowlist_is_enforced(emu: LatchGateEmulator, agent: Agent) -> None:
    ok = agent.execute("http_fetch", {"url": "https://API.example.com/v1/items?x=1"})
    assert ok.status_code == 200
    data = ok.json()["output"]["data"]
    assert data["status_code"] == 200 and data["url"] == "https://API.example.com/v1/items?x=1"
    resp = agent.execute("http_fetch", {"url": "https://evil.example.net/steal"})
    assert (resp.status_code, error(resp)) == (403, "policy_denied")
    assert "evil.example.net" in resp.json()["deny_reason"]
    assert len(emu.executions) == 1


def test_service_routes(emu: LatchGateEmulator, http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready" and ready["actions_registered"] == 4
    [key] = http.get("/.well-known/jwks.json").json()["keys"]
    assert {k: key[k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "EC",
        "crv": "P-256",
        "use": "sig",
        "alg": "ES256",
    }
    assert len(key["kid"]) == 16
    resp = http.get("/v1/nothing")
    assert (resp.status_code, resp.content) == (404, b"")
    resp = http.get("/v1/leases")
    assert (resp.status_code, resp.headers["allow"]) == (405, "POST")
    assert http.post("/v1/leases/", json={}).status_code == 404  # no slash redirects


# --- faults -----------------------------------------------------------------------------------------


def test_injected_faults(emu: LatchGateEmulator, agent: Agent, http: httpx.Client) -> None:
    emu.inject(
        "POST",
        "/v1/actions/*/execute",
        gate_error("rate_limited"),
        server_error(503, body={"error": "store_unavailable"}),
        malformed_json(),
    )
    resp = agent.execute("echo", {})
    assert (resp.status_code, resp.headers["retry-after"], resp.json()) == (
        429,
        "1",
        {"error": "rate_limited"},
    )
    assert agent.execute("echo", {}).json() == {"error": "store_unavailable"}
    with pytest.raises(json.JSONDecodeError):
        agent.execute("echo", {}).json()
    assert emu.pending_faults() == 0
    assert emu.executions == []
    assert agent.execute("echo", {}).status_code == 200
    assert len(emu.requests_to("POST", "/v1/actions/*/execute")) == 4


def test_a_slow_answer_and_a_dropped_connection(emu: LatchGateEmulator, agent: Agent) -> None:
    emu.inject("POST", "/v1/actions/echo/execute", slow(5), drop())
    with httpx.Client(base_url=str(agent.http.base_url), timeout=0.3) as impatient:
        path = "/v1/actions/echo/execute"
        with pytest.raises(httpx.ReadTimeout):
            impatient.post(path, json={}, headers=agent.headers("POST", path))
    with pytest.raises(httpx.TransportError):
        agent.execute("echo", {})
    assert emu.executions == []


def test_after_accept_runs_the_action_then_loses_the_answer(
    emu: LatchGateEmulator, agent: Agent
) -> None:
    emu.inject("POST", "/v1/actions/echo/execute", after_accept(drop()))
    with pytest.raises(httpx.TransportError):
        agent.execute("echo", {"once": True})
    [execution] = emu.executions
    assert execution.receipt_id in emu.receipts


def test_control_routes(emu: LatchGateEmulator, agent: Agent, http: httpx.Client) -> None:
    faults = [
        {"kind": "gate_error", "code": "draining"},
        {"kind": "respond", "status": 500, "body": {"error": "internal_error"}},
    ]
    assert http.post(
        "/_emulator/inject",
        json={"method": "POST", "path": "/v1/actions/*/execute", "faults": faults},
    ).json() == {"pending": 2}
    assert error(agent.execute("echo", {})) == "draining"
    assert error(agent.execute("echo", {})) == "internal_error"
    http.post("/_emulator/actions", json={"action_id": "remote", "requires_approval": True})
    assert agent.execute("remote", {}).status_code == 202
    http.post("/_emulator/budget", json={"max_calls": 0, "session_id": agent.session_id})
    assert error(agent.execute("echo", {})) == "policy_denied"
    state = http.get("/_emulator/state").json()
    assert state["budgets"][agent.session_id]["max_calls"] == 0 and len(state["approvals"]) == 1
    http.post("/_emulator/expire-leases")
    assert error(agent.execute("echo", {})) == "lease_expired"
    http.post("/_emulator/reset")
    assert emu.requests == [] and emu.approvals == {}


# --- Unix domain socket -------------------------------------------------------------------------------


def test_serving_on_a_real_unix_socket(short_dir: str) -> None:
    emu = LatchGateEmulator()  # no TCP: htu is checked against http://localhost:3000
    socket_path = os.path.join(short_dir, "run", "gate.sock")
    with emu.serve_unix(socket_path) as served:
        assert served == socket_path
        assert Path(socket_path).is_socket()
        transport = httpx.HTTPTransport(uds=socket_path)
        with httpx.Client(transport=transport, base_url="http://localhost") as client:
            agent = Agent(client, "http://localhost:3000")
            assert agent.connect().status_code == 200
            assert agent.execute("echo", {"via": "uds"}).json()["output"]["echo"] == {"via": "uds"}
            # What a UDS client gets when it names htu after its own URL (http://localhost).
            agent.base = "http://localhost"
            resp = agent.execute("echo", {})
            assert (resp.status_code, error(resp)) == (401, "invalid_dpop")
            assert resp.json()["deny_reason"] == (
                "htu mismatch: expected 'http://localhost:3000/v1/actions/echo/execute', "
                "got 'http://localhost/v1/actions/echo/execute'"
            )
            emu.inject("POST", "/v1/actions/echo/execute", drop())
            with pytest.raises(httpx.TransportError):
                agent.execute("echo", {})
        record = emu.requests[-1]
        assert record.client is None and record.headers["host"] == "localhost"
        assert len(emu.executions) == 1
    assert not Path(socket_path).exists()


def test_tcp_and_unix_socket_share_one_state(short_dir: str) -> None:
    emu = LatchGateEmulator()
    socket_path = os.path.join(short_dir, "gate.sock")
    with emu.serve() as url, emu.serve_unix(socket_path):
        assert emu.public_base_url == url
        with (
            httpx.Client(base_url=url) as tcp,
            httpx.Client(
                transport=httpx.HTTPTransport(uds=socket_path), base_url="http://localhost"
            ) as uds,
        ):
            agent = Agent(tcp, emu.public_base_url)
            agent.connect()
            receipt_id = agent.execute("echo", {}).json()["receipt_id"]
            agent.http = uds  # the same lease and public URL, another transport
            assert agent.get(f"/v1/receipts/{receipt_id}").status_code == 200


def test_unix_socket_paths_are_checked(short_dir: str) -> None:
    emu = LatchGateEmulator()
    with pytest.raises(ValueError, match="longer than"):
        emu.start_unix("/tmp/" + "x" * 120)
    not_a_socket = Path(short_dir, "file")
    not_a_socket.write_text("keep me")
    with pytest.raises(Exception, match="not a socket"):
        emu.start_unix(not_a_socket)
    assert not_a_socket.read_text() == "keep me"


# --- as a process ---------------------------------------------------------------------------------


def _run(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "govflow.testing.latchgate", *args, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=15)  # also closes the pipes
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_runs_as_a_process_over_tcp() -> None:
    proc, info = _run(["--port", "0"])
    try:
        assert info["LATCHGATE_PUBLIC_BASE_URL"] == info["LATCHGATE_URL"]
        assert info["LATCHGATE_ACTION_NEEDS_APPROVAL"] == "http_post"
        assert httpx.get(info["LATCHGATE_URL"] + "/healthz").json() == {"status": "ok"}
    finally:
        _stop(proc)


def test_runs_as_a_process_on_a_unix_socket(short_dir: str) -> None:
    socket_path = os.path.join(short_dir, "gate.sock")
    proc, info = _run(["--uds", socket_path])
    try:
        assert "LATCHGATE_URL" not in info
        assert info == {
            **info,
            "LATCHGATE_SOCKET": socket_path,
            "LATCHGATE_PUBLIC_BASE_URL": "http://localhost:3000",
        }
        with httpx.Client(transport=httpx.HTTPTransport(uds=socket_path)) as client:
            assert client.get("http://localhost/readyz").json()["status"] == "ready"
    finally:
        _stop(proc)
    assert not Path(socket_path).exists()


# --- the pytest fixture shipped for users --------------------------------------------------------


def test_the_pytest_fixture_serves_a_reset_emulator(latchgate_emulator: LatchGateEmulator) -> None:
    assert latchgate_emulator.executions == [] and latchgate_emulator.leases == []
    with httpx.Client(base_url=latchgate_emulator.base_url) as client:
        agent = Agent(client, latchgate_emulator.public_base_url)
        agent.connect()
        assert agent.execute(latchgate_emulator.actions["echo"], {"n": 1}).status_code == 200
    assert len(latchgate_emulator.executions) == 1
