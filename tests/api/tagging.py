"""Pushing many tagged manifests fast: one config and layer, one small manifest per tag."""

from __future__ import annotations

from starlette.testclient import TestClient

from conformance.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    config_blob,
    descriptor,
    encode,
    make_image_manifest,
    push_blob,
    push_manifest,
    random_bytes,
)


def push_tags(client: TestClient, repository: str, *tags: str) -> dict[str, str]:
    """Push one manifest per tag (each its own digest, all on the same blobs): tag -> digest."""
    config, layer = config_blob(), random_bytes(64)
    push_blob(client, repository, config)
    push_blob(client, repository, layer)
    pushed = {}
    for tag in tags:
        document = make_image_manifest(
            descriptor(OCI_CONFIG, config),
            [descriptor(OCI_LAYER, layer)],
            annotations={"org.opencontainers.image.version": tag},
        )
        manifest = Manifest(encode(document), OCI_MANIFEST)
        push_manifest(client, repository, manifest, tag)
        pushed[tag] = manifest.digest
    return pushed
