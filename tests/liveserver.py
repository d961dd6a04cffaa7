"""A `cargobay serve` process for tests, on a free loopback port with its own data directory.

Kept out of conftest.py so that test modules import it by a name no other directory shares.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: The administrator every test registry starts with (CARGOBAY_ADMIN_PASSWORD), and which
#: may push to any repository (CARGOBAY_AUTO_CREATE_PROJECTS creates its project).
ADMIN = ("admin", "admin-password-for-tests")


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
            env={
                **os.environ,
                "CARGOBAY_ADMIN_USERNAME": ADMIN[0],
                "CARGOBAY_ADMIN_PASSWORD": ADMIN[1],
                "CARGOBAY_AUTO_CREATE_PROJECTS": "true",
                **self.env,
            },
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
