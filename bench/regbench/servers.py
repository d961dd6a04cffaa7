"""Start and stop the two registries, each on its own port with a fresh data dir."""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from regbench.client import BenchError, Client
from regbench.procfs import wait_gone

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  # Error level and no access log: per-request logging would be a cost only
  # one side pays. Cargobay's own request log is left as it ships.
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  # Debian's packaged default; it is how Distribution is normally run.
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}:{port}
  secret: cargobay-bench
"""


@dataclass
class Server:
    name: str
    port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    command: list[str] = field(default_factory=list)
    # Cargobay always authenticates: the benchmark logs in as its administrator (Basic,
    # checked once per worker, then a lookup). Distribution runs without auth.
    auth_headers: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self) -> Client:
        return Client(HOST, self.port, default_headers=self.auth_headers)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_distribution(binary: str, work: Path) -> Server:
    data = _fresh_dir(work / "distribution-data")
    port = free_port()
    config = work / "distribution.yml"
    config.write_text(DISTRIBUTION_CONFIG.format(root=data, host=HOST, port=port))
    return _launch("distribution", [binary, "serve", str(config)], port, data, work)


CARGOBAY_ADMIN = ("bench", "bench-admin-password")


def start_cargobay(
    binary: str, work: Path, workers: int, log_level: str, extra: Sequence[str]
) -> Server:
    data = _fresh_dir(work / "cargobay-data")
    port = free_port()
    cmd = [
        binary,
        "serve",
        "--listen",
        f"{HOST}:{port}",
        "--data-dir",
        str(data),
        "--workers",
        str(workers),
        # Same footing as Distribution, which logs errors only.
        *(["--log-level", log_level] if log_level else []),
        *extra,
    ]
    env = {
        "CARGOBAY_ADMIN_USERNAME": CARGOBAY_ADMIN[0],
        "CARGOBAY_ADMIN_PASSWORD": CARGOBAY_ADMIN[1],
        "CARGOBAY_AUTO_CREATE_PROJECTS": "true",  # the bench pushes to new repositories
    }
    credentials = base64.b64encode(":".join(CARGOBAY_ADMIN).encode()).decode()
    return _launch(
        "cargobay", cmd, port, data, work, env, {"Authorization": f"Basic {credentials}"}
    )


def stop(server: Server, timeout: float = 15.0) -> None:
    """SIGTERM (graceful), then SIGKILL the server's own process group."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout)
    # The server runs in a session of its own, so its group id is its pid:
    # this reaches its workers and nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    server.proc.wait()
    wait_gone(server.pid, 5.0)


def _fresh_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=False)
    return path


def _launch(
    name: str,
    cmd: list[str],
    port: int,
    data: Path,
    work: Path,
    env: dict[str, str] | None = None,
    auth_headers: dict[str, str] | None = None,
) -> Server:
    log_path = work / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=work,
            # Own session: Ctrl-C on the benchmark does not hit the server
            # mid-measurement, and stop() can kill exactly its process group.
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    server = Server(name, port, data, log_path, proc, cmd, auth_headers or {})
    try:
        _wait_ready(server)
    except BaseException:
        stop(server)
        raise
    return server


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    client = server.client()
    try:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise BenchError(
                    f"{server.name} exited with {server.proc.returncode} during start:\n"
                    f"{server.log_tail()}"
                )
            if _answers_200(client):
                return
            time.sleep(0.1)
    finally:
        client.close()
    raise BenchError(
        f"{server.name}: GET /v2/ not 200 within {READY_TIMEOUT:.0f}s:\n{server.log_tail()}"
    )


def _answers_200(client: Client) -> bool:
    try:
        return client.request("GET", "/v2/").status == 200
    except (OSError, http.client.HTTPException):
        client.close()
        return False
