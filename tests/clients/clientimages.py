"""Images made locally for the client tests: no test needs an image from the internet.

Multi-layer images, two-platform indexes and Docker manifest lists are written by Python as
an OCI image layout or in skopeo's ``dir:`` format; the base image for RUN steps is
busybox-static's binary in a one-layer image.

Manifests are written indented (not compact): a registry that re-serialised JSON would change
these bytes, and with them the digest, which is what the tests must catch.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import random
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def host_architecture() -> str:
    """The machine's architecture in OCI (GOARCH) spelling."""
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Blob:
    media_type: str
    data: bytes
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if self.annotations:
            desc["annotations"] = self.annotations
        return desc


@dataclass
class Image:
    """One single-platform image: its manifest bytes, config and layers."""

    manifest: bytes
    config: Blob
    layers: list[Blob]
    platform: dict[str, str]
    # The regular files of the unpacked root filesystem, by path (generated images only).
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def make_layer_tar(files: Mapping[str, bytes]) -> bytes:
    """A reproducible (fixed mtime, owner, order) uncompressed tar of regular files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def random_layer_files(seed: str, count: int, size: int) -> dict[str, bytes]:
    """Incompressible file contents so that layer sizes are what the test asked for."""
    rng = random.Random(seed)
    return {f"data/{seed}/file{i}.bin": rng.randbytes(size) for i in range(count)}


def build_image(
    seed: str,
    *,
    layer_count: int = 3,
    layer_size: int = 16 * 1024,
    os_name: str = "linux",
    architecture: str | None = None,
    docker: bool = False,
) -> Image:
    """A multi-layer image with gzip layers; OCI media types, or Docker v2s2 ones."""
    architecture = architecture or host_architecture()
    layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    diff_ids: list[str] = []
    layers: list[Blob] = []
    files: dict[str, bytes] = {}
    for i in range(layer_count):
        layer_files = random_layer_files(f"{seed}-{i}", 2, layer_size // 2)
        files.update(layer_files)
        tar = make_layer_tar(layer_files)
        diff_ids.append(sha256_digest(tar))
        layers.append(Blob(layer_type, gzip_bytes(tar)))
    config_doc = {
        "architecture": architecture,
        "os": os_name,
        "config": {"Env": ["PATH=/bin"], "Labels": {"cargobay.test": seed}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"cargobay test layer {i}"} for i in range(layer_count)],
    }
    config = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, json_bytes(config_doc))
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    platform = {"architecture": architecture, "os": os_name}
    return Image(json_bytes(manifest_doc), config, layers, platform, files)


def build_index(images: Sequence[Image], *, docker: bool = False) -> bytes:
    """An OCI image index (or a Docker manifest list) over ``images``."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                "digest": image.digest,
                "size": len(image.manifest),
                "platform": image.platform,
            }
            for image in images
        ],
    }
    return json_bytes(doc)


def json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, indent=3, sort_keys=False).encode() + b"\n"


# --------------------------------------------------------------------------- layouts on disk


def write_oci_layout(
    path: Path, top: bytes, top_type: str, images: Sequence[Image], tag: str = "latest"
) -> Path:
    """Write an OCI image layout whose ``index.json`` points at ``top`` under ``tag``."""
    blobs_dir = path / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    write_blob(blobs_dir, top)
    for image in images:
        write_blob(blobs_dir, image.manifest)
        for blob in image.blobs:
            write_blob(blobs_dir, blob.data)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": top_type,
                "digest": sha256_digest(top),
                "size": len(top),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return path


def write_blob(blobs_dir: Path, data: bytes) -> None:
    (blobs_dir / hashlib.sha256(data).hexdigest()).write_bytes(data)


def write_dir_image(path: Path, image: Image) -> Path:
    """Write a single image in skopeo's ``dir:`` format, which keeps the manifest byte-exact.

    This is how a Docker v2s2 image enters skopeo without being converted: an OCI layout can
    only hold OCI manifests.
    """
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(image.manifest)
    for blob in image.blobs:
        (path / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    return path


def write_dir_list(path: Path, top: bytes, images: Sequence[Image]) -> Path:
    """A manifest list plus its instances in ``dir:`` format (instances as <hex>.manifest.json)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(top)
    for image in images:
        hex_digest = image.digest.removeprefix("sha256:")
        (path / f"{hex_digest}.manifest.json").write_bytes(image.manifest)
        for blob in image.blobs:
            (path / blob.digest.removeprefix("sha256:")).write_bytes(blob.data)
    return path


def read_oci_layout_blob(layout: Path, digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":", 1)
    return (layout / "blobs" / algorithm / hex_digest).read_bytes()


def oci_layout_top(layout: Path) -> dict[str, Any]:
    """The single descriptor in an OCI layout's ``index.json``."""
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 1, index
    return index["manifests"][0]


# --------------------------------------------------------------------------- busybox base image

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
BUSYBOX_APPLETS = ("sh", "cat", "echo", "ls", "mkdir", "test", "true")


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP segment, i.e. one needing no ld.so.

    An image built ``FROM scratch`` has no dynamic loader, so a dynamically linked busybox
    (Debian's ``busybox`` rather than ``busybox-static``) would fail at the RUN step with an
    obscure "no such file or directory".
    """
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only: all we build for
        return False
    byteorder: Literal["little", "big"] = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], byteorder)
    phentsize = int.from_bytes(data[0x36:0x38], byteorder)
    phnum = int.from_bytes(data[0x38:0x3A], byteorder)
    for i in range(phnum):
        offset = phoff + i * phentsize
        if int.from_bytes(data[offset : offset + 4], byteorder) == 3:  # PT_INTERP
            return False
    return True


def find_static_busybox() -> Path:
    """busybox-static's binary; skip locally (fail in CI) when it is not installed."""
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and is_static_elf(path):
            return path
    message = "a static busybox is needed (apt-get install busybox-static, or run scripts/test)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def make_busybox_tar(busybox: Path) -> bytes:
    """A root filesystem of busybox and a few applet links: enough for a RUN step."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return buf.getvalue()


def build_busybox_image(busybox: Path) -> Image:
    tar = make_busybox_tar(busybox)
    layer = Blob(OCI_LAYER_GZIP, gzip_bytes(tar))
    config_doc = {
        "architecture": host_architecture(),
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
    }
    config = Blob(OCI_CONFIG, json_bytes(config_doc))
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    return Image(
        json_bytes(manifest_doc),
        config,
        [layer],
        {"architecture": host_architecture(), "os": "linux"},
    )
