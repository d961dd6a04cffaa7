"""Listing referrers (end-12a, end-12b) and pushing manifests with a `subject`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    build_artifact,
    build_image,
    check_each,
    describe,
    digest_of,
    encode,
    follow_pages,
    make_index,
    push_image,
    push_manifest,
    random_bytes,
    referrers,
    unique_repo,
)

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


@pytest.fixture
def repo() -> str:
    return unique_repo()


@pytest.fixture
def subject(client: httpx.Client, repo: str) -> Manifest:
    """An image pushed by tag, to which the tests attach referrers."""
    return push_image(client, repo, "v1")


def push_referrer(
    client: httpx.Client,
    repo: str,
    subject: Manifest | dict[str, Any],
    artifact_type: str | None = SBOM,
    **options: Any,
) -> Manifest:
    subject_descriptor = subject.descriptor() if isinstance(subject, Manifest) else subject
    manifest = build_artifact(
        client, repo, artifact_type=artifact_type, subject=subject_descriptor, **options
    )
    push_manifest(client, repo, manifest)
    return manifest


def listed(client: httpx.Client, repo: str, digest: str, **params: str) -> list[dict[str, Any]]:
    """The descriptors of a successful referrers response."""
    response = referrers(client, repo, digest, **params)
    assert response.status_code == 200, describe(response)
    return response.json()["manifests"]


def entry_for(entries: list[dict[str, Any]], manifest: Manifest) -> dict[str, Any]:
    matches = [entry for entry in entries if entry.get("digest") == manifest.digest]
    assert len(matches) == 1, f"{manifest.digest} listed {len(matches)} times in {entries}"
    return matches[0]


# --- response format ---------------------------------------------------------------------


def test_referrers_returns_200(client: httpx.Client, repo: str, subject: Manifest) -> None:
    """Spec: "Assuming a repository is found, this request MUST return a `200 OK` response
    code."
    """
    push_referrer(client, repo, subject)
    response = referrers(client, repo, subject.digest)
    assert response.status_code == 200, describe(response)


def test_referrers_content_type_is_image_index(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "The `Content-Type` header MUST be set to
    `application/vnd.oci.image.index.v1+json`."
    """
    push_referrer(client, repo, subject)
    response = referrers(client, repo, subject.digest)
    content_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert content_type == OCI_INDEX, describe(response)


