"""Fixtures every test shares: a registry on SQLite and on PostgreSQL, in process or served.

PostgreSQL must answer on 127.0.0.1:5432 (CARGOBAY_TEST_POSTGRES overrides); a test that
needs it and cannot reach it fails rather than skips, so CI cannot go green without it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from cargobay.events import Dispatcher, Event
from cargobay.metadata.db import migrate
from cargobay.metadata.models import Base

POSTGRES_ADMIN = os.environ.get(
    "CARGOBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """Which metadata database the test runs on."""
    return request.param


def _postgres_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One PostgreSQL database per test process, created and migrated once."""
    name = f"cargobay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _postgres_url(POSTGRES_ADMIN, name)
    engine = create_engine(url)
    migrate(engine, Path(tempfile.mkdtemp(prefix="cargobay-migrate-")))
    engine.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_tables(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(database: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the default, in the data directory), else an emptied PostgreSQL."""
    if database == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_database")
    _empty_tables(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, access_log=False)


@pytest.fixture
def events() -> list[Event]:
    """Every domain event the app under test emits, in order."""
    return []


@pytest.fixture
def client(settings: Settings, events: list[Event]) -> Iterator[TestClient]:
    dispatcher = Dispatcher()
    dispatcher.subscribe(events.append)
    app = create_app(settings, dispatcher)
    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveRegistry:
    """A `cargobay serve` process on a loopback port, with its own data directory."""

    data_dir: Path
    database_url: str | None
    port: int = field(default_factory=free_port)
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "cargobay",
            "serve",
            "--listen",
            self.host,
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        return command + self.extra_args

    def start(self, timeout: float = 30.0) -> None:
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cargobay exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"cargobay did not become ready: {self.log_path.read_text()[-3000:]}")

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM to the main process only, as an orchestrator would; wait for a clean exit."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL every process of the server: a crash, with no chance to clean up."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


@pytest.fixture
def live_registry(tmp_path: Path, database_url: str | None) -> Iterator[LiveRegistry]:
    registry = LiveRegistry(tmp_path / "data", database_url)
    registry.start()
    try:
        yield registry
    finally:
        registry.kill()
