"""Stages and promotion: an artifact promoted by digest to a stage tag, another tag or
another repository, without copying bytes, through the one `promote()`."""

from __future__ import annotations

import json
from typing import Any

import httpx
from starlette.testclient import TestClient

from cargobay.config import Settings
from cargobay.events import Event, EventType
from conformance.helpers import (
    build_artifact,
    get_manifest,
    push_image,
    push_index,
    push_manifest,
    referrers,
)

from .helpers import API, PASSWORD, add_member, is_problem, make_project, make_user
from .test_floating_tags import history

STAGES = f"{API}/projects/team/stages"


def promote(
    client: TestClient, source: str, digest: str, auth: Any = None, **body: Any
) -> httpx.Response:
    project = source.split("/")[0]
    url = f"{API}/projects/{project}/repositories/{source}/artifacts/{digest}/promote"
    return client.post(url, json=body, auth=auth or client.auth)


def blob_files(settings: Settings) -> int:
    return sum(1 for path in (settings.data_dir / "blobs").rglob("*") if path.is_file())


def test_projects_have_dev_test_prod_until_they_name_their_own(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    assert client.get(STAGES).json() == {"stages": ["dev", "test", "prod"]}
    response = client.put(STAGES, json={"stages": ["qa", "staging", "live"]})
    assert response.json() == {"stages": ["qa", "staging", "live"]}
    assert client.get(STAGES).json()["stages"] == ["qa", "staging", "live"]
    assert events[-1].type == EventType.PROJECT_UPDATED and events[-1].subject == "stages"


def test_stage_names_must_be_tags_and_distinct(client: TestClient) -> None:
    make_project(client, "team")
    for stages in [[], ["dev", "dev"], ["no spaces"], [".dot-first"]]:
        assert is_problem(client.put(STAGES, json={"stages": stages}), 422), stages


def test_stages_are_set_by_a_project_admin_only(client: TestClient) -> None:
    make_project(client, "team")
    make_user(client, "mona")
    add_member(client, "team", "mona", "maintainer")
    mona = ("mona", PASSWORD)
    assert client.get(STAGES, auth=mona).status_code == 200
    assert is_problem(client.put(STAGES, json={"stages": ["x"]}, auth=mona), 403)


def test_promotion_to_a_stage_tag_points_it_with_history_and_events(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "1.0.0")
    response = promote(client, "team/app", image.digest, stage="prod")
    assert response.status_code == 200, response.text
    assert response.json() | {"floated": []} == {
        "source_repository": "team/app",
        "digest": image.digest,
        "target_repository": "team/app",
        "tag": "prod",
        "stage": "prod",
        "previous_digest": None,
        "manifests_added": 0,
        "blobs_linked": 0,
        "referrers": 0,
        "floated": [],
    }
    assert get_manifest(client, "team/app", "prod").content == image.body
    assert history(client)[-1] == ("prod", image.digest, "promotion")
    promoted = [e for e in events if e.type == EventType.ARTIFACT_PROMOTED]
    assert [(e.repository, e.digest, e.tag, e.subject, e.actor) for e in promoted] == [
        ("team/app", image.digest, "prod", f"team/app@{image.digest}", "admin")
    ]
    created = [e for e in events if e.type == EventType.TAG_CREATED and e.tag == "prod"]
    assert [e.operation for e in created] == ["promotion"]


def test_a_stage_moves_to_the_next_artifact_promoted(client: TestClient) -> None:
    make_project(client, "team")
    first = push_image(client, "team/app", "1.0.0")
    second = push_image(client, "team/app", "1.1.0")
    promote(client, "team/app", first.digest, stage="test")
    response = promote(client, "team/app", second.digest, stage="test")
    assert response.json()["previous_digest"] == first.digest
    assert get_manifest(client, "team/app", "test").content == second.body


def test_an_unknown_stage_is_refused(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "1.0.0")
    response = promote(client, "team/app", image.digest, stage="production")
    assert is_problem(response, 422)
    assert "dev, test, prod" in response.json()["detail"]
    client.put(STAGES, json={"stages": ["production"]})
    assert promote(client, "team/app", image.digest, stage="production").status_code == 200


def test_a_stage_is_one_of_the_target_projects_stages(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    client.put(f"{API}/projects/ops/stages", json={"stages": ["live"]})
    image = push_image(client, "team/app", "1.0.0")
    refused = promote(client, "team/app", image.digest, target_repository="ops/app", stage="prod")
    assert is_problem(refused, 422)
    done = promote(client, "team/app", image.digest, target_repository="ops/app", stage="live")
    assert done.status_code == 200, done.text


def test_promotion_to_another_project_links_blobs_without_copying_bytes(
    client: TestClient, settings: Settings
) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    image = push_image(client, "team/app", "1.0.0", layer_count=2)
    files = blob_files(settings)
    response = promote(client, "team/app", image.digest, target_repository="ops/app", tag="1.0.0")
    assert response.status_code == 200, response.text
    assert response.json()["manifests_added"] == 1
    assert response.json()["blobs_linked"] == 3  # the config and two layers
    assert blob_files(settings) == files
    assert get_manifest(client, "ops/app", "1.0.0").content == image.body
    config = json.loads(image.body)["config"]["digest"]
    assert client.get(f"/v2/ops/app/blobs/{config}").status_code == 200
    assert history(client, "ops/app") == [("1.0.0", image.digest, "promotion")]


def test_promotion_without_a_tag_makes_the_digest_pullable_in_the_target(
    client: TestClient,
) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    image = push_image(client, "team/app", "1.0.0")
    assert promote(client, "team/app", image.digest, target_repository="ops/app").status_code == 200
    assert get_manifest(client, "ops/app", image.digest).content == image.body
    assert client.get("/v2/ops/app/tags/list").json()["tags"] == []


def test_an_index_is_promoted_with_its_children(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    children = [push_image(client, "team/app") for _ in range(2)]
    index = push_index(client, "team/app", children, "1.0.0")
    response = promote(client, "team/app", index.digest, target_repository="ops/app", tag="1.0.0")
    assert response.json()["manifests_added"] == 3
    assert get_manifest(client, "ops/app", "1.0.0").content == index.body
    for child in children:
        assert get_manifest(client, "ops/app", child.digest).content == child.body
        layer = json.loads(child.body)["layers"][0]["digest"]
        assert client.head(f"/v2/ops/app/blobs/{layer}").status_code == 200


def test_referrers_come_along_when_asked(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    image = push_image(client, "team/app", "1.0.0")
    signature = build_artifact(
        client,
        "team/app",
        artifact_type="application/vnd.example.signature",
        subject=image.descriptor(),
    )
    push_manifest(client, "team/app", signature)
    plain = promote(client, "team/app", image.digest, target_repository="ops/plain", tag="1")
    assert plain.json()["referrers"] == 0
    assert referrers(client, "ops/plain", image.digest).json()["manifests"] == []
    response = promote(
        client, "team/app", image.digest, target_repository="ops/app", tag="1", referrers=True
    )
    assert response.json()["referrers"] == 1
    found = referrers(client, "ops/app", image.digest).json()["manifests"]
    assert [m["digest"] for m in found] == [signature.digest]
    assert get_manifest(client, "ops/app", signature.digest).content == signature.body


def test_a_promotion_needs_pull_on_the_source_and_promote_on_the_target(
    client: TestClient,
) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    image = push_image(client, "team/app", "1.0.0")
    make_user(client, "dev")
    add_member(client, "team", "dev", "maintainer")
    add_member(client, "ops", "dev", "developer")
    dev = ("dev", PASSWORD)
    refused = promote(client, "team/app", image.digest, dev, target_repository="ops/app", tag="1")
    assert is_problem(refused, 403)
    assert "promote is not allowed in project ops" in refused.json()["detail"]
    # A maintainer of team may promote within team.
    assert promote(client, "team/app", image.digest, dev, stage="prod").status_code == 200

    make_user(client, "opsy")
    add_member(client, "ops", "opsy", "maintainer")
    opsy = ("opsy", PASSWORD)
    # No role in team: its artifacts cannot be read, the project is not even there.
    unseen = promote(client, "team/app", image.digest, opsy, target_repository="ops/app", tag="1")
    assert is_problem(unseen, 404)
    add_member(client, "team", "opsy", "limited_guest")
    done = promote(client, "team/app", image.digest, opsy, target_repository="ops/app", tag="1")
    assert done.status_code == 200, done.text


def test_a_stage_promotion_needs_promote_too(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "1.0.0")
    make_user(client, "dev")
    add_member(client, "team", "dev", "developer")
    assert is_problem(
        promote(client, "team/app", image.digest, ("dev", PASSWORD), stage="dev"), 403
    )


def test_bad_promotions_are_client_errors(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "1.0.0")
    missing = "sha256:" + "0" * 64
    assert is_problem(promote(client, "team/app", missing, stage="dev"), 404)
    assert is_problem(promote(client, "team/app", "sha256:nope", stage="dev"), 400)
    assert is_problem(promote(client, "team/app", image.digest), 422)  # nowhere to go
    assert is_problem(promote(client, "team/app", image.digest, tag="a", stage="dev"), 422)
    assert is_problem(promote(client, "team/app", image.digest, tag="no spaces"), 422)
    assert is_problem(
        promote(client, "team/app", image.digest, target_repository="nowhere/app", tag="1"), 404
    )


def test_a_promoted_release_moves_the_targets_floating_tags(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    client.put(f"{API}/projects/ops/repositories/ops/app/settings", json={"floating_tags": True})
    image = push_image(client, "team/app", "1.4.2")
    response = promote(client, "team/app", image.digest, target_repository="ops/app", tag="1.4.2")
    assert response.json()["floated"] == ["1.4", "1", "latest"]
    assert get_manifest(client, "ops/app", "latest").content == image.body


def test_a_deleted_artifact_in_the_target_comes_back(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "ops")
    image = push_image(client, "team/app", "1.0.0")
    promote(client, "team/app", image.digest, target_repository="ops/app", tag="1")
    assert client.delete(f"/v2/ops/app/manifests/{image.digest}").status_code == 202
    response = promote(client, "team/app", image.digest, target_repository="ops/app", tag="1")
    assert response.json()["manifests_added"] == 1
    assert get_manifest(client, "ops/app", "1").content == image.body


def test_the_targets_immutability_rules_apply_to_a_promotion(client: TestClient) -> None:
    make_project(client, "team")
    first = push_image(client, "team/app", "1.0.0")
    second = push_image(client, "team/app", "1.1.0")
    rule = client.post(
        f"{API}/projects/team/immutability-rules", json={"kind": "glob", "pattern": "prod"}
    )
    assert rule.status_code == 201, rule.text
    assert promote(client, "team/app", first.digest, stage="prod").status_code == 200
    refused = promote(client, "team/app", second.digest, stage="prod")
    assert is_problem(refused, 409) and "prod" in refused.json()["detail"]
    assert get_manifest(client, "team/app", "prod").content == first.body
    assert history(client)[-1] == ("prod", first.digest, "promotion")
