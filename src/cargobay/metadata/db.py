"""Engines for SQLite (embedded default) and PostgreSQL, and running the migrations."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from cargobay.config import Settings
from cargobay.metadata.migrations import HEAD

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(synchronous: str):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return on_connect


WRITE = {"cargobay_write": True}


def _sqlite_begin(connection: Any) -> None:
    # A writer takes the lock up front (BEGIN IMMEDIATE): two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock.
    # A reader opens no transaction at all: each of its statements reads a consistent
    # snapshot in WAL mode, and the BEGIN and ROLLBACK would cost more than the lookup.
    if connection.get_execution_options().get("cargobay_write"):
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")


def create_db_engine(settings: Settings) -> Engine:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=settings.database_pool_size,
            max_overflow=4,
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_synchronous))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=4,
        pool_pre_ping=True,
    )


class WriteGate:
    """Lets one SQLite write transaction at a time start, queued without polling.

    SQLite has a single writer anyway, but a writer that finds the lock taken sleeps in its
    busy handler (1, 2, 5, 10... ms) before it looks again, so under concurrent pushes most
    of the time went to sleeping. Here waiters block on a thread lock, then on `flock` of a
    file beside the database (the other worker processes), and wake as soon as it is free.
    PostgreSQL needs none of this: its gate is open.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _descriptor(self) -> int:
        # flock excludes open file descriptions, and a forked child shares its parent's:
        # each process opens its own.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd


class Writes:
    """Write transactions on one engine, each entered through the write gate. Every store
    writes through one (`with self._write() as connection:`), so none can skip the gate."""

    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.gate = gate
        self._engine = engine.execution_options(**WRITE)  # made once: it is on hot paths

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Connection]:
        with self.gate.held(), self._engine.begin() as connection:
            yield connection


def write_gate(engine: Engine) -> WriteGate:
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:":
        return WriteGate(None)
    return WriteGate(Path(f"{database}.write-lock"))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:
        return None  # a new database: no alembic_version table yet


def migrate(engine: Engine, data_dir: Path) -> None:
    """Bring the schema up to date; safe when several processes start at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if current_revision(engine) == HEAD:
        return  # the common case on every start but the first after an upgrade
    # Alembic is imported only when there is work for it: every worker would carry it.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    with (data_dir / ".migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_sqlite(engine):
            command.upgrade(config, "head")
            return
        # Nodes on other hosts share PostgreSQL, not the data directory: lock there too.
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(715517)"))
            try:
                command.upgrade(config, "head")
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(715517)"))
                connection.commit()
