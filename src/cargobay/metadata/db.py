"""Engines for SQLite (embedded default) and PostgreSQL, and running the migrations."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
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
    # Readers take no lock at all in WAL mode, so they must not queue behind writers.
    if connection.get_execution_options().get("cargobay_write"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


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
