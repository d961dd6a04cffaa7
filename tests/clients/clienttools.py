"""Running the real clients (skopeo, podman, buildah) and the reference registry.

Fixtures live in conftest.py; the classes live here so that test modules can import them
for type hints without importing a conftest module.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from liveserver import ADMIN, free_port

# Debian package that provides each client binary, for the message when one is missing.
CLIENT_PACKAGES = {
    "skopeo": "skopeo",
    "podman": "podman",
    "buildah": "buildah",
    "umoci": "umoci",
    "docker-registry": "docker-registry",
}

#: "distribution" runs the client tests against Distribution instead of Cargobay.
TARGET_ENV = "CARGOBAY_CLIENT_TARGET"

# Client commands must never hang a test run; the slowest (a buildah build) takes seconds.
COMMAND_TIMEOUT = 300


class RegistryUnderTest(Protocol):
    """What the client tests need from a registry fixture."""

    @property
    def url(self) -> str: ...  # "http://127.0.0.1:PORT"

    @property
    def host(self) -> str: ...  # "127.0.0.1:PORT"


def require_binary(name: str) -> str:
    """Path of a client binary; skip locally, fail in CI, when it is not installed.

    In CI ``scripts/test`` installs every client first, so a missing one there is a broken
    install step and must not be hidden by a skip.
    """
    path = shutil.which(name)
    if path:
        return path
    package = CLIENT_PACKAGES.get(name, name)
    message = f"{name} is not installed (apt-get install {package}, or run scripts/test)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client command and fail the test with its full output if it fails.

    ``input`` goes to its standard input (a password for ``--password-stdin``); without it
    the command reads an empty one. ``check=False`` returns a failed command's result, for
    tests of what a refusal looks like.
    """
    command = [os.fspath(a) for a in argv]
    proc = subprocess.run(
        command,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        # Bytes, not text: manifests are compared byte for byte, and text mode would
        # translate line endings.
        capture_output=True,
        timeout=COMMAND_TIMEOUT,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"command failed with exit code {proc.returncode}: {' '.join(command)}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')}",
            pytrace=False,
        )
    return proc


# --------------------------------------------------------------------------- Distribution


DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class DistributionRegistry:
    """Debian's docker-registry (CNCF Distribution 2.8) on a loopback port, data in tmp."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "config.yml"

    def start(self) -> None:
        binary = require_binary("docker-registry")
        storage = self.data_dir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(DISTRIBUTION_CONFIG.format(root=storage, port=self.port))
        log = (self.data_dir / "registry.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = (self.data_dir / "registry.log").read_text(errors="replace")
                raise RuntimeError(f"docker-registry exited early:\n{log}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not answer on {self.url} in {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def is_distribution(registry: RegistryUnderTest) -> bool:
    return isinstance(registry, DistributionRegistry)


# --------------------------------------------------------------------------- client config


REGISTRIES_CONF = """\
unqualified-search-registries = []
short-name-mode = "disabled"

[[registry]]
location = "{host}"
insecure = true
"""

# cgroupfs and no events log: nothing in these tests runs a container under systemd, and
# the default event log lives outside the test's directory.
CONTAINERS_CONF = """\
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{tmp}"
"""

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'


@dataclass
class Clients:
    """Runs skopeo, podman and buildah with configuration and storage kept under ``root``.

    ``runroot`` is separate because podman refuses a run root longer than 50 characters
    (it holds sockets), and pytest's tmp paths are longer than that.
    """

    registry_host: str
    root: Path
    runroot: Path

    def __post_init__(self) -> None:
        for sub in ("storage", "libpod-tmp", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.registries_conf.write_text(REGISTRIES_CONF.format(host=self.registry_host))
        self.policy.write_text(POLICY_JSON)
        # Logged in as the registry's administrator (podman also refuses a
        # REGISTRY_AUTH_FILE that does not exist); tests of logins write their own.
        self.log_in(*ADMIN)
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.root / "storage"}"\n'
            f'runroot = "{self.runroot}"\n'
        )
        self.containers_conf.write_text(CONTAINERS_CONF.format(tmp=self.root / "libpod-tmp"))

    def log_in(self, username: str, password: str) -> None:
        """Store credentials for the registry, as `podman login` would."""
        auth = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.auth_file.write_text(json.dumps({"auths": {self.registry_host: {"auth": auth}}}))

    def log_out(self) -> None:
        self.auth_file.write_text('{"auths": {}}\n')

    @property
    def registries_conf(self) -> Path:
        return self.root / "registries.conf"

    @property
    def policy(self) -> Path:
        return self.root / "policy.json"

    @property
    def auth_file(self) -> Path:
        return self.root / "auth.json"

    @property
    def storage_conf(self) -> Path:
        return self.root / "storage.conf"

    @property
    def containers_conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
            CONTAINERS_STORAGE_CONF=str(self.storage_conf),
            CONTAINERS_CONF=str(self.containers_conf),
            REGISTRY_AUTH_FILE=str(self.auth_file),
            # Layer staging (buildah, podman) goes to /var/tmp unless told otherwise.
            TMPDIR=str(self.root / "tmp"),
            BUILDAH_ISOLATION="chroot",
        )
        return env

    def skopeo(
        self, *args: str | os.PathLike[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        binary = require_binary("skopeo")
        return run(
            [binary, "--policy", self.policy, "--registries-conf", self.registries_conf, *args],
            env=self.env,
            input=input,
            check=check,
        )

    def raw_manifest(self, reference: str) -> bytes:
        """The manifest bytes the registry serves for ``reference``, as skopeo reads them."""
        return self.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{reference}").stdout

    def storage_flags(self) -> list[str]:
        return [
            "--root", str(self.root / "storage"),
            "--runroot", str(self.runroot),
            "--storage-driver", "vfs",
        ]  # fmt: skip

    def podman(
        self, *args: str | os.PathLike[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        binary = require_binary("podman")
        flags = [
            *self.storage_flags(),
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "none",
            "--tmpdir", str(self.root / "libpod-tmp"),
        ]  # fmt: skip
        return run([binary, *flags, *args], env=self.env, input=input, check=check)

    def buildah(
        self, *args: str | os.PathLike[str], input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        binary = require_binary("buildah")
        return run([binary, *self.storage_flags(), *args], env=self.env, input=input, check=check)
