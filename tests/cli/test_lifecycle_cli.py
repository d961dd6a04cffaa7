"""`cargobay versions`, `resolve`, `repository set`, `stage` and `promote` against a live
registry."""

from __future__ import annotations

import httpx

from conformance.helpers import push_image
from liveserver import ADMIN, LiveRegistry

from .conftest import Cli, as_json


def test_versions_resolve_and_floating_tags_from_the_cli(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    admin_cli("project", "create", "team")
    admin_cli("repository", "set", "team/app", "--floating-tags", "on")
    assert as_json(admin_cli("repository", "settings", "team/app", "--json")) == {
        "floating_tags": True,
        "float_prereleases": False,
    }
    with httpx.Client(base_url=live_registry.url, auth=ADMIN) as client:
        old = push_image(client, "team/app", "1.4.1")
        new = push_image(client, "team/app", "v1.4.2")
        push_image(client, "team/app", "1.5.0-rc.1")
    table = admin_cli("versions", "team/app", "--desc", "--no-prereleases").stdout.splitlines()
    assert [line.split()[0] for line in table] == ["TAG", "v1.4.2", "1.4.1"]
    listed = as_json(admin_cli("versions", "team/app", "--all", "--json"))
    floating = {row["tag"]: row["digest"] for row in listed if row["version"] is None}
    # Each family floats its own: 1.4.1 moved 1.4 and 1; v1.4.2 moved v1.4, v1 and latest.
    assert floating == {"1.4": old.digest, "1": old.digest} | dict.fromkeys(
        ["v1.4", "v1", "latest"], new.digest
    )
    assert admin_cli("resolve", "team/app", "~1.4.0").stdout.split() == ["v1.4.2", new.digest]
    assert admin_cli("resolve", "team/app", "<1.4.2").stdout.split() == ["1.4.1", old.digest]
    missing = admin_cli("resolve", "team/app", "^2", check=False)
    assert missing.returncode == 1 and "Not Found (404)" in missing.stderr
    bad = admin_cli("resolve", "team/app", "1.2.3.4", check=False)
    assert "Bad Request (400)" in bad.stderr and "Traceback" not in bad.stderr


def test_stages_and_promotion_from_the_cli(admin_cli: Cli, live_registry: LiveRegistry) -> None:
    admin_cli("project", "create", "team")
    admin_cli("project", "create", "ops")
    assert admin_cli("stage", "list", "team").stdout.split() == ["dev", "test", "prod"]
    admin_cli("stage", "set", "team", "qa", "live")
    with httpx.Client(base_url=live_registry.url, auth=ADMIN) as client:
        image = push_image(client, "team/app", "1.0.0")
    done = as_json(admin_cli("promote", f"team/app@{image.digest}", "--stage", "live", "--json"))
    assert (done["tag"], done["stage"], done["target_repository"]) == ("live", "live", "team/app")
    refused = admin_cli("promote", f"team/app@{image.digest}", "--stage", "prod", check=False)
    assert refused.returncode == 1 and "not a stage of project team" in refused.stderr
    moved = as_json(
        admin_cli("promote", f"team/app@{image.digest}", "--to", "ops/app:1.0.0", "--json")
    )
    assert (moved["target_repository"], moved["tag"], moved["blobs_linked"]) == (
        "ops/app",
        "1.0.0",
        2,
    )
    pulled = httpx.get(
        f"{live_registry.url}/v2/ops/app/manifests/1.0.0",
        auth=ADMIN,
        headers={"Accept": image.media_type},
    )
    assert pulled.content == image.body
    bad = admin_cli("promote", "team/app", "--stage", "live", check=False)
    assert bad.returncode == 1 and "REPOSITORY@DIGEST" in bad.stderr
