"""``python -m govflow.testing.contractgate [--port 8082] [--json]``: run the emulator until Ctrl-C.

Prints the base URL, the seeded API key and the seeded contract ids (``--json``: one JSON line,
for programs that start it, such as benchmarks), then serves until SIGINT/SIGTERM. Drive it from
another process with the ``/_emulator/*`` control routes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._emulator import ContractGateEmulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m govflow.testing.contractgate",
        description="Serve the ContractGate emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082, help="0 picks a free port")
    parser.add_argument(
        "--api-key", default=None, help="use this cg_live_ key instead of a new one"
    )
    parser.add_argument("--batch-limit", type=int, default=1000)
    parser.add_argument("--rate-limit-rps", type=int, default=None, help="turns rate limiting on")
    parser.add_argument("--rate-limit-burst", type=int, default=None, help="turns rate limiting on")
    parser.add_argument("--monthly-event-cap", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args(argv)

    emulator = ContractGateEmulator(
        args.batch_limit,
        args.rate_limit_rps,
        args.rate_limit_burst,
        api_key=args.api_key,
        monthly_event_cap=args.monthly_event_cap,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator.serve(args.host, args.port) as base_url:
        if args.json:
            info = {
                "base_url": base_url,
                "api_key": emulator.api_key,
                "contracts": emulator.contracts,
            }
            print(json.dumps(info), flush=True)
        else:
            print(f"ContractGate emulator on {base_url}")
            print(f"CONTRACTGATE_BASE_URL={base_url}")
            print(f"CONTRACTGATE_API_KEY={emulator.api_key}")
            for name, contract_id in emulator.contracts.items():
                print(f"contract {name:<16} {contract_id}")
            print(f"control routes: {base_url}/_emulator/ ; Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
