"""Contract validation per second: govflow's validator vs the official ``contractgate`` SDK's.

Both validate the same events against the same contracts, in the same run, interleaved, best of
several repeats, so the ratio is what to read:

- ``api_user_events`` (4 flat fields, a pattern, an enum, a number range),
- ``hero_events_v1.0.0`` (6 fields, a UUID pattern, ranges),
- ``order_events_nested`` (nested objects, an item array, 8 patterns, enums, a metric).

Each batch is seeded (same events every run): mostly passing events, some that fail, and a few
realistic edge values (an id with a trailing newline, a city name in accented letters at its
length limit) where the SDK's validator and the gateway disagree (spec section 9). Before timing,
every event's verdict is compared; the report of differences, with the reason for each, is
printed and summarised in the notes.

Run ``python benchmarks/bench_contractgate.py [--quick]``; ``benchmarks/run.py`` imports :func:`run`.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import contractgate

from govflow.core.platforms.contractgate.validator import compile_contract

CONTRACTS = Path(__file__).resolve().parent.parent / "tests" / "data" / "contractgate"

Triples = list[tuple[str, str, str]]


# --- seeded events ---------------------------------------------------------------------------


def _api_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        event: dict[str, Any] = {
            "user_id": f"u_{rng.randrange(10**6)}",
            "event_type": rng.choice(["click", "view", "purchase", "login"]),
            "timestamp": 1714000000 + i,
        }
        if rng.random() < 0.6:
            event["amount"] = round(rng.uniform(0, 500), 2)
        roll = rng.random()
        if roll < 0.04:
            event["event_type"] = "delete"
        elif roll < 0.07:
            event["amount"] = -rng.randrange(1, 100)
        elif roll < 0.09:
            event["timestamp"] = str(event["timestamp"])
        elif roll < 0.10:
            event["user_id"] += "\n"  # a trailing newline from a line-based export
        events.append(event)
    return events


def _hero_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        event: dict[str, Any] = {
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "method": rng.choice(["GET", "GET", "POST", "PUT", "DELETE"]),
            "path": rng.choice(["/", "/api/v1/orders", "/health", "/api/v1/users/42"]),
            "status": rng.choice([200, 200, 201, 204, 301, 404, 500]),
            "latency_ms": rng.randrange(1, 900),
            "timestamp": 1752000000 + i,
        }
        roll = rng.random()
        if roll < 0.05:
            event["method"] = "CONNECT"
        elif roll < 0.07:
            event["status"] = 700
        elif roll < 0.08:
            event["request_id"] = "NOT-A-UUID"
        elif roll < 0.09:
            event["request_id"] += "\n"
        events.append(event)
    return events


_CITIES = ["Berlin", "Lyon", "Austin", "Osaka", "Porto", "Québec", "São Paulo", "Zürich"]


def _order_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    events = []
    for i in range(count):
        items = [
            {
                "sku": f"SKU-{rng.randrange(10**5):05d}",
                "quantity": rng.randrange(1, 5),
                "unit_price": round(rng.uniform(1, 300), 2),
            }
            for _ in range(rng.randrange(1, 6))
        ]
        event: dict[str, Any] = {
            "order_id": "ord_" + "".join(rng.choice(alphabet) for _ in range(16)),
            "placed_at": 1714000000 + i * 7,
            "channel": rng.choice(["web", "ios", "android", "pos", "partner_api"]),
            "currency": rng.choice(["USD", "EUR", "JPY"]),
            "customer": {
                "id": f"cust_{rng.randrange(10**6)}",
                "email": f"user{rng.randrange(10**6)}@example.com",
                "tier": rng.choice(["free", "silver", "gold", "platinum"]),
                "address": {
                    "country": rng.choice(["US", "DE", "JP", "FR", "BR"]),
                    "postal_code": f"{rng.randrange(10**5):05d}",
                    "city": rng.choice(_CITIES),
                },
            },
            "items": items,
            "total_amount": round(sum(it["quantity"] * it["unit_price"] for it in items), 2),
            "payment": {"method": rng.choice(["card", "paypal", "apple_pay"]), "last4": f"{rng.randrange(10**4):04d}"},
        }
        roll = rng.random()
        if roll < 0.03:
            event["channel"] = "fax"
        elif roll < 0.05:
            event["customer"]["address"]["country"] = "USA"
        elif roll < 0.06:
            del event["payment"]
        elif roll < 0.07:
            # 80 characters, 90 UTF-8 bytes: within the limit for the SDK, over it for the gateway.
            event["customer"]["address"]["city"] = ("Évry-Courcouronnes " * 5)[:80]
        events.append(event)
    return events


CASES: list[tuple[str, str, Callable[[random.Random, int], list[dict[str, Any]]]]] = [
    ("api_user_events", "api_user_events.yaml", _api_events),
    ("hero_events v1.0.0", "hero_events_v1.0.0.yaml", _hero_events),
    ("order_events_nested", "order_events_nested.yaml", _order_events),
]


# --- where the verdicts differ, and why -----------------------------------------------------


def _reason(ours: Triples, theirs: Triples, event: Any) -> str:
    only_ours = [v for v in ours if v not in theirs]
    only_theirs = [v for v in theirs if v not in ours]
    if not only_ours and not only_theirs:
        return "same violations, different order (the gateway sorts undeclared keys)"
    kinds = {kind for _, kind, _ in only_ours + only_theirs}
    if kinds == {"pattern_mismatch"} and any('\\n"' in m for _, _, m in only_ours):
        return "pattern $ and a trailing newline: Rust's $ is the very end, Python's also matches before a final \\n"
    if kinds == {"length_violation"}:
        return "string length: the gateway counts UTF-8 bytes, the SDK code points"
    if kinds == {"enum_violation"}:
        return "enum equality: JSON values (1 != 1.0 != true) vs Python =="
    if {f for f, _, _ in only_ours} == {f for f, _, _ in only_theirs}:
        return "message text: Rust number/string formatting"
    return "other: " + ", ".join(sorted(kinds))


def compare(compiled: Any, sdk_compiled: Any, events: list[Any]) -> tuple[int, Counter[str]]:
    """Validate every event with both; return (events whose verdict differs, reasons of all differences)."""
    verdicts = 0
    reasons: Counter[str] = Counter()
    for event in events:
        ours = compiled.validate(event)
        theirs = sdk_compiled.validate(event)
        a = [(v.field, v.kind, v.message) for v in ours.violations]
        b = [(v.field, v.kind.value, v.message) for v in theirs.violations]
        if a != b:
            reasons[_reason(a, b, event)] += 1
        if ours.passed != theirs.passed:
            verdicts += 1
    return verdicts, reasons


# --- timing ----------------------------------------------------------------------------------


def _events_per_second(validate: Callable[[Any], Any], events: list[Any], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for event in events:
            validate(event)
    return rounds * len(events) / (time.perf_counter() - started)


def _rounds(validate: Callable[[Any], Any], events: list[Any], target_s: float) -> int:
    started = time.perf_counter()
    for event in events:
        validate(event)
    elapsed = max(time.perf_counter() - started, 1e-6)
    return max(1, int(target_s / elapsed))


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows per contract: the SDK's local validator (baseline), govflow's, and compile rates."""
    count, target_s, repeats = (300, 0.05, 3) if quick else (2000, 0.3, 7)
    sdk_name = f"contractgate {version('contractgate')} (SDK local validator)"
    rows: list[dict[str, Any]] = []
    report: list[str] = []
    for label, filename, make in CASES:
        text = (CONTRACTS / filename).read_text(encoding="utf-8")
        compiled = compile_contract(text, source=filename)
        sdk_compiled = contractgate.Contract.from_yaml(text).compile()
        events = make(random.Random(f"{label}-2026"), count)
        passed = sum(compiled.validate(e).passed for e in events)
        differing, reasons = compare(compiled, sdk_compiled, events)
        report.append(f"{label}: {count} events, verdicts differ on {differing}")
        report.extend(f"    {n:>4} x {reason}" for reason, n in reasons.most_common())

        ours, theirs = compiled.validate, sdk_compiled.validate
        rounds = {"govflow": _rounds(ours, events, target_s), "sdk": _rounds(theirs, events, target_s)}
        best = {"govflow": 0.0, "sdk": 0.0}
        for _ in range(repeats):  # interleaved, so drift on the machine hits both alike
            best["govflow"] = max(best["govflow"], _events_per_second(ours, events, rounds["govflow"]))
            best["sdk"] = max(best["sdk"], _events_per_second(theirs, events, rounds["sdk"]))
        benchmark = f"contract validate: {label} ({count} events, {100 * passed // count}% pass)"
        summary = "; ".join(f"{n}x {reason.split(':')[0]}" for reason, n in reasons.most_common())
        rows.append(
            {
                "benchmark": benchmark,
                "subject": sdk_name,
                "ops_per_s": best["sdk"],
                "baseline": "",
                "ratio": None,
                "notes": "Contract.from_yaml().compile().validate(event), events/s",
            }
        )
        rows.append(
            {
                "benchmark": benchmark,
                "subject": "govflow",
                "ops_per_s": best["govflow"],
                "baseline": sdk_name,
                "ratio": best["govflow"] / best["sdk"],
                "notes": f"compile_contract().validate(event); verdicts differ on {differing}/{count}"
                + (f" ({summary})" if summary else ""),
            }
        )

    # Compiling once is what makes validating many cheap; this is what once costs.
    text = (CONTRACTS / "order_events_nested.yaml").read_text(encoding="utf-8")
    compile_rounds = 20 if quick else 200
    timings: dict[str, float] = {}
    for subject, compile_once in (
        ("govflow", lambda: compile_contract(text)),
        ("sdk", lambda: contractgate.Contract.from_yaml(text).compile()),
    ):
        best_rate = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(compile_rounds):
                compile_once()
            best_rate = max(best_rate, compile_rounds / (time.perf_counter() - started))
        timings[subject] = best_rate
    rows.append(
        {
            "benchmark": "contract compile: order_events_nested",
            "subject": sdk_name,
            "ops_per_s": timings["sdk"],
            "baseline": "",
            "ratio": None,
            "notes": "Contract.from_yaml(text).compile()",
        }
    )
    rows.append(
        {
            "benchmark": "contract compile: order_events_nested",
            "subject": "govflow",
            "ops_per_s": timings["govflow"],
            "baseline": sdk_name,
            "ratio": timings["govflow"] / timings["sdk"],
            "notes": "compile_contract(text): YAML 1.2 + schema with lines + Rust-regex translation (cached)",
        }
    )
    print("Where govflow's validator (= the gateway) and the SDK's disagree:", file=sys.stderr)
    for line in report:
        print("  " + line, file=sys.stderr)
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv[1:]):
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        print(f"{row['benchmark']:<62} {row['subject']:<42} {row['ops_per_s']:>12,.0f}/s {ratio:>7}  {row['notes']}")
