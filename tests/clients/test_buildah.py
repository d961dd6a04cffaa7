"""buildah builds a Dockerfile with a RUN step on a base image from the registry, pushes it,
and pulls it back.

The base image is busybox-static's binary in one layer, pushed by skopeo: the build pulls
it from the registry under test (``FROM <registry>/...``), so the registry serves a real
client during a build, not just a copy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import clientimages as ci
from .clienttools import Clients, RegistryUnderTest

pytestmark = pytest.mark.clients

DOCKERFILE = """\
FROM {base}
COPY message.txt /etc/message.txt
RUN mkdir -p /out \\
    && echo "built by a RUN step" > /out/run.txt \\
    && cat /etc/message.txt >> /out/run.txt
"""


def test_buildah_builds_dockerfile_with_run_step_pushes_and_pulls_it(
    clients: Clients,
    registry: RegistryUnderTest,
    repo: str,
    busybox_image: ci.Image,
    busybox_layout: Path,
    tmp_path: Path,
) -> None:
    base = f"{registry.host}/{repo}/base:1"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{busybox_layout}:latest", f"docker://{base}",
    )  # fmt: skip

    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (context / "message.txt").write_text("hello from the build context\n")
    app = f"{registry.host}/{repo}/app:1"
    clients.buildah(
        "bud", "--isolation", "chroot", "--layers=false", "--tls-verify=false",
        "--signature-policy", clients.policy, "--pull=always", "-t", app, str(context),
    )  # fmt: skip

    digest_file = tmp_path / "digest"
    clients.buildah(
        "push", "--tls-verify=false", "--signature-policy", clients.policy,
        "--digestfile", digest_file, app,
    )  # fmt: skip
    pushed_digest = digest_file.read_text().strip()
    manifest = json.loads(clients.raw_manifest(app))
    assert ci.sha256_digest(clients.raw_manifest(app)) == pushed_digest
    # The base layer comes through the build unchanged; the build adds its own on top.
    assert manifest["layers"][0]["digest"] == busybox_image.layers[0].digest
    assert len(manifest["layers"]) >= 2

    # Forget everything local, pull the pushed image, and look inside it.
    clients.buildah("rmi", "--all", "--force")
    pinned = f"{registry.host}/{repo}/app@{pushed_digest}"
    clients.buildah(
        "pull", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy, pinned,
    )  # fmt: skip
    container = clients.buildah("from", "--quiet", "--pull=never", pinned).stdout.decode().strip()
    output = clients.buildah("run", "--isolation", "chroot", container, "cat", "/out/run.txt")
    assert output.stdout.decode() == "built by a RUN step\nhello from the build context\n"
