"""DPoP proofs, htu normalisation, thumbprints and request hashing, checked independently.

Every proof here is taken apart with plain ``base64``/``json`` and its ES256 signature verified
with ``cryptography`` from the JWK embedded in its own header, not with govflow's code; the
emulator's server-side verifier (a separate implementation) checks them too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from govflow.core.canonical import canonicalize
from govflow.core.platforms.latchgate import (
    DPoPKey,
    LatchGateRequestError,
    access_token_hash,
    decode_proof,
    encode_params,
    jwk_thumbprint,
    normalize_htu,
    request_hash,
)
from govflow.core.platforms.latchgate._dpop import der_to_raw, new_jti
from govflow.testing.latchgate._crypto import verify_proof

GOLDEN = json.loads((Path(__file__).resolve().parents[1] / "data" / "latchgate_jcs_golden.json").read_text())

# definitions/test_vectors/dpop/test_cases.json, "htu_normalisation_cases" (spec section 6).
HTU_CASES = [
    ("https://host.example/path?q=1#frag", "https://host.example/path"),
    ("HTTPS://HOST.EXAMPLE/Path", "https://host.example/Path"),
    ("https://host.example:443/api", "https://host.example/api"),
    ("http://host.example:80/api", "http://host.example/api"),
    ("https://host.example:8443/api", "https://host.example:8443/api"),
    ("https://host.example/path%2Fsegment", "https://host.example/path%2Fsegment"),
]

LEASE = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def b64d(text: str) -> bytes:
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text), "base64url without padding"
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_independently(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Decode a compact JWS and verify its ES256 signature with the key in its header."""
    header_b64, payload_b64, sig_b64 = proof.split(".")
    header = json.loads(b64d(header_b64))
    payload = json.loads(b64d(payload_b64))
    signature = b64d(sig_b64)
    assert len(signature) == 64, "JWS ES256 is raw r||s, not DER"
    jwk = header["jwk"]
    x = int.from_bytes(b64d(jwk["x"]), "big")
    y = int.from_bytes(b64d(jwk["y"]), "big")
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, f"{header_b64}.{payload_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return header, payload


# --- proofs ------------------------------------------------------------------------------------


def test_a_proof_has_exactly_the_profile_of_the_spec() -> None:
    key = DPoPKey.generate()
    before = int(time.time())
    proof = key.proof_for("post", "http://localhost:3000", "/v1/actions/echo/execute", ath=access_token_hash(LEASE))
    after = int(time.time())
    header, payload = verify_independently(proof)

    assert list(header) == ["typ", "alg", "jwk"]
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == "ES256"
    assert header["jwk"] == key.jwk
    assert sorted(header["jwk"]) == ["crv", "kty", "x", "y"]
    assert (header["jwk"]["kty"], header["jwk"]["crv"]) == ("EC", "P-256")
    assert len(b64d(header["jwk"]["x"])) == 32 and len(b64d(header["jwk"]["y"])) == 32

    assert set(payload) == {"jti", "htm", "htu", "iat", "ath"}  # no nonce, no exp, no body hash
    assert uuid.UUID(payload["jti"]).version == 4
    assert payload["htm"] == "POST"
    assert payload["htu"] == "http://localhost:3000/v1/actions/echo/execute"
    assert isinstance(payload["iat"], int) and before <= payload["iat"] <= after
    assert payload["ath"] == base64.urlsafe_b64encode(hashlib.sha256(LEASE.encode()).digest()).rstrip(b"=").decode()


def test_the_compact_json_is_what_the_sdk_sends() -> None:
    key = DPoPKey.generate()
    proof = key.proof("GET", "http://localhost:3000/v1/receipts/r1", ath="abc", iat=1700000000, jti="j-1")
    header_b64, payload_b64, _ = proof.split(".")
    assert b64d(header_b64) == json.dumps(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}, separators=(",", ":")
    ).encode()
    assert b64d(payload_b64) == (
        b'{"jti":"j-1","htm":"GET","htu":"http://localhost:3000/v1/receipts/r1","iat":1700000000,"ath":"abc"}'
    )
    assert key.header_segment == header_b64


def test_a_proof_without_a_lease_has_no_ath() -> None:
    _, payload = verify_independently(DPoPKey.generate().proof("GET", "http://h/x"))
    assert "ath" not in payload


def test_jti_is_fresh_for_every_proof() -> None:
    key = DPoPKey.generate()
    proofs = [key.proof_for("GET", "http://localhost:3000", "/v1/receipts/r1", ath="a") for _ in range(1000)]
    jtis = {decode_proof(p)[1]["jti"] for p in proofs}
    assert len(jtis) == 1000
    assert len(set(proofs)) == 1000
    # Unpredictable: random UUIDs (122 random bits), not a counter or a clock.
    assert all(uuid.UUID(j).version == 4 for j in jtis)


def test_the_signature_verifies_and_a_tampered_proof_does_not() -> None:
    key = DPoPKey.generate()
    proof = key.proof("GET", "http://h/x", ath="a")
    verify_independently(proof)
    header_b64, payload_b64, sig = proof.split(".")
    forged = json.loads(b64d(payload_b64))
    forged["htm"] = "POST"
    forged_b64 = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify_independently(f"{header_b64}.{forged_b64}.{sig}")


