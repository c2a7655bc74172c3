"""Database engines for the ledger and the local platform's approvals.

SQLite is the zero-configuration default (a file in the user's data directory); PostgreSQL serves
deployments whose workers run on several hosts. SQLite engines use WAL, a busy timeout and
``BEGIN IMMEDIATE`` so a writer takes the write lock before it reads the chain head: appends from
many processes serialise instead of forking the chain.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from .errors import ConfigurationError

metadata = MetaData()

_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_KEY = 0x676F76666C6F77  # "govflow" in hex: the advisory lock for schema creation
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_schema_ready: set[tuple[int, str, frozenset[str]]] = set()
_schema_lock = threading.Lock()


def data_dir() -> Path:
    """Where govflow keeps its state: ``GOVFLOW_HOME``, else the platform's user data directory."""
    if home := os.environ.get("GOVFLOW_HOME"):
        return Path(home).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "govflow"


def default_database_url() -> str:
    """``GOVFLOW_LEDGER_URL`` if set, else a SQLite file in :func:`data_dir`."""
    if url := os.environ.get("GOVFLOW_LEDGER_URL"):
        return url
    return f"sqlite:///{data_dir() / 'govflow.db'}"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and pick the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def display_url(url: str) -> str:
    """A database URL safe for messages and logs: the password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process, with every table of :data:`metadata` created."""
    resolved = normalize_url(url or default_database_url())
    with _engines_lock:
        engine = _engines.get(resolved)
        if engine is None:
            engine = _create(resolved)
            _engines[resolved] = engine
    ensure_schema(engine)
    return engine


def ensure_schema(engine: Engine) -> None:
    """Create the tables of :data:`metadata` that are missing, once per process and table set.

    Modules register their tables on import, possibly after the engine was made, so callers that
    own tables call this too. PostgreSQL creation runs under an advisory lock: several processes
    creating the schema of a fresh database at once would otherwise collide in the catalog.
    """
    key = (os.getpid(), str(engine.url), frozenset(metadata.tables))
    if key in _schema_ready:
        return
    with _schema_lock:
        if key in _schema_ready:
            return
        with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE serialises creators
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            metadata.create_all(conn, checkfirst=True)
        _schema_ready.add(key)


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests, shutdown)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _schema_ready.clear()


def _after_fork_in_child() -> None:
    # A forked worker (Airflow, Celery) must not reuse its parent's connections; close=False
    # leaves them to the parent instead of closing them under its feet.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(
            f"ledger URL {display_url(url)!r} is not a database URL; use sqlite:///path/to/file.db or "
            "postgresql://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _create_sqlite(parsed)
    if backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise ConfigurationError(
                "a PostgreSQL ledger needs the psycopg driver: pip install 'govflow[postgres]'"
            ) from exc
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigurationError(f"unsupported ledger database {backend!r}; use sqlite or postgresql")


def _create_sqlite(parsed: Any) -> Engine:
    database = parsed.database
    is_uri = str(parsed.query.get("uri", "")).lower() == "true"  # sqlite:///file:...?uri=true
    if database and database != ":memory:" and not is_uri:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # Pooled connections: opening one per transaction costs 4x the append rate (benchmarks/).
    # In-memory databases keep one connection, else every checkout would see an empty database.
    options: dict[str, Any] = {"connect_args": {"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}}
    if not database or database == ":memory:":
        options["poolclass"] = StaticPool
    engine = create_engine(parsed, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")  # durable: a committed record survives power loss
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front, so reading the chain head and appending are one
        # step; readers (execution option read_only=True) begin deferred and never block writers.
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def read_only(engine: Engine) -> Engine:
    """The same engine, beginning transactions without taking SQLite's write lock."""
    return engine.execution_options(read_only=True)


__all__ = ["data_dir", "default_database_url", "display_url", "dispose_engines", "get_engine", "metadata", "normalize_url", "read_only"]