def test_referrers_body_is_an_image_index(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "Upon success, the response MUST be a JSON body with an image index containing a
    list of descriptors."
    """
    push_referrer(client, repo, subject)
    body = referrers(client, repo, subject.digest).json()
    assert body.get("schemaVersion") == 2
    assert body.get("mediaType") == OCI_INDEX
    assert isinstance(body.get("manifests"), list)


def test_referrers_empty_index_for_manifest_without_referrers(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If a query results in no matching referrers, an empty manifest list MUST be
    returned."
    """
    response = referrers(client, repo, subject.digest)
    assert response.status_code == 200, describe(response)
    assert response.json()["manifests"] == []
    assert response.json()["mediaType"] == OCI_INDEX


def test_referrers_of_unknown_digest_is_empty_not_404(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If the registry supports the referrers API, the registry MUST NOT return a
    `404 Not Found` to a referrers API requests." -- a digest with no manifest at all gets
    an empty list.
    """
    assert listed(client, repo, digest_of(random_bytes())) == []


def test_referrers_with_invalid_digest_returns_400(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If the request is invalid, such as a `<digest>` with an invalid syntax, a
    `400 Bad Request` MUST be returned."
    """

    def check(digest: str) -> None:
        response = referrers(client, repo, digest)
        assert response.status_code == 400, describe(response)

    invalid = {
        "non-hex": "sha256:xyz",
        "no-algorithm": "not-a-digest",
        "uppercase-hex": "sha256:" + "A" * 64,
        "unsupported-algorithm": "md5:" + "a" * 32,
    }
    check_each(invalid, check)


# --- descriptors -------------------------------------------------------------------------------


def test_referrers_lists_a_manifest_with_that_subject(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "Each descriptor is of an image manifest or index in the same `<name>` namespace
    with a `subject` field that specifies the value of `<digest>`."
    """
    referrer = push_referrer(client, repo, subject)
    entry = entry_for(listed(client, repo, subject.digest), referrer)
    assert entry["mediaType"] == OCI_MANIFEST
    assert entry["size"] == len(referrer.body)


def test_referrers_lists_every_referrer(client: httpx.Client, repo: str, subject: Manifest) -> None:
    """Spec: the referrers list is "a list of manifests with a subject relationship to a
    specified digest" -- all of them.
    """
    pushed = [push_referrer(client, repo, subject, kind) for kind in (SBOM, SIGNATURE, SBOM)]
    entries = listed(client, repo, subject.digest)
    assert sorted(entry["digest"] for entry in entries) == sorted(m.digest for m in pushed)


def test_referrers_descriptor_has_manifest_artifact_type(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "The descriptors MUST include an `artifactType` field that is set to the value
    of the `artifactType` in the image manifest or index, if present."
    """
    referrer = push_referrer(client, repo, subject, SIGNATURE)
    assert entry_for(listed(client, repo, subject.digest), referrer)["artifactType"] == SIGNATURE


def test_referrers_artifact_type_defaults_to_config_media_type(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If the `artifactType` is empty or missing in the image manifest, the value of
    `artifactType` MUST be set to the config descriptor `mediaType` value."
    """
    config_type = "application/vnd.example.config.v1+json"
    referrer = push_referrer(client, repo, subject, None, config_media_type=config_type)
    entry = entry_for(listed(client, repo, subject.digest), referrer)
    assert entry.get("artifactType") == config_type


def test_referrers_descriptor_has_manifest_annotations(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "The descriptors MUST include annotations from the image manifest or index." """
    annotations = {
        "org.opencontainers.image.created": "2022-01-01T14:42:55Z",
        "org.example.sbom.format": "json",
    }
    referrer = push_referrer(client, repo, subject, annotations=annotations)
    entry = entry_for(listed(client, repo, subject.digest), referrer)
    assert entry.get("annotations") == annotations


def push_index_referrer(
    client: httpx.Client, repo: str, subject: Manifest, artifact_type: str | None
) -> Manifest:
    child = push_image(client, repo)
    document = make_index(
        [child.descriptor()],
        artifact_type=artifact_type,
        subject=subject.descriptor(),
        annotations={"org.example.kind": "index"},
    )
    index = Manifest(encode(document), OCI_INDEX)
    push_manifest(client, repo, index)
    return index


def test_referrers_lists_an_index_with_its_artifact_type(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "... `artifactType` field that is set to the value of the `artifactType` in the
    image manifest or index, if present." and "MUST include annotations from the image
    manifest or index."
    """
    index = push_index_referrer(client, repo, subject, SBOM)
    entry = entry_for(listed(client, repo, subject.digest), index)
    assert entry["mediaType"] == OCI_INDEX
    assert entry.get("artifactType") == SBOM
    assert entry.get("annotations") == {"org.example.kind": "index"}


def test_referrers_index_without_artifact_type_omits_it(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If the `artifactType` is empty or missing in an index, the `artifactType` MUST
    be omitted."
    """
    index = push_index_referrer(client, repo, subject, None)
    entry = entry_for(listed(client, repo, subject.digest), index)
    assert "artifactType" not in entry, entry


def test_referrer_pushed_twice_is_listed_once(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """One manifest is one referrer, however often it is pushed or tagged."""
    referrer = push_referrer(client, repo, subject)
    push_manifest(client, repo, referrer, "sbom")
    entry_for(listed(client, repo, subject.digest), referrer)


def test_referrers_lists_only_referrers_of_that_digest(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: descriptors are of manifests "with a `subject` field that specifies the value of
    `<digest>`" -- referrers of another image are not listed.
    """
    mine = push_referrer(client, repo, subject)
    other_subject = push_image(client, repo, "v2")
    theirs = push_referrer(client, repo, other_subject)
    assert [entry["digest"] for entry in listed(client, repo, subject.digest)] == [mine.digest]
    assert [e["digest"] for e in listed(client, repo, other_subject.digest)] == [theirs.digest]


def test_referrers_lists_only_the_same_repository(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "Each descriptor is of an image manifest or index in the same `<name>`
    namespace" -- a referrer pushed to another repository is not listed here.
    """
    other = unique_repo()
    push_referrer(client, other, subject.descriptor())
    assert listed(client, repo, subject.digest) == []


def test_deleted_referrer_is_no_longer_listed(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: each descriptor "is of an image manifest or index in the same `<name>`
    namespace" -- a deleted manifest no longer is.
    """
    referrer = push_referrer(client, repo, subject)
    assert client.delete(f"/v2/{repo}/manifests/{referrer.digest}").status_code == 202
    assert listed(client, repo, subject.digest) == []


# --- filtering -------------------------------------------------------------------------------


def test_referrers_filtered_by_artifact_type(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "The registry SHOULD support filtering on `artifactType`." --
    `?artifactType=<artifactType>` lists only the referrers of that type.
    """
    sbom = push_referrer(client, repo, subject, SBOM)
    push_referrer(client, repo, subject, SIGNATURE)
    entries = listed(client, repo, subject.digest, artifactType=SBOM)
    assert [entry["digest"] for entry in entries] == [sbom.digest]


def test_referrers_filter_sets_oci_filters_applied(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If filtering is requested and applied, the response MUST include a header
    `OCI-Filters-Applied: artifactType` denoting that an `artifactType` filter was applied."
    """
    push_referrer(client, repo, subject, SBOM)
    push_referrer(client, repo, subject, SIGNATURE)
    response = referrers(client, repo, subject.digest, artifactType=SBOM)
    assert len(response.json()["manifests"]) == 1, describe(response)
    assert response.headers.get("oci-filters-applied") == "artifactType", describe(response)


def test_referrers_filter_with_no_match_is_empty(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "If a query results in no matching referrers, an empty manifest list MUST be
    returned."
    """
    push_referrer(client, repo, subject, SBOM)
    response = referrers(client, repo, subject.digest, artifactType="application/vnd.none")
    assert response.status_code == 200, describe(response)
    assert response.json()["manifests"] == []
    assert response.headers.get("oci-filters-applied") == "artifactType"


def test_referrers_without_filter_has_no_filters_applied(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: the header denotes "that an `artifactType` filter was applied" -- so it is not
    sent when no filter was requested.
    """
    push_referrer(client, repo, subject, SBOM)
    response = referrers(client, repo, subject.digest)
    assert "artifactType" not in response.headers.get("oci-filters-applied", "")


def test_referrers_filter_matches_default_artifact_type(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """The filter applies to the descriptor's `artifactType`, which for a manifest without
    one "MUST be set to the config descriptor `mediaType` value".
    """
    config_type = "application/vnd.example.config.v1+json"
    referrer = push_referrer(client, repo, subject, None, config_media_type=config_type)
    push_referrer(client, repo, subject, SBOM)
    entries = listed(client, repo, subject.digest, artifactType=config_type)
    assert [entry["digest"] for entry in entries] == [referrer.digest]


# --- pushing with a subject ------------------------------------------------------------------


def test_push_with_subject_returns_oci_subject(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "When processing a request for an image manifest with the `subject` field, a
    registry implementation that supports the referrers API MUST respond with the response
    header `OCI-Subject: <subject digest>`"
    """
    manifest = build_artifact(client, repo, artifact_type=SBOM, subject=subject.descriptor())
    response = push_manifest(client, repo, manifest)
    assert response.headers.get("oci-subject") == subject.digest, describe(response)


def test_push_image_with_subject_by_tag_returns_oci_subject(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """As above, for a plain image manifest (no `artifactType`) pushed by tag."""
    manifest = build_image(client, repo, subject=subject.descriptor())
    response = push_manifest(client, repo, manifest, "signed")
    assert response.headers.get("oci-subject") == subject.digest, describe(response)


def test_referrer_may_be_pushed_before_its_subject(client: httpx.Client, repo: str) -> None:
    """Spec: "A registry MUST initially accept an otherwise valid manifest with a `subject`
    field that references a manifest that does not exist in the repository, allowing
    clients to push a manifest and referrers to that manifest in either order."
    """
    future = build_image(client, repo)
    manifest = build_artifact(client, repo, artifact_type=SBOM, subject=future.descriptor())
    response = push_manifest(client, repo, manifest)
    assert response.status_code == 201, describe(response)


def test_referrer_pushed_before_subject_is_listed(client: httpx.Client, repo: str) -> None:
    """Spec: "Registries MUST include all newly pushed image manifests with a valid `subject`
    field in the referrers API response." -- before and after the subject arrives.
    """
    future = build_image(client, repo)
    referrer = push_referrer(client, repo, future.descriptor())
    entry_for(listed(client, repo, future.digest), referrer)
    push_manifest(client, repo, future, "later")
    entry_for(listed(client, repo, future.digest), referrer)


def test_referrers_list_is_complete_across_pages(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec: "A `Link` header MUST be included in the response when the descriptor list
    cannot be returned in a single manifest." -- 30 referrers come back in one index, or in
    several joined by `rel="next"` links; none is lost or repeated.
    """
    pushed = {push_referrer(client, repo, subject).digest for _ in range(30)}
    pages = follow_pages(client, referrers(client, repo, subject.digest), "manifests")
    digests = [entry["digest"] for page in pages for entry in page]
    assert sorted(digests) == sorted(pushed)


def test_referrers_tag_schema_index_is_an_ordinary_tag(
    client: httpx.Client, repo: str, subject: Manifest
) -> None:
    """Spec "Referrers Tag Schema": older clients push an index tagged
    `<alg>-<encoded>` listing the referrers.  That tag is a valid tag like any other, and
    the referrers API still lists each referrer exactly once ("Registries MUST include
    preexisting image manifests that are listed in an image index tagged with the referrers
    tag schema and have a valid `subject` field").
    """
    referrer = push_referrer(client, repo, subject)
    tag = subject.digest.replace(":", "-")
    fallback = Manifest(encode(make_index([referrer.descriptor(artifactType=SBOM)])), OCI_INDEX)
    push_manifest(client, repo, fallback, tag)
    entry_for(listed(client, repo, subject.digest), referrer)
