"""Floating tags: with the repository setting on, a release push moves `1.4`, `1` and
`latest` to it when it is the highest they cover, in the push's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from cargobay.metadata.models import Repository, TagHistory

from .helpers import API, add_member, is_problem, make_project, make_user
from .tagging import push_tags

SETTINGS = f"{API}/projects/team/repositories/team/app/settings"


def tags(client: TestClient, repository: str = "team/app") -> dict[str, str]:
    """tag -> digest of every tag of the repository."""
    body = client.get(f"{API}/projects/team/repositories/{repository}/versions").json()
    return {t["tag"]: t["digest"] for t in body["versions"] + body["other_tags"]}


def floating_on(client: TestClient, **extra: Any) -> None:
    response = client.put(SETTINGS, json={"floating_tags": True, **extra})
    assert response.status_code == 200, response.text


def history(client: TestClient, repository: str = "team/app") -> list[tuple[str, str, str]]:
    """(tag, new digest, operation) of every recorded tag change, oldest first."""
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    query = (
        select(TagHistory.tag, TagHistory.new_digest, TagHistory.operation)
        .join(Repository, Repository.id == TagHistory.repository_id)
        .where(Repository.name == repository)
        .order_by(TagHistory.id)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_floating_is_off_by_default(client: TestClient) -> None:
    make_project(client, "team")
    push_tags(client, "team/app", "1.4.2")
    assert client.get(SETTINGS).json() == {"floating_tags": False, "float_prereleases": False}
    assert set(tags(client)) == {"1.4.2"}


def test_a_release_moves_its_minor_major_and_latest(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2")
    assert tags(client) == dict.fromkeys(["1.4.2", "1.4", "1", "latest"], pushed["1.4.2"])


def test_a_lower_patch_pushed_later_leaves_the_floating_tags_on_the_higher(
    client: TestClient,
) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2", "1.4.1")
    current = tags(client)
    assert current["1.4"] == current["1"] == current["latest"] == pushed["1.4.2"]
    assert current["1.4.1"] == pushed["1.4.1"]


def test_a_new_minor_moves_the_major_and_latest_but_not_the_old_minor(
    client: TestClient,
) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2", "1.5.0")
    current = tags(client)
    assert current["1.4"] == pushed["1.4.2"]
    assert current["1.5"] == current["1"] == current["latest"] == pushed["1.5.0"]


def test_a_fix_to_an_old_major_does_not_move_latest(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "2.0.0", "1.9.1")
    current = tags(client)
    assert current["1"] == current["1.9"] == pushed["1.9.1"]
    assert current["latest"] == current["2"] == pushed["2.0.0"]


def test_v_prefixed_releases_float_their_own_family(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "v2.1.0", "1.0.0")
    current = tags(client)
    assert current["v2.1"] == current["v2"] == current["latest"] == pushed["v2.1.0"]
    assert current["1.0"] == current["1"] == pushed["1.0.0"]
    assert "2" not in current and "2.1" not in current


def test_a_prerelease_does_not_float_unless_allowed(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2", "1.5.0-rc.1")
    assert tags(client)["latest"] == tags(client)["1"] == pushed["1.4.2"]
    assert "1.5" not in tags(client)

    floating_on(client, float_prereleases=True)
    pushed |= push_tags(client, "team/app", "1.5.0-rc.2")
    current = tags(client)
    assert current["1.5"] == current["1"] == current["latest"] == pushed["1.5.0-rc.2"]


def test_build_metadata_of_the_same_version_floats_the_newer_push(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2_b1", "1.4.2_b2")
    assert tags(client)["1.4"] == pushed["1.4.2_b2"]


def test_non_semver_tags_move_nothing(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2", "main", "1.4", "nightly")
    assert tags(client)["latest"] == pushed["1.4.2"]
    assert tags(client)["1.4"] == pushed["1.4"]  # pushed by hand: a push, not a float


def test_each_floating_move_is_in_history_and_announced(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    floating_on(client)
    pushed = push_tags(client, "team/app", "1.4.2", "1.4.3")
    first, second = pushed["1.4.2"], pushed["1.4.3"]
    assert history(client) == [
        ("1.4.2", first, "push"),
        ("1.4", first, "floating"),
        ("1", first, "floating"),
        ("latest", first, "floating"),
        ("1.4.3", second, "push"),
        ("1.4", second, "floating"),
        ("1", second, "floating"),
        ("latest", second, "floating"),
    ]
    moved = [
        (e.tag, e.previous_digest)
        for e in events
        if e.type == EventType.TAG_MOVED and e.operation == "floating"
    ]
    assert moved == [("1.4", first), ("1", first), ("latest", first)]


def test_settings_are_changed_by_a_project_admin_and_read_by_a_guest(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    push_tags(client, "team/app", "1.0.0")
    for name, role in [("gina", "guest"), ("mona", "maintainer"), ("ada", "admin")]:
        make_user(client, name)
        add_member(client, "team", name, role)
    assert client.get(SETTINGS, auth=("gina", "a-good-password")).status_code == 200
    body = {"floating_tags": True}
    assert is_problem(client.put(SETTINGS, json=body, auth=("mona", "a-good-password")), 403)
    response = client.put(SETTINGS, json=body, auth=("ada", "a-good-password"))
    assert response.json() == {"floating_tags": True, "float_prereleases": False}
    assert events[-1].type == EventType.REPOSITORY_UPDATED and events[-1].actor == "ada"


def test_floating_can_be_turned_on_before_the_first_push(client: TestClient) -> None:
    make_project(client, "team")
    floating_on(client)
    assert client.get(SETTINGS).json()["floating_tags"] is True
    pushed = push_tags(client, "team/app", "0.1.0")
    assert tags(client)["latest"] == pushed["0.1.0"]


def test_unknown_settings_are_refused(client: TestClient) -> None:
    make_project(client, "team")
    assert is_problem(client.put(SETTINGS, json={"floating": True}), 422)
    assert is_problem(client.get(SETTINGS), 404)  # no such repository yet


def test_a_floating_tag_an_immutability_rule_protects_stays_and_the_push_succeeds(
    client: TestClient,
) -> None:
    make_project(client, "team")
    floating_on(client)
    rule = client.post(
        f"{API}/projects/team/immutability-rules", json={"kind": "glob", "pattern": "latest"}
    )
    assert rule.status_code == 201, rule.text
    pushed = push_tags(client, "team/app", "1.4.2", "1.5.0")  # each push must succeed
    current = tags(client)
    assert current["latest"] == pushed["1.4.2"]  # created by the first release, then kept
    assert current["1"] == current["1.5"] == pushed["1.5.0"]
    assert ("latest", pushed["1.5.0"], "floating") not in history(client)
