"""`cargobay history`, `cargobay restore` and `cargobay immutability` against a live registry."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conformance.helpers import push_image
from liveserver import ADMIN, LiveRegistry

from .conftest import Cli, as_json


@pytest.fixture
def registry_client(live_registry: LiveRegistry) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_registry.url, auth=ADMIN, timeout=30) as client:
        yield client


def test_history_shows_the_changes_and_restore_puts_tags_back(
    admin_cli: Cli, registry_client: httpx.Client
) -> None:
    admin_cli("project", "create", "team")
    one = push_image(registry_client, "team/app", "v1")
    two = push_image(registry_client, "team/app", "v1")
    table = admin_cli("history", "team/app").stdout.splitlines()
    assert table[0].split() == ["AT", "TAG", "OPERATION", "ACTOR", "OLD", "DIGEST", "NEW", "DIGEST"]
    assert table[1].split()[1:4] == ["v1", "push", "admin"]

    restored = admin_cli("restore", "team/app:v1", one.digest).stdout
    assert f"team/app:v1  {two.digest} -> {one.digest}" in restored
    pulled = registry_client.get("/v2/team/app/manifests/v1")
    assert pulled.content == one.body
    entries = as_json(admin_cli("history", "team/app", "--tag", "v1", "--json"))
    assert [e["operation"] for e in entries] == ["rollback", "push", "push"]

    # The whole repository at a time, with a dry run first.
    at = entries[0]["at"]
    push_image(registry_client, "team/app", "v2")
    dry = admin_cli("restore", "team/app", "--at", at, "--dry-run").stdout
    assert "team/app:v2" in dry and "would change 1 tags (dry run)" in dry
    assert registry_client.get("/v2/team/app/tags/list").json()["tags"] == ["v1", "v2"]
    admin_cli("restore", "team/app", "--at", at)
    assert registry_client.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]


def test_immutability_rules_are_managed_and_mistakes_are_told_plainly(
    admin_cli: Cli, registry_client: httpx.Client
) -> None:
    admin_cli("project", "create", "team")
    push_image(registry_client, "team/app", "v1")
    for args, words in (
        (("restore", "team/app"), "restore what?"),
        (("restore", "team/app", "--at", "last tuesday"), "not a time"),
        (("restore", "team/app:nope", "--at", "1h"), "tag nope has no history in team/app"),
        (("restore", "team/app:v1", "sha256:" + "0" * 64), "is not a manifest of team/app"),
    ):
        result = admin_cli(*args, check=False)
        assert result.returncode == 1 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    rule = as_json(
        admin_cli("immutability", "add", "team", ">=1.0.0", "--kind", "semver", "--json")
    )
    push_image(registry_client, "team/app", "1.0.0")
    refused = registry_client.delete("/v2/team/app/manifests/1.0.0")
    assert refused.status_code == 403 and f"rule {rule['id']}" in refused.text
    listed = admin_cli("immutability", "list", "team").stdout
    assert "semver" in listed and ">=1.0.0" in listed
    bad = admin_cli("immutability", "add", "team", "v(", "--kind", "regex", check=False)
    assert bad.returncode == 1 and "not a regular expression" in bad.stderr
    admin_cli("immutability", "remove", "team", str(rule["id"]))
    assert registry_client.delete("/v2/team/app/manifests/1.0.0").status_code == 202
