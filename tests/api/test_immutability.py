"""Immutability rules: tags a rule protects may be created, never moved or deleted."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import build_image, push_image, put_manifest

from .helpers import API, add_member, is_problem, make_project, make_user

RULES = f"{API}/projects/team/immutability-rules"


def add_rule(client: TestClient, kind: str, pattern: str, **extra: Any) -> dict[str, Any]:
    response = client.post(RULES, json={"kind": kind, "pattern": pattern, **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def tagged(client: TestClient, repository: str, tag: str) -> str | None:
    response = client.head(f"/v2/{repository}/manifests/{tag}")
    return response.headers["docker-content-digest"] if response.status_code == 200 else None


def push_over(client: TestClient, repository: str, tag: str) -> Any:
    """Try to push a new image to an existing tag; the response."""
    image = build_image(client, repository)
    return put_manifest(client, repository, tag, image.body, image.media_type)


def denied(response: Any, rule: dict[str, Any]) -> bool:
    error = response.json()["errors"][0]
    return (
        response.status_code == 403
        and error["code"] == "DENIED"
        and f"rule {rule['id']} ({rule['kind']} {rule['pattern']}" in error["message"]
    )


@pytest.fixture
def team(client: TestClient) -> TestClient:
    make_project(client, "team")
    return client


def test_a_glob_rule_refuses_to_move_a_tag_and_names_the_rule(team: TestClient) -> None:
    rule = add_rule(team, "glob", "v*")
    first = push_image(team, "team/app", "v1.0.0")
    response = push_over(team, "team/app", "v1.0.0")
    assert denied(response, rule)
    message = response.json()["errors"][0]["message"]
    assert message == (
        f'tag "v1.0.0" of team/app is immutable: rule {rule["id"]} (glob v*) of project team'
    )
    assert tagged(team, "team/app", "v1.0.0") == first.digest


def test_a_tag_the_rule_does_not_match_moves_freely(team: TestClient) -> None:
    add_rule(team, "glob", "v*")
    push_image(team, "team/app", "latest")
    assert push_over(team, "team/app", "latest").status_code == 201


def test_a_regex_rule_matches_the_whole_tag(team: TestClient) -> None:
    rule = add_rule(team, "regex", r"release-\d+")
    push_image(team, "team/app", "release-12")
    push_image(team, "team/app", "release-12a")
    assert denied(push_over(team, "team/app", "release-12"), rule)
    assert push_over(team, "team/app", "release-12a").status_code == 201


def test_a_semver_rule_protects_the_versions_in_its_range(team: TestClient) -> None:
    rule = add_rule(team, "semver", ">=1.0.0")
    for tag in ("v1.2.0", "2.0.0", "0.9.0", "latest", "2.1.0-rc.1"):
        push_image(team, "team/app", tag)
    assert denied(push_over(team, "team/app", "v1.2.0"), rule)
    assert denied(push_over(team, "team/app", "2.0.0"), rule)
    for free in ("0.9.0", "latest", "2.1.0-rc.1"):  # prereleases: npm's rule, not in >=1.0.0
        assert push_over(team, "team/app", free).status_code == 201, free


def test_creating_a_protected_tag_and_pushing_the_same_digest_again_are_allowed(
    team: TestClient,
) -> None:
    add_rule(team, "glob", "v*")
    image = push_image(team, "team/app", "v1")
    again = put_manifest(team, "team/app", "v1", image.body, image.media_type)
    assert again.status_code == 201
    reference = f"{image.digest}?tag=v2"  # a new tag on the same manifest: a creation
    by_digest = put_manifest(team, "team/app", reference, image.body, image.media_type)
    assert by_digest.status_code == 201
    assert tagged(team, "team/app", "v2") == image.digest


def test_deleting_a_protected_tag_is_refused(team: TestClient) -> None:
    rule = add_rule(team, "glob", "v*")
    image = push_image(team, "team/app", "v1")
    response = team.delete("/v2/team/app/manifests/v1")
    assert denied(response, rule)
    assert tagged(team, "team/app", "v1") == image.digest


def test_deleting_a_manifest_with_a_protected_tag_deletes_nothing(team: TestClient) -> None:
    rule = add_rule(team, "glob", "v*")
    image = push_image(team, "team/app", "dev")
    put_manifest(team, "team/app", "v1", image.body, image.media_type)
    history_before = team.get(f"{API}/projects/team/history/team/app").json()["items"]
    response = team.delete(f"/v2/team/app/manifests/{image.digest}")
    assert denied(response, rule)
    assert team.get(f"/v2/team/app/manifests/{image.digest}").content == image.body
    assert team.get("/v2/team/app/tags/list").json()["tags"] == ["dev", "v1"]
    assert team.get(f"{API}/projects/team/history/team/app").json()["items"] == history_before


def test_the_api_refuses_with_a_conflict_naming_the_rule(team: TestClient) -> None:
    rule = add_rule(team, "glob", "v*")
    image = push_image(team, "team/app", "v1")
    repository = f"{API}/projects/team/repositories/team/app"
    response = team.delete(f"{repository}/artifacts/{image.digest}")
    assert is_problem(response, 409)
    assert f"rule {rule['id']} (glob v*) of project team" in response.json()["detail"]
    assert is_problem(team.delete(repository), 409)
    assert tagged(team, "team/app", "v1") == image.digest


def test_a_rule_covers_only_the_repositories_its_glob_names(team: TestClient) -> None:
    rule = add_rule(team, "glob", "*", repositories="app")
    push_image(team, "team/app", "stable")
    push_image(team, "team/web", "stable")
    assert denied(push_over(team, "team/app", "stable"), rule)
    assert push_over(team, "team/web", "stable").status_code == 201


def test_a_rule_of_another_project_does_not_apply(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    client.post(f"{API}/projects/other/immutability-rules", json={"kind": "glob", "pattern": "*"})
    push_image(client, "team/app", "v1")
    assert push_over(client, "team/app", "v1").status_code == 201


def test_removing_the_rule_lets_the_tag_move_again(team: TestClient, events: list[Event]) -> None:
    rule = add_rule(team, "glob", "v*")
    push_image(team, "team/app", "v1")
    assert team.delete(f"{RULES}/{rule['id']}").status_code == 204
    assert push_over(team, "team/app", "v1").status_code == 201
    kinds = [e.type for e in events if e.type.startswith("immutability_rule.")]
    assert kinds == [EventType.IMMUTABILITY_RULE_CREATED, EventType.IMMUTABILITY_RULE_DELETED]
    assert [e.tag for e in events if e.type == EventType.TAG_MOVED] == ["v1"]


def test_rules_are_listed_shown_and_changed(team: TestClient) -> None:
    first = add_rule(team, "glob", "v*", description="releases")
    second = add_rule(team, "semver", "^2", repositories="tools/*")
    listed = team.get(RULES).json()["items"]
    assert [(r["id"], r["kind"], r["pattern"]) for r in listed] == [
        (first["id"], "glob", "v*"),
        (second["id"], "semver", "^2"),
    ]
    assert team.get(f"{RULES}/{second['id']}").json()["repositories"] == "tools/*"
    changed = team.patch(f"{RULES}/{first['id']}", json={"kind": "regex", "pattern": "v.*"})
    assert changed.status_code == 200 and changed.json()["kind"] == "regex"
    assert changed.json()["description"] == "releases" and changed.json()["created_by"] == "admin"


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "regex", "pattern": "v(1"},
        {"kind": "semver", "pattern": ">=banana"},
        {"kind": "wildcard", "pattern": "v*"},
        {"kind": "glob", "pattern": ""},
        {"kind": "glob"},
    ],
    ids=["regex", "semver", "kind", "empty", "missing"],
)
def test_a_bad_rule_is_refused(team: TestClient, body: dict[str, Any]) -> None:
    response = team.post(RULES, json=body)
    assert is_problem(response, 422), response.text
    assert team.get(RULES).json()["items"] == []


def test_a_bad_pattern_in_a_change_is_refused(team: TestClient) -> None:
    rule = add_rule(team, "glob", "release-*")
    response = team.patch(f"{RULES}/{rule['id']}", json={"kind": "semver"})  # not a range
    assert is_problem(response, 422)
    assert is_problem(team.get(f"{RULES}/999"), 404)
    assert is_problem(team.delete(f"{RULES}/999"), 404)


def test_only_a_project_admin_manages_rules_and_a_guest_reads_them(team: TestClient) -> None:
    for name, role in (("gina", "guest"), ("mona", "maintainer"), ("ada", "admin")):
        make_user(team, name)
        add_member(team, "team", name, role)
    body = {"kind": "glob", "pattern": "v*"}
    assert is_problem(team.post(RULES, json=body, auth=("mona", "a-good-password")), 403)
    created = team.post(RULES, json=body, auth=("ada", "a-good-password"))
    assert created.status_code == 201 and created.json()["created_by"] == "ada"
    assert len(team.get(RULES, auth=("gina", "a-good-password")).json()["items"]) == 1


def test_a_library_repository_follows_the_rules_of_project_library(client: TestClient) -> None:
    make_project(client, "library")
    response = client.post(
        f"{API}/projects/library/immutability-rules", json={"kind": "glob", "pattern": "*"}
    )
    rule = response.json()
    push_image(client, "busybox", "1.36")
    assert denied(push_over(client, "busybox", "1.36"), rule)
