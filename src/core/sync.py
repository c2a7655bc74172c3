"""Blocking access to govflow's async clients (DESIGN section 3, "Async first").

Each client gets ONE private event-loop thread (:class:`LoopThread`). Every call is submitted
to that loop with ``run_coroutine_threadsafe`` and the caller blocks on the result, so:

- it works from plain threads (Airflow workers, Dagster ops), from many threads at once, and
  from inside a thread that is already running an event loop (Prefect, Jupyter), because the
  client's coroutines never run on the caller's loop and ``asyncio.run`` is never called;
- the ``httpx.AsyncClient`` and its connection pool live on that one loop for the client's whole
  life, so connections are reused between calls;
- calling the blocking API from the loop thread itself (it would wait for itself forever)
  raises a clear :class:`RuntimeError` instead.

:class:`SyncProxy` (or :func:`syncify`) turns an async object into a blocking one: coroutine
methods block, async iterators become iterators, ``close()`` and ``with`` run the object's
``aclose()`` on its loop and stop the thread. A proxy that is garbage collected without being
closed does the same through ``weakref.finalize``, so no thread is leaked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import itertools
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")
_Y = TypeVar("_Y")
_R = TypeVar("_R")

_names = itertools.count(1)
_SHUTDOWN_TIMEOUT = 10.0


class _LoopState:
    """What the thread and the finalizer share; holds no reference to the LoopThread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.closed = False


def _run_forever(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _stop(state: _LoopState, timeout: float = _SHUTDOWN_TIMEOUT) -> None:
    with state.lock:
        state.closed = True
        loop, thread = state.loop, state.thread
    if loop is None or thread is None:
        return
    with contextlib.suppress(RuntimeError):  # the loop is already closed
        loop.call_soon_threadsafe(loop.stop)
    if threading.current_thread() is not thread:
        thread.join(timeout)


class LoopThread:
    """A private asyncio event loop running in a daemon thread, started on first use."""

    def __init__(self, name: str | None = None) -> None:
        self._state = _LoopState(name or f"govflow-loop-{next(_names)}")
        # Stops the thread when this object is collected or the interpreter exits.
        self._finalizer = weakref.finalize(self, _stop, self._state)

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def thread(self) -> threading.Thread | None:
        return self._state.thread

    @property
    def is_running(self) -> bool:
        thread = self._state.thread
        return thread is not None and thread.is_alive() and not self._state.closed

    @property
    def is_closed(self) -> bool:
        return self._state.closed

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, starting the thread if needed."""
        return self.start()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._state.thread

    def start(self) -> asyncio.AbstractEventLoop:
        state = self._state
        with state.lock:
            if state.closed:
                raise RuntimeError(f"{state.name} is closed")
            if state.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(target=_run_forever, args=(loop, ready), name=state.name, daemon=True)
                thread.start()
                ready.wait()
                state.loop, state.thread = loop, thread
            return state.loop

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``coro`` on the loop and block until it finishes (or ``timeout`` seconds pass).

        On timeout (or a KeyboardInterrupt while waiting) the coroutine is cancelled.
        """
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                f"a blocking govflow call was made from its own event-loop thread ({self.name}); "
                "inside async code, await the async client instead of using the sync facade"
            )
        try:
            loop = self.start()
        except BaseException:
            coro.close()
            raise
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the call did not finish within {timeout} s; it was cancelled") from None
        except BaseException:
            future.cancel()
            raise

    def close(self, timeout: float = _SHUTDOWN_TIMEOUT) -> None:
        """Stop the loop (cancelling what still runs on it) and join the thread; idempotent."""
        self._finalizer.detach()
        _stop(self._state, timeout)

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.is_closed else "running" if self.is_running else "idle"
        return f"<LoopThread {self.name} {state}>"


class SyncIterator(Generic[_Y]):
    """A blocking iterator over an async iterator that lives on a :class:`LoopThread`."""

    def __init__(self, iterator: AsyncIterator[_Y], loop: LoopThread, timeout: float | None = None) -> None:
        self._iterator = iterator
        self._loop = loop
        self._timeout = timeout
        self._done = False

    def __iter__(self) -> SyncIterator[_Y]:
        return self

    def __next__(self) -> _Y:
        if self._done:
            raise StopIteration
        item: tuple[bool, Any] = self._loop.run(_anext(self._iterator), self._timeout)
        if not item[0]:
            self._done = True
            raise StopIteration
        value: _Y = item[1]
        return value

    def close(self) -> None:
        """Finish the async iterator early (runs its ``aclose()`` on the loop)."""
        if self._done:
            return
        self._done = True
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None and not self._loop.is_closed:
            self._loop.run(_await(aclose()), self._timeout)

    def __enter__(self) -> SyncIterator[_Y]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _anext(iterator: AsyncIterator[Any]) -> tuple[bool, Any]:
    # StopAsyncIteration must not escape a coroutine run by another thread's future.
    try:
        return True, await iterator.__anext__()
    except StopAsyncIteration:
        return False, None


