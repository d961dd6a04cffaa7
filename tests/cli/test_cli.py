"""The `cargobay` CLI against a running registry, and `user create` on the database."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from liveserver import LiveRegistry

from .conftest import Cli, as_json

PASSWORD = "a-good-password"


def test_login_stores_the_credentials_readable_by_the_owner_only(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    config: Path = admin_cli.config  # type: ignore[attr-defined]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert as_json(admin_cli("whoami", "--json"))["is_admin"] is True


def test_a_wrong_password_is_refused_and_nothing_is_stored(
    cli: Cli, live_registry: LiveRegistry
) -> None:
    result = cli(
        "login", live_registry.url, "-u", "admin", "--password-stdin", input="nope\n", check=False
    )
    assert result.returncode == 1
    assert "Unauthorized (401)" in result.stderr and "Traceback" not in result.stderr
    assert not cli.config.exists()  # type: ignore[attr-defined]


def test_logout_forgets_the_login(admin_cli: Cli) -> None:
    admin_cli("logout")
    result = admin_cli("whoami", check=False)
    assert result.returncode == 1 and "not logged in" in result.stderr


def test_projects_are_created_listed_updated_and_deleted(admin_cli: Cli) -> None:
    admin_cli("project", "create", "team", "--description", "our images")
    table = admin_cli("project", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "PUBLIC"]
    assert any(line.split()[:2] == ["team", "no"] for line in table[1:])
    admin_cli("project", "update", "team", "--public")
    assert as_json(admin_cli("project", "show", "team", "--json"))["public"] is True
    admin_cli("project", "delete", "team")
    assert admin_cli("project", "show", "team", check=False).returncode == 1


def test_users_and_members_are_managed(admin_cli: Cli) -> None:
    admin_cli(
        "user", "create", "alice", "--email", "a@example.com", "--password-stdin", input=PASSWORD
    )
    assert "alice" in [u["name"] for u in as_json(admin_cli("user", "list", "--json"))]
    admin_cli("project", "create", "team")
    admin_cli("member", "add", "team", "alice", "--role", "guest")
    admin_cli("member", "set-role", "team", "alice", "developer")
    members = as_json(admin_cli("member", "list", "team", "--json"))
    assert {"kind": "user", "name": "alice", "role": "developer"}.items() <= members[-1].items()
    admin_cli("member", "remove", "team", "alice")
    admin_cli("user", "disable", "alice")
    assert as_json(admin_cli("user", "show", "alice", "--json"))["disabled"] is True
    admin_cli("user", "delete", "alice")


def test_a_robot_secret_is_printed_once_and_logs_in(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    admin_cli("project", "create", "team")
    created = as_json(
        admin_cli("robot", "create", "ci", "--project", "team", "--action", "pull", "--json")
    )
    secret = created["secret"]
    auth = ("team+ci", secret)
    assert httpx.get(f"{live_registry.url}/v2/", auth=auth).status_code == 200
    listed = admin_cli("robot", "list", "--project", "team").stdout
    assert "team+ci" in listed and secret not in listed
    admin_cli("robot", "revoke", "ci", "--project", "team")
    assert httpx.get(f"{live_registry.url}/v2/", auth=auth).status_code == 401
    assert secret not in live_registry.log()


def test_tokens_are_created_listed_and_revoked(admin_cli: Cli, live_registry: LiveRegistry) -> None:
    admin_cli("project", "create", "team")
    created = as_json(
        admin_cli(
            "token",
            "create",
            "laptop",
            "--project",
            "team",
            "--action",
            "pull",
            "--expires-in",
            "30d",
            "--json",
        )
    )
    auth = ("admin", created["secret"])
    assert httpx.get(f"{live_registry.url}/api/v1/whoami", auth=auth).status_code == 200
    assert "laptop" in admin_cli("token", "list").stdout
    admin_cli("token", "revoke", "laptop")
    assert httpx.get(f"{live_registry.url}/api/v1/whoami", auth=auth).status_code == 401


def test_api_errors_print_the_problem_detail_without_a_traceback(admin_cli: Cli) -> None:
    result = admin_cli("project", "create", "Not-Valid", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("cargobay: Unprocessable Entity (422): name:")
    assert "Traceback" not in result.stderr


def test_user_create_makes_the_first_admin_on_the_database(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    first = cli("migrate", "--data-dir", str(data))
    assert "cargobay user create NAME --admin --password-stdin" in first.stderr
    cli(
        "user",
        "create",
        "root",
        "--admin",
        "--password-stdin",
        "--data-dir",
        str(data),
        input=PASSWORD + "\n",
    )
    again = cli("migrate", "--data-dir", str(data))
    assert "no administrator" not in again.stderr
    duplicate = cli(
        "user",
        "create",
        "root",
        "--password-stdin",
        "--data-dir",
        str(data),
        input=PASSWORD + "\n",
        check=False,
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr


# -- labels, search, quotas ------------------------------------------------------------------


def _registry(live_registry: LiveRegistry) -> httpx.Client:
    from liveserver import ADMIN

    return httpx.Client(base_url=live_registry.url, auth=ADMIN, timeout=30)


def test_labels_are_set_by_tag_listed_and_removed(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    from conformance.helpers import push_image

    admin_cli("project", "create", "team")
    with _registry(live_registry) as registry:
        image = push_image(registry, "team/app", "v1")
    labels = as_json(admin_cli("label", "team/app:v1", "qa=passed", "tier=gold", "--json"))
    assert {(x["key"], x["value"]) for x in labels} == {("qa", "passed"), ("tier", "gold")}
    admin_cli("label", f"team/app@{image.digest}", "--remove", "tier")
    assert [x["key"] for x in as_json(admin_cli("label", "team/app:v1", "--json"))] == ["qa"]
    found = as_json(admin_cli("search", "--label", "qa=passed", "--json"))
    assert [(x["repository"], x["digest"]) for x in found] == [("team/app", image.digest)]
    bad = admin_cli("label", "team/app:v1", "Bad Key=x", check=False)
    assert bad.returncode == 1 and "(422)" in bad.stderr and "Traceback" not in bad.stderr
    missing = admin_cli("label", "team/app:nope", "a=b", check=False)
    assert missing.returncode == 1 and "no such tag" in missing.stderr


def test_quotas_are_set_with_units_and_usage_is_shown(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    from conformance.helpers import push_image

    admin_cli("project", "create", "team")
    with _registry(live_registry) as registry:
        push_image(registry, "team/app", "v1")
    assert (
        as_json(admin_cli("quota", "set", "team", "10GiB", "--json"))["quota_bytes"] == 10 * 2**30
    )
    assert (
        as_json(admin_cli("quota", "set", "team", "500MB", "--json"))["quota_bytes"] == 500 * 10**6
    )
    usage = as_json(admin_cli("usage", "team", "--json"))
    assert usage["used_bytes"] > 0 and usage["quota_bytes"] == 500 * 10**6
    repository = as_json(admin_cli("usage", "team", "team/app", "--json"))
    assert repository["used_bytes"] == usage["used_bytes"]
    assert "every project's usage was right" in admin_cli("usage", "recount").stdout
    assert as_json(admin_cli("quota", "set", "team", "none", "--json"))["quota_bytes"] is None
    bad = admin_cli("quota", "set", "team", "ten gigs", check=False)
    assert bad.returncode == 1 and "not a size" in bad.stderr
