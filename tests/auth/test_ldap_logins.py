"""LDAP users log in to the registry, and their LDAP groups give them project roles.

Against a real slapd (tests/ldapserver.py); the configuration is stored the way an operator
stores it, with `cargobay ldap set`, encrypted in the metadata database.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from cargobay.metadata.models import Group, GroupMember, ProjectMember, User
from conformance.helpers import push_blob
from ldapserver import PASSWORDS, Slapd, ldap_set
from liveserver import ADMIN, free_port


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def ldap_app(settings: Settings, slapd: Slapd) -> Iterator[TestClient]:
    ldap_set(settings.data_dir, settings.database_url, slapd.url)
    with TestClient(create_app(settings)) as client:
        client.app.state.access.store.create_project("team-a")  # type: ignore[attr-defined]
        yield client


def grant_group(client: TestClient, project: str, group: str, role: str) -> None:
    app = client.app
    engine = app.state.access.store.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        group_id = connection.scalar(select(Group.id).where(Group.name == group))
        if group_id is None:
            group_id = connection.execute(
                insert(Group).values(name=group, source="ldap").returning(Group.id)
            ).scalar_one()
        project_id = app.state.access.store.project(project).id  # type: ignore[attr-defined]
        connection.execute(
            insert(ProjectMember).values(project_id=project_id, group_id=group_id, role=role)
        )
    app.state.access.cache.invalidate()  # type: ignore[attr-defined]


def test_ldap_user_in_a_member_group_pushes_with_basic_credentials(
    ldap_app: TestClient,
) -> None:
    grant_group(ldap_app, "team-a", "team-a-devs", "developer")
    ldap_app.auth = ("alice", PASSWORDS["alice"])
    assert push_blob(ldap_app, "team-a/app", b"from alice").startswith("sha256:")


def test_ldap_user_outside_the_member_groups_is_denied(ldap_app: TestClient) -> None:
    grant_group(ldap_app, "team-a", "team-a-devs", "developer")
    response = ldap_app.post(
        "/v2/team-a/app/blobs/uploads/", headers=basic("carol", PASSWORDS["carol"])
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "DENIED"


def test_ldap_login_records_the_user_and_their_groups(ldap_app: TestClient) -> None:
    response = ldap_app.get("/auth/token", headers=basic("alice", PASSWORDS["alice"]))
    assert response.status_code == 200
    engine = ldap_app.app.state.access.store.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        user = connection.execute(select(User).where(User.name == "alice")).one()
        groups = connection.scalars(
            select(Group.name)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user.id)
        ).all()
    assert (user.source, user.password_hash, user.email) == ("ldap", None, "alice@example.org")
    assert sorted(groups) == ["builders", "team-a-devs"]


def test_wrong_ldap_password_is_refused(ldap_app: TestClient) -> None:
    response = ldap_app.get("/auth/token", headers=basic("alice", "wrong"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_local_admin_logs_in_while_the_directory_is_down(settings: Settings, slapd: Slapd) -> None:
    ldap_set(
        settings.data_dir, settings.database_url, f"ldap://127.0.0.1:{free_port()}"
    )  # nothing listens there
    with TestClient(create_app(settings)) as client:
        assert client.get("/auth/token", headers=basic(*ADMIN)).status_code == 200
        refused = client.get("/auth/token", headers=basic("alice", PASSWORDS["alice"]))
        assert refused.status_code == 401
