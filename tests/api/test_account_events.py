"""Every account and project change emits one domain event naming who made it."""

from __future__ import annotations

from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import push_image
from liveserver import ADMIN

from .helpers import API, add_member, make_project, make_user


def _last(events: list[Event]) -> tuple[EventType, str | None, str | None, str | None]:
    event = events[-1]
    return event.type, event.actor, event.project, event.subject


def test_user_changes_emit_user_events(client: TestClient, events: list[Event]) -> None:
    make_user(client, "alice")
    assert _last(events) == (EventType.USER_CREATED, ADMIN[0], None, "alice")
    client.patch(f"{API}/users/alice", json={"disabled": True})
    assert _last(events) == (EventType.USER_UPDATED, ADMIN[0], None, "alice")
    client.delete(f"{API}/users/alice")
    assert _last(events) == (EventType.USER_DELETED, ADMIN[0], None, "alice")


def test_member_and_robot_changes_emit_events(client: TestClient, events: list[Event]) -> None:
    make_user(client, "alice")
    make_project(client, "team")
    assert _last(events) == (EventType.PROJECT_CREATED, ADMIN[0], "team", None)
    add_member(client, "team", "alice", "guest")
    assert _last(events) == (EventType.MEMBER_ADDED, ADMIN[0], "team", "user:alice")
    client.post(f"{API}/projects/team/robots", json={"name": "ci"})
    assert _last(events) == (EventType.ROBOT_CREATED, ADMIN[0], "team", "team+ci")
    client.post(f"{API}/projects/team/robots/ci/revoke")
    assert _last(events) == (EventType.ROBOT_REVOKED, ADMIN[0], "team", "team+ci")


def test_deleting_a_project_emits_its_repositories_deletion_then_its_own(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    client.delete(f"{API}/projects/team")
    deleted = [(e.type, e.repository) for e in events[-2:]]
    assert deleted == [
        (EventType.REPOSITORY_DELETED, "team/app"),
        (EventType.PROJECT_DELETED, ""),
    ]
