"""DPoP proofs (RFC 9449) as LatchGate checks them (specs/latchgate.md section 3).

A :class:`DPoPKey` is an ephemeral P-256 key: one per lease, never written anywhere, never in a
repr. Its :meth:`DPoPKey.proof` builds the compact JWS

    header  {"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":..,"y":..}}
    payload {"jti":<uuid4>,"htm":<METHOD>,"htu":<normalised URL>,"iat":<unix s>[,"ath":..]}
    sig     raw 64-byte r||s (JWS ES256), not the DER that ``cryptography`` returns

with a fresh ``jti`` on every call, so a retry always carries a new proof: the gate rejects a
``jti`` it has seen (``replay_detected``), and a resent proof is exactly what a replay looks like.

Speed: the header segment (and the ``header.`` prefix of the signing input) is computed once per
key, the ``ath`` once per lease, the normalised ``htu`` once per route; per proof only the
payload is serialised and signed. ``benchmarks/bench_latchgate.py`` measures it against the SDK.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import time
from typing import Any

try:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "govflow's LatchGate client signs DPoP proofs with the 'cryptography' package: "
        "pip install 'govflow[latchgate]'"
    ) from exc

from ...canonical import canonicalize

DPOP_TYP = "dpop+jwt"
DPOP_ALG = "ES256"
_COORDINATE_BYTES = 32
_SIGNATURE = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def access_token_hash(token: str) -> str:
    """The ``ath`` claim: base64url(SHA-256(ASCII bytes of the exact token sent in Authorization))."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an EC public JWK (what the lease's ``cnf.jkt`` holds)."""
    members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]}
    return b64url(hashlib.sha256(canonicalize(members)).digest())


def normalize_htu(uri: str) -> str:
    """Normalise an ``htu`` the way the gate (and the SDK) compare it.

    1. drop ``#fragment``, then ``?query``;
    2. lowercase the scheme and the authority (the path keeps its case);
    3. drop ``:80`` for http and ``:443`` for https (the port is after the authority's last ``:``,
       so ``[::1]:8080`` keeps its port and a bracketed IPv6 address is left alone);
    4. an authority without a path gets ``/``;
    5. percent-encoding in the path is kept as is (``%2F`` stays ``%2F``).

    A value without ``://`` is returned unchanged (the gate rejects it).
    """
    uri = uri.split("#", 1)[0].split("?", 1)[0]
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    scheme = scheme.lower()
    slash = rest.find("/")
    if slash == -1:
        authority, path = rest, "/"
    else:
        authority, path = rest[:slash], rest[slash:]
    authority = authority.lower()
    host, colon, port = authority.rpartition(":")
    if colon and ((scheme == "http" and port == "80") or (scheme == "https" and port == "443")):
        authority = host
    return f"{scheme}://{authority}{path}"


