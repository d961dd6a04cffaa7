"""Real clients log in, and what each account may do is what they can do.

podman, skopeo and buildah log in with `login --password-stdin` and then push and pull
through Docker's token flow (a 401 with a Bearer challenge, then /auth/token); oras-py sends
Basic credentials with every request. Accounts are local users with project roles, robots,
personal access tokens and an LDAP user whose group has a role (tests/clients/accounts.py
writes them until the management API exists). A refusal must be a failed command with a
message that says so, and must leave nothing behind in the registry.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ldapserver import PASSWORDS, Slapd, ldap_set
from liveserver import ADMIN, LiveRegistry

from . import clientimages as ci
from .accounts import Accounts, grant
from .clienttools import TARGET_ENV, Clients
from .orastools import ARTIFACT_TYPE, ArtifactRegistry

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(
        os.environ.get(TARGET_ENV) == "distribution",
        reason="Distribution runs without authentication: it has no accounts to log in as",
    ),
]

PASSWORD = "correct horse battery"
# How the clients word a refusal: the registry's DENIED or UNAUTHORIZED error, or, where
# they print only the status (a HEAD has no body; skopeo list-tags reads none), "403
# (Forbidden)".
DENIED = ("denied", "unauthorized", "forbidden")


@pytest.fixture
def accounts(registry: LiveRegistry) -> Iterator[Accounts]:
    accounts = Accounts(registry)
    try:
        yield accounts
    finally:
        accounts.close()


@pytest.fixture
def team(accounts: Accounts) -> Accounts:
    """Projects team-a (where alice is a developer) and team-b (where she is nobody)."""
    accounts.project("team-a")
    accounts.project("team-b")
    accounts.user("alice", PASSWORD)
    accounts.member("team-a", "developer", user="alice")
    return accounts


@pytest.fixture
def logged_out(clients: Clients) -> Clients:
    """Clients whose auth file holds nothing until they log in (it starts as the admin's)."""
    clients.log_out()
    return clients


# --------------------------------------------------------------------------- helpers


def output(proc: subprocess.CompletedProcess[bytes]) -> str:
    return (proc.stdout + proc.stderr).decode(errors="replace")


def assert_refused(proc: subprocess.CompletedProcess[bytes], *words: str) -> None:
    """The command failed, and said why in one of `words`."""
    assert proc.returncode != 0, f"expected a refusal, got success:\n{output(proc)}"
    text = output(proc).lower()
    assert any(word in text for word in words), f"expected one of {words} in:\n{output(proc)}"


def login(
    clients: Clients,
    tool: str,
    registry: LiveRegistry,
    username: str,
    password: str,
    *,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    run = {"podman": clients.podman, "skopeo": clients.skopeo, "buildah": clients.buildah}[tool]
    return run(
        "login", "--tls-verify=false", "--authfile", clients.auth_file,
        "--username", username, "--password-stdin", registry.host,
        input=f"{password}\n".encode(), check=check,
    )  # fmt: skip


def stored_login(clients: Clients, registry: LiveRegistry) -> dict[str, str] | None:
    """What the auth file holds for the registry (None: no login)."""
    auths: dict[str, dict[str, str]] = json.loads(clients.auth_file.read_text())["auths"]
    return auths.get(registry.host)


def seed(clients: Clients, layout: Path, reference: str) -> None:
    """Push an image as the administrator, whoever the clients are logged in as."""
    clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests", "--dest-creds", ":".join(ADMIN),
        f"oci:{layout}:latest", f"docker://{reference}",
    )  # fmt: skip


def skopeo_push(
    clients: Clients, layout: Path, reference: str, *, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return clients.skopeo(
        "copy", "--dest-tls-verify=false", "--preserve-digests",
        f"oci:{layout}:latest", f"docker://{reference}", check=check,
    )  # fmt: skip


def skopeo_pull(
    clients: Clients, reference: str, into: Path, *, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Copy an image, every blob of it, into skopeo's dir: format (byte-exact manifest)."""
    return clients.skopeo(
        "copy", "--src-tls-verify=false", f"docker://{reference}", f"dir:{into}", check=check
    )


def assert_pulled(into: Path, image: ci.Image) -> None:
    assert (into / "manifest.json").read_bytes() == image.manifest
    for blob in image.blobs:
        assert (into / blob.digest.removeprefix("sha256:")).read_bytes() == blob.data


def podman_load(clients: Clients, layout: Path, name: str) -> str:
    """Put the image of an OCI layout into podman's storage under `name`."""
    image_id = clients.podman("pull", "--quiet", f"oci:{layout}:latest").stdout.decode().split()[-1]
    clients.podman("tag", image_id, name)
    return name


def podman_push(
    clients: Clients, local: str, reference: str, *, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return clients.podman(
        "push", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy,
        local, reference, check=check,
    )  # fmt: skip


def podman_pull(
    clients: Clients, reference: str, *, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return clients.podman(
        "pull", "--quiet", "--tls-verify=false", "--signature-policy", clients.policy,
        reference, check=check,
    )  # fmt: skip


def stored_tags(registry: LiveRegistry, repository: str) -> list[str]:
    """The repository's tags as the administrator sees them ([] if it does not exist)."""
    response = httpx.get(f"{registry.url}/v2/{repository}/tags/list", auth=ADMIN)
    if response.status_code == 404:
        assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN", response.text
        return []
    assert response.status_code == 200, response.text
    return response.json()["tags"] or []


def token_flow_used(registry: LiveRegistry) -> bool:
    """Whether a client met the Bearer challenge of /v2/ and then got a token."""
    log = registry.log()
    return "GET /v2/ 401" in log and "GET /auth/token 200" in log


# --------------------------------------------------------------------------- passwords


def test_podman_logs_in_with_a_password_then_pushes_and_pulls(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
) -> None:
    proc = login(logged_out, "podman", registry, "alice", PASSWORD)
    assert "Login Succeeded" in output(proc)
    assert stored_login(logged_out, registry) is not None

    local = podman_load(logged_out, oci_image_layout, "localhost/team-a/app:local")
    podman_push(logged_out, local, f"{registry.host}/team-a/app:v1")
    logged_out.podman("rmi", "--all", "--force")
    podman_pull(logged_out, f"{registry.host}/team-a/app:v1")

    image = json.loads(
        logged_out.podman("image", "inspect", f"{registry.host}/team-a/app:v1").stdout
    )
    source_rootfs = json.loads(oci_image.config.data)["rootfs"]
    assert image[0]["RootFS"]["Layers"] == source_rootfs["diff_ids"]
    assert stored_tags(registry, "team-a/app") == ["v1"]
    assert token_flow_used(registry)


def test_skopeo_logs_in_with_a_password_then_pushes_and_pulls(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    proc = login(logged_out, "skopeo", registry, "alice", PASSWORD)
    assert "Login Succeeded" in output(proc)

    skopeo_push(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    skopeo_pull(logged_out, f"{registry.host}/team-a/app:v1", tmp_path / "pulled")

    assert_pulled(tmp_path / "pulled", oci_image)
    assert token_flow_used(registry)


def test_buildah_logs_in_with_a_password_then_pushes_and_pulls(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
) -> None:
    proc = login(logged_out, "buildah", registry, "alice", PASSWORD)
    assert "Login Succeeded" in output(proc)

    reference = f"{registry.host}/team-a/app:v1"
    image_id = logged_out.buildah("pull", "--quiet", f"oci:{oci_image_layout}:latest").stdout
    logged_out.buildah(
        "push", "--tls-verify=false", "--signature-policy", logged_out.policy,
        image_id.decode().strip(), f"docker://{reference}",
    )  # fmt: skip
    logged_out.buildah("rmi", "--all", "--force")
    logged_out.buildah("pull", "--quiet", "--tls-verify=false", reference)

    inspected = json.loads(logged_out.buildah("inspect", "--type", "image", reference).stdout)
    source_rootfs = json.loads(oci_image.config.data)["rootfs"]
    assert inspected["OCIv1"]["rootfs"]["diff_ids"] == source_rootfs["diff_ids"]
    assert stored_tags(registry, "team-a/app") == ["v1"]
    assert token_flow_used(registry)


def test_a_wrong_password_fails_login_and_the_right_one_still_works(
    team: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    refused = login(logged_out, "podman", registry, "alice", "not the password", check=False)

    assert_refused(refused, "invalid username")
    assert stored_login(logged_out, registry) is None
    login(logged_out, "podman", registry, "alice", PASSWORD)
    skopeo_push(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    assert stored_tags(registry, "team-a/app") == ["v1"]


# --------------------------------------------------------------------------- roles


def test_a_developer_cannot_push_to_a_project_they_are_not_a_member_of(
    team: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    login(logged_out, "podman", registry, "alice", PASSWORD)
    local = podman_load(logged_out, oci_image_layout, "localhost/app:local")
    podman_push(logged_out, local, f"{registry.host}/team-a/app:v1")  # their own: fine

    refused = podman_push(logged_out, local, f"{registry.host}/team-b/app:v1", check=False)

    assert_refused(refused, *DENIED)
    assert stored_tags(registry, "team-b/app") == []


def test_a_guest_pulls_but_cannot_push(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    team.user("gus", PASSWORD)
    team.member("team-a", "guest", user="gus")
    seed(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    login(logged_out, "skopeo", registry, "gus", PASSWORD)

    skopeo_pull(logged_out, f"{registry.host}/team-a/app:v1", tmp_path / "pulled")
    refused = skopeo_push(
        logged_out, oci_image_layout, f"{registry.host}/team-a/app:v2", check=False
    )

    assert_pulled(tmp_path / "pulled", oci_image)
    assert_refused(refused, *DENIED)
    assert stored_tags(registry, "team-a/app") == ["v1"]


def test_a_limited_guest_pulls_but_cannot_list_tags(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    team.user("lim", PASSWORD)
    team.member("team-a", "limited_guest", user="lim")
    seed(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    login(logged_out, "skopeo", registry, "lim", PASSWORD)

    skopeo_pull(logged_out, f"{registry.host}/team-a/app:v1", tmp_path / "pulled")
    refused = logged_out.skopeo(
        "list-tags", "--tls-verify=false", f"docker://{registry.host}/team-a/app", check=False
    )

    assert_pulled(tmp_path / "pulled", oci_image)
    assert_refused(refused, *DENIED)


# --------------------------------------------------------------------------- anonymous


def test_anonymous_pulls_from_a_public_project(
    accounts: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    accounts.project("open", public=True)
    seed(logged_out, oci_image_layout, f"{registry.host}/open/app:v1")

    skopeo_pull(logged_out, f"{registry.host}/open/app:v1", tmp_path / "pulled")

    assert_pulled(tmp_path / "pulled", oci_image)


def test_anonymous_cannot_pull_from_a_private_project(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    seed(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")

    refused = skopeo_pull(logged_out, f"{registry.host}/team-a/app:v1", tmp_path / "x", check=False)

    assert_refused(refused, *DENIED, "authentication required")


def test_anonymous_cannot_push_even_to_a_public_project(
    accounts: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    accounts.project("open", public=True)

    refused = skopeo_push(logged_out, oci_image_layout, f"{registry.host}/open/app:v1", check=False)

    assert_refused(refused, *DENIED, "authentication required")
    assert stored_tags(registry, "open/app") == []


# --------------------------------------------------------------------------- robots


def test_a_robot_logs_in_with_podman_and_pushes(
    team: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    secret = team.robot("team-a+ci", [grant("team-a", "pull", "push", "list")], project="team-a")

    login(logged_out, "podman", registry, "team-a+ci", secret)
    local = podman_load(logged_out, oci_image_layout, "localhost/app:local")
    podman_push(logged_out, local, f"{registry.host}/team-a/app:v1")

    assert stored_tags(registry, "team-a/app") == ["v1"]


def assert_pulls_but_cannot_push(
    clients: Clients,
    registry: LiveRegistry,
    image: ci.Image,
    layout: Path,
    tmp_path: Path,
    credentials: tuple[str, str],
) -> None:
    """Logged in with `credentials` (granted pull in team-a), skopeo pulls team-a/app:v1
    and its push of v2 is denied, leaving nothing stored."""
    seed(clients, layout, f"{registry.host}/team-a/app:v1")
    login(clients, "skopeo", registry, *credentials)

    skopeo_pull(clients, f"{registry.host}/team-a/app:v1", tmp_path / "pulled")
    refused = skopeo_push(clients, layout, f"{registry.host}/team-a/app:v2", check=False)

    assert_pulled(tmp_path / "pulled", image)
    assert_refused(refused, *DENIED)
    assert stored_tags(registry, "team-a/app") == ["v1"]


def test_a_pull_only_robot_pulls_but_cannot_push(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    secret = team.robot("team-a+reader", [grant("team-a", "pull")], project="team-a")
    assert_pulls_but_cannot_push(
        logged_out, registry, oci_image, oci_image_layout, tmp_path, ("team-a+reader", secret)
    )


def test_a_revoked_robot_can_no_longer_pull(
    team: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    secret = team.robot("team-a+ci", [grant("team-a", "pull")], project="team-a")
    seed(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    login(logged_out, "podman", registry, "team-a+ci", secret)
    podman_pull(logged_out, f"{registry.host}/team-a/app:v1")
    logged_out.podman("rmi", "--all", "--force")

    team.revoke_robot("team-a+ci")
    refused = podman_pull(logged_out, f"{registry.host}/team-a/app:v1", check=False)

    assert_refused(refused, "unauthorized", "invalid username")


def test_oras_pushes_an_artifact_with_a_robots_basic_credentials(
    team: Accounts, registry: LiveRegistry, tmp_path: Path
) -> None:
    secret = team.robot("team-a+ci", [grant("team-a", "pull", "push")], project="team-a")
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(b"built by CI\n")
    config = tmp_path / "config.json"
    config.write_bytes(b"{}")
    # Basic on every request: see the oras_registry fixture in test_oras.py for why.
    oras_client = ArtifactRegistry(registry.host, auth_backend="basic")
    oras_client.auth.set_basic_auth("team-a+ci", secret)

    pushed = oras_client.push_artifact(
        f"{registry.host}/team-a/artifact:v1", [str(artifact)], ARTIFACT_TYPE, config
    )

    manifest = httpx.get(
        f"{registry.url}/v2/team-a/artifact/manifests/v1",
        headers={"Accept": ci.OCI_MANIFEST},
        auth=ADMIN,
    )
    assert manifest.status_code == 200, manifest.text
    assert manifest.content == pushed.body
    assert manifest.json()["artifactType"] == ARTIFACT_TYPE


# --------------------------------------------------------------------------- personal tokens


def test_a_personal_access_token_is_a_password_for_skopeo(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    token = team.token("alice", [grant("team-a", "pull", "push", "list")])

    login(logged_out, "skopeo", registry, "alice", token)
    skopeo_push(logged_out, oci_image_layout, f"{registry.host}/team-a/app:v1")
    skopeo_pull(logged_out, f"{registry.host}/team-a/app:v1", tmp_path / "pulled")

    assert_pulled(tmp_path / "pulled", oci_image)


def test_a_pull_only_token_cannot_push_although_its_user_is_a_developer(
    team: Accounts,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image: ci.Image,
    oci_image_layout: Path,
    tmp_path: Path,
) -> None:
    token = team.token("alice", [grant("team-a", "pull")])
    assert_pulls_but_cannot_push(
        logged_out, registry, oci_image, oci_image_layout, tmp_path, ("alice", token)
    )


def test_a_pull_only_token_of_an_administrator_cannot_create_a_project_by_pushing(
    accounts: Accounts, logged_out: Clients, registry: LiveRegistry, oci_image_layout: Path
) -> None:
    # An administrator's push to a missing project creates it (auto-creation is on); a token
    # narrowed to pull must neither push nor leave that project behind.
    accounts.user("root", PASSWORD, admin=True)
    token = accounts.token("root", [grant("*", "pull")])
    login(logged_out, "skopeo", registry, "root", token)

    refused = skopeo_push(logged_out, oci_image_layout, f"{registry.host}/new/app:v1", check=False)

    assert_refused(refused, *DENIED)
    assert "new" not in accounts.projects()


def test_an_expired_token_is_refused(
    team: Accounts, logged_out: Clients, registry: LiveRegistry
) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    token = team.token("alice", [grant("team-a", "pull", "push")], expires_at=yesterday)

    refused = login(logged_out, "skopeo", registry, "alice", token, check=False)

    assert_refused(refused, "invalid username")
    assert stored_login(logged_out, registry) is None


# --------------------------------------------------------------------------- LDAP


def test_an_ldap_user_logs_in_with_podman_and_pushes_where_their_group_is_developer(
    accounts: Accounts,
    slapd: Slapd,
    logged_out: Clients,
    registry: LiveRegistry,
    oci_image_layout: Path,
) -> None:
    ldap_set(registry.data_dir, registry.database_url, slapd.url)
    accounts.project("team-a")
    accounts.member("team-a", "developer", group="team-a-devs")  # alice's group in slapd

    login(logged_out, "podman", registry, "alice", PASSWORDS["alice"])
    local = podman_load(logged_out, oci_image_layout, "localhost/app:local")
    podman_push(logged_out, local, f"{registry.host}/team-a/app:v1")

    assert stored_tags(registry, "team-a/app") == ["v1"]
