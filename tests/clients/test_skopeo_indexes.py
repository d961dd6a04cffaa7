"""skopeo ``--all`` copies two-platform images (OCI index, Docker manifest list) in and out.

The index and every child manifest must keep their bytes, so their digests; each child must
also be readable on its own by digest, which is how a client picks a platform.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest

pytestmark = pytest.mark.clients


def assert_children_served(
    clients: Clients, registry: RegistryUnderTest, repo: str, images: list[ci.Image]
) -> None:
    for image in images:
        child_ref = f"{registry.host}/{repo}@{image.digest}"
        assert clients.raw_manifest(child_ref) == image.manifest, image.platform


def test_skopeo_copies_two_platform_oci_index_in_and_out_with_digests_unchanged(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    platform_images: list[ci.Image],
    tmp_path: Path,
) -> None:
    index = ci.build_index(platform_images)
    source = ci.write_oci_layout(tmp_path / "source", index, ci.OCI_INDEX, platform_images)
    ref = f"{registry.host}/{repo}:multi"
    clients.skopeo(
        "copy", "--all", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{source}:latest", f"docker://{ref}",
    )  # fmt: skip

    assert clients.raw_manifest(ref) == index
    assert_children_served(clients, registry, repo, platform_images)

    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--all", "--src-tls-verify=false", "--preserve-digests",
        f"docker://{ref}", f"oci:{out}:multi",
    )  # fmt: skip
    top = ci.oci_layout_top(out)
    assert top["digest"] == ci.sha256_digest(index)
    assert top["mediaType"] == ci.OCI_INDEX
    assert ci.read_oci_layout_blob(out, top["digest"]) == index
    for image in platform_images:
        assert ci.read_oci_layout_blob(out, image.digest) == image.manifest
        for blob in image.blobs:
            assert ci.read_oci_layout_blob(out, blob.digest) == blob.data


def test_skopeo_copies_docker_manifest_list_in_and_out_with_digests_unchanged(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    docker_platform_images: list[ci.Image],
    tmp_path: Path,
) -> None:
    manifest_list = ci.build_index(docker_platform_images, docker=True)
    source = ci.write_dir_list(tmp_path / "source", manifest_list, docker_platform_images)
    ref = f"{registry.host}/{repo}:multi"
    clients.skopeo(
        "copy", "--all", "--dest-tls-verify=false", "--preserve-digests",
        f"dir:{source}", f"docker://{ref}",
    )  # fmt: skip

    served = clients.raw_manifest(ref)
    assert served == manifest_list
    assert json.loads(served)["mediaType"] == ci.DOCKER_LIST
    assert_children_served(clients, registry, repo, docker_platform_images)

    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--all", "--src-tls-verify=false", "--preserve-digests",
        f"docker://{ref}", f"dir:{out}",
    )  # fmt: skip
    assert (out / "manifest.json").read_bytes() == manifest_list
    for image in docker_platform_images:
        hex_digest = image.digest.removeprefix("sha256:")
        assert (out / f"{hex_digest}.manifest.json").read_bytes() == image.manifest
        for blob in image.blobs:
            assert (out / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data
