"""ES256 leases and DPoP proof verification, in the LatchGate server's order (spec §3, §3.1).

Written from the wire contract with ``cryptography`` only; nothing here is shared with govflow's
client, so the emulator checks the client independently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

IAT_MAX_AGE = 60  # seconds a proof may be old
IAT_CLOCK_SKEW = 5  # seconds a proof may be ahead of the server
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url (as Rust's ``Base64UrlUnpadded``): no padding, no stray
    characters, canonical trailing bits. ``ValueError`` otherwise."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("invalid base64url")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64url") from exc
    if b64url(data) != text:  # non-canonical trailing bits
        raise ValueError("invalid base64url")
    return data


def uuid7() -> str:
    """A UUIDv7 string (48-bit unix milliseconds, then random), as the server's ids are."""
    value = (int(time.time() * 1000) & ((1 << 48) - 1)) << 80
    value |= secrets.randbits(80)
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def normalize_htu(uri: str) -> str:
    """The server's htu normalisation (spec §3, the 6 cases of §6).

    Drop ``#fragment`` then ``?query``; lowercase scheme and authority; drop ``:80`` (http) and
    ``:443`` (https) after the last ``:``; an authority without a path gets ``/``; the path keeps
    its case and percent-encoding. A value without ``://`` is an error.
    """
    uri = uri.split("#", 1)[0].split("?", 1)[0]
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ValueError(f"missing '://' in '{uri}'")
    scheme = scheme.lower()
    authority, slash, path = rest.partition("/")
    authority = authority.lower()
    host, colon, port = authority.rpartition(":")
    if colon and (scheme, port) in (("http", "80"), ("https", "443")):
        authority = host
    return f"{scheme}://{authority}{slash + path if slash else '/'}"


def jwk_thumbprint(x: str, y: str) -> str:
    """RFC 7638 thumbprint of a P-256 JWK: SHA-256 of the lexicographic required members."""
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    """``ath``: base64url(SHA-256(the lease JWT as sent))."""
    return b64url(hashlib.sha256(token.encode("ascii", errors="replace")).digest())


def public_key_from_xy(x: bytes, y: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 point 0x04||x||y; ``ValueError`` when it is not 65 bytes or not on the curve."""
    if len(x) != 32 or len(y) != 32:
        raise ValueError("coordinates must be 32 bytes")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def sign_es256(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """Raw 64-byte r||s (JWS ES256), not DER."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_es256(key: ec.EllipticCurvePublicKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


# --- leases ---------------------------------------------------------------------------------


class LeaseError(Exception):
    """A lease the server rejects: ``code`` is ``lease_expired`` or ``invalid_lease``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class LeaseSigner:
    """The per-process lease-signing key (a restart makes a new one, so old leases fail)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = self._key.public_key()
        spki = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = hashlib.sha256(spki).hexdigest()[:16]
        numbers = public.public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        self._public = public
        # token -> claims of a signature already checked; exp/nbf are still checked every time
        self._verified: dict[str, dict[str, Any]] = {}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(_compact(header))}.{b64url(_compact(claims))}"
        return f"{signing_input}.{b64url(sign_es256(self._key, signing_input.encode()))}"

    def verify(self, token: str, now: float) -> dict[str, Any]:
        """The claims of a lease this key signed, checked with zero leeway (spec §3.1 step 3)."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token)
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[token] = claims
        if int(claims["exp"]) < int(now):
            raise LeaseError("lease_expired", "ExpiredSignature")
        if int(claims["nbf"]) > int(now):
            raise LeaseError("invalid_lease", "lease not yet valid (nbf)")
        return claims

    def _check_signature(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise LeaseError("invalid_lease", "InvalidToken")
        try:
            header = json.loads(b64url_decode(parts[0]))
        except ValueError:
            raise LeaseError("invalid_lease", "InvalidToken") from None
        if not isinstance(header, dict):
            raise LeaseError("invalid_lease", "InvalidToken")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise LeaseError("invalid_lease", "missing kid in header")
        if kid != self.kid:
            raise LeaseError("invalid_lease", f"unknown kid: {kid}")
        if header.get("alg") != "ES256":
            raise LeaseError("invalid_lease", "InvalidAlgorithm")
        try:
            signature = b64url_decode(parts[2])
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            raise LeaseError("invalid_lease", "InvalidToken") from None
        if not verify_es256(self._public, f"{parts[0]}.{parts[1]}".encode(), signature):
            raise LeaseError("invalid_lease", "InvalidSignature")
        if not isinstance(claims, dict):
            raise LeaseError("invalid_lease", "InvalidToken")
        for name in ("exp", "nbf", "iat", "iss", "sub", "aud", "jti"):
            if name not in claims:
                raise LeaseError("invalid_lease", f"Missing required claim: {name}")
        if not all(isinstance(claims[n], int) for n in ("exp", "nbf", "iat")):
            raise LeaseError("invalid_lease", "InvalidToken")
        if claims["iss"] != "latchgate":
            raise LeaseError("invalid_lease", "InvalidIssuer")
        if claims["aud"] != "latchgate":
            raise LeaseError("invalid_lease", "InvalidAudience")
        return claims


# --- DPoP proofs --------------------------------------------------------------------------------


class DPoPError(Exception):
    """An invalid proof: the server answers 401 ``invalid_dpop`` with this ``deny_reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProofClaims:
    jti: str
    htm: str
    htu: str
    iat: int
    ath: str