def test_the_gate_side_verifier_accepts_the_proofs() -> None:
    # The emulator's verifier is written from the spec's server checks, not from this client.
    key = DPoPKey.generate()
    htu = "http://localhost:3000/v1/actions/echo/execute"
    proof = key.proof_for("POST", "http://localhost:3000", "/v1/actions/echo/execute", ath=access_token_hash(LEASE))
    claims = verify_proof(proof, htm="POST", htu=htu, lease_jwt=LEASE, cnf_jkt=key.thumbprint, now=time.time())
    assert claims.htu == htu


def test_der_signatures_become_raw_r_and_s() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ders = [key.sign(str(i).encode(), ec.ECDSA(hashes.SHA256())) for i in range(3000)]
    # Edges: tiny and top-bit-set integers (a leading 0x00 in DER), and the largest 32-byte values.
    for r, s in [(1, 2), (2**255, 1), (2**256 - 1, 2**256 - 1), (2**248 - 1, 2**255 + 5), (0x80, 0x7F)]:
        ders.append(encode_dss_signature(r, s))
    for der in ders:
        r, s = decode_dss_signature(der)
        assert der_to_raw(der) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_jti_is_a_random_uuid4() -> None:
    values = {new_jti() for _ in range(2000)}
    assert len(values) == 2000
    for value in list(values)[:200]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_short_coordinates_are_left_padded_to_32_bytes() -> None:
    # About 1 key in 256 has an x below 2**248: walk private scalars until one has it.
    for scalar in range(1, 10_000):
        private = ec.derive_private_key(scalar, ec.SECP256R1())
        if private.public_key().public_numbers().x < 2**248:
            break
    key = DPoPKey(private)
    assert len(b64d(key.jwk["x"])) == 32
    assert b64d(key.jwk["x"])[0] == 0
    verify_independently(key.proof("GET", "http://h/x"))


def test_each_key_is_fresh_and_never_shown_or_pickled() -> None:
    a, b = DPoPKey.generate(), DPoPKey.generate()
    assert a.jwk != b.jwk
    assert repr(a) == f"DPoPKey(thumbprint={a.thumbprint!r})"
    with pytest.raises(TypeError):
        pickle.dumps(a)


def test_a_key_must_be_p256() -> None:
    with pytest.raises(ValueError, match="P-256"):
        DPoPKey(ec.generate_private_key(ec.SECP384R1()))


# --- thumbprint and ath ------------------------------------------------------------------------


def test_thumbprint_is_rfc7638() -> None:
    key = DPoPKey.generate()
    members = json.dumps({k: key.jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    expected = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()
    assert key.thumbprint == expected == jwk_thumbprint(dict(key.jwk, extra="ignored"))


# --- htu ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("uri", "normalised"), HTU_CASES)
def test_htu_normalisation_vectors(uri: str, normalised: str) -> None:
    assert normalize_htu(uri) == normalised


@pytest.mark.parametrize(
    ("uri", "normalised"),
    [
        ("http://LOCALHOST:3000", "http://localhost:3000/"),  # no path -> "/"
        ("https://host.example?x=1", "https://host.example/"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),  # IPv6 keeps its port
        ("http://[::1]/a", "http://[::1]/a"),
        ("https://host.example:80/a", "https://host.example:80/a"),  # 80 is not https's default
        ("http://host.example:443/a", "http://host.example:443/a"),
        ("host.example/a?q", "host.example/a"),  # no scheme: left for the gate to reject
    ],
)
def test_htu_normalisation_edges(uri: str, normalised: str) -> None:
    assert normalize_htu(uri) == normalised


def test_the_proof_names_the_normalised_htu() -> None:
    key = DPoPKey.generate()
    _, payload = verify_independently(key.proof_for("get", "HTTP://Gate.Example:80", "/v1/Receipts/R1"))
    assert payload["htu"] == "http://gate.example/v1/Receipts/R1"
    assert payload["htm"] == "GET"


# --- request hashing (JCS golden vectors) ------------------------------------------------------


def test_the_golden_file_has_the_eight_cases() -> None:
    assert len(GOLDEN) == 8


@pytest.mark.parametrize("case", GOLDEN, ids=[c["description"] for c in GOLDEN])
def test_request_hash_matches_the_golden_vectors(case: dict[str, Any]) -> None:
    assert canonicalize(case["input"]).decode() == case["canonical"]
    if "canonical_hex" in case:
        assert canonicalize(case["input"]).hex() == case["canonical_hex"]
    assert request_hash(case["input"]) == case["sha256"]
    if isinstance(case["input"], dict):
        content, hashed = encode_params(case["input"], "a")
        assert hashed == case["sha256"]
        assert json.loads(content) == case["input"]


def test_no_params_hash_as_the_empty_object() -> None:
    content, hashed = encode_params(None, "a")
    assert content == b"{}"
    assert hashed == GOLDEN[0]["sha256"]


def test_params_jcs_cannot_represent_are_sent_without_a_hash() -> None:
    content, hashed = encode_params({"n": 2**60}, "a")
    assert hashed is None
    assert json.loads(content) == {"n": 2**60}


@pytest.mark.parametrize("params", [{"x": float("nan")}, {"x": object()}, ["not", "an", "object"]])
def test_params_that_are_not_a_json_object_fail_before_sending(params: Any) -> None:
    with pytest.raises(LatchGateRequestError):
        encode_params(params, "a")
