"""Serving an ASGI app on a Unix domain socket, the LatchGate server's default transport.

:class:`UnixBackgroundServer` is :class:`~govflow.testing.server.BackgroundServer` with the
listening socket bound to a filesystem path instead of a TCP port: the same background thread,
start/stop/restart, and quiet access log.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path
from typing import Any

from ..server import ASGIApp, BackgroundServer, ServerError

# sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS), the terminating NUL included.
_MAX_PATH_BYTES = 103


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file left by an earlier run; never anything that is not a socket."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServerError(f"{path} exists and is not a socket; refusing to replace it")
    path.unlink()


class UnixBackgroundServer(BackgroundServer):
    """uvicorn serving ``app`` on the Unix domain socket ``path`` in a daemon thread.

    The socket's directory is created (mode 0700) when missing, as the LatchGate server does for
    its default ``/tmp/latchgate-{uid}/``; the socket file is removed on stop.
    """

    def __init__(self, app: ASGIApp, path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(app, host="localhost", port=0, **options)
        self.path = Path(path)
        if len(os.fsencode(self.path)) > _MAX_PATH_BYTES:
            raise ValueError(
                f"socket path {str(self.path)!r} is longer than {_MAX_PATH_BYTES} bytes, "
                "which AF_UNIX does not allow; use a shorter path (e.g. under /tmp)"
            )

    @property
    def url(self) -> str:
        return f"unix:{self.path}"

    def _bind(self) -> socket.socket:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _remove_stale_socket(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(os.fspath(self.path))
            sock.listen(512)
        except BaseException:
            sock.close()
            raise
        return sock

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(FileNotFoundError, ServerError):
            _remove_stale_socket(self.path)


__all__ = ["UnixBackgroundServer"]
