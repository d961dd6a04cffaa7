"""Labels (key=value) on artifacts: set, replaced, removed, shown with the artifact."""

from __future__ import annotations

from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import push_image

from .helpers import API, add_member, is_problem, make_project, make_user

REPOS = f"{API}/projects/team/repositories"


def _labels(digest: str, key: str = "") -> str:
    return f"{REPOS}/team/app/artifacts/{digest}/labels" + (f"/{key}" if key else "")


def test_a_label_is_set_listed_and_shown_with_the_artifact(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    assert (
        client.put(_labels(image.digest, "qa/status"), json={"value": "passed"}).status_code == 204
    )
    [label] = client.get(_labels(image.digest)).json()
    assert (label["key"], label["value"], label["created_by"]) == ("qa/status", "passed", "admin")
    shown = client.get(f"{REPOS}/team/app/artifacts/{image.digest}").json()
    assert shown["labels"] == {"qa/status": "passed"}
    listed = client.get(f"{REPOS}/team/app/artifacts").json()["items"]
    assert listed[0]["labels"] == {"qa/status": "passed"}


def test_setting_a_key_again_replaces_its_value(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    client.put(_labels(image.digest, "tier"), json={"value": "gold"})
    client.put(_labels(image.digest, "tier"), json={"value": "silver"})
    assert [(x["key"], x["value"]) for x in client.get(_labels(image.digest)).json()] == [
        ("tier", "silver")
    ]


def test_a_removed_label_is_gone_and_removing_it_again_is_not_found(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    client.put(_labels(image.digest, "tier"), json={"value": "gold"})
    assert client.delete(_labels(image.digest, "tier")).status_code == 204
    assert client.get(_labels(image.digest)).json() == []
    assert is_problem(client.delete(_labels(image.digest, "tier")), 404)


def test_label_changes_are_events(client: TestClient, events: list[Event]) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    client.put(_labels(image.digest, "tier"), json={"value": "gold"})
    client.put(_labels(image.digest, "tier"), json={"value": "gold"})  # no change: no event
    client.delete(_labels(image.digest, "tier"))
    found = [(e.type, e.repository, e.digest, e.label, e.actor) for e in events if e.label]
    assert found == [
        (EventType.LABEL_ADDED, "team/app", image.digest, "tier=gold", "admin"),
        (EventType.LABEL_REMOVED, "team/app", image.digest, "tier=gold", "admin"),
    ]


def test_bad_keys_and_values_are_refused_with_a_problem(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    for key in ("Upper", "-dash-first", "spa ce", "x" * 129, "emoji\u2603"):
        assert is_problem(client.put(_labels(image.digest, key), json={"value": "v"}), 422), key
    assert is_problem(client.put(_labels(image.digest, "k"), json={"value": "x" * 257}), 422)
    assert is_problem(client.put(_labels(image.digest, "k"), json={"value": "a\nb"}), 422)
    assert is_problem(client.put(_labels(image.digest, "k"), json={"valu": "v"}), 422)
    assert client.get(_labels(image.digest)).json() == []


def test_an_unknown_or_bad_digest_is_a_clean_problem(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    unknown = "sha256:" + "0" * 64
    assert is_problem(client.put(_labels(unknown, "k"), json={"value": "v"}), 404)
    assert is_problem(client.get(_labels(unknown)), 404)
    assert is_problem(client.put(_labels("sha256:nope", "k"), json={"value": "v"}), 400)


def test_a_developer_may_label_and_a_guest_may_only_read(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    dev, guest = make_user(client, "dev"), make_user(client, "guest")
    add_member(client, "team", "dev", "developer")
    add_member(client, "team", "guest", "guest")
    response = client.put(_labels(image.digest, "k"), json={"value": "v"}, auth=dev)
    assert response.status_code == 204
    assert is_problem(client.put(_labels(image.digest, "k"), json={"value": "w"}, auth=guest), 403)
    assert is_problem(client.delete(_labels(image.digest, "k"), auth=guest), 403)
    assert client.get(_labels(image.digest), auth=guest).json()[0]["value"] == "v"


def test_labels_stay_with_the_artifact_not_the_tag(client: TestClient) -> None:
    make_project(client, "team")
    first = push_image(client, "team/app", "v1")
    client.put(_labels(first.digest, "tier"), json={"value": "gold"})
    second = push_image(client, "team/app", "v1")  # the tag moves on
    assert client.get(_labels(second.digest)).json() == []
    assert client.get(_labels(first.digest)).json()[0]["value"] == "gold"
