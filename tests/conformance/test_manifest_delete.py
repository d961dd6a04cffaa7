"""Content management: deleting manifests by digest and tags (end-9)."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import (
    assert_error,
    blob_url,
    describe,
    digest_of,
    get_manifest,
    head_manifest,
    list_tags,
    push_image,
    push_manifest,
    random_bytes,
    start_upload,
    unique_repo,
)


@pytest.fixture
def repo() -> str:
    return unique_repo()


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    """The repository's tags; a repository left with none may also be unknown (404)."""
    response = list_tags(client, repo)
    if response.status_code == 404:
        assert_error(response, 404, "NAME_UNKNOWN")
        return []
    assert response.status_code == 200, describe(response)
    return response.json()["tags"] or []


# --- by digest -------------------------------------------------------------------------------


def test_delete_manifest_by_digest_returns_202(client: httpx.Client, repo: str) -> None:
    """Spec: "To delete a manifest ... Upon success, the registry MUST respond with a
    `202 Accepted` code."
    """
    manifest = push_image(client, repo, "v1")
    response = client.delete(f"/v2/{repo}/manifests/{manifest.digest}")
    assert response.status_code == 202, describe(response)


def test_deleted_manifest_is_not_found_by_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "Once deleted, a `GET` to `/v2/<name>/manifests/<digest>` and any tag pointing
    to that digest will return a 404."
    """
    manifest = push_image(client, repo, "v1")
    assert client.delete(f"/v2/{repo}/manifests/{manifest.digest}").status_code == 202
    assert_error(get_manifest(client, repo, manifest.digest), 404, "MANIFEST_UNKNOWN")
    assert head_manifest(client, repo, manifest.digest).status_code == 404


def test_delete_by_digest_removes_its_tags(client: httpx.Client, repo: str) -> None:
    """Spec: "... and any tag pointing to that digest will return a 404." (issue 2: "removes
    the manifest and its tags")
    """
    manifest = push_image(client, repo, "v1")
    push_manifest(client, repo, manifest, "v1.0")
    keep = push_image(client, repo, "other")
    assert client.delete(f"/v2/{repo}/manifests/{manifest.digest}").status_code == 202
    for tag in ("v1", "v1.0"):
        assert_error(get_manifest(client, repo, tag), 404, "MANIFEST_UNKNOWN")
    assert tags_of(client, repo) == ["other"]
    assert get_manifest(client, repo, "other").content == keep.body


def test_delete_unknown_manifest_returns_404(client: httpx.Client, repo: str) -> None:
    """End-9 fails with 404 for a manifest that is not there (`MANIFEST_UNKNOWN`)."""
    push_image(client, repo, "v1")
    response = client.delete(f"/v2/{repo}/manifests/{digest_of(random_bytes())}")
    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_in_unknown_repository_returns_404(client: httpx.Client) -> None:
    """Spec: "If the repository does not exist, the response MUST return `404 Not Found`." """
    response = client.delete(f"/v2/{unique_repo('missing')}/manifests/{digest_of(b'x')}")
    assert_error(response, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_deleted_manifest_can_be_pushed_again(client: httpx.Client, repo: str) -> None:
    """After a delete, pushing the same bytes again makes the manifest pullable again."""
    manifest = push_image(client, repo, "v1")
    assert client.delete(f"/v2/{repo}/manifests/{manifest.digest}").status_code == 202
    push_manifest(client, repo, manifest, "v1")
    assert get_manifest(client, repo, "v1").content == manifest.body


def test_delete_manifest_keeps_it_in_other_repositories(client: httpx.Client, repo: str) -> None:
    """A delete acts on "`<name>` ... the namespace of the repository": the same manifest in
    another repository stays pullable there.
    """
    manifest = push_image(client, repo, "v1")
    other = unique_repo()
    document = json.loads(manifest.body)
    for item in [document["config"], *document["layers"]]:
        mounted = start_upload(client, other, mount=item["digest"], **{"from": repo})
        assert mounted.status_code == 201, describe(mounted)
    push_manifest(client, other, manifest, "v1")
    assert client.delete(f"/v2/{repo}/manifests/{manifest.digest}").status_code == 202
    assert get_manifest(client, other, "v1").content == manifest.body


def test_delete_manifest_leaves_its_blobs(client: httpx.Client, repo: str) -> None:
    """Manifests and blobs are deleted separately (end-9, end-10): the config blob of a
    deleted manifest is still a blob of the repository until it is itself deleted.
    """
    manifest = push_image(client, repo, "v1")
    config_digest = json.loads(manifest.body)["config"]["digest"]
    assert client.delete(f"/v2/{repo}/manifests/{manifest.digest}").status_code == 202
    assert client.head(blob_url(repo, config_digest)).status_code == 200


# --- by tag ----------------------------------------------------------------------------------


def test_delete_tag_returns_202(client: httpx.Client, repo: str) -> None:
    """Spec: "To delete a tag, perform a `DELETE` request to ... `/v2/<name>/manifests/<tag>`
    ... Upon success, the registry MUST respond with a `202 Accepted` code."
    """
    push_image(client, repo, "v1")
    response = client.delete(f"/v2/{repo}/manifests/v1")
    assert response.status_code == 202, describe(response)


def test_deleted_tag_is_not_found(client: httpx.Client, repo: str) -> None:
    """Spec: "Once deleted, a `GET` to `/v2/<name>/manifests/<tag>` will return a 404." """
    push_image(client, repo, "v1")
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    assert_error(get_manifest(client, repo, "v1"), 404, "MANIFEST_UNKNOWN")
    assert "v1" not in tags_of(client, repo)


def test_delete_tag_keeps_the_manifest(client: httpx.Client, repo: str) -> None:
    """Issue 2: "`DELETE` by tag (removes only the tag)" -- the manifest stays pullable by
    digest.
    """
    manifest = push_image(client, repo, "v1")
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    response = get_manifest(client, repo, manifest.digest)
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_delete_tag_keeps_other_tags_of_the_manifest(client: httpx.Client, repo: str) -> None:
    """Deleting one tag leaves the other tags on the same manifest."""
    manifest = push_image(client, repo, "v1")
    push_manifest(client, repo, manifest, "latest")
    assert client.delete(f"/v2/{repo}/manifests/v1").status_code == 202
    assert get_manifest(client, repo, "latest").content == manifest.body
    assert tags_of(client, repo) == ["latest"]


def test_delete_unknown_tag_returns_404(client: httpx.Client, repo: str) -> None:
    """End-9 fails with 404 when the tag does not exist (`MANIFEST_UNKNOWN`)."""
    push_image(client, repo, "v1")
    assert_error(client.delete(f"/v2/{repo}/manifests/v2"), 404, "MANIFEST_UNKNOWN")
