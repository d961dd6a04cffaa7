"""podman (vfs storage, rootful, storage under the test's tmp dir) pushes and pulls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest

pytestmark = pytest.mark.clients


def image_inspect(clients: Clients, reference: str) -> dict[str, object]:
    proc = clients.podman("image", "inspect", reference)
    [image] = json.loads(proc.stdout)
    assert isinstance(image, dict)
    return image


# podman stores layers uncompressed and compresses them again on push, so the pushed
# manifest differs from the source; what must not change from there on is the digest podman
# reports, and the layers' content (diff IDs).
@pytest.mark.parametrize("manifest_format", ["oci", "v2s2"])
def test_podman_pushes_and_pulls_image(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
    manifest_format: str,
) -> None:
    pulled_id = clients.podman("pull", "--quiet", f"oci:{oci_image_layout}:latest").stdout
    local = f"localhost/{repo}:local"
    clients.podman("tag", pulled_id.decode().split()[-1], local)
    ref = f"{registry.host}/{repo}:pushed"
    digest_file = tmp_path / "digest"
    clients.podman(
        "push", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy,
        "--format", manifest_format, "--digestfile", digest_file, local, ref,
    )  # fmt: skip
    pushed_digest = digest_file.read_text().strip()
    served = clients.raw_manifest(ref)
    assert ci.sha256_digest(served) == pushed_digest
    expected_type = ci.OCI_MANIFEST if manifest_format == "oci" else ci.DOCKER_MANIFEST
    assert json.loads(served)["mediaType"] == expected_type

    # Pull into empty storage so that nothing can come from a local cache.
    clients.podman("rmi", "--all", "--force")
    clients.podman(
        "pull", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy, ref,
    )  # fmt: skip
    pulled = image_inspect(clients, ref)
    assert pulled["Digest"] == pushed_digest
    assert f"{registry.host}/{repo}@{pushed_digest}" in pulled["RepoDigests"]  # type: ignore[operator]
    source_rootfs = json.loads(oci_image.config.data)["rootfs"]
    assert pulled["RootFS"] == {"Type": "layers", "Layers": source_rootfs["diff_ids"]}

    # By digest as well: that is how a deployment pins an image.
    clients.podman(
        "pull", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy,
        f"{registry.host}/{repo}@{pushed_digest}",
    )  # fmt: skip