async def _await(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


async def _call(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # Called on the loop thread, so even plain methods never touch the object concurrently.
    result = function(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


_background: set[asyncio.Future[Any]] = set()


def _close_target(target: Any, loop: LoopThread, owns_loop: bool) -> None:
    """Finalizer: close the async object on its loop, then stop a loop the proxy owns."""
    aclose = getattr(target, "aclose", None)
    if loop.in_loop_thread():
        # Collected on the loop thread itself: blocking would deadlock, so chain the steps.
        async def shutdown() -> None:
            try:
                if aclose is not None:
                    await aclose()
            finally:
                if owns_loop:
                    loop.close()

        task = asyncio.ensure_future(shutdown(), loop=loop.loop)
        _background.add(task)
        task.add_done_callback(_background.discard)
        return
    try:
        if aclose is not None and loop.is_running:
            loop.run(_await(aclose()), _SHUTDOWN_TIMEOUT)
    except Exception:  # best effort while collecting garbage or at exit
        pass
    finally:
        if owns_loop:
            loop.close()


class SyncProxy(Generic[_T]):
    """A blocking view of an async object (a Transport or a platform client).

    ``proxy.method(...)`` runs ``target.method(...)`` on the proxy's loop thread and blocks for
    the result; an async iterator result becomes a :class:`SyncIterator`; other attributes are
    returned as they are. Hand it an object that has not been used on another event loop yet,
    or build it on the loop thread with :meth:`build`.
    """

    _target: _T
    _loop: LoopThread
    _owns_loop: bool
    _timeout: float | None
    _finalizer: weakref.finalize[Any, Any]

    def __init__(self, target: _T, *, loop: LoopThread | None = None, timeout: float | None = None) -> None:
        owns_loop = loop is None
        if loop is None:
            loop = LoopThread(f"govflow-loop-{type(target).__name__}-{next(_names)}")
        self._setup(target, loop, owns_loop, timeout)

    def _setup(self, target: _T, loop: LoopThread, owns_loop: bool, timeout: float | None) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)
        object.__setattr__(self, "_owns_loop", owns_loop)
        object.__setattr__(self, "_timeout", timeout)
        # Holds the target and the loop, never the proxy: collecting the proxy closes both.
        object.__setattr__(self, "_finalizer", weakref.finalize(self, _close_target, target, loop, owns_loop))

    @classmethod
    def build(
        cls,
        factory: Callable[..., _T],
        *args: Any,
        loop: LoopThread | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> SyncProxy[_T]:
        """Create the async object on the loop thread (for objects that bind to a loop when built)."""
        owns_loop = loop is None
        if loop is None:
            loop = LoopThread(f"govflow-loop-{getattr(factory, '__name__', 'client')}-{next(_names)}")
        try:
            target: _T = loop.run(_call(factory, args, kwargs), timeout)
        except BaseException:
            if owns_loop:
                loop.close()
            raise
        proxy = cls.__new__(cls)
        proxy._setup(target, loop, owns_loop, timeout)
        return proxy

    @property
    def target(self) -> _T:
        """The wrapped async object."""
        return self._target

    @property
    def loop_thread(self) -> LoopThread:
        return self._loop

    def run(self, coro: Coroutine[Any, Any, _Y]) -> _Y:
        """Run any coroutine on this proxy's loop (e.g. one that uses ``target`` several times)."""
        return self._loop.run(coro, self._timeout)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in SyncProxy.__annotations__:
            raise AttributeError(name)
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            result = self._loop.run(_call(attribute, args, kwargs), self._timeout)
            if isinstance(result, AsyncIterator):
                return SyncIterator(result, self._loop, self._timeout)
            return result

        return blocking

    def close(self) -> None:
        """``aclose()`` the object on its loop, then stop the loop thread (if the proxy owns it)."""
        if not self._finalizer.detach():
            return
        try:
            aclose = getattr(self._target, "aclose", None)
            if aclose is not None and not self._loop.is_closed and self._loop.thread is not None:
                self._loop.run(_await(aclose()), self._timeout)
        finally:
            if self._owns_loop:
                self._loop.close()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self) -> SyncProxy[_T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncProxy of {self._target!r} on {self._loop!r}>"


def syncify(target: _T, *, loop: LoopThread | None = None, timeout: float | None = None) -> SyncProxy[_T]:
    """Wrap an async object so it can be used from blocking code (see :class:`SyncProxy`)."""
    return SyncProxy(target, loop=loop, timeout=timeout)


def run_sync(coro: Coroutine[Any, Any, _R]) -> _R:
    """Run a coroutine to completion from sync code, also when this thread already runs a loop
    (an Airflow trigger, a Prefect task in an async flow): then it runs on a short-lived thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


__all__ = ["LoopThread", "SyncIterator", "SyncProxy", "run_sync", "syncify"]
