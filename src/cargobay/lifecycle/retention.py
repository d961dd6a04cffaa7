"""Retention: which tags and manifests a policy keeps, decided per tag, with the rule that
decided each one. Pure functions over a snapshot of a repository; the service
(`retention_service`) reads the snapshot, and deletes what the plan says.

The semantics, in the order they apply:

1. Filters choose the tags the policy is about (its scope): repository glob, tag globs or
   regex, semver range (prereleases included), labels. Tags outside the scope are never
   touched and keep their manifests.
2. Each tag in scope is kept if a keep rule keeps it, else deleted. Keep rules, first match
   reported: immutable; a stage tag (`dev`, `test`, `prod` or the project's own) or a
   floating tag (`latest`, `1`, `1.4`, `v2`) itself; any tag of the artifact such a tag points
   at (the version in `prod` keeps its version tag); latest N (by semver precedence, or by push
   time); pushed within D days; pulled within D days.
3. A manifest is deleted only if none of its tags is kept. An untagged manifest is deleted
   only if the untagged filter selects it (older than N days) and it was not pulled within
   the pull window. Never while a manifest that stays refers to it: the children of a kept
   index stay, and so does a referrer (signature, SBOM) whose subject stays. A subject is
   not kept by its referrers: they exist for it, not it for them (garbage collection reclaims
   referrers once their subject is gone). Untagged children of a deleted index that nothing
   else refers to go with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cargobay.metadata.promotion import DEFAULT_STAGES
from cargobay.oci import semver

FLOATING = "latest"
MAX_DAYS = 36500


class RulesInvalid(ValueError):
    """A policy that cannot be applied; `field` says where (`rules.keep.latest.count`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# -- globs ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` matches within one path segment, `**` across segments, `?` one character."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def glob_matches(pattern: str, text: str) -> bool:
    return glob_regex(pattern).fullmatch(text) is not None


# -- rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    repositories: str | None = None  # glob over the name inside the project (`app`, `tools/*`)
    tags: tuple[str, ...] | None = None  # globs; None: every tag, (): none (untagged only)
    tag_regex: str | None = None
    semver: str | None = None  # an npm-style range; only semver tags in it are in scope
    labels: Mapping[str, str] = field(default_factory=dict)
    untagged_days: float | None = None  # also untagged manifests older than this


@dataclass(frozen=True)
class KeepLatest:
    count: int
    by: Literal["semver", "pushed"] = "semver"
    prereleases: bool = False  # rank prereleases among versions (by semver)


@dataclass(frozen=True)
class Keep:
    latest: KeepLatest | None = None
    pushed_within_days: float | None = None
    pulled_within_days: float | None = None
    stage_tags: bool = True
    floating_tags: bool = True


@dataclass(frozen=True)
class Rules:
    filters: Filters = field(default_factory=Filters)
    keep: Keep = field(default_factory=Keep)

    @classmethod
    def from_json(cls, data: Any) -> Rules:
        """Read and check rules (from the API, the CLI or the database)."""
        data = _object(data, "rules")
        _only(data, "rules", {"filters", "keep"})
        return cls(_filters(data.get("filters")), _keep(data.get("keep")))

    def to_json(self) -> dict[str, Any]:
        f, k = self.filters, self.keep
        return {
            "filters": {
                "repositories": f.repositories,
                "tags": list(f.tags) if f.tags is not None else None,
                "tag_regex": f.tag_regex,
                "semver": f.semver,
                "labels": dict(f.labels),
                "untagged_days": f.untagged_days,
            },
            "keep": {
                "latest": (
                    {
                        "count": k.latest.count,
                        "by": k.latest.by,
                        "prereleases": k.latest.prereleases,
                    }
                    if k.latest
                    else None
                ),
                "pushed_within_days": k.pushed_within_days,
                "pulled_within_days": k.pulled_within_days,
                "stage_tags": k.stage_tags,
                "floating_tags": k.floating_tags,
            },
        }


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RulesInvalid(where, "must be an object")
    return value


def _only(data: dict[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise RulesInvalid(
            f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(known))})"
        )


