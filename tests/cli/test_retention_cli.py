"""`cargobay retention ...` against a running registry."""

from __future__ import annotations

import httpx

from conformance.helpers import push_image, push_manifest
from liveserver import ADMIN, LiveRegistry

from .conftest import Cli, as_json


def test_a_policy_is_added_dry_run_run_and_removed(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    admin_cli("project", "create", "team")
    refused = admin_cli("retention", "add", "team", "x", "--schedule", "nightly", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "schedule: 'nightly' is not a cron expression" in refused.stderr
    with httpx.Client(base_url=live_registry.url, auth=ADMIN) as registry:
        new = push_image(registry, "team/app", "2.0.0")
        push_manifest(registry, "team/app", new, "build-2")
        push_image(registry, "team/app", "1.0.0")
    added = as_json(
        admin_cli("retention", "add", "team", "cleanup", "--keep-latest", "1", "--json")
    )
    assert added["rules"]["keep"]["latest"]["count"] == 1
    assert "cleanup" in admin_cli("retention", "list", "team").stdout
    policy = str(added["id"])
    dry = admin_cli("retention", "run", "team", policy, "--dry-run").stdout
    assert "would delete 2 tags and 1 manifests" in dry
    assert any(line.split()[:3] == ["delete", "team/app", "build-2"] for line in dry.splitlines())
    done = admin_cli("retention", "run", "team", policy).stdout
    assert "deleted 2 tags and 1 manifests in 1 repositories" in done
    runs = as_json(admin_cli("retention", "runs", "team", policy, "--json"))
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    with httpx.Client(base_url=live_registry.url, auth=ADMIN) as registry:
        assert registry.get("/v2/team/app/tags/list").json()["tags"] == ["2.0.0"]
    admin_cli("retention", "remove", "team", policy)
    assert admin_cli("retention", "show", "team", policy, check=False).returncode == 1
