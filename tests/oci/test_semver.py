"""Tags as semantic versions: precedence, ranges and floating tags."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from cargobay.oci import semver
from cargobay.oci.semver import RangeInvalid, Version


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


# Ranges


def assert_range(text: str, inside: list[str], outside: list[str], pre: bool = False) -> None:
    range_ = semver.parse_range(text)
    assert [t for t in inside if not range_.matches(version(t), pre)] == []
    assert [t for t in outside if range_.matches(version(t), pre)] == []


@pytest.mark.parametrize("text", ["1.2.3", "=1.2.3", "v1.2.3", "=v1.2.3", " 1.2.3 "])
def test_an_exact_version_matches_that_version_alone(text: str) -> None:
    assert_range(text, ["1.2.3", "v1.2.3", "1.2.3_build5"], ["1.2.2", "1.2.4", "1.2.3-rc.1"])


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">1.2.3", ["1.2.4", "2.0.0"], ["1.2.3", "1.0.0"]),
        (">=1.2.3", ["1.2.3", "1.3.0"], ["1.2.2"]),
        ("<1.2.3", ["1.2.2", "0.0.1"], ["1.2.3"]),
        ("<=1.2.3", ["1.2.3", "1.0.0"], ["1.2.4"]),
        (">= 1.2.3", ["1.2.3"], ["1.2.2"]),
    ],
)
def test_comparators_with_full_versions(text: str, inside: list[str], outside: list[str]) -> None:
    assert_range(text, inside, outside)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        (">=2", ["2.0.0", "3.1.0"], ["1.9.9"]),
        (">2", ["3.0.0"], ["2.9.9", "2.0.0"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<3.1", ["3.0.9"], ["3.1.0", "3.1.5"]),
        ("<3", ["2.9.9"], ["3.0.0"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("<=1", ["1.9.9"], ["2.0.0"]),
    ],
)
def test_a_partial_version_in_a_comparator_stands_for_all_its_versions(
    text: str, inside: list[str], outside: list[str]
) -> None:
    assert_range(text, inside, outside)


def test_space_separated_comparators_must_all_match() -> None:
    assert_range(">=2 <3", ["2.0.0", "2.9.9"], ["1.9.9", "3.0.0"])


def test_double_bar_matches_either_side() -> None:
    assert_range("1.2.3 || >=2 <2.1", ["1.2.3", "2.0.5"], ["1.2.4", "2.1.0"])


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
        ("^1.2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0"]),
        ("^1", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.2.2", "0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
        ("^0.0", ["0.0.0", "0.0.9"], ["0.1.0"]),
        ("^0", ["0.0.0", "0.9.9"], ["1.0.0"]),
        ("^1.x", ["1.0.0", "1.9.0"], ["2.0.0"]),
    ],
)
def test_caret_allows_changes_that_keep_the_leftmost_nonzero_part(
    text: str, inside: list[str], outside: list[str]
) -> None:
    assert_range(text, inside, outside)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("~1.4.0", ["1.4.0", "1.4.9"], ["1.3.9", "1.5.0"]),
        ("~1.4.2", ["1.4.2", "1.4.9"], ["1.4.1", "1.5.0"]),
        ("~1.4", ["1.4.0", "1.4.9"], ["1.5.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("~0.2.3", ["0.2.3"], ["0.3.0"]),
    ],
)
def test_tilde_allows_patch_changes_or_minor_ones_if_only_major_is_given(
    text: str, inside: list[str], outside: list[str]
) -> None:
    assert_range(text, inside, outside)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("1.x", ["1.0.0", "1.9.9"], ["0.9.9", "2.0.0"]),
        ("1.X", ["1.0.0"], ["2.0.0"]),
        ("1", ["1.0.0", "1.9.9"], ["2.0.0"]),
        ("1.4", ["1.4.0", "1.4.9"], ["1.3.9", "1.5.0"]),
        ("1.4.*", ["1.4.0", "1.4.9"], ["1.5.0"]),
        ("1.4.x", ["1.4.0"], ["1.5.0"]),
        ("1.*.*", ["1.0.0"], ["2.0.0"]),
        ("*", ["0.0.0", "99.0.0"], []),
        ("x", ["1.0.0"], []),
    ],
)
def test_x_ranges_and_bare_partials_match_every_version_they_leave_open(
    text: str, inside: list[str], outside: list[str]
) -> None:
    assert_range(text, inside, outside)


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["1.2.2", "2.3.5"]),
        ("1.2 - 2.3.4", ["1.2.0"], ["1.1.9", "2.3.5"]),
        ("1.2.3 - 2.3", ["2.3.9"], ["2.4.0"]),
        ("1.2.3 - 2", ["2.9.9"], ["3.0.0"]),
        ("1.2.3 - *", ["99.0.0"], ["1.2.2"]),
    ],
)
def test_hyphen_ranges_include_both_ends(text: str, inside: list[str], outside: list[str]) -> None:
    assert_range(text, inside, outside)


@pytest.mark.parametrize("text", ["*", ">=1", "^1.0.0", "1.x", "latest"])
def test_prereleases_match_only_when_included(text: str) -> None:
    assert_range(text, [], ["1.5.0-rc.1"])
    assert_range(text, ["1.5.0-rc.1"], [], pre=True)


def test_naming_a_prerelease_opts_into_that_versions_prereleases_only() -> None:
    assert_range(">=1.2.3-rc.1", ["1.2.3-rc.1", "1.2.3-rc.2", "1.2.3", "1.2.4"], ["1.2.4-rc.1"])
    assert_range("^1.2.3-beta.2", ["1.2.3-beta.4"], ["1.2.3-beta.1", "1.2.4-beta.2"])


def test_the_opt_in_holds_within_its_own_alternative_only() -> None:
    assert_range(">=2.0.0-rc.1 || 1.x", ["2.0.0-rc.2"], ["1.5.0-rc.1"])
    assert_range("* || >=2.0.0-rc.1", ["2.0.0-rc.2"], ["1.5.0-rc.1"])


def test_a_partial_upper_bound_excludes_the_next_versions_prereleases_even_when_included() -> None:
    assert_range("1.x", ["1.9.9", "1.0.0-rc.1"], ["2.0.0-rc.1"], pre=True)
    assert_range("<2", [], ["2.0.0-rc.1"], pre=True)


def test_a_partial_covers_its_prereleases_once_another_comparator_opts_in() -> None:
    assert_range("1.1.x >=1.1.0-beta.1", ["1.1.0-rc.2"], ["1.1.1-rc.1"])


def test_a_full_upper_bound_admits_its_prereleases_when_included() -> None:
    assert_range("<2.0.0", ["2.0.0-rc.1"], [], pre=True)


@pytest.mark.parametrize("text", ["stable", "latest stable", "  latest   stable "])
def test_stable_matches_every_release_and_never_a_prerelease(text: str) -> None:
    assert_range(text, ["0.0.1", "1.0.0", "v9.9.9_b1"], ["1.0.0-rc.1"], pre=True)


def test_latest_matches_any_version_prereleases_only_when_included() -> None:
    assert_range("latest", ["0.0.1", "v9.9.9"], ["1.0.0-rc.1"])
    assert_range("latest", ["1.0.0-rc.1"], [], pre=True)


def test_a_range_keeps_its_text() -> None:
    range_ = semver.parse_range(" ^1.2 || 2.x ")
    assert range_.text == " ^1.2 || 2.x "
    assert str(range_) == " ^1.2 || 2.x "


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "main",
        "latest-ish",
        "stable || 1",
        ">=",
        ">=>=1",
        "=>1",
        "==1",
        "< =1",
        "~>1.2",
        "^",
        "1.2.3.4",
        "01.2",
        "1.x.3",
        "1.2-rc.1",
        ">*",
        "<x",
        "1 ||",
        "|| 1",
        "1 || || 2",
        "1 | 2",
        "1.2.3 -",
        "1.2.3 - 2 - 3",
        "1.2.3 - >=2",
        "vv1",
        "1" * 300,
        "1." + "9" * 5000,
    ],
)
def test_ranges_that_cannot_be_read_raise_range_invalid(text: str) -> None:
    with pytest.raises(RangeInvalid):
        semver.parse_range(text)


def test_range_invalid_is_a_value_error_that_names_the_range() -> None:
    with pytest.raises(ValueError) as caught:
        semver.parse_range(">=2 <x.1")
    assert "'>=2 <x.1'" in str(caught.value) and "'x.1'" in str(caught.value)


MIXED = ["latest", "main", "1.2.3", "v1.4.0", "1.10.0-rc.1", "2.0.0", "sha-abc123", "1.4"]


@pytest.mark.parametrize(
    ("text", "pre", "expected"),
    [
        ("^1", False, "v1.4.0"),
        ("^1", True, "1.10.0-rc.1"),
        ("*", False, "2.0.0"),
        ("<1.4", False, "1.2.3"),
        ("latest stable", True, "2.0.0"),
        ("^3", False, None),
    ],
)
def test_resolve_picks_the_highest_matching_semver_tag(
    text: str, pre: bool, expected: str | None
) -> None:
    found = semver.resolve(semver.parse_range(text), MIXED, include_prerelease=pre)
    assert (found.tag if found else None) == expected


def test_resolve_breaks_a_precedence_tie_by_tag_text() -> None:
    found = semver.resolve(semver.parse_range("1.2.3"), ["v1.2.3", "1.2.3", "1.2.3_b1"])
    assert found is not None and found.tag == "v1.2.3"


def test_resolve_without_semver_tags_finds_nothing() -> None:
    assert semver.resolve(semver.parse_range("*"), ["latest", "main"]) is None


# Floating tags


@pytest.mark.parametrize(
    ("tag", "targets"),
    [
        ("1.4.2", ["1.4", "1", "latest"]),
        ("1.4.2_build.7", ["1.4", "1", "latest"]),
        ("v1.4.2", ["v1.4", "v1", "latest"]),
        ("V0.1.0", ["V0.1", "V0", "latest"]),
    ],
)
def test_a_release_may_move_its_minor_major_and_latest_tags(tag: str, targets: list[str]) -> None:
    assert semver.floating_targets(version(tag)) == targets


def test_a_prerelease_floats_only_when_allowed() -> None:
    assert semver.floating_targets(version("2.0.0-rc.1")) == []
    assert semver.floating_targets(version("2.0.0-rc.1"), include_prerelease=True) == [
        "2.0",
        "2",
        "latest",
    ]


@pytest.mark.parametrize(
    ("floating", "candidate", "existing", "expected"),
    [
        # The highest version moves every float that covers it.
        ("1.4", "1.4.3", ["1.4.2", "1.3.9"], True),
        ("1", "1.4.3", ["1.4.2", "1.3.9"], True),
        ("latest", "1.4.3", ["1.4.2", "1.3.9"], True),
        # A patch to an older line moves its own float, not the wider ones.
        ("1.4", "1.4.2", ["1.4.1", "1.5.0"], True),
        ("1", "1.4.2", ["1.4.1", "1.5.0"], False),
        ("latest", "1.4.2", ["1.4.1", "1.5.0"], False),
        # A re-push of an older patch moves nothing.
        ("1.4", "1.4.2", ["1.4.3"], False),
        ("1", "1.4.2", ["1.4.3"], False),
        # Versions outside the float's reach do not hold it back.
        ("1", "1.4.2", ["2.0.0", "0.9.0"], True),
        ("1.4", "1.4.2", ["1.5.0", "2.0.0"], True),
        # Another build of the same version takes the float: the newer push wins.
        ("1.4", "1.4.2_build.2", ["1.4.2_build.1", "1.4.2"], True),
        # Other tags are ignored.
        ("latest", "1.0.0", ["latest", "main", "1.4", "sha-abc"], True),
        # A float that does not cover the candidate stays.
        ("1.5", "1.4.2", [], False),
        ("2", "1.4.2", [], False),
        ("v1", "1.4.2", [], False),
        ("main", "1.4.2", [], False),
    ],
)
def test_a_float_moves_to_the_highest_version_it_covers(
    floating: str, candidate: str, existing: list[str], expected: bool
) -> None:
    assert semver.should_float(floating, version(candidate), existing) is expected


def test_prereleases_neither_take_nor_hold_a_float_unless_allowed() -> None:
    assert not semver.should_float("2", version("2.0.0-rc.1"), [])
    assert semver.should_float("2", version("2.0.0-rc.1"), [], include_prerelease=True)
    assert semver.should_float("1", version("1.4.2"), ["1.5.0-rc.1"])
    assert not semver.should_float("1", version("1.4.2"), ["1.5.0-rc.1"], include_prerelease=True)


def test_v_prefixed_and_plain_tags_are_separate_families_except_for_latest() -> None:
    existing = ["v1.9.0", "1.2.0"]
    assert semver.should_float("1", version("1.4.2"), existing)
    assert not semver.should_float("v1", version("v1.4.2"), existing)
    assert not semver.should_float("v1", version("1.9.1"), existing)
    assert not semver.should_float("latest", version("1.4.2"), existing)
    assert semver.should_float("latest", version("1.9.1"), existing)
