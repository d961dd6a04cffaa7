"""Retention decisions on repository snapshots: which tags and manifests go, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cargobay.lifecycle.retention import (
    Context,
    ManifestInfo,
    Plan,
    RepositorySnapshot,
    Rules,
    RulesInvalid,
    TagInfo,
    evaluate,
    glob_matches,
    repository_selected,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


class Repo:
    """A repository to build: manifests by a short name, tags pointing at them."""

    def __init__(self) -> None:
        self.manifests: dict[int, ManifestInfo] = {}
        self.tags: list[TagInfo] = []
        self.immutable: dict[str, str] = {}

    def manifest(self, name: str, *, age: float = 100, **fields: Any) -> ManifestInfo:
        manifest = ManifestInfo(
            id=len(self.manifests) + 1, digest=f"sha256:{name}", pushed_at=ago(age), **fields
        )
        self.manifests[manifest.id] = manifest
        return manifest

    def tag(self, manifest: ManifestInfo, *names: str, age: float = 100) -> None:
        self.tags += [TagInfo(name, manifest.id, ago(age)) for name in names]

    def image(self, name: str, *tags: str, age: float = 100, **fields: Any) -> ManifestInfo:
        manifest = self.manifest(name, age=age, **fields)
        self.tag(manifest, *tags, age=age)
        return manifest

    def plan(self, rules: dict[str, Any], **context: Any) -> Plan:
        snapshot = RepositorySnapshot(
            "team/app", "app", tuple(self.tags), self.manifests, self.immutable
        )
        return evaluate(Rules.from_json(rules), snapshot, Context(NOW, **context))


def kept_tags(plan: Plan) -> set[str]:
    return {d.tag for d in plan.tags if d.action == "keep" and d.tag}


def deleted_tags(plan: Plan) -> set[str]:
    return {d.tag for d in plan.tags if d.action == "delete" and d.tag}


def deleted_manifests(plan: Plan) -> set[str]:
    return {d.digest.removeprefix("sha256:") for d in plan.manifests if d.action == "delete"}


def rule_of(plan: Plan, item: str) -> str:
    found = [d for d in plan.tags if d.tag == item] or [
        d for d in plan.manifests if d.digest == f"sha256:{item}"
    ]
    return found[0].rule


def latest(count: int, by: str = "semver", **extra: Any) -> dict[str, Any]:
    return {"keep": {"latest": {"count": count, "by": by, **extra}}}


# -- several tags on one manifest ------------------------------------------------------------


def test_one_kept_tag_keeps_the_manifest_while_its_other_tags_are_deleted() -> None:
    repo = Repo()
    repo.image("a", "1.0.0", "build-17", "sha-abc")
    repo.image("b", "0.9.0", "build-16")
    plan = repo.plan(latest(1))
    assert kept_tags(plan) == {"1.0.0"}
    assert deleted_tags(plan) == {"build-17", "sha-abc", "0.9.0", "build-16"}
    assert deleted_manifests(plan) == {"b"}
    assert rule_of(plan, "a") == "tag_kept" and rule_of(plan, "b") == "no_tag_kept"
    assert rule_of(plan, "build-17") == "no_rule" and rule_of(plan, "1.0.0") == "latest"


def test_a_tag_outside_the_filters_keeps_its_manifest_and_is_not_listed() -> None:
    repo = Repo()
    repo.image("a", "v1.0.0", "nightly")
    plan = repo.plan({"filters": {"tags": ["v*"]}, "keep": {"latest": {"count": 0}}})
    assert deleted_tags(plan) == {"v1.0.0"} and kept_tags(plan) == set()
    assert deleted_manifests(plan) == set() and rule_of(plan, "a") == "out_of_scope"


# -- keep the latest N -----------------------------------------------------------------------


def test_latest_by_semver_ranks_releases_and_leaves_prereleases_and_other_tags_out() -> None:
    repo = Repo()
    for version in ("1.2.0", "1.10.0", "v1.9.0", "2.0.0-rc.1", "1.10.0-rc.1", "main", "1.0"):
        repo.image(version.replace(".", "_"), version)
    plan = repo.plan(latest(2))
    # 1.10.0 > v1.9.0 > 1.2.0 numerically, not lexically; `1.0` is a floating tag: kept.
    assert kept_tags(plan) == {"1.10.0", "v1.9.0", "1.0"}
    assert deleted_tags(plan) == {"1.2.0", "2.0.0-rc.1", "1.10.0-rc.1", "main"}


def test_latest_by_semver_may_count_prereleases() -> None:
    repo = Repo()
    for version in ("1.0.0", "2.0.0-rc.1", "2.0.0-rc.2", "1.1.0"):
        repo.image(version, version)
    plan = repo.plan(latest(2, prereleases=True))
    assert kept_tags(plan) == {"2.0.0-rc.2", "2.0.0-rc.1"}


def test_latest_by_push_time_counts_tags_of_any_kind() -> None:
    repo = Repo()
    for age, tag in enumerate(["sha-new", "1.0.0", "main", "sha-old"]):
        repo.image(tag, tag, age=age + 1)
    plan = repo.plan(latest(2, "pushed"))
    assert kept_tags(plan) == {"sha-new", "1.0.0"}
    assert deleted_tags(plan) == {"main", "sha-old"}


def test_keeping_the_latest_zero_deletes_every_tag_in_scope() -> None:
    repo = Repo()
    repo.image("a", "1.0.0")
    assert deleted_tags(repo.plan(latest(0))) == {"1.0.0"}


# -- pushed and pulled within D days ---------------------------------------------------------


def test_tags_pushed_within_the_window_are_kept() -> None:
    repo = Repo()
    repo.image("fresh", "fresh", age=2)
    repo.image("stale", "stale", age=40)
    plan = repo.plan({"keep": {"pushed_within_days": 30}})
    assert kept_tags(plan) == {"fresh"} and rule_of(plan, "fresh") == "pushed_within"
    assert deleted_manifests(plan) == {"stale"}


def test_tags_pulled_within_the_window_are_kept() -> None:
    repo = Repo()
    repo.image("used", "used", pulled_at=ago(3))
    repo.image("forgotten", "forgotten", pulled_at=ago(90))
    repo.image("never", "never")
    plan = repo.plan({"keep": {"pulled_within_days": 7}})
    assert kept_tags(plan) == {"used"} and rule_of(plan, "used") == "pulled_within"
    assert deleted_tags(plan) == {"forgotten", "never"}


# -- stage and floating tags -----------------------------------------------------------------


def test_what_a_stage_tag_points_at_is_kept_with_its_version_tag() -> None:
    repo = Repo()
    old = repo.image("old", "1.0.0", "prod")
    repo.image("new", "2.0.0")
    plan = repo.plan({"filters": {"tags": ["*.*.*"]}, "keep": {"latest": {"count": 1}}})
    assert kept_tags(plan) == {"1.0.0", "2.0.0"}
    assert rule_of(plan, "1.0.0") == "stage" and deleted_manifests(plan) == set()
    assert old.digest not in {d.digest for d in plan.manifests if d.action == "delete"}


def test_the_projects_own_stages_replace_the_default_ones() -> None:
    repo = Repo()
    repo.image("a", "1.0.0", "canary")
    repo.image("b", "0.1.0", "prod")
    plan = repo.plan(latest(0), stages=frozenset({"canary"}))
    assert kept_tags(plan) == {"1.0.0", "canary"}
    assert deleted_tags(plan) == {"0.1.0", "prod"}


def test_floating_tags_keep_their_targets() -> None:
    repo = Repo()
    repo.image("a", "1.4.2", "1.4", "1")
    repo.image("b", "2.0.0", "latest", "v2")
    repo.image("c", "1.4.1")
    plan = repo.plan(latest(0))
    assert kept_tags(plan) == {"1.4.2", "1.4", "1", "2.0.0", "latest", "v2"}
    assert deleted_tags(plan) == {"1.4.1"} and rule_of(plan, "2.0.0") == "floating"


def test_stage_and_floating_tags_can_be_left_to_the_other_rules() -> None:
    repo = Repo()
    repo.image("a", "1.0.0", "prod", "latest")
    plan = repo.plan({"keep": {"stage_tags": False, "floating_tags": False}})
    assert deleted_tags(plan) == {"1.0.0", "prod", "latest"} and deleted_manifests(plan) == {"a"}


def test_an_immutable_tag_is_kept_and_keeps_its_manifest() -> None:
    repo = Repo()
    repo.image("a", "1.0.0", "build-1")
    repo.immutable["1.0.0"] = "releases"
    plan = repo.plan(latest(0))
    assert kept_tags(plan) == {"1.0.0"} and rule_of(plan, "1.0.0") == "immutable"
    assert deleted_tags(plan) == {"build-1"} and deleted_manifests(plan) == set()


# -- indexes and referrers -------------------------------------------------------------------


def test_the_children_of_a_kept_index_are_kept() -> None:
    repo = Repo()
    amd = repo.image("amd64", "build-amd64")
    arm = repo.manifest("arm64")
    repo.image("index", "1.0.0", children=(amd.digest, arm.digest))
    plan = repo.plan({"filters": {"untagged_days": 1}, "keep": {"latest": {"count": 1}}})
    assert kept_tags(plan) == {"1.0.0"} and deleted_tags(plan) == {"build-amd64"}
    assert deleted_manifests(plan) == set()
    assert rule_of(plan, "amd64") == rule_of(plan, "arm64") == "index_child"


def test_a_deleted_index_takes_its_untagged_children_along() -> None:
    repo = Repo()
    amd = repo.manifest("amd64")
    arm = repo.manifest("arm64")
    shared = repo.manifest("shared")
    repo.image("old", "1.0.0", children=(amd.digest, arm.digest, shared.digest))
    repo.image("new", "2.0.0", children=(shared.digest,))
    plan = repo.plan(latest(1))
    assert deleted_manifests(plan) == {"old", "amd64", "arm64"}
    assert rule_of(plan, "amd64") == "with_index"


def test_a_referrer_of_a_kept_subject_stays_but_does_not_keep_a_deleted_one() -> None:
    repo = Repo()
    kept = repo.image("kept", "2.0.0")
    gone = repo.image("gone", "1.0.0")
    repo.manifest("sig-kept", subject=kept.digest)
    repo.manifest("sig-gone", subject=gone.digest)
    plan = repo.plan({"filters": {"untagged_days": 1}, "keep": {"latest": {"count": 1}}})
    assert deleted_manifests(plan) == {"gone", "sig-gone"}
    assert rule_of(plan, "sig-kept") == "subject_kept"


# -- filters ---------------------------------------------------------------------------------


def test_untagged_manifests_older_than_the_window_are_deleted() -> None:
    repo = Repo()
    repo.manifest("old", age=10)
    repo.manifest("recent", age=1)
    repo.manifest("pulled", age=10, pulled_at=ago(1))
    repo.image("tagged", "keep-me", age=10)
    plan = repo.plan(
        {"filters": {"tags": [], "untagged_days": 7}, "keep": {"pulled_within_days": 3}}
    )
    assert deleted_manifests(plan) == {"old"} and rule_of(plan, "old") == "untagged"
    assert rule_of(plan, "pulled") == "pulled_within"
    assert plan.tags == []  # `tags: []`: the policy is about untagged manifests only


def test_a_tag_regex_and_a_semver_range_narrow_the_scope() -> None:
    repo = Repo()
    for tag in ("1.2.0", "1.3.0-rc.1", "2.0.0", "pr-12", "pr-13"):
        repo.image(tag, tag)
    by_range = repo.plan({"filters": {"semver": "^1.0"}, "keep": {"latest": {"count": 0}}})
    assert deleted_tags(by_range) == {"1.2.0", "1.3.0-rc.1"}  # prereleases are in range
    by_regex = repo.plan({"filters": {"tag_regex": r"pr-\d+"}, "keep": {}})
    assert deleted_tags(by_regex) == {"pr-12", "pr-13"}


def test_labels_narrow_the_scope() -> None:
    repo = Repo()
    repo.image("ci", "ci-1", labels={"source": "ci"})
    repo.image("release", "r-1", labels={"source": "release"})
    plan = repo.plan({"filters": {"labels": {"source": "ci"}}, "keep": {}})
    assert deleted_tags(plan) == {"ci-1"} and kept_tags(plan) == set()


def test_repository_globs_match_inside_the_project() -> None:
    rules = Rules.from_json({"filters": {"repositories": "tools/*"}})
    assert repository_selected("**", rules, "tools/lint")
    assert not repository_selected("**", rules, "tools/lint/deep")
    assert not repository_selected("app*", rules, "tools/lint")
    assert glob_matches("**", "a/b/c") and glob_matches("a?c", "abc")


# -- bad rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"keep": {"latest": {"count": -1}}}, "rules.keep.latest.count"),
        ({"keep": {"latest": {"count": 2, "by": "size"}}}, "rules.keep.latest.by"),
        ({"filters": {"tag_regex": "v[0-9"}}, "rules.filters.tag_regex"),
        ({"filters": {"semver": ">=banana"}}, "rules.filters.semver"),
        ({"filters": {"untagged_days": -3}}, "rules.filters.untagged_days"),
        ({"keep": {"pushed_within_days": "soon"}}, "rules.keep.pushed_within_days"),
        ({"filters": {"tags": "v*"}}, "rules.filters.tags"),
        ({"keep": {"latest_n": 3}}, "rules.keep.latest_n"),
        ([], "rules"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rules: Any, field: str) -> None:
    with pytest.raises(RulesInvalid) as refused:
        Rules.from_json(rules)
    assert refused.value.field == field


def test_rules_survive_a_round_trip_through_json() -> None:
    rules = Rules.from_json(
        {
            "filters": {"tags": ["v*"], "semver": ">=1", "untagged_days": 7},
            "keep": {"latest": {"count": 3, "by": "pushed"}, "pulled_within_days": 30},
        }
    )
    assert Rules.from_json(rules.to_json()) == rules
