"""Tags as semantic versions: reading and precedence."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from cargobay.oci import semver
from cargobay.oci.semver import Version


def version(tag: str) -> Version:
    parsed = semver.parse(tag)
    assert parsed is not None, tag
    return parsed


# Reading tags

# semver.org, section 11.
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
]


@pytest.mark.parametrize(("lower", "higher"), list(pairwise(PRECEDENCE)))
def test_precedence_follows_the_semver_org_example(lower: str, higher: str) -> None:
    assert version(lower) < version(higher)
    assert version(higher) > version(lower)


def test_sorting_shuffled_versions_gives_the_semver_org_order() -> None:
    shuffled = random.Random(7).sample(PRECEDENCE, len(PRECEDENCE))
    assert [v.tag for v in sorted(map(version, shuffled))] == PRECEDENCE


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.9.0", "1.10.0"),
        ("1.2.9", "1.2.10"),
        ("9.0.0", "10.0.0"),
        ("1.0.0-2", "1.0.0-10"),
        ("1.0.0-9", "1.0.0-a"),
        ("1.0.0-rc.9", "1.0.0-rc.10"),
        ("1.0.0-rc.1", "1.0.0-rc.1.0"),
        ("1.0.0-RC.1", "1.0.0-rc.1"),
        ("1.0.0", "1.0.1-alpha"),
    ],
)
def test_numbers_compare_numerically_and_below_text(lower: str, higher: str) -> None:
    assert version(lower) < version(higher)


def test_a_tag_reads_as_its_parts() -> None:
    assert version("1.2.3-rc.1_build.5") == Version(
        1, 2, 3, ("rc", 1), "build.5", "1.2.3-rc.1_build.5"
    )


@pytest.mark.parametrize("tag", ["v1.2.3", "V1.2.3"])
def test_a_v_prefix_is_allowed_and_kept_in_the_tag(tag: str) -> None:
    parsed = version(tag)
    assert (parsed.major, parsed.minor, parsed.patch, parsed.tag) == (1, 2, 3, tag)


@pytest.mark.parametrize(
    ("tag", "build"), [("1.2.3_build.5", "build.5"), ("1.2.3+build.5", "build.5")]
)
def test_underscore_or_plus_starts_build_metadata(tag: str, build: str) -> None:
    assert version(tag).build == build
    assert not version(tag).is_prerelease


def test_build_metadata_after_a_prerelease_is_not_part_of_it() -> None:
    assert version("1.2.3-rc.1_sha.abc").prerelease == ("rc", 1)


@pytest.mark.parametrize("tag", ["v1.2.3", "1.2.3_build5", "1.2.3+build.9", "V1.2.3"])
def test_prefix_and_build_metadata_do_not_change_precedence(tag: str) -> None:
    assert version(tag).precedence() == version("1.2.3").precedence()
    assert version("1.2.2") < version(tag) < version("1.2.4")
    assert version("1.2.3-rc.1") < version(tag)


def test_equal_precedence_sorts_by_tag_text() -> None:
    tags = ["v1.2.3", "1.2.3_build5", "1.2.3"]
    assert [v.tag for v in sorted(map(version, tags))] == ["1.2.3", "1.2.3_build5", "v1.2.3"]


def test_versions_are_equal_only_when_their_tags_are() -> None:
    assert version("1.2.3") == version("1.2.3")
    assert version("1.2.3") != version("v1.2.3")
    assert len({version("1.2.3"), version("1.2.3"), version("v1.2.3")}) == 2


@pytest.mark.parametrize(
    ("tag", "expected"), [("1.0.0-rc.1", True), ("1.0.0", False), ("1.0.0_rc1", False)]
)
def test_is_prerelease(tag: str, expected: bool) -> None:
    assert version(tag).is_prerelease is expected


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "main",
        "dev",
        "sha-abc123",
        "",
        "v",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-",
        "1.2.3_",
        "1.2.3+",
        "1.2.3-01",
        "1.2.3-rc..1",
        "1.2.3_a_b",
        "1.2.3_a+b",
        "vv1.2.3",
        " 1.2.3",
        "1.2.3\n",
        "1.2.x",
        "\u0661.\u0662.\u0663",
        "1.2.3-" + "a" * 300,
        "9" * 5000 + ".0.0",
    ],
)
def test_tags_that_are_not_full_semver_read_as_none(tag: str) -> None:
    assert semver.parse(tag) is None


@pytest.mark.parametrize("tag", ["1.2.3-0", "1.2.3-0a", "1.2.3-x-y", "1.2.3_007", "0.0.0"])
def test_edge_cases_the_grammar_allows(tag: str) -> None:
    assert semver.parse(tag) is not None


@pytest.mark.parametrize(
    ("text", "expected"), [("1", (1,)), ("1.4", (1, 4)), ("v1.4", (1, 4)), ("V0", (0,))]
)
def test_partial_versions_read_as_their_numbers(text: str, expected: tuple[int, ...]) -> None:
    assert semver.parse_partial(text) == expected


@pytest.mark.parametrize("text", ["1.2.3", "1.x", "01", "1.", "", "v", "latest", "1.4-rc.1"])
def test_other_text_is_not_a_partial_version(text: str) -> None:
    assert semver.parse_partial(text) is None


def test_sort_tags_puts_versions_in_order_then_other_tags_lexically() -> None:
    tags = ["main", "1.10.0", "latest", "1.2.0", "1.10.0-rc.1", "v1.9.0", "1.4", "dev"]
    assert semver.sort_tags(tags) == [
        "1.2.0",
        "v1.9.0",
        "1.10.0-rc.1",
        "1.10.0",
        "1.4",
        "dev",
        "latest",
        "main",
    ]


def test_versions_keeps_only_semver_tags_lowest_first() -> None:
    assert semver.versions(["latest", "2.0.0", "1.0.0", "1.4"]) == [
        version("1.0.0"),
        version("2.0.0"),
    ]
