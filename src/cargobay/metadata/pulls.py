"""Pull counts and last-pull times of manifests, written in batches (see lifecycle.pulls)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, select, update

from cargobay.metadata.models import Manifest, Repository, as_utc_or_none


@dataclass(frozen=True, slots=True)
class PullTally:
    count: int
    last: datetime


# Increments, and the later of two times: nodes flushing at once add up rather than
# overwrite each other. One statement, run once per (repository, digest) of the batch.
_ADD_PULLS = (
    update(Manifest)
    .where(
        Manifest.repository_id
        == select(Repository.id).where(Repository.name == bindparam("name")).scalar_subquery(),
        Manifest.digest == bindparam("manifest_digest"),
    )
    .values(
        pull_count=Manifest.pull_count + bindparam("count"),
        last_pulled_at=case(
            (Manifest.last_pulled_at.is_(None), bindparam("last")),
            (Manifest.last_pulled_at < bindparam("last"), bindparam("last")),
            else_=Manifest.last_pulled_at,
        ),
    )
)


def add_pulls(connection: Connection, tallies: Mapping[tuple[str, str], PullTally]) -> None:
    """Add counted pulls of (repository, digest); manifests gone since are skipped."""
    if not tallies:
        return
    connection.execute(
        _ADD_PULLS,
        [
            {"name": name, "manifest_digest": digest, "count": t.count, "last": t.last}
            for (name, digest), t in sorted(tallies.items())  # one lock order on every node
        ],
    )


def pulled_since(
    connection: Connection, manifest_ids: Collection[int], since: datetime
) -> set[int]:
    """For retention: which of these manifests were pulled at `since` or later (as far as
    the last flush knows; pulls of the last few seconds may not be written yet)."""
    found: set[int] = set()
    ids = sorted(set(manifest_ids))
    for start in range(0, len(ids), 500):
        query = select(Manifest.id).where(
            Manifest.id.in_(ids[start : start + 500]), Manifest.last_pulled_at >= since
        )
        found.update(connection.scalars(query))
    return found


def pull_stats(
    connection: Connection, manifest_ids: Collection[int]
) -> dict[int, tuple[int, datetime | None]]:
    """{manifest_id: (pull_count, last_pulled_at)}."""
    found: dict[int, tuple[int, datetime | None]] = {}
    ids = sorted(set(manifest_ids))
    for start in range(0, len(ids), 500):
        query = select(Manifest.id, Manifest.pull_count, Manifest.last_pulled_at).where(
            Manifest.id.in_(ids[start : start + 500])
        )
        for row in connection.execute(query):
            found[row.id] = (row.pull_count, as_utc_or_none(row.last_pulled_at))
    return found