def _header_key(header_b64: str, cnf_jkt: str) -> ec.EllipticCurvePublicKey:
    """Header checks up to the key binding: typ, alg, jwk (EC, P-256, x, y, on curve), jkt."""
    try:
        header = json.loads(b64url_decode(header_b64))
    except ValueError as exc:  # bad base64url, bad UTF-8 or bad JSON
        if str(exc) == "invalid base64url":
            raise DPoPError("invalid base64url encoding in JWT header") from None
        raise DPoPError("JWT header is not valid JSON") from None
    if not isinstance(header, dict):
        raise DPoPError("JWT header is not valid JSON")

    def text(obj: dict[str, Any], name: str) -> str | None:
        value = obj.get(name)
        return value if isinstance(value, str) else None

    def shown(value: str | None) -> str:
        return "None" if value is None else f'Some("{value}")'

    typ = text(header, "typ")
    if typ != "dpop+jwt":
        raise DPoPError(f"typ must be 'dpop+jwt', got {shown(typ)}")
    alg = text(header, "alg")
    if alg != "ES256":
        raise DPoPError(f"alg must be 'ES256', got {shown(alg)}")
    jwk = header.get("jwk")
    if jwk is None:
        raise DPoPError("'jwk' header claim is required in DPoP proofs")
    if not isinstance(jwk, dict):
        jwk = {}
    kty = text(jwk, "kty")
    if kty != "EC":
        raise DPoPError(f"jwk.kty must be 'EC', got {shown(kty)}")
    crv = text(jwk, "crv")
    if crv != "P-256":
        raise DPoPError(f"jwk.crv must be 'P-256', got {shown(crv)}")
    x, y = text(jwk, "x"), text(jwk, "y")
    if x is None:
        raise DPoPError("jwk.x is required")
    if y is None:
        raise DPoPError("jwk.y is required")
    try:
        x_bytes = b64url_decode(x)
    except ValueError:
        raise DPoPError("invalid base64url in jwk.x") from None
    try:
        y_bytes = b64url_decode(y)
    except ValueError:
        raise DPoPError("invalid base64url in jwk.y") from None
    try:
        key = public_key_from_xy(x_bytes, y_bytes)
    except ValueError:
        raise DPoPError("invalid P-256 public key (point not on curve)") from None
    if not hmac.compare_digest(jwk_thumbprint(x, y).encode(), cnf_jkt.encode()):
        raise DPoPError("DPoP key thumbprint does not match lease cnf.jkt (key binding failure)")
    return key


