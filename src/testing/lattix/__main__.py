"""``python -m govflow.testing.lattix``: run the Lattix emulator as a process.

Prints ``LATTIX_*=value`` lines (eval-able in a shell), or one JSON object with ``--json``,
then serves until interrupted. Drive it from another process with the ``/_lattix/*`` routes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._emulator import LattixEmulator
from ._schema import ENUMS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m govflow.testing.lattix", description="Serve the Lattix /v1/sdk/* emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument(
        "--auth-mode", default="bearer_token_or_trusted_headers", choices=ENUMS["AuthMode"]
    )
    parser.add_argument("--tenant-id", default="acme-prod")
    parser.add_argument("--user-id", default="svc-claims")
    parser.add_argument("--bearer-token", help="default: a random token")
    parser.add_argument("--client-id", default="claims-batch")
    parser.add_argument("--client-secret", help="default: a random secret")
    parser.add_argument("--session-ttl", type=int, default=900, help="seconds")
    parser.add_argument("--path-prefix", default="", help="serve under this path, e.g. /api")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emu = LattixEmulator(
        args.auth_mode,
        tenant_id=args.tenant_id,
        user_id=args.user_id,
        bearer_token=args.bearer_token,
        client_id=args.client_id,
        client_secret=args.client_secret,
        session_ttl=args.session_ttl,
        path_prefix=args.path_prefix,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with emu.serve(args.host, args.port) as base_url:
        info: dict[str, Any] = {
            "LATTIX_BASE_URL": base_url,
            "LATTIX_BEARER_TOKEN": emu.bearer_token,
            "LATTIX_TENANT_ID": emu.tenant_id,
            "LATTIX_USER_ID": emu.user_id,
            "LATTIX_CLIENT_ID": emu.client_id,
            "LATTIX_CLIENT_SECRET": emu.client_secret,
            "LATTIX_AUTH_MODE": emu.auth_mode,
        }
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            for key, value in info.items():
                print(f"{key}={value}", flush=True)
            print(
                f"# serving until interrupted; control routes: {emu.root_url}/_lattix/",
                file=sys.stderr,
                flush=True,
            )
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
