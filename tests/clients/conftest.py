"""Fixtures for the real-client tests (skopeo, podman, buildah, oras).

The tests take a ``registry`` fixture: Cargobay's ``live_registry`` (from tests/conftest.py)
by default, or Debian's ``docker-registry`` (CNCF Distribution 2.8) when
``CARGOBAY_CLIENT_TARGET=distribution``. Running the same tests against Distribution keeps
them honest: a test that fails there tests the client, not Cargobay.

Every client gets its configuration from files inside the test's temporary directory
(storage, registries, policy, containers.conf, auth file, TMPDIR), so the tests neither read
nor change the machine's /etc/containers or /var/lib/containers/storage.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import clientimages as ci
from .clienttools import TARGET_ENV, Clients, DistributionRegistry, RegistryUnderTest


@pytest.fixture(scope="session")
def distribution_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DistributionRegistry]:
    """One Distribution per test session (per xdist worker); tests use distinct repositories."""
    registry = DistributionRegistry(tmp_path_factory.mktemp("distribution"))
    registry.start()
    yield registry
    registry.stop()


# The choice is made at import time, not through request.getfixturevalue(), because a
# dynamic lookup cannot carry live_registry's parametrization (SQLite / PostgreSQL).
if os.environ.get(TARGET_ENV) == "distribution":

    @pytest.fixture
    def registry(distribution_registry: DistributionRegistry) -> RegistryUnderTest:
        return distribution_registry

else:

    @pytest.fixture
    def registry(live_registry: RegistryUnderTest) -> RegistryUnderTest:
        return live_registry


@pytest.fixture
def clients(registry: RegistryUnderTest, tmp_path: Path) -> Iterator[Clients]:
    runroot = Path(tempfile.mkdtemp(prefix="cargobay-run-", dir=short_tmp_dir()))
    try:
        yield Clients(registry.host, tmp_path / "clients", runroot)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def short_tmp_dir() -> str:
    # podman's 50-character limit on the run root: fall back to /tmp for a long $TMPDIR.
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 20 else "/tmp"


@pytest.fixture
def repo(request: pytest.FixtureRequest, registry: RegistryUnderTest) -> str:
    """A repository of this test's own, so that tests can share one registry."""
    name = request.node.originalname.removeprefix("test_").replace("_", "-")
    return f"clients/{name}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- images
# Session-scoped: generating the bytes is cheap but not free, and they never change.


@pytest.fixture(scope="session")
def oci_image() -> ci.Image:
    return ci.build_image("oci-image", layer_count=3)


@pytest.fixture(scope="session")
def docker_image() -> ci.Image:
    return ci.build_image("docker-image", layer_count=3, docker=True)


@pytest.fixture(scope="session")
def platform_images() -> list[ci.Image]:
    return [
        ci.build_image("amd64-image", layer_count=2, architecture="amd64"),
        ci.build_image("arm64-image", layer_count=2, architecture="arm64"),
    ]


@pytest.fixture(scope="session")
def docker_platform_images() -> list[ci.Image]:
    return [
        ci.build_image("docker-amd64", layer_count=2, architecture="amd64", docker=True),
        ci.build_image("docker-arm64", layer_count=2, architecture="arm64", docker=True),
    ]


@pytest.fixture(scope="session")
def oci_image_layout(tmp_path_factory: pytest.TempPathFactory, oci_image: ci.Image) -> Path:
    path = tmp_path_factory.mktemp("oci-image") / "layout"
    return ci.write_oci_layout(path, oci_image.manifest, ci.OCI_MANIFEST, [oci_image])


@pytest.fixture(scope="session")
def busybox_image() -> ci.Image:
    return ci.build_busybox_image(ci.find_static_busybox())


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory: pytest.TempPathFactory, busybox_image: ci.Image) -> Path:
    path = tmp_path_factory.mktemp("busybox") / "layout"
    return ci.write_oci_layout(path, busybox_image.manifest, ci.OCI_MANIFEST, [busybox_image])
