"""A skopeo push into a project over its quota fails with a message naming the quota, and
leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest, is_distribution

pytestmark = pytest.mark.clients


def _api(registry: RegistryUnderTest, method: str, path: str, **options: object) -> httpx.Response:
    response = httpx.request(method, f"{registry.url}/api/v1{path}", auth=ADMIN, **options)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return response


def _copy(clients: Clients, layout: Path, reference: str, check: bool = True) -> str:
    proc = clients.skopeo(
        "copy", "--dest-tls-verify=false", "--retry-times=0",
        f"oci:{layout}:latest", f"docker://{reference}", check=check,
    )  # fmt: skip
    return proc.stderr.decode(errors="replace")


def test_skopeo_copy_into_a_project_over_its_quota_fails_and_links_nothing(
    clients: Clients, registry: RegistryUnderTest, oci_image: ci.Image, oci_image_layout: Path
) -> None:
    if is_distribution(registry):
        pytest.skip("quotas are Cargobay's")
    _api(registry, "POST", "/projects", json={"name": "quota"})
    _api(registry, "PUT", "/projects/quota/quota", json={"bytes": 1000})

    message = _copy(clients, oci_image_layout, f"{registry.host}/quota/app:v1", check=False)

    assert "quota exceeded in project quota" in message, message
    assert "quota of 1000 B" in message and "0 B used" in message, message
    usage = _api(registry, "GET", "/projects/quota/usage").json()
    assert (usage["used_bytes"], usage["blob_count"], usage["manifest_count"]) == (0, 0, 0)
    for blob in oci_image.blobs:
        response = httpx.head(f"{registry.url}/v2/quota/app/blobs/{blob.digest}", auth=ADMIN)
        assert response.status_code == 404

    # With room enough, the same copy goes through, and counts what it stored.
    _api(registry, "PUT", "/projects/quota/quota", json={"bytes": 10 * 2**20})
    _copy(clients, oci_image_layout, f"{registry.host}/quota/app:v1")
    stored = sum(len(blob.data) for blob in oci_image.blobs) + len(oci_image.manifest)
    assert _api(registry, "GET", "/projects/quota/usage").json()["used_bytes"] == stored
