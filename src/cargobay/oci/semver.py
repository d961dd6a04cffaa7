"""Image tags read as semantic versions (semver.org 2.0.0), ranges over them, floating tags.

OCI tags cannot contain `+`, so, as Helm does, `_` stands for the `+` before build metadata:
the tag `1.2.3_build.5` is the version `1.2.3+build.5`. A `v` or `V` prefix is allowed.
Ranges follow npm's node-semver (the common subset); see `parse_range`.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# node-semver's limit too; it bounds the work on untrusted query strings and keeps int() far
# from Python's 4300-digit limit.
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


# Ranges


class RangeInvalid(ValueError):
    """A range that cannot be read; the message says why (callers answer 400)."""


_COMPARE: dict[str, Callable[[_Precedence, _Precedence], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
}


@dataclass(frozen=True)
class Comparator:
    """One `op bound` test such as `>=1.2.0`: the plain form every range is rewritten to.

    `opts_in` marks a bound whose prerelease the range's text named, which lets that version's
    prereleases match (see `Range.matches`); the `-0` bounds of the rewriting do not.
    """

    op: str  # a key of _COMPARE
    bound: Version
    opts_in: bool = False

    def test(self, version: Version) -> bool:
        """Precedence only; the prerelease rule belongs to the set."""
        return _COMPARE[self.op](version.precedence(), self.bound.precedence())

    def __str__(self) -> str:
        return f"{self.op}{self.bound.tag}"


@dataclass(frozen=True)
class Range:
    """Sets of comparators: a version matches if it passes every comparator of some set.

    `stable_only` is the `stable` keyword: prereleases never match, whatever the caller allows.
    """

    text: str
    sets: tuple[tuple[Comparator, ...], ...]
    stable_only: bool = False

    def matches(self, version: Version, include_prerelease: bool = False) -> bool:
        if self.stable_only and version.is_prerelease:
            return False
        return any(_set_matches(s, version, include_prerelease) for s in self.sets)

    def __str__(self) -> str:
        return self.text


def _set_matches(comparators: tuple[Comparator, ...], version: Version, pre: bool) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.is_prerelease or pre:
        return True
    # npm's rule: a set opts into the prereleases of a MAJOR.MINOR.PATCH it names with a
    # prerelease, and no others: `>=1.2.3-rc.1` takes 1.2.3-rc.2 but not 1.2.4-rc.1. Who
    # writes `1.x` and includes prereleases gets 1.0.0-rc.1 too, as with npm.
    return any(c.opts_in and _core(c.bound) == _core(version) for c in comparators)


def _core(version: Version) -> tuple[int, int, int]:
    return (version.major, version.minor, version.patch)


_KEYWORDS = {"latest": False, "stable": True, "latest stable": True}  # keyword: stable_only
_OPERATORS = ("<=", ">=", "<", ">", "=", "^", "~")  # two-character ones first
_HYPHEN = re.compile(r"(\S+)\s+-\s+(\S+)")
# `>= 1.2` is `>=1.2`, but `< = 1` stays two (bad) tokens.
_OPERATOR_SPACE = re.compile(r"(<=|>=|<|>|=|\^|~)\s+(?=[0-9vVxX*])")
_WILDCARDS = ("x", "X", "*")

_Numbers = tuple[int, ...]  # the numbers an operand gives: none (`*`) to three
_Prerelease = tuple[str | int, ...]


def parse_range(text: str) -> Range:
    """Read an npm-style range; raise RangeInvalid if it cannot be read.

    Forms: `1.2.3`, `=1.2.3`, `v1.2.3`; `>`, `>=`, `<`, `<=` with full or partial versions;
    space-separated comparators are ANDed and `||` ORs them; `^1.2.3`, `~1.4`; x-ranges
    `1.x`, `1.4.*`, `*`, `1`, `1.4`; hyphen ranges `1.2.3 - 2.3.4`. The whole text may instead
    be a keyword: `stable` or `latest stable` (any release, never a prerelease) or `latest`
    (any version, as `*`: prereleases only when the caller includes them).
    """
    if len(text) > MAX_LENGTH:
        raise RangeInvalid(f"range is longer than {MAX_LENGTH} characters")
    words = " ".join(text.split())
    if words in _KEYWORDS:
        return Range(text, ((),), stable_only=_KEYWORDS[words])
    if not words:
        # npm reads an empty range as `*`; here it is more likely a missing parameter.
        raise RangeInvalid("range is empty")
    # Each alternative keeps its own prerelease opt-in (npm drops them all when one is `*`).
    return Range(text, tuple(_comparator_set(part, text) for part in text.split("||")))


def _comparator_set(part: str, text: str) -> tuple[Comparator, ...]:
    part = part.strip()
    if not part:
        raise RangeInvalid(f"range {text!r} has an empty alternative beside '||'")
    hyphen = _HYPHEN.fullmatch(part)
    if hyphen:
        # Unlike npm, `1.2.3 - 2` starts at 1.2.3 even when the caller includes prereleases,
        # as `>=1.2.3` does.
        low, high = (_operand(side, text) for side in hyphen.groups())
        return tuple(_lower(*low) + _upper(*high))
    comparators: list[Comparator] = []
    for token in _OPERATOR_SPACE.sub(r"\1", part).split():
        op = next((op for op in _OPERATORS if token.startswith(op)), "")
        comparators += _desugar(op, *_operand(token[len(op) :], text), text)
    return tuple(comparators)


def _operand(text: str, whole: str) -> tuple[_Numbers, _Prerelease]:
    version = parse(text)
    if version is not None:
        return _core(version), version.prerelease
    pieces = text.removeprefix(_prefix(text)).split(".")
    given = list(pieces)
    while given and given[-1] in _WILDCARDS:
        given.pop()
    numbers = _numbers(".".join(given)) if given else ()
    if numbers is None or len(pieces) > 3:
        raise RangeInvalid(f"range {whole!r}: {text!r} is not a version or x-range")
    return numbers, ()


def _bound(numbers: _Numbers, prerelease: _Prerelease = ()) -> Version:
    major, minor, patch = (*numbers, 0, 0, 0)[:3]
    tag = f"{major}.{minor}.{patch}" + ("-" + ".".join(map(str, prerelease)) if prerelease else "")
    return Version(major, minor, patch, prerelease, None, tag)


def _at(op: str, numbers: _Numbers, prerelease: _Prerelease) -> Comparator:
    return Comparator(op, _bound(numbers, prerelease), opts_in=bool(prerelease))


# X-0 is the lowest version of X, below all its prereleases: `>=1.0.0-0 <2.0.0-0` is 1.x, and
# takes 1.0.0-rc.1 when the caller includes prereleases but never 2.0.0-rc.1.
def _from(numbers: _Numbers) -> Comparator:
    return Comparator(">=", _bound(numbers, (0,)))


def _below(numbers: _Numbers) -> Comparator:
    return Comparator("<", _bound(numbers, (0,)))


def _bump(numbers: _Numbers, index: int) -> _Numbers:
    return (*numbers[:index], numbers[index] + 1)


def _lower(numbers: _Numbers, prerelease: _Prerelease) -> list[Comparator]:
    """At least the lowest version the operand covers (`1.4` covers 1.4.0-0 up)."""
    if len(numbers) == 3:
        return [_at(">=", numbers, prerelease)]
    return [_from(numbers)] if numbers else []


def _upper(numbers: _Numbers, prerelease: _Prerelease) -> list[Comparator]:
    """At most the highest version the operand covers (`1.4` covers up to 1.5.0-0, excluded)."""
    if len(numbers) == 3:
        return [_at("<=", numbers, prerelease)]
    return [_below(_bump(numbers, len(numbers) - 1))] if numbers else []


def _desugar(op: str, numbers: _Numbers, prerelease: _Prerelease, text: str) -> list[Comparator]:
    """One range token as plain comparators, the way node-semver rewrites it."""
    if op in ("^", "~"):
        if not numbers:
            return []
        if op == "^":
            # The leftmost non-zero part may not change; in `^0.0` and `^0.0.3` the last given.
            index = next((i for i, n in enumerate(numbers) if n), len(numbers) - 1)
        else:
            index = 0 if len(numbers) == 1 else 1
        return [*_lower(numbers, prerelease), _below(_bump(numbers, index))]
    if len(numbers) == 3:
        return [_at(op or "=", numbers, prerelease)]
    # A partial version stands for all its versions: `<=1.2` is up to every 1.2.x.
    if op in ("", "="):
        return _lower(numbers, ()) + _upper(numbers, ())
    if op == ">=":
        return _lower(numbers, ())
    if op == "<=":
        return _upper(numbers, ())
    if not numbers:
        raise RangeInvalid(f"range {text!r}: '{op}*' matches no version")
    if op == ">":
        return [_from(_bump(numbers, len(numbers) - 1))]
    return [_below(numbers)]  # "<"


def resolve(range_: Range, tags: Iterable[str], include_prerelease: bool = False) -> Version | None:
    """The highest semver tag that `range_` matches; other tags are ignored."""
    found = (v for v in map(parse, tags) if v and range_.matches(v, include_prerelease))
    return max(found, default=None)


# Floating tags


def floating_targets(version: Version, include_prerelease: bool = False) -> list[str]:
    """The floating tags a push of `version` could move: `1.4`, `1`, `latest` for 1.4.2.

    The `v` prefix is kept (`v1.4`, `v1`); a prerelease floats only if the caller allows it.
    """
    if version.is_prerelease and not include_prerelease:
        return []
    prefix = _prefix(version.tag)
    return [f"{prefix}{version.major}.{version.minor}", f"{prefix}{version.major}", "latest"]


def _covers(floating_tag: str, version: Version) -> bool:
    if floating_tag == "latest":
        return True
    numbers = parse_partial(floating_tag)
    if numbers is None or _prefix(floating_tag) != _prefix(version.tag):
        return False
    return (version.major, version.minor)[: len(numbers)] == numbers


def should_float(
    floating_tag: str,
    candidate: Version,
    existing: Iterable[str],
    include_prerelease: bool = False,
) -> bool:
    """Whether `floating_tag` should move to `candidate`, given the repository's other tags.

    It should if it covers `candidate` and no covered version in `existing` is higher; one of
    equal precedence (another build of the same version) does not stop it: the newer push
    wins. `1.4` covers 1.4.x and `1` covers 1.x.y with the same prefix (`v1` only v1.x.y);
    `latest` covers every version. Prereleases count only with `include_prerelease`. A tag
    that is not a floating tag covers nothing.
    """

    def counts(version: Version) -> bool:
        allowed = include_prerelease or not version.is_prerelease
        return allowed and _covers(floating_tag, version)

    if not counts(candidate):
        return False
    highest = candidate.precedence()
    return all(v.precedence() <= highest for v in map(parse, existing) if v and counts(v))