def _days(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesInvalid(where, "must be a number of days")
    if not 0 <= value <= MAX_DAYS:
        raise RulesInvalid(where, f"must be between 0 and {MAX_DAYS} days")
    return float(value)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 255:
        raise RulesInvalid(where, "must be a non-empty string of at most 255 characters")
    return value


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RulesInvalid(where, "must be true or false")
    return value


def check_glob(pattern: str, where: str) -> str:
    if not pattern or len(pattern) > 255:
        raise RulesInvalid(where, "must be a glob of 1 to 255 characters")
    return pattern


def _filters(value: Any) -> Filters:
    data = _object(value, "rules.filters")
    where = "rules.filters"
    _only(data, where, {"repositories", "tags", "tag_regex", "semver", "labels", "untagged_days"})
    repositories = _text(data.get("repositories"), f"{where}.repositories")
    if repositories is not None:
        check_glob(repositories, f"{where}.repositories")
    tags = data.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise RulesInvalid(f"{where}.tags", "must be a list of tag globs")
        tags = tuple(check_glob(t, f"{where}.tags") for t in tags)
    tag_regex = _text(data.get("tag_regex"), f"{where}.tag_regex")
    if tag_regex is not None:
        try:
            re.compile(tag_regex)
        except re.error as exc:
            raise RulesInvalid(f"{where}.tag_regex", f"not a regular expression: {exc}") from None
    range_text = _text(data.get("semver"), f"{where}.semver")
    if range_text is not None:
        try:
            semver.parse_range(range_text)
        except semver.RangeInvalid as exc:
            raise RulesInvalid(f"{where}.semver", str(exc)) from None
    labels = _object(data.get("labels"), f"{where}.labels")
    if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items()):
        raise RulesInvalid(f"{where}.labels", "must map label keys to values (strings)")
    return Filters(
        repositories,
        tags,
        tag_regex,
        range_text,
        dict(labels),
        _days(data.get("untagged_days"), f"{where}.untagged_days"),
    )


def _keep(value: Any) -> Keep:
    data = _object(value, "rules.keep")
    where = "rules.keep"
    _only(
        data,
        where,
        {"latest", "pushed_within_days", "pulled_within_days", "stage_tags", "floating_tags"},
    )
    latest = None
    if data.get("latest") is not None:
        spec = _object(data["latest"], f"{where}.latest")
        _only(spec, f"{where}.latest", {"count", "by", "prereleases"})
        count = spec.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise RulesInvalid(f"{where}.latest.count", "must be a whole number, 0 or more")
        by = spec.get("by", "semver")
        if by not in ("semver", "pushed"):
            raise RulesInvalid(f"{where}.latest.by", "must be 'semver' or 'pushed'")
        prereleases = _bool(spec.get("prereleases"), f"{where}.latest.prereleases", False)
        latest = KeepLatest(count, by, prereleases)
    return Keep(
        latest,
        _days(data.get("pushed_within_days"), f"{where}.pushed_within_days"),
        _days(data.get("pulled_within_days"), f"{where}.pulled_within_days"),
        _bool(data.get("stage_tags"), f"{where}.stage_tags", True),
        _bool(data.get("floating_tags"), f"{where}.floating_tags", True),
    )


# -- what a repository holds ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagInfo:
    name: str
    manifest_id: int
    pushed_at: datetime  # when the tag was last pointed at its manifest


@dataclass(frozen=True, slots=True)
class ManifestInfo:
    id: int
    digest: str
    pushed_at: datetime
    subject: str | None = None  # the digest it refers to (a referrer)
    children: tuple[str, ...] = ()  # the digests of an index's manifests
    pulled_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RepositorySnapshot:
    name: str  # the full name (`team/app`)
    relative: str  # the name inside the project (`app`), which `repositories` globs match
    tags: tuple[TagInfo, ...]
    manifests: Mapping[int, ManifestInfo]  # the live (not deleted) manifests, by id
    immutable: Mapping[str, str] = field(default_factory=dict)  # tag: the rule protecting it


# -- decisions -----------------------------------------------------------------------------

