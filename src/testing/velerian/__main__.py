"""``python -m govflow.testing.velerian [--port 8080] [--json]``: run the emulator until Ctrl-C.

Prints the base URL, the seeded API key, ABP ids and network slugs (``--json``: one JSON line, for
programs that start it, such as benchmarks/bench_velerian.py), then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from . import VelerianEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m govflow.testing.velerian", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--storage-host",
        default=None,
        help="host of the presigned-URL storage (default: 127.0.0.2 if possible)",
    )
    parser.add_argument("--storage-port", type=int, default=0)
    parser.add_argument("--page-cap", type=int, default=500)
    parser.add_argument(
        "--api-key", default=None, help="use this vk_live_ key instead of a new one"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args(argv)

    emulator = VelerianEmulator(page_cap=args.page_cap, api_key=args.api_key)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator.serve(
        args.host, args.port, storage_host=args.storage_host, storage_port=args.storage_port
    ) as base_url:
        info = {
            "base_url": base_url,
            "storage_url": emulator.storage.url,
            "api_key": emulator.api_key,
            "tenant": "tenant-1",
            "abps": emulator.abps,
            "networks": emulator.networks,
        }
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(f"Velerian emulator on {base_url} (presigned storage on {emulator.storage.url})")
            print(f"VELERIAN_BASE_URL={base_url}")
            print(f"VELERIAN_API_KEY={emulator.api_key}")
            for behaviour, abp_id in emulator.abps.items():
                print(f"ABP {behaviour:<9} {abp_id}")
            for behaviour, slug in emulator.networks.items():
                print(f"network {behaviour:<9} {slug}")
            print("Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
