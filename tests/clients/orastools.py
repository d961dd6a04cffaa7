"""oras-py, adapted for tests: what test_oras.py and the login tests push artifacts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import oras.container
import oras.defaults
import oras.oci
import oras.provider
import requests

from . import clientimages as ci

ARTIFACT_TYPE = "application/vnd.cargobay.test.artifact.v1"
SBOM_TYPE = "application/vnd.cargobay.test.sbom.v1+json"
SIGNATURE_TYPE = "application/vnd.cargobay.test.signature.v1"
EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"


@dataclass
class Pushed:
    """A manifest as pushed: the exact bytes sent, so that digest and size are known."""

    body: bytes
    response: requests.Response

    @property
    def digest(self) -> str:
        return ci.sha256_digest(self.body)

    def subject(self) -> oras.oci.Subject:
        return oras.oci.Subject(mediaType=ci.OCI_MANIFEST, digest=self.digest, size=len(self.body))


class ArtifactRegistry(oras.provider.Registry):
    """oras-py's Registry, adapted in two places for tests.

    oras-py 0.2 has no option for a manifest's ``artifactType`` (OCI 1.1), so it is added
    just before upload; and its request retry sleeps for minutes on an error, which only
    delays the failure a test must report.
    """

    def __init__(self, host: str, auth_backend: str = "token") -> None:
        super().__init__(hostname=host, insecure=True, auth_backend=auth_backend)
        self.artifact_type: str | None = None

    def upload_manifest(
        self, manifest: dict[str, Any], container: oras.container.Container
    ) -> requests.Response:
        if self.artifact_type:
            manifest = {**manifest, "artifactType": self.artifact_type}
        return super().upload_manifest(manifest, container)

    def do_request(self, *args: Any, **kwargs: Any) -> requests.Response:
        # Call the undecorated method: no retries.
        response: requests.Response = oras.provider.Registry.do_request.__wrapped__(
            self, *args, **kwargs
        )
        return response

    def push_artifact(
        self,
        target: str,
        files: list[str],
        artifact_type: str,
        config: Path,
        subject: oras.oci.Subject | None = None,
        chunk_size: int | None = None,
    ) -> Pushed:
        self.artifact_type = artifact_type
        try:
            response = self.push(
                target=target,
                files=files,
                disable_path_validation=True,
                manifest_config=f"{config}:{EMPTY_CONFIG_TYPE}",
                subject=subject,  # type: ignore[arg-type]  # oras-py annotates it as str
                do_chunked=chunk_size is not None,
                chunk_size=chunk_size or oras.defaults.default_chunksize,
                quiet=True,
            )
        finally:
            self.artifact_type = None
        body = response.request.body
        assert isinstance(body, bytes), type(body)
        return Pushed(body, response)
