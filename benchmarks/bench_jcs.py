"""Canonical JSON (RFC 8785) + SHA-256 per second: govflow vs the ``rfc8785`` package.

Both hash the same inputs in the same run, interleaved, best of several repeats, so the ratio is
what to read (absolute numbers move with the machine):

- an evidence record (~1 KB): what govflow hashes for every step run;
- a small action body: a LatchGate HTTP action request, hashed per gated call;
- a larger nested document (~20 KB): a batch of records with lists, floats and non-ASCII text.

Before timing, each input is checked to canonicalise to identical bytes with both.

Run ``python benchmarks/bench_jcs.py [--quick]``; ``benchmarks/run.py`` imports :func:`run`.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import rfc8785

from govflow.core.canonical import canonicalize, digest


def _evidence_record() -> dict[str, Any]:
    """Shaped like a sealed step.finished record (DESIGN.md section 2), without its digest."""
    return {
        "stream": "airflow/nightly_scoring",
        "seq": 1842,
        "event": "step.finished",
        "outcome": "success",
        "context": {
            "orchestrator": "airflow",
            "pipeline": "nightly_scoring",
            "run_id": "scheduled__2026-11-21T02:00:00+00:00",
            "step": "score_customers",
            "attempt": 1,
            "map_index": 17,
            "partition": None,
            "labels": {"team": "risk", "env": "prod", "data_class": "confidential"},
        },
        "recorded_at": "2026-11-21T02:14:07.512345Z",
        "started_at": "2026-11-21T02:13:58.004211Z",
        "ended_at": "2026-11-21T02:14:07.498120Z",
        "decision_id": "dec_01JD8ZK4QF3X9N7T5W2R6Y1M0P",
        "approval_id": "apr_01JD8ZJ9H2B7C4D6E8F0G1K3L5",
        "references": {
            "receipt_id": "rcpt_7f3a9c2e5b1d4f6a8c0e2b4d6f8a0c2e",
            "policy_rule": "scoring.requires_approval_above_10k_rows",
            "contract_version": "customers@1.4.0",
        },
        "input_digest": "sha256:" + "3b" * 32,
        "output_digest": "sha256:" + "9e" * 32,
        "error": None,
        "details": {
            "rows_in": 12873,
            "rows_out": 12869,
            "duration_s": 9.493909,
            "model": {"name": "churn-gbm", "version": "2026.11.3", "auc": 0.8731},
            "quarantined": [104, 2218, 9031, 12777],
            "owner": "Zoë Müller",
        },
        "prev": "sha256:" + "c4" * 32,
    }


def _action_body() -> dict[str, Any]:
    """The "typical HTTP action request body" of LatchGate's JCS golden vectors."""
    return {
        "url": "https://api.github.com/repos/anthropics/claude",
        "method": "GET",
        "headers": {"Accept": "application/json"},
    }


def _nested_document() -> dict[str, Any]:
    records = []
    for i in range(60):
        records.append(
            {
                "id": f"evt-{i:05d}",
                "user": {
                    "name": f"user {i} — ünïcødé 日本 🎉",
                    "tier": ["free", "pro", "team"][i % 3],
                },
                "amount": round(i * 13.37 + 0.01, 2),
                "ratio": i / 7,
                "tiny": 1e-9 * (i + 1),
                "flags": [i % 2 == 0, i % 3 == 0, None],
                "tags": {f"k{j}": j * i for j in range(8)},
                "history": [{"at": f"2026-11-{(i % 28) + 1:02d}", "delta": -i * 0.5}] * 3,
            }
        )
    return {"batch_id": "batch-2026-11-21", "schema": "orders@2.0.0", "records": records}


INPUTS: list[tuple[str, Any]] = [
    ("evidence record", _evidence_record()),
    ("small action body", _action_body()),
    ("larger nested document", _nested_document()),
]


def _govflow(value: Any) -> str:
    return digest(value)


def _reference(value: Any) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def _ops_per_second(fn: Callable[[Any], str], value: Any, number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        fn(value)
    return number / (time.perf_counter() - started)


def _calibrate(fn: Callable[[Any], str], value: Any, target_s: float) -> int:
    """Iterations per repeat so that one repeat takes about ``target_s``."""
    number = 1
    while True:
        started = time.perf_counter()
        for _ in range(number):
            fn(value)
        elapsed = time.perf_counter() - started
        if elapsed >= target_s / 4:
            return max(1, int(number * target_s / elapsed))
        number *= 4


def _size(value: Any) -> str:
    size = len(canonicalize(value))
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """One row per (input, implementation); govflow's rows carry the ratio to rfc8785's."""
    target_s, repeats = (0.05, 3) if quick else (0.25, 7)
    reference_name = f"rfc8785 {version('rfc8785')}"
    rows: list[dict[str, Any]] = []
    for label, value in INPUTS:
        ours, theirs = canonicalize(value), rfc8785.dumps(value)
        if ours != theirs:
            raise AssertionError(f"{label}: govflow and rfc8785 disagree:\n{ours!r}\n{theirs!r}")
        benchmark = f"jcs+sha256: {label} ({_size(value)})"
        numbers = {
            "govflow": _calibrate(_govflow, value, target_s),
            "reference": _calibrate(_reference, value, target_s),
        }
        best = {"govflow": 0.0, "reference": 0.0}
        for _ in range(repeats):  # interleaved, so drift on the machine hits both alike
            best["govflow"] = max(
                best["govflow"], _ops_per_second(_govflow, value, numbers["govflow"])
            )
            best["reference"] = max(
                best["reference"], _ops_per_second(_reference, value, numbers["reference"])
            )
        rows.append(
            {
                "benchmark": benchmark,
                "subject": reference_name,
                "ops_per_s": best["reference"],
                "baseline": "",
                "ratio": None,
                "notes": "rfc8785.dumps + hashlib.sha256",
            }
        )
        rows.append(
            {
                "benchmark": benchmark,
                "subject": "govflow",
                "ops_per_s": best["govflow"],
                "baseline": reference_name,
                "ratio": best["govflow"] / best["reference"],
                "notes": "govflow.core.canonical.digest; identical bytes checked",
            }
        )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        print(f"{row['benchmark']:<45} {row['subject']:<14} {row['ops_per_s']:>12,.0f}/s {ratio}")
