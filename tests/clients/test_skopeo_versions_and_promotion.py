"""Floating tags and promotion as a real client sees them: skopeo pushes a release and
reads the floating tags; an image promoted to another project is inspected and copied
from there."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest, is_distribution

pytestmark = pytest.mark.clients

API = "/api/v1"


@pytest.fixture(autouse=True)
def cargobay_only(registry: RegistryUnderTest) -> None:
    if is_distribution(registry):
        pytest.skip("floating tags and promotion are Cargobay's")


def api(registry: RegistryUnderTest, method: str, path: str, body: object) -> httpx.Response:
    response = httpx.request(method, f"{registry.url}{API}{path}", json=body, auth=ADMIN)
    assert response.status_code < 300, response.text
    return response


def copy_to(clients: Clients, layout: Path, reference: str) -> None:
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{layout}:latest", f"docker://{reference}",
    )  # fmt: skip


def digest_of(clients: Clients, reference: str) -> str:
    proc = clients.skopeo("inspect", "--tls-verify=false", f"docker://{reference}")
    digest: str = json.loads(proc.stdout)["Digest"]
    return digest


def test_a_release_pushed_with_skopeo_moves_its_floating_tags(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
) -> None:
    project = repo.split("/")[0]
    created = httpx.post(f"{registry.url}{API}/projects", json={"name": project}, auth=ADMIN)
    assert created.status_code in (201, 409), created.text
    settings = f"/projects/{project}/repositories/{repo}/settings"
    api(registry, "PUT", settings, {"floating_tags": True})
    copy_to(clients, oci_image_layout, f"{registry.host}/{repo}:1.4.2")

    for floating in ("1.4", "1", "latest"):
        assert digest_of(clients, f"{registry.host}/{repo}:{floating}") == oci_image.digest


def test_an_image_promoted_to_another_project_is_pulled_from_there(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    copy_to(clients, oci_image_layout, f"{registry.host}/{repo}:1.0.0")
    released = f"released-{secrets.token_hex(3)}"
    api(registry, "POST", "/projects", {"name": released})
    project = repo.split("/")[0]
    target = f"{released}/app"
    path = f"/projects/{project}/repositories/{repo}/artifacts/{oci_image.digest}/promote"
    api(registry, "POST", path, {"target_repository": target, "tag": "1.0.0"})

    assert digest_of(clients, f"{registry.host}/{target}:1.0.0") == oci_image.digest
    copied = tmp_path / "copied"
    clients.skopeo(
        "copy", "--src-tls-verify=false",
        f"docker://{registry.host}/{target}:1.0.0", f"oci:{copied}:pulled",
    )  # fmt: skip
    assert ci.oci_layout_top(copied)["digest"] == oci_image.digest
    for blob in oci_image.blobs:
        assert ci.read_oci_layout_blob(copied, blob.digest) == blob.data
