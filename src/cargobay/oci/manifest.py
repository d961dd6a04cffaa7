"""Parse and check manifests: OCI image manifest and index, Docker schema 2 manifest and list.

Parsing never changes the payload: the registry stores the client's bytes as they came, and
only reads from them what it needs to index (the blobs and manifests a manifest refers to).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cargobay.oci import digest as digests
from cargobay.oci import mediatypes as mt
from cargobay.oci.errors import OCIError

# Descriptor sizes are int64 in the image spec.
MAX_SIZE = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def effective_artifact_type(self) -> str | None:
        """What the referrers API reports: artifactType, else the config's media type."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def _invalid(message: str, detail: Any = None) -> OCIError:
    return OCIError("MANIFEST_INVALID", message, detail)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _invalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str) or not digests.is_valid(digest):
        raise _invalid(f"{where}.digest is not a valid digest", {"digest": digest})
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise _invalid(f"{where}.size must be an integer from 0 to 2^63-1")
    urls = value.get("urls") or ()
    if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
        raise _invalid(f"{where}.urls must be a list of strings")
    artifact_type = value.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid(f"{where}.artifactType must be a string")
    return Descriptor(
        media_type,
        digest,
        size,
        artifact_type,
        _annotations(value.get("annotations"), where),
        tuple(urls),
    )


def _annotations(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid(f"{where}.annotations must map strings to strings")
    return value


def _descriptor_list(document: dict[str, Any], key: str) -> tuple[Descriptor, ...]:
    value = document.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(f"{key} must be a list")
    return tuple(_descriptor(item, f"{key}[{i}]") for i, item in enumerate(value))


def _media_type(document: dict[str, Any], content_type: str) -> str:
    """Reconcile the payload's mediaType with the request's Content-Type."""
    declared = document.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if declared in mt.SCHEMA1 or content_type in mt.SCHEMA1 or document.get("schemaVersion") == 1:
        raise OCIError(
            "MANIFEST_INVALID", "Docker schema 1 manifests are not supported; push schema 2 or OCI"
        )
    if declared and content_type and declared != content_type:
        raise _invalid(
            "mediaType in the manifest does not match the Content-Type header",
            {"mediaType": declared, "contentType": content_type},
        )
    media_type = declared or content_type
    if not media_type:
        # An OCI manifest may omit mediaType; its shape tells which one it is.
        media_type = mt.OCI_INDEX if "manifests" in document else mt.OCI_MANIFEST
    if media_type not in mt.MANIFESTS:
        raise _invalid(
            f"unsupported manifest media type {media_type!r}", {"supported": sorted(mt.MANIFESTS)}
        )
    return media_type


def parse(payload: bytes, content_type: str | None) -> Manifest:
    """Parse a pushed manifest, or raise MANIFEST_INVALID saying what is wrong with it."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise _invalid("manifest JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise _invalid("manifest must be a JSON object")
    media_type = _media_type(document, mt.base(content_type))
    if document.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    artifact_type = document.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    subject = document.get("subject")
    common = {
        "media_type": media_type,
        "subject": _descriptor(subject, "subject") if subject is not None else None,
        "artifact_type": artifact_type,
        "annotations": _annotations(document.get("annotations"), "manifest") or {},
    }
    if media_type in mt.INDEXES:
        if not isinstance(document.get("manifests"), list):
            raise _invalid("an index must have a manifests list")
        return Manifest(children=_descriptor_list(document, "manifests"), **common)
    if "config" not in document:
        raise _invalid("an image manifest must have a config descriptor")
    if not isinstance(document.get("layers", []), list):
        raise _invalid("layers must be a list")
    return Manifest(
        config=_descriptor(document["config"], "config"),
        layers=_descriptor_list(document, "layers"),
        **common,
    )


def required_blobs(manifest: Manifest) -> list[Descriptor]:
    """Blobs that must already be in the repository for the manifest to be accepted."""
    blobs = [manifest.config] if manifest.config else []
    blobs.extend(
        layer for layer in manifest.layers if not mt.is_non_distributable(layer.media_type)
    )
    return blobs
