"""Test content: big random blob files on disk and small random images in memory."""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from regbench.mediatypes import CONFIG_OCI, LAYER_OCI, MANIFEST_OCI

MiB = 1 << 20
_WRITE_CHUNK = 64 * MiB
_HEADER = 64


@dataclass(frozen=True)
class BlobFile:
    path: Path
    size: int
    digest: str

    def open(self) -> BinaryIO:
        return self.path.open("rb")


class BlobFactory:
    """One random file of a fixed size whose first bytes change on every `fresh()`.

    Rewriting a 64-byte header is enough to give the blob a new digest, so no
    registry can short-circuit a push by dedupe, and it costs a re-hash (~0.2 s
    for 256 MiB) rather than generating 256 MiB of random data each round. The
    body repeats one 64 MiB random block: registries store blobs opaquely, so
    the repetition cannot help either of them.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size
        self._write_body()

    def fresh(self) -> BlobFile:
        """Give the file a new header; the previous BlobFile is invalid afterwards."""
        with self.path.open("r+b") as f:
            f.write(os.urandom(_HEADER))
        return BlobFile(self.path, self.size, file_digest(self.path))

    def _write_body(self) -> None:
        block = os.urandom(min(_WRITE_CHUNK, self.size))
        with self.path.open("wb") as f:
            left = self.size
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n


def file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    digest: str
    media_type: str

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class Image:
    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (*self.layers, self.config)


def make_image(
    rng: random.Random, layers: int = 2, min_size: int = 1024, max_size: int = 10 * 1024
) -> Image:
    """An OCI image of small random layers; every call gives new digests."""
    layer_blobs = tuple(
        _blob(rng.randbytes(rng.randint(min_size, max_size)), LAYER_OCI) for _ in range(layers)
    )
    config = {
        "architecture": "amd64",
        "os": "linux",
        # Not the real uncompressed digests: registries never check them.
        "rootfs": {"type": "layers", "diff_ids": [b.digest for b in layer_blobs]},
        "config": {"Labels": {"bench.nonce": rng.randbytes(8).hex()}},
    }
    config_blob = _blob(_compact_json(config), CONFIG_OCI)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_OCI,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
    }
    return Image(config_blob, layer_blobs, _compact_json(manifest))


def _blob(data: bytes, media_type: str) -> Blob:
    return Blob(data, sha256(data), media_type)


def _compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
