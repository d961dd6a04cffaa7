"""Digests, names and manifest parsing: the pure rules of the OCI specifications."""

from __future__ import annotations

import json

import pytest

from cargobay.oci import digest, manifest, names
from cargobay.oci import mediatypes as mt
from cargobay.oci.errors import OCIError

SHA = "sha256:" + "a" * 64


def code_of(call, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(OCIError) as caught:
        call(*args)
    return caught.value.code


@pytest.mark.parametrize("value", [SHA, "sha512:" + "b" * 128])
def test_sha256_and_sha512_digests_parse(value: str) -> None:
    assert digest.parse(value)[0] == value.split(":")[0]


@pytest.mark.parametrize(
    "value",
    ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256", ":x", "sha256:" + "g" * 64],
)
def test_malformed_or_unsupported_digests_are_digest_invalid(value: str) -> None:
    assert code_of(digest.parse, value) == "DIGEST_INVALID"


@pytest.mark.parametrize("name", ["a", "team/app", "a.b_c__d--e/f-1", "x/" * 20 + "y"])
def test_names_from_the_grammar_are_accepted(name: str) -> None:
    assert names.check_name(name) == name


@pytest.mark.parametrize(
    "name", ["A", "/a", "a/", "a//b", "a..b", "-a", "a" * 256, "a/../b", "team/app\n"]
)
def test_names_outside_the_grammar_are_name_invalid(name: str) -> None:
    assert code_of(names.check_name, name) == "NAME_INVALID"


@pytest.mark.parametrize("tag", ["-x", ".x", "a" * 129, "a:b", "", "latest\n"])
def test_tags_outside_the_grammar_are_tag_invalid(tag: str) -> None:
    assert code_of(names.check_tag, tag) == "TAG_INVALID"


def oci_image(**extra: object) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": SHA,
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": SHA, "size": 3}
        ],
        **extra,
    }
    return json.dumps(document).encode()


def test_an_image_manifest_lists_its_config_and_layers() -> None:
    parsed = manifest.parse(oci_image(), mt.OCI_MANIFEST)
    assert parsed.config is not None and parsed.config.digest == SHA
    assert [layer.size for layer in parsed.layers] == [3]


def test_artifact_type_falls_back_to_the_config_media_type() -> None:
    parsed = manifest.parse(oci_image(), mt.OCI_MANIFEST)
    assert parsed.effective_artifact_type == "application/vnd.oci.image.config.v1+json"
    typed = manifest.parse(oci_image(artifactType="application/x.sbom"), mt.OCI_MANIFEST)
    assert typed.effective_artifact_type == "application/x.sbom"


def test_media_type_must_match_content_type() -> None:
    assert code_of(manifest.parse, oci_image(), mt.DOCKER_MANIFEST) == "MANIFEST_INVALID"


def test_content_type_parameters_are_ignored() -> None:
    assert manifest.parse(oci_image(), f"{mt.OCI_MANIFEST}; charset=utf-8").media_type == (
        mt.OCI_MANIFEST
    )


def test_schema1_is_refused_with_a_clear_message() -> None:
    payload = json.dumps({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}).encode()
    with pytest.raises(OCIError) as caught:
        manifest.parse(payload, mt.DOCKER_SCHEMA1_SIGNED)
    assert "schema 1" in caught.value.message


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"[]",
        b"\xff",
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}).encode(),
        oci_image(layers=[{"mediaType": "x", "digest": "bad", "size": 1}]),
        oci_image(layers=[{"mediaType": "x", "digest": SHA, "size": -1}]),
        oci_image(layers="nope"),
        oci_image(schemaVersion=3),
    ],
)
def test_malformed_manifests_are_manifest_invalid(payload: bytes) -> None:
    assert code_of(manifest.parse, payload, mt.OCI_MANIFEST) == "MANIFEST_INVALID"


def test_non_distributable_layers_are_not_required_blobs() -> None:
    layer = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": "sha256:" + "c" * 64,
        "size": 9,
        "urls": ["https://example.com/l"],
    }
    parsed = manifest.parse(oci_image(layers=[layer]), mt.OCI_MANIFEST)
    assert [d.digest for d in manifest.required_blobs(parsed)] == [SHA]


def test_an_index_lists_its_children_and_needs_no_blobs() -> None:
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": SHA, "size": 10}],
        }
    ).encode()
    parsed = manifest.parse(payload, mt.OCI_INDEX)
    assert parsed.is_index and [c.digest for c in parsed.children] == [SHA]
    assert manifest.required_blobs(parsed) == []


def test_a_subject_is_recorded() -> None:
    subject = {"mediaType": mt.OCI_MANIFEST, "digest": SHA, "size": 10}
    assert manifest.parse(oci_image(subject=subject), mt.OCI_MANIFEST).subject.digest == SHA