def new_jti() -> str:
    """A random (version 4) UUID string from the OS CSPRNG: unpredictable, never reused.

    Formatted by hand: ``str(uuid.uuid4())`` costs more than twice as much, on every request.
    """
    data = bytearray(os.urandom(16))
    data[6] = (data[6] & 0x0F) | 0x40  # version 4
    data[8] = (data[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = data.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def der_to_raw(der: bytes) -> bytes:
    """JWS ES256 wants r||s, 32 bytes each; ``cryptography`` returns DER ``SEQUENCE {r, s}``.

    A P-256 signature's DER is at most 72 bytes, so every length is one short-form byte; an
    integer has a leading zero when its top bit is set, and fewer bytes when it is small.
    Anything else goes through ``decode_dss_signature``.
    """
    if len(der) > 8 and der[0] == 0x30 and der[1] == len(der) - 2 and der[2] == 0x02:
        r_len = der[3]
        s_at = 4 + r_len
        if der[s_at] == 0x02 and s_at + 2 + der[s_at + 1] == len(der):
            r = der[4:s_at].lstrip(b"\0")
            s = der[s_at + 2 :].lstrip(b"\0")
            if len(r) <= _COORDINATE_BYTES and len(s) <= _COORDINATE_BYTES:
                return r.rjust(_COORDINATE_BYTES, b"\0") + s.rjust(_COORDINATE_BYTES, b"\0")
    r_int, s_int = decode_dss_signature(der)
    return r_int.to_bytes(_COORDINATE_BYTES, "big") + s_int.to_bytes(_COORDINATE_BYTES, "big")


@functools.lru_cache(maxsize=1024)
def _htu_json(public_base_url: str, path: str) -> str:
    # A route's htu never changes: normalise and JSON-quote it once.
    return json.dumps(normalize_htu(public_base_url + path), ensure_ascii=True)


def _jwk_of(private_key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = private_key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        # Fixed 32-byte big-endian coordinates: a short integer must still give 32 bytes.
        "x": b64url(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
        "y": b64url(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
    }


class DPoPKey:
    """An ES256 key pair that signs DPoP proofs; the private half never leaves this object."""

    __slots__ = ("_header_b64", "_prefix", "_private", "jwk", "thumbprint")

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError(f"DPoP for LatchGate needs a P-256 key, not {private_key.curve.name}")
        self._private = private_key
        self.jwk: dict[str, str] = _jwk_of(private_key)
        """The public JWK, exactly ``kty``, ``crv``, ``x``, ``y`` (sent as ``dpop_jwk``)."""
        self.thumbprint = jwk_thumbprint(self.jwk)
        header = {"typ": DPOP_TYP, "alg": DPOP_ALG, "jwk": self.jwk}
        self._header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode("ascii"))
        self._prefix = self._header_b64 + "."

    @classmethod
    def generate(cls) -> DPoPKey:
        """A fresh ephemeral P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def header_segment(self) -> str:
        """The proof's first segment (the same for every proof of this key)."""
        return self._header_b64

    def proof(
        self,
        htm: str,
        htu: str,
        *,
        ath: str | None = None,
        iat: int | None = None,
        jti: str | None = None,
    ) -> str:
        """A signed proof for one request to the full URL ``htu`` (normalised here)."""
        return self.proof_for(htm, "", htu, ath=ath, iat=iat, jti=jti)

    def proof_for(
        self,
        htm: str,
        public_base_url: str,
        path: str,
        *,
        ath: str | None = None,
        iat: int | None = None,
        jti: str | None = None,
    ) -> str:
        """A signed proof for ``htm public_base_url + path``; the client's fast path.

        ``jti`` and ``iat`` are for tests only: a proof must never reuse a ``jti``.
        """
        claims = (
            f'{{"jti":"{jti if jti is not None else new_jti()}","htm":{json.dumps(htm.upper())},'
            f'"htu":{_htu_json(public_base_url, path)},"iat":{int(time.time()) if iat is None else int(iat)}'
        )
        claims += f',"ath":"{ath}"}}' if ath is not None else "}"
        signing_input = self._prefix + b64url(claims.encode("ascii"))
        der = self._private.sign(signing_input.encode("ascii"), _SIGNATURE)
        return signing_input + "." + b64url(der_to_raw(der))

    def __repr__(self) -> str:
        # The thumbprint identifies the key without revealing anything about the private half.
        return f"DPoPKey(thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> Any:
        # An ephemeral key must not be pickled into a task payload or a cache.
        raise TypeError("a DPoP key cannot be pickled; it lives only as long as its lease")


def decode_proof(proof: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """``(header, payload, raw signature)`` of a compact proof, unverified (for diagnostics and tests)."""
    parts = proof.split(".")
    if len(parts) != 3:
        raise ValueError("a DPoP proof has exactly three segments")
    header = json.loads(b64url_decode(parts[0]))
    payload = json.loads(b64url_decode(parts[1]))
    return header, payload, b64url_decode(parts[2])


__all__ = [
    "DPOP_ALG",
    "DPOP_TYP",
    "DPoPKey",
    "access_token_hash",
    "b64url",
    "b64url_decode",
    "decode_proof",
    "der_to_raw",
    "jwk_thumbprint",
    "new_jti",
    "normalize_htu",
]
