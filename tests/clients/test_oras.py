"""oras (the oras-py SDK) pushes and pulls OCI artifacts and referrers.

An artifact with an ``artifactType`` is pushed (its blob in chunks), then referrers whose
``subject`` is that artifact; both are pulled back, and the referrers API lists them.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import httpx
import pytest

from liveserver import ADMIN

from . import clientimages as ci
from .clienttools import RegistryUnderTest, is_distribution
from .orastools import ARTIFACT_TYPE, SBOM_TYPE, SIGNATURE_TYPE, ArtifactRegistry

pytestmark = pytest.mark.clients


@pytest.fixture
def oras_registry(registry: RegistryUnderTest) -> ArtifactRegistry:
    # oras-py sends a token it already holds again after a 401 instead of asking for the
    # wider scope the challenge names, so it cannot push with token auth; Basic on every
    # request is its other backend (Cargobay accepts it for such simple clients).
    oras_client = ArtifactRegistry(registry.host, auth_backend="basic")
    oras_client.auth.set_basic_auth(*ADMIN)
    return oras_client


@pytest.fixture
def empty_config(tmp_path: Path) -> Path:
    """The OCI 1.1 empty descriptor's content, the config an artifact without one uses."""
    path = tmp_path / "config.json"
    path.write_bytes(b"{}")
    return path


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    # 200 KiB pushed in 64 KiB chunks: several PATCH requests and a final PUT.
    path = tmp_path / "push" / "artifact.bin"
    path.parent.mkdir()
    path.write_bytes(random.Random("oras-artifact").randbytes(200 * 1024))
    return path


def write_file(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


def pull_one(oras_registry: ArtifactRegistry, target: str, outdir: Path) -> Path:
    [path] = oras_registry.pull(target=target, outdir=str(outdir))
    return Path(path)


def test_oras_pushes_and_pulls_artifact_and_referrer(
    oras_registry: ArtifactRegistry,
    registry: RegistryUnderTest,
    repo: str,
    artifact_file: Path,
    empty_config: Path,
    tmp_path: Path,
) -> None:
    target = f"{registry.host}/{repo}"
    artifact = oras_registry.push_artifact(
        f"{target}:v1",
        [f"{artifact_file}:application/octet-stream"],
        ARTIFACT_TYPE,
        empty_config,
        chunk_size=64 * 1024,
    )
    assert artifact.response.headers["Docker-Content-Digest"] == artifact.digest

    sbom_data = json.dumps({"packages": ["busybox"]}).encode()
    sbom_file = write_file(tmp_path / "push", "sbom.json", sbom_data)
    referrer = oras_registry.push_artifact(
        f"{target}:sbom", [f"{sbom_file}:{SBOM_TYPE}"], SBOM_TYPE, empty_config,
        subject=artifact.subject(),
    )  # fmt: skip
    assert referrer.response.headers["Docker-Content-Digest"] == referrer.digest

    manifest = oras_registry.get_manifest(f"{target}@{artifact.digest}")
    assert manifest["artifactType"] == ARTIFACT_TYPE
    referrer_manifest = oras_registry.get_manifest(f"{target}@{referrer.digest}")
    assert referrer_manifest["subject"]["digest"] == artifact.digest
    assert referrer_manifest["artifactType"] == SBOM_TYPE

    pulled = pull_one(oras_registry, f"{target}:v1", tmp_path / "pull-artifact")
    assert pulled.name == "artifact.bin"
    assert hashlib.sha256(pulled.read_bytes()).digest() == (
        hashlib.sha256(artifact_file.read_bytes()).digest()
    )
    pulled_sbom = pull_one(oras_registry, f"{target}@{referrer.digest}", tmp_path / "pull-sbom")
    assert pulled_sbom.read_bytes() == sbom_data


def referrers(registry: RegistryUnderTest, repo: str, digest: str, **params: str) -> httpx.Response:
    response = httpx.get(f"{registry.url}/v2/{repo}/referrers/{digest}", params=params, auth=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(ci.OCI_INDEX)
    return response


def test_referrers_api_lists_oras_referrers_and_filters_by_artifact_type(
    oras_registry: ArtifactRegistry,
    registry: RegistryUnderTest,
    repo: str,
    artifact_file: Path,
    empty_config: Path,
    tmp_path: Path,
) -> None:
    if is_distribution(registry):
        pytest.skip("Distribution 2.8 has no referrers API (GET /v2/<name>/referrers/<digest>)")
    target = f"{registry.host}/{repo}"
    artifact = oras_registry.push_artifact(
        f"{target}:v1", [str(artifact_file)], ARTIFACT_TYPE, empty_config
    )
    sbom_file = write_file(tmp_path / "push", "sbom.json", b'{"packages": []}')
    signature_file = write_file(tmp_path / "push", "signature.bin", b"not really a signature")
    sbom = oras_registry.push_artifact(
        f"{target}:sbom", [str(sbom_file)], SBOM_TYPE, empty_config, subject=artifact.subject()
    )
    signature = oras_registry.push_artifact(
        f"{target}:signature", [str(signature_file)], SIGNATURE_TYPE, empty_config,
        subject=artifact.subject(),
    )  # fmt: skip
    # OCI 1.1: a registry that processed the subject says so on the push response.
    assert sbom.response.headers.get("OCI-Subject") == artifact.digest
    assert signature.response.headers.get("OCI-Subject") == artifact.digest

    listed = referrers(registry, repo, artifact.digest).json()
    assert listed["schemaVersion"] == 2
    assert listed["mediaType"] == ci.OCI_INDEX
    # Descriptors may carry more (annotations); these four fields are what a client needs.
    fields = ("mediaType", "digest", "size", "artifactType")
    by_digest = {desc["digest"]: {k: desc.get(k) for k in fields} for desc in listed["manifests"]}
    assert by_digest == {
        sbom.digest: {
            "mediaType": ci.OCI_MANIFEST,
            "digest": sbom.digest,
            "size": len(sbom.body),
            "artifactType": SBOM_TYPE,
        },
        signature.digest: {
            "mediaType": ci.OCI_MANIFEST,
            "digest": signature.digest,
            "size": len(signature.body),
            "artifactType": SIGNATURE_TYPE,
        },
    }

    filtered = referrers(registry, repo, artifact.digest, artifactType=SBOM_TYPE)
    assert filtered.headers.get("OCI-Filters-Applied") == "artifactType"
    assert [desc["digest"] for desc in filtered.json()["manifests"]] == [sbom.digest]

    # The referrers of something nothing refers to: an empty index, not an error.
    assert referrers(registry, repo, sbom.digest).json()["manifests"] == []