def _claims(payload_b64: str) -> ProofClaims:
    prefix = "payload claims invalid or missing required fields: "
    try:
        payload = json.loads(b64url_decode(payload_b64))
    except ValueError as exc:
        if str(exc) == "invalid base64url":
            raise DPoPError("invalid base64url encoding in JWT payload") from None
        raise DPoPError(prefix + "expected value") from None
    if not isinstance(payload, dict):
        raise DPoPError(prefix + "invalid type: expected struct DPoPClaims")
    for name in ("jti", "htm", "htu", "iat", "ath"):
        if name not in payload:
            raise DPoPError(prefix + f"missing field `{name}`")
    for name in ("jti", "htm", "htu", "ath"):
        if not isinstance(payload[name], str):
            raise DPoPError(prefix + f"invalid type for `{name}`: expected a string")
    iat = payload["iat"]
    if isinstance(iat, bool) or not isinstance(iat, int) or not -(2**63) <= iat < 2**63:
        raise DPoPError(prefix + "invalid type for `iat`: expected i64")
    return ProofClaims(payload["jti"], payload["htm"], payload["htu"], iat, payload["ath"])


def verify_proof(
    proof: str,
    *,
    htm: str,
    htu: str,
    lease_jwt: str,
    cnf_jkt: str,
    now: float,
    key_cache: dict[str, ec.EllipticCurvePublicKey] | None = None,
) -> ProofClaims:
    """Verify a DPoP proof exactly in the server's order (spec §3.1 step 4 and 5).

    With ``key_cache`` (the server's optimisation, keyed by ``cnf.jkt``), a key that already
    verified a proof is reused and the header is not parsed again.
    """
    parts = proof.split(".", 2)
    if len(parts) != 3:
        raise DPoPError("malformed JWT: expected exactly 3 dot-separated segments")
    header_b64, payload_b64, sig_b64 = parts
    cached = key_cache.get(cnf_jkt) if key_cache is not None else None
    key = cached if cached is not None else _header_key(header_b64, cnf_jkt)
    try:
        signature = b64url_decode(sig_b64)
    except ValueError:
        raise DPoPError("invalid base64url encoding in JWT signature") from None
    if not verify_es256(key, f"{header_b64}.{payload_b64}".encode(), signature):
        raise DPoPError("signature verification failed")
    if key_cache is not None and cached is None:
        key_cache[cnf_jkt] = key  # only after a proof of possession
    claims = _claims(payload_b64)
    if claims.htm != htm.upper():
        raise DPoPError(f"htm mismatch: expected '{htm.upper()}', got '{claims.htm}'")
    try:
        expected = normalize_htu(htu)
    except ValueError as exc:
        raise DPoPError(f"expected_htu normalisation failed: invalid URI: {exc}") from None
    try:
        got = normalize_htu(claims.htu)
    except ValueError as exc:
        raise DPoPError(f"proof htu normalisation failed: invalid URI: {exc}") from None
    if got != expected:
        raise DPoPError(f"htu mismatch: expected '{expected}', got '{got}'")
    current = int(now)
    if claims.iat < current - IAT_MAX_AGE:
        raise DPoPError(f"iat too old: {claims.iat} (now={current}, max_age={IAT_MAX_AGE}s)")
    if claims.iat > current + IAT_CLOCK_SKEW:
        raise DPoPError(
            f"iat too far in future: {claims.iat} (now={current}, allowed_skew={IAT_CLOCK_SKEW}s)"
        )
    if not hmac.compare_digest(claims.ath.encode(), access_token_hash(lease_jwt).encode()):
        raise DPoPError("ath does not match SHA-256 of the presented access token")
    return claims


__all__ = [
    "IAT_CLOCK_SKEW",
    "IAT_MAX_AGE",
    "DPoPError",
    "LeaseError",
    "LeaseSigner",
    "ProofClaims",
    "access_token_hash",
    "b64url",
    "b64url_decode",
    "jwk_thumbprint",
    "normalize_htu",
    "public_key_from_xy",
    "sign_es256",
    "uuid7",
    "verify_es256",
    "verify_proof",
]
