"""skopeo copies single-platform, multi-layer images into the registry and back out.

"Digests unchanged" is checked at every hop: the manifest the registry serves is the exact
bytes skopeo pushed (so its sha256 is the digest skopeo reported), and what comes back out
holds the same manifest and the same blob bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest, require_binary, run

pytestmark = pytest.mark.clients


def test_skopeo_copies_oci_image_in_and_out_with_digests_unchanged(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    ref = f"{registry.host}/{repo}:v1"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{oci_image_layout}:latest", f"docker://{ref}",
    )  # fmt: skip

    assert clients.raw_manifest(ref) == oci_image.manifest
    assert clients.raw_manifest(f"{registry.host}/{repo}@{oci_image.digest}") == (
        oci_image.manifest
    )

    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--src-tls-verify=false", "--preserve-digests",
        f"docker://{ref}", f"oci:{out}:v1",
    )  # fmt: skip
    top = ci.oci_layout_top(out)
    assert top["digest"] == oci_image.digest
    assert top["mediaType"] == ci.OCI_MANIFEST
    assert ci.read_oci_layout_blob(out, oci_image.digest) == oci_image.manifest
    for blob in oci_image.blobs:
        assert ci.read_oci_layout_blob(out, blob.digest) == blob.data, blob.media_type


def test_skopeo_copies_image_as_docker_v2s2_in_and_out_with_digests_unchanged(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    """``--format v2s2`` makes skopeo write a Docker manifest; the registry must keep it."""
    ref = f"{registry.host}/{repo}:v2s2"
    digest_file = tmp_path / "digest"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--format", "v2s2", "--digestfile", digest_file,
        f"oci:{oci_image_layout}:latest", f"docker://{ref}",
    )  # fmt: skip
    pushed_digest = digest_file.read_text().strip()

    served = clients.raw_manifest(ref)
    assert ci.sha256_digest(served) == pushed_digest
    manifest = json.loads(served)
    assert manifest["mediaType"] == ci.DOCKER_MANIFEST
    # Conversion changes media types, not layer bytes: gzip layers keep their digests.
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer.digest for layer in oci_image.layers
    ]

    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--src-tls-verify=false", "--preserve-digests",
        f"docker://{registry.host}/{repo}@{pushed_digest}", f"dir:{out}",
    )  # fmt: skip
    assert (out / "manifest.json").read_bytes() == served
    for layer in oci_image.layers:
        assert (out / layer.digest.removeprefix("sha256:")).read_bytes() == layer.data
    config_digest = manifest["config"]["digest"]
    config = json.loads((out / config_digest.removeprefix("sha256:")).read_bytes())
    assert config["rootfs"] == json.loads(oci_image.config.data)["rootfs"]


def test_skopeo_copies_docker_v2s2_image_byte_for_byte(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    docker_image: ci.Image,
    tmp_path: Path,
) -> None:
    """A Docker v2s2 manifest made elsewhere (not by skopeo's converter) keeps its bytes."""
    source = ci.write_dir_image(tmp_path / "source", docker_image)
    ref = f"{registry.host}/{repo}:docker"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests", f"dir:{source}", f"docker://{ref}",
    )  # fmt: skip

    assert clients.raw_manifest(ref) == docker_image.manifest

    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--src-tls-verify=false", "--preserve-digests", f"docker://{ref}", f"dir:{out}",
    )  # fmt: skip
    assert (out / "manifest.json").read_bytes() == docker_image.manifest
    for blob in docker_image.blobs:
        assert (out / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data


def test_umoci_unpacks_image_copied_out_of_registry_to_its_original_files(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    """umoci checks every layer against the config's diff IDs while it unpacks them."""
    ref = f"{registry.host}/{repo}:v1"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{oci_image_layout}:latest", f"docker://{ref}",
    )  # fmt: skip
    out = tmp_path / "out"
    clients.skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{out}:v1")

    bundle = tmp_path / "bundle"
    run([require_binary("umoci"), "unpack", "--image", f"{out}:v1", bundle], env=clients.env)
    rootfs = bundle / "rootfs"
    unpacked = {
        str(path.relative_to(rootfs)): path.read_bytes()
        for path in rootfs.rglob("*")
        if path.is_file()
    }
    assert unpacked == oci_image.files


def test_skopeo_copies_image_between_repositories_of_the_registry(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    oci_image: ci.Image,
    oci_image_layout: Path,
) -> None:
    """Registry to registry, same host: skopeo tries a cross-repository mount of each blob
    first (POST ...?mount=&from=), and must end with the same image in the second repository
    whether the registry mounts or asks for an upload."""
    source = f"{registry.host}/{repo}/source:v1"
    target = f"{registry.host}/{repo}/target:v1"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{oci_image_layout}:latest", f"docker://{source}",
    )  # fmt: skip
    clients.skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
        f"docker://{source}", f"docker://{target}",
    )  # fmt: skip

    assert clients.raw_manifest(target) == oci_image.manifest
    for blob in oci_image.blobs:
        response = httpx.get(f"{registry.url}/v2/{repo}/target/blobs/{blob.digest}", auth=ADMIN)
        assert response.status_code == 200, (blob.media_type, response.text)
        assert response.content == blob.data
