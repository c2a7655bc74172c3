"""``python -m govflow.testing.latchgate [--port 8083] [--uds PATH] [--json]``: run the emulator.

Serves TCP on ``--host:--port`` (8083 unless only ``--uds`` is given), a Unix domain socket with
``--uds``, or both. Prints ``LATCHGATE_*=value`` lines (eval-able in a shell; ``--json``: one JSON
object) and the seeded action ids, then serves until SIGINT/SIGTERM. Drive it from another
process with the ``/_emulator/*`` control routes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from ._emulator import LatchGateEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m govflow.testing.latchgate", description="Serve the LatchGate emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=None, help="TCP port (default 8083; 0: a free port)"
    )
    parser.add_argument(
        "--uds", default=None, help="also (or, without --port, only) serve this socket"
    )
    parser.add_argument(
        "--public-base-url",
        default=None,
        help="htu base (default: the TCP URL, else http://localhost:3000)",
    )
    parser.add_argument("--lease-ttl", type=int, default=300, help="seconds (capped at 3600)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emu = LatchGateEmulator(lease_ttl=args.lease_ttl, public_base_url=args.public_base_url)
    serve_tcp = args.port is not None or args.uds is None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with ExitStack() as stack:
        info: dict[str, Any] = {}
        if serve_tcp:
            port = 8083 if args.port is None else args.port
            info["LATCHGATE_URL"] = stack.enter_context(emu.serve(args.host, port))
        if args.uds:
            info["LATCHGATE_SOCKET"] = stack.enter_context(emu.serve_unix(args.uds))
        info["LATCHGATE_PUBLIC_BASE_URL"] = emu.public_base_url
        for behaviour, action_id in emu.actions.items():
            info[f"LATCHGATE_ACTION_{behaviour.upper()}"] = action_id
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            for key, value in info.items():
                print(f"{key}={value}", flush=True)
            print(
                "# serving until interrupted; control routes under /_emulator/",
                file=sys.stderr,
                flush=True,
            )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
