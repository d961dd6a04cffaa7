"""A repository's tags as semantic versions: listed in version order, ranges resolved."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conformance.helpers import check_each, push_image, push_manifest

from .helpers import API, add_member, is_problem, make_project, make_user
from .tagging import push_tags

REPO = f"{API}/projects/team/repositories/team/app"

# Pushed out of order; `1.10.0` sorts above `1.9.0`, a release above its prereleases,
# `rc.10` above `rc.2`, build metadata (`_b7` is +b7) does not change the order.
TAGS = [
    "1.10.0",
    "1.2.0",
    "v1.9.0",
    "2.0.0-rc.10",
    "2.0.0-rc.2",
    "2.0.0-alpha",
    "1.2.0_b7",
    "latest",
    "main",
    "1.2",
    "01.2.3",
]


@pytest.fixture
def tagged(client: TestClient) -> dict[str, str]:
    """Every tag of TAGS pushed to team/app, each on its own image: tag -> digest."""
    make_project(client, "team")
    return push_tags(client, "team/app", *TAGS)


def test_semver_tags_are_listed_lowest_first_with_digest_and_prerelease(
    client: TestClient, tagged: dict[str, str]
) -> None:
    body = client.get(f"{REPO}/versions").json()
    assert [v["tag"] for v in body["versions"]] == [
        "1.2.0",
        "1.2.0_b7",
        "v1.9.0",
        "1.10.0",
        "2.0.0-alpha",
        "2.0.0-rc.2",
        "2.0.0-rc.10",
    ]
    first = body["versions"][0]
    assert first == {
        "tag": "1.2.0",
        "digest": tagged["1.2.0"],
        "version": "1.2.0",
        "prerelease": False,
    }
    by_tag = {v["tag"]: v for v in body["versions"]}
    assert by_tag["1.2.0_b7"]["version"] == "1.2.0+b7"
    assert by_tag["v1.9.0"]["version"] == "1.9.0"
    assert by_tag["2.0.0-rc.10"]["prerelease"] is True


def test_tags_that_are_not_semver_are_listed_apart_by_name(
    client: TestClient, tagged: dict[str, str]
) -> None:
    others = client.get(f"{REPO}/versions").json()["other_tags"]
    assert others == [{"tag": t, "digest": tagged[t]} for t in ["01.2.3", "1.2", "latest", "main"]]
    assert client.get(f"{REPO}/versions", params={"other_tags": False}).json()["other_tags"] is None


def test_versions_are_listed_highest_first_and_without_prereleases_on_request(
    client: TestClient, tagged: dict[str, str]
) -> None:
    params = {"order": "desc", "prerelease": False}
    listed = [v["tag"] for v in client.get(f"{REPO}/versions", params=params).json()["versions"]]
    assert listed == ["1.10.0", "v1.9.0", "1.2.0_b7", "1.2.0"]


# range, prereleases allowed, the tag it resolves to
RESOLVED = {
    "caret": ("^1.2", False, "1.10.0"),
    "tilde": ("~1.2.0", False, "1.2.0_b7"),  # same precedence as 1.2.0: the tag text decides
    "and": (">=1.3 <1.10", False, "v1.9.0"),
    "x-range": ("1.x", False, "1.10.0"),
    "keyword": ("latest stable", False, "1.10.0"),
    "any with prereleases": ("*", True, "2.0.0-rc.10"),
    "naming a prerelease opts in": ("^2.0.0-rc.1", False, "2.0.0-rc.10"),
    "v prefix": ("v1.9.0", False, "v1.9.0"),
}


def test_a_range_resolves_to_the_highest_matching_tag(
    client: TestClient, tagged: dict[str, str]
) -> None:
    def check(case: tuple[str, bool, str]) -> None:
        range_, prerelease, expected = case
        params = {"range": range_, "prerelease": prerelease}
        response = client.get(f"{REPO}/versions/resolve", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["tag"] == expected
        assert response.json()["digest"] == tagged[expected]

    check_each(RESOLVED, check)


def test_a_range_nothing_matches_is_not_found(client: TestClient, tagged: dict[str, str]) -> None:
    assert is_problem(client.get(f"{REPO}/versions/resolve", params={"range": "^3"}), 404)
    # Only prereleases of 2.0.0 exist, and they are not asked for.
    assert is_problem(client.get(f"{REPO}/versions/resolve", params={"range": "^2"}), 404)


def test_a_bad_range_is_a_client_error(client: TestClient, tagged: dict[str, str]) -> None:
    def check(bad: str) -> None:
        response = client.get(f"{REPO}/versions/resolve", params={"range": bad})
        assert is_problem(response, 400), response.text

    check_each({bad: bad for bad in ["not a range", "1.2.3.4", ">=", "1 ||| 2", ""]}, check)


def test_a_repository_that_does_not_exist_has_no_versions(client: TestClient) -> None:
    make_project(client, "team")
    assert is_problem(client.get(f"{REPO}/versions"), 404)
    assert is_problem(client.get(f"{REPO}/versions/resolve", params={"range": "*"}), 404)


def test_a_guest_may_list_and_resolve_versions(client: TestClient) -> None:
    make_project(client, "team")
    guest = make_user(client, "gina")
    add_member(client, "team", "gina", "guest")
    image = push_image(client, "team/app", "1.0.0")
    assert client.get(f"{REPO}/versions", auth=guest).status_code == 200
    response = client.get(f"{REPO}/versions/resolve", params={"range": "1"}, auth=guest)
    assert response.json()["digest"] == image.digest
    assert is_problem(client.get(f"{REPO}/versions", auth=make_user(client, "stranger")), 404)


def test_several_tags_on_one_manifest_are_each_a_version(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "1.0.0")
    push_manifest(client, "team/app", image, "v1.0.0")
    listed = client.get(f"{REPO}/versions").json()["versions"]
    assert [(v["tag"], v["digest"]) for v in listed] == [
        ("1.0.0", image.digest),
        ("v1.0.0", image.digest),
    ]
