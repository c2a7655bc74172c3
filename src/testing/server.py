"""Serve an ASGI app over real HTTP on loopback, in a background thread, for tests and emulators.

```python
with serve_asgi(app) as base_url:        # e.g. "http://127.0.0.1:54321"
    httpx.get(f"{base_url}/health")
```

The listening socket is bound before uvicorn starts, so the port is known at once and a
:class:`BackgroundServer` can be stopped and started again on the same port (a platform that is
down for a while, then back).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


_THREAD_PREFIX = "govflow-asgi-"


class _QuietAccessLog(logging.Filter):
    """Drops uvicorn access-log records written by our background servers' threads.

    ``access_log=False`` is not enough: uvicorn logs whenever the access logger has handlers,
    and test frameworks (pytest's caplog) attach handlers to non-propagating loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith(_THREAD_PREFIX)


_quiet_lock = threading.Lock()
_quiet_installed = False


def _quiet_access_log() -> None:
    global _quiet_installed
    with _quiet_lock:
        if not _quiet_installed:
            logging.getLogger("uvicorn.access").addFilter(_QuietAccessLog())
            _quiet_installed = True


class ServerError(RuntimeError):
    """The server did not start (or did not stop) as asked."""


class BackgroundServer:
    """uvicorn running ``app`` in a daemon thread on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str | int | None = None,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.uvicorn_options = uvicorn_options
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (``http://[::1]:54321`` for IPv6)."""
        if not self.port:
            raise ServerError("the server has not been started yet")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> socket.socket:
        family, kind, proto, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            # Lets a restart bind the same port while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(512)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def start(self) -> str:
        """Start serving and return the base URL once uvicorn accepts connections."""
        with self._lock:
            if self.is_running:
                return self.url
            sock = self._bind()
            if not self.uvicorn_options.get("access_log", False):
                _quiet_access_log()
            options: dict[str, Any] = {
                "log_config": None,  # never reconfigure the host process's logging
                "access_log": False,
                "lifespan": "auto",
                "timeout_graceful_shutdown": self.shutdown_timeout,
                **self.uvicorn_options,
            }
            config = uvicorn.Config(self.app, log_level=self.log_level, **options)
            server = uvicorn.Server(config)
            failure: list[BaseException] = []

            def serve() -> None:
                try:
                    server.run(sockets=[sock])
                except BaseException as exc:  # SystemExit on a failed lifespan startup, too
                    failure.append(exc)

            thread = threading.Thread(target=serve, name=f"{_THREAD_PREFIX}{self.port}", daemon=True)
            thread.start()
            deadline = time.monotonic() + self.startup_timeout
            while not server.started:
                if not thread.is_alive():
                    sock.close()
                    cause = failure[0] if failure else None
                    raise ServerError(f"the ASGI server on {self.url} failed to start") from cause
                if time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(self.shutdown_timeout)
                    sock.close()
                    raise ServerError(f"the ASGI server on {self.url} did not start within {self.startup_timeout} s")
                time.sleep(0.002)
            self._server, self._thread, self._socket = server, thread, sock
            return self.url

    def stop(self) -> None:
        """Stop serving (graceful, then forced after ``shutdown_timeout``); keeps the port for a restart."""
        with self._lock:
            server, thread, sock = self._server, self._thread, self._socket
            self._server = self._thread = self._socket = None
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self.shutdown_timeout + 1.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(self.shutdown_timeout + 1.0)
        if sock is not None:
            sock.close()
        if thread.is_alive():
            raise ServerError(f"the ASGI server on {self.url} did not stop")

    def restart(self) -> str:
        self.stop()
        return self.start()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serve_asgi(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port for the duration of the block; yields the base URL."""
    server = BackgroundServer(app, host=host, port=port, **options)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


__all__ = ["ASGIApp", "BackgroundServer", "ServerError", "serve_asgi"]
