"""skopeo's repository housekeeping: listing tags and deleting a manifest by digest."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest

pytestmark = pytest.mark.clients


def push_layout(clients: Clients, layout: Path, reference: str) -> None:
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{layout}:latest", f"docker://{reference}",
    )  # fmt: skip


def list_tags(clients: Clients, repository: str) -> list[str]:
    proc = clients.skopeo("list-tags", "--tls-verify=false", f"docker://{repository}")
    tags: list[str] = json.loads(proc.stdout)["Tags"]
    return tags


def test_skopeo_list_tags_shows_every_tag_pushed(
    clients: Clients, registry: RegistryUnderTest, repo: str, oci_image_layout: Path
) -> None:
    # Out of lexical order on purpose, and several tags on the same manifest.
    tags = ["v2", "latest", "v1.0.0", "v10", "1-alpha_x"]
    for tag in tags:
        push_layout(clients, oci_image_layout, f"{registry.host}/{repo}:{tag}")

    assert sorted(list_tags(clients, f"{registry.host}/{repo}")) == sorted(tags)


def test_skopeo_delete_by_digest_removes_manifest_and_its_tags(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    repository = f"{registry.host}/{repo}"
    push_layout(clients, oci_image_layout, f"{repository}:doomed")
    push_layout(clients, oci_image_layout, f"{repository}:doomed-too")
    # A second image in the same repository must survive the delete.
    other = ci.build_image("survivor", layer_count=1)
    other_layout = ci.write_oci_layout(tmp_path / "other", other.manifest, ci.OCI_MANIFEST, [other])
    push_layout(clients, other_layout, f"{repository}:survivor")

    clients.skopeo("delete", "--tls-verify=false", f"docker://{repository}@{oci_image.digest}")

    response = httpx.get(
        f"{registry.url}/v2/{repo}/manifests/{oci_image.digest}",
        headers={"Accept": ci.OCI_MANIFEST},
        auth=ADMIN,
    )
    assert response.status_code == 404, response.text
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert list_tags(clients, repository) == ["survivor"]
    assert clients.raw_manifest(f"{repository}:survivor") == other.manifest
