"""Image tags read as semantic versions (semver.org 2.0.0).

OCI tags cannot contain `+`, so, as Helm does, `_` stands for the `+` before build metadata:
the tag `1.2.3_build.5` is the version `1.2.3+build.5`. A `v` or `V` prefix is allowed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

# node-semver's limit too; it keeps int() far from Python's 4300-digit limit.
MAX_LENGTH = 256

_NUMBER = r"0|[1-9][0-9]*"
# Identifiers are checked one by one below; `_` and `+` are not in this class, so the
# prerelease ends unambiguously where build metadata starts.
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    rf"[vV]?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<prerelease>{_IDENTIFIERS}))?(?:[+_](?P<build>{_IDENTIFIERS}))?"
)
_PARTIAL = re.compile(rf"({_NUMBER})(?:\.({_NUMBER}))?")

# major, minor, patch, 1 for a release (it sorts above its prereleases), prerelease identifiers
# as (0, number, "") or (1, 0, text): numbers sort numerically and below text.
_Precedence = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


@functools.total_ordering
@dataclass(frozen=True, order=False)
class Version:
    """A tag that is a semantic version; `tag` is the text it was read from.

    Equality is field by field (`v1.2.3` is not `1.2.3`); order is precedence, then tag text.
    Compare `precedence()` to ask semver's question, "same version?".
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str | int, ...]
    build: str | None
    tag: str

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def precedence(self) -> _Precedence:
        """Semver precedence alone: `1.2.3`, `v1.2.3` and `1.2.3_b5` have the same."""
        identifiers = tuple(
            (0, i, "") if isinstance(i, int) else (1, 0, i) for i in self.prerelease
        )
        return (self.major, self.minor, self.patch, int(not self.prerelease), identifiers)

    def sort_key(self) -> tuple[_Precedence, str]:
        """Precedence, then the tag text, so that sorting is total and repeatable."""
        return (self.precedence(), self.tag)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.sort_key() < other.sort_key()


def parse(tag: str) -> Version | None:
    """The version a tag names, or None if it is not a full MAJOR.MINOR.PATCH semver."""
    match = _VERSION.fullmatch(tag) if len(tag) <= MAX_LENGTH else None
    if match is None:
        return None
    identifiers = match["prerelease"].split(".") if match["prerelease"] else []
    # Numeric prerelease identifiers compare as numbers, so semver forbids leading zeros.
    if any(i.isdigit() and len(i) > 1 and i.startswith("0") for i in identifiers):
        return None
    prerelease = tuple(int(i) if i.isdigit() else i for i in identifiers)
    major, minor, patch = int(match["major"]), int(match["minor"]), int(match["patch"])
    return Version(major, minor, patch, prerelease, match["build"], tag)


def parse_partial(text: str) -> tuple[int, ...] | None:
    """`1` or `1.4` (optionally `v`-prefixed) as (1,) or (1, 4); None otherwise.

    Full versions are not partial: read those with `parse`.
    """
    return _numbers(text.removeprefix(_prefix(text)))


def _numbers(text: str) -> tuple[int, ...] | None:
    match = _PARTIAL.fullmatch(text) if len(text) <= MAX_LENGTH else None
    if match is None:
        return None
    return tuple(int(number) for number in match.groups() if number is not None)


def _prefix(text: str) -> str:
    return text[:1] if text[:1] in ("v", "V") else ""


def versions(tags: Iterable[str]) -> list[Version]:
    """The semver tags among `tags`, lowest first."""
    return sorted(v for v in map(parse, tags) if v is not None)


def sort_tags(tags: Iterable[str]) -> list[str]:
    """Semver tags lowest version first, then the other tags in lexical order."""
    tags = list(tags)
    others = sorted(tag for tag in tags if parse(tag) is None)
    return [v.tag for v in versions(tags)] + others