KEEP = "keep"
DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Decision:
    repository: str
    digest: str
    action: str  # keep | delete
    rule: str  # what decided: latest, pushed_within, stage, no_rule, index_child...
    reason: str  # the same, for people
    tag: str | None = None  # None: a decision about a manifest

    def to_json(self) -> dict[str, Any]:
        found = {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "action": self.action,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.tag is None:
            del found["tag"]
        return found


@dataclass
class Plan:
    tags: list[Decision] = field(default_factory=list)
    manifests: list[Decision] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.tags += other.tags
        self.manifests += other.manifests

    def summary(self) -> dict[str, int]:
        def count(items: list[Decision], action: str) -> int:
            return sum(1 for item in items if item.action == action)

        return {
            "tags_kept": count(self.tags, KEEP),
            "tags_deleted": count(self.tags, DELETE),
            "manifests_kept": count(self.manifests, KEEP),
            "manifests_deleted": count(self.manifests, DELETE),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "tags": [d.to_json() for d in self.tags],
            "manifests": [d.to_json() for d in self.manifests],
        }


@dataclass(frozen=True)
class Context:
    now: datetime
    stages: frozenset[str] = frozenset(DEFAULT_STAGES)
    # Tags that must be kept whatever the rules say, with (rule, reason): a real run marks
    # the deletes the metadata store refused (an immutable tag) and plans again.
    forced: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def is_floating(tag: str) -> bool:
    return tag == FLOATING or semver.parse_partial(tag) is not None


def repository_selected(policy_glob: str, rules: Rules, relative: str) -> bool:
    return glob_matches(policy_glob, relative) and (
        rules.filters.repositories is None or glob_matches(rules.filters.repositories, relative)
    )


def _labels_match(wanted: Mapping[str, str], manifest: ManifestInfo) -> bool:
    return all(manifest.labels.get(key) == value for key, value in wanted.items())


def _tag_in_scope(filters: Filters, tag: str, manifest: ManifestInfo) -> bool:
    if filters.tags is not None and not any(glob_matches(g, tag) for g in filters.tags):
        return False
    if filters.tag_regex is not None and re.fullmatch(filters.tag_regex, tag) is None:
        return False
    if filters.semver is not None:
        version = semver.parse(tag)
        range_ = _range(filters.semver)
        if version is None or not range_.matches(version, include_prerelease=True):
            return False
    return _labels_match(filters.labels, manifest)


@functools.lru_cache(maxsize=64)
def _range(text: str) -> semver.Range:
    return semver.parse_range(text)


def _days_ago(context: Context, days: float) -> datetime:
    return context.now - timedelta(days=days)


def _latest(keep: KeepLatest, tags: Iterable[TagInfo]) -> list[str]:
    """The `count` tags the rule keeps, best first."""
    if keep.by == "pushed":
        ranked = sorted(tags, key=lambda t: (t.pushed_at, t.name), reverse=True)
        return [t.name for t in ranked[: keep.count]]
    versions = [
        v
        for v in (semver.parse(t.name) for t in tags)
        if v is not None and (keep.prereleases or not v.is_prerelease)
    ]
    return [v.tag for v in sorted(versions, reverse=True)[: keep.count]]


def evaluate(rules: Rules, snapshot: RepositorySnapshot, context: Context) -> Plan:
    """Decide every tag in scope and every manifest the policy touches in one repository."""
    tags = _decide_tags(rules, snapshot, context)
    return Plan(
        sorted(tags.values(), key=lambda d: d.tag or ""),
        _decide_manifests(rules, snapshot, context, tags),
    )


def _decide_tags(
    rules: Rules, snapshot: RepositorySnapshot, context: Context
) -> dict[str, Decision]:
    keep = rules.keep
    manifests = snapshot.manifests
    in_scope = [
        t
        for t in snapshot.tags
        if t.manifest_id in manifests
        and _tag_in_scope(rules.filters, t.name, manifests[t.manifest_id])
    ]
    # Stage and floating tags, in scope or not, keep the artifact they point at, and with it
    # every tag of that artifact: the version running in `prod` keeps its version tag.
    anchors: dict[int, tuple[str, str]] = {}
    for t in sorted(snapshot.tags, key=lambda t: t.name):
        if keep.stage_tags and t.name in context.stages:
            anchors.setdefault(t.manifest_id, ("stage", f"stage tag {t.name}"))
        elif keep.floating_tags and is_floating(t.name):
            anchors.setdefault(t.manifest_id, ("floating", f"floating tag {t.name}"))
    ranked = [t for t in in_scope if t.manifest_id not in anchors]
    latest = set(_latest(keep.latest, ranked)) if keep.latest else set()
    decisions: dict[str, Decision] = {}
    for t in in_scope:
        manifest = manifests[t.manifest_id]
        rule, reason = _why_kept(t, manifest, snapshot, context, keep, anchors, latest)
        action = KEEP if rule != "no_rule" else DELETE
        decisions[t.name] = Decision(
            snapshot.name, manifest.digest, action, rule, reason, tag=t.name
        )
    return decisions


def _why_kept(
    tag: TagInfo,
    manifest: ManifestInfo,
    snapshot: RepositorySnapshot,
    context: Context,
    keep: Keep,
    anchors: Mapping[int, tuple[str, str]],
    latest: set[str],
) -> tuple[str, str]:
    if tag.name in context.forced:
        return context.forced[tag.name]
    if tag.name in snapshot.immutable:
        return "immutable", f"immutable ({snapshot.immutable[tag.name]})"
    if tag.manifest_id in anchors:
        rule, reason = anchors[tag.manifest_id]
        anchor = reason.rsplit(" ", 1)[1]
        return rule, reason if anchor == tag.name else f"{reason} points at the same artifact"
    if tag.name in latest:
        assert keep.latest is not None
        order = "semver order" if keep.latest.by == "semver" else "push time"
        return "latest", f"one of the latest {keep.latest.count} by {order}"
    days = keep.pushed_within_days
    if days is not None and tag.pushed_at >= _days_ago(context, days):
        return "pushed_within", f"pushed within {days:g} days"
    days = keep.pulled_within_days
    if days is not None and manifest.pulled_at and manifest.pulled_at >= _days_ago(context, days):
        return "pulled_within", f"pulled within {days:g} days"
    return "no_rule", "no rule keeps it"


def _decide_manifests(
    rules: Rules,
    snapshot: RepositorySnapshot,
    context: Context,
    tags: Mapping[str, Decision],
) -> list[Decision]:
    manifests = snapshot.manifests
    tags_of: dict[int, list[str]] = {}
    for t in snapshot.tags:
        tags_of.setdefault(t.manifest_id, []).append(t.name)
    decided: dict[int, tuple[str, str, str]] = {}  # id: action, rule, reason
    for manifest_id, names in tags_of.items():
        if manifest_id not in manifests:
            continue
        kept = [n for n in sorted(names) if n not in tags or tags[n].action == KEEP]
        if not any(n in tags for n in names):
            continue  # not the policy's business: none of its tags is in scope
        if not kept:
            decided[manifest_id] = (DELETE, "no_tag_kept", "none of its tags is kept")
        elif kept[0] in tags:
            decided[manifest_id] = (KEEP, "tag_kept", f"tag {kept[0]} is kept")
        else:
            decided[manifest_id] = (KEEP, "out_of_scope", f"tag {kept[0]} is outside the policy")
    _decide_untagged(rules, snapshot, context, tags_of, decided)
    _protect_references(snapshot, tags_of, decided)
    order = sorted(decided, key=lambda i: manifests[i].digest)
    return [Decision(snapshot.name, manifests[i].digest, *decided[i]) for i in order]


def _decide_untagged(
    rules: Rules,
    snapshot: RepositorySnapshot,
    context: Context,
    tags_of: Mapping[int, list[str]],
    decided: dict[int, tuple[str, str, str]],
) -> None:
    days = rules.filters.untagged_days
    if days is None:
        return
    cutoff = _days_ago(context, days)
    pulled_days = rules.keep.pulled_within_days
    for manifest in snapshot.manifests.values():
        if manifest.id in tags_of or manifest.pushed_at >= cutoff:
            continue
        if not _labels_match(rules.filters.labels, manifest):
            continue
        pulled = manifest.pulled_at
        if pulled_days is not None and pulled and pulled >= _days_ago(context, pulled_days):
            decided[manifest.id] = (KEEP, "pulled_within", f"pulled within {pulled_days:g} days")
        else:
            decided[manifest.id] = (DELETE, "untagged", f"untagged for more than {days:g} days")


def _protect_references(
    snapshot: RepositorySnapshot,
    tags_of: Mapping[int, list[str]],
    decided: dict[int, tuple[str, str, str]],
) -> None:
    """Keep what a staying manifest refers to; delete an index's untagged children with it.

    Repeated until nothing changes: keeping an index keeps its children, which may be
    indexes too. A manifest once protected stays protected, so this ends.
    """
    manifests = snapshot.manifests
    by_digest = {m.digest: m for m in manifests.values()}
    protected: set[int] = set()
    while True:
        deleted = {i for i, (action, _, _) in decided.items() if action == DELETE}
        staying = [m for m in manifests.values() if m.id not in deleted]
        changed = False
        for manifest in staying:
            for child_digest in manifest.children:
                child = by_digest.get(child_digest)
                if child is not None and child.id in deleted:
                    decided[child.id] = (
                        KEEP,
                        "index_child",
                        f"a child of {manifest.digest}, which stays",
                    )
                    protected.add(child.id)
                    changed = True
        staying_digests = {m.digest for m in staying}
        for i in deleted:
            subject = manifests[i].subject
            if i in decided and decided[i][0] == DELETE and subject in staying_digests:
                decided[i] = (KEEP, "subject_kept", f"a referrer of {subject}, which stays")
                protected.add(i)
                changed = True
        if changed:
            continue
        # Untagged children of deleted indexes, that nothing staying refers to, go too.
        referred = {c for m in staying for c in m.children}
        for i in deleted:
            for child_digest in manifests[i].children:
                child = by_digest.get(child_digest)
                if (
                    child is None
                    or child.id in decided
                    or child.id in protected
                    or child.id in tags_of
                    or child_digest in referred
                ):
                    continue
                decided[child.id] = (DELETE, "with_index", f"a child of {manifests[i].digest}")
                changed = True
        if not changed:
            return


def with_forced(context: Context, forced: Mapping[str, tuple[str, str]]) -> Context:
    return replace(context, forced={**context.forced, **forced})
