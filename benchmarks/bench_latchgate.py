"""DPoP proofs per second: govflow's LatchGate client vs the official ``latchgate`` SDK.

Every authenticated LatchGate request carries a fresh ES256 proof, so proof generation is on the
path of every execute, receipt read and approval poll. Both builders sign with **the same P-256
private key** in the same run, interleaved, best of several repeats, each measured as the client
does it per request:

- ``latchgate`` SDK: ``DPoPKeyPair.sign_proof(htm, public_base_url + path, compute_ath(lease))``,
  which is what ``LatchGateClient._dpop_headers`` runs per request;
- govflow: ``DPoPKey.proof_for(htm, public_base_url, path, ath=lease.ath)``, which is what
  ``DPoPAuth.sign`` runs per attempt (the header segment is precomputed per key, ``ath`` per lease,
  the normalised ``htu`` per route);
- a ceiling row: the ECDSA P-256 signature alone (``cryptography``), which no proof builder can beat.

Before timing, a proof of each builder is verified by the emulator's gate-side verifier (the
checks of spec section 3.1), so both are measured doing the same, correct work.

Run ``python benchmarks/bench_latchgate.py [--quick]``; ``benchmarks/run.py`` imports :func:`run`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from latchgate._crypto import DPoPKeyPair, compute_ath

from govflow.core.platforms.latchgate import DPoPKey, access_token_hash
from govflow.testing.latchgate._crypto import verify_proof

PUBLIC_BASE_URL = "http://localhost:3000"
PATH = "/v1/actions/http_fetch/execute"
# A lease JWT of the real server's size (ES256 header, ~10 claims, 64-byte signature).
LEASE = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjAxMjM0NTY3ODlhYmNkZWYifQ." + "x" * 420 + "." + "s" * 86


def _builders() -> tuple[dict[str, Callable[[], str]], Callable[[], Any], DPoPKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    sdk = DPoPKeyPair._from_private_key(private)
    ours = DPoPKey(private)
    ath = access_token_hash(LEASE)
    signature = ec.ECDSA(hashes.SHA256())
    payload = b"x" * 330  # about the size of a proof's signing input

    def sdk_proof() -> str:
        return sdk.sign_proof(htm="POST", htu=f"{PUBLIC_BASE_URL}{PATH}", ath=compute_ath(LEASE))

    def govflow_proof() -> str:
        return ours.proof_for("POST", PUBLIC_BASE_URL, PATH, ath=ath)

    def raw_signature() -> Any:
        return private.sign(payload, signature)

    return {"sdk": sdk_proof, "govflow": govflow_proof}, raw_signature, ours


def _check(name: str, proof: str, key: DPoPKey) -> None:
    claims = verify_proof(
        proof,
        htm="POST",
        htu=PUBLIC_BASE_URL + PATH,
        lease_jwt=LEASE,
        cnf_jkt=key.thumbprint,
        now=time.time(),
    )
    if claims.htu != PUBLIC_BASE_URL + PATH:
        raise AssertionError(f"{name}: unexpected htu {claims.htu!r}")


def _ops_per_second(fn: Callable[[], Any], number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        fn()
    return number / (time.perf_counter() - started)


def _calibrate(fn: Callable[[], Any], target_s: float) -> int:
    number = 1
    while True:
        started = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= target_s / 4:
            return max(1, int(number * target_s / elapsed))
        number *= 4


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows: the SDK (baseline), govflow (ratio to the SDK), the bare signature (ceiling)."""
    target_s, repeats = (0.05, 3) if quick else (0.25, 9)
    builders, raw_signature, key = _builders()
    for name, build in builders.items():
        _check(name, build(), key)
    proofs = {build() for build in builders.values() for _ in range(100)}
    if len(proofs) != 2 * 100:
        raise AssertionError("a proof builder repeated a proof (jti not fresh)")
    subjects: dict[str, Callable[[], Any]] = {**builders, "ceiling": raw_signature}
    numbers = {name: _calibrate(fn, target_s) for name, fn in subjects.items()}
    best = dict.fromkeys(subjects, 0.0)
    for _ in range(repeats):  # interleaved, so drift on the machine hits all alike
        for name, fn in subjects.items():
            best[name] = max(best[name], _ops_per_second(fn, numbers[name]))
    sdk_name = f"latchgate {version('latchgate')}"
    benchmark = "DPoP proof, ES256 P-256, one per request"
    return [
        {
            "benchmark": benchmark,
            "subject": sdk_name,
            "ops_per_s": best["sdk"],
            "baseline": "",
            "ratio": None,
            "notes": "sign_proof + compute_ath, as _dpop_headers does per request",
        },
        {
            "benchmark": benchmark,
            "subject": "govflow",
            "ops_per_s": best["govflow"],
            "baseline": sdk_name,
            "ratio": best["govflow"] / best["sdk"],
            "notes": "DPoPKey.proof_for, as DPoPAuth.sign does per attempt; same key",
        },
        {
            "benchmark": benchmark,
            "subject": "ECDSA P-256 sign alone",
            "ops_per_s": best["ceiling"],
            "baseline": "",
            "ratio": None,
            "notes": f"cryptography {version('cryptography')}: the ceiling of any proof builder",
        },
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        print(f"{row['benchmark']:<42} {row['subject']:<24} {row['ops_per_s']:>10,.0f}/s {ratio}")
