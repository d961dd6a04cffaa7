"""skopeo against tag history and immutability: a restore is what clients see next, and a
push over an immutable tag fails with DENIED naming the rule."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest, is_distribution

pytestmark = pytest.mark.clients


@pytest.fixture
def cargobay(registry: RegistryUnderTest) -> RegistryUnderTest:
    if is_distribution(registry):
        pytest.skip("history and immutability are Cargobay's management API")
    return registry


def copy(clients: Clients, layout: Path, reference: str) -> None:
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{layout}:latest", f"docker://{reference}",
    )  # fmt: skip


def inspected_digest(clients: Clients, reference: str) -> str:
    proc = clients.skopeo("inspect", "--tls-verify=false", f"docker://{reference}")
    digest: str = json.loads(proc.stdout)["Digest"]
    return digest


def second_layout(tmp_path: Path) -> tuple[ci.Image, Path]:
    image = ci.build_image("second-image", layer_count=1)
    return image, ci.write_oci_layout(tmp_path / "second", image.manifest, ci.OCI_MANIFEST, [image])


def test_a_tag_restored_through_the_api_is_what_skopeo_sees(
    clients: Clients,
    cargobay: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    reference = f"{cargobay.host}/{repo}:release"
    copy(clients, oci_image_layout, reference)
    second, layout = second_layout(tmp_path)
    copy(clients, layout, reference)
    assert inspected_digest(clients, reference) == second.digest

    project = repo.split("/")[0]
    response = httpx.post(
        f"{cargobay.url}/api/v1/projects/{project}/restore/{repo}",
        json={"tag": "release", "digest": oci_image.digest},
        auth=ADMIN,
    )

    assert response.status_code == 200, response.text
    assert inspected_digest(clients, reference) == oci_image.digest
    assert clients.raw_manifest(reference) == oci_image.manifest


def test_skopeo_cannot_copy_over_an_immutable_tag_and_is_told_the_rule(
    clients: Clients,
    cargobay: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    reference = f"{cargobay.host}/{repo}:v1.0.0"
    copy(clients, oci_image_layout, reference)
    project, _, inside = repo.partition("/")
    rule = httpx.post(
        f"{cargobay.url}/api/v1/projects/{project}/immutability-rules",
        json={"kind": "semver", "pattern": ">=1.0.0", "repositories": inside},
        auth=ADMIN,
    )
    assert rule.status_code == 201, rule.text
    _, layout = second_layout(tmp_path)

    proc = clients.skopeo(
        "copy", "--dest-tls-verify=false", "--retry-times=0",
        f"oci:{layout}:latest", f"docker://{reference}", check=False,
    )  # fmt: skip

    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode != 0
    assert "denied" in stderr.lower(), stderr
    assert f"rule {rule.json()['id']} (semver >=1.0.0 on {inside}) of project {project}" in stderr
    assert inspected_digest(clients, reference) == oci_image.digest
