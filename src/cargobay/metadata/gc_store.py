"""Garbage collection's queries: what nothing keeps, and removing it under row locks.

The kept set is computed in one statement (a recursive CTE: roots, then whatever a kept
manifest keeps, transitively), whatever the size of the registry. Removal goes in batches,
each one write transaction that locks its rows (FOR UPDATE on PostgreSQL; SQLite has a single
writer), checks them again against the live state, and deletes only those still garbage. The
protocol that makes this safe while clients push is described in `cargobay.lifecycle.gc`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from cargobay.metadata import usage
from cargobay.metadata.db import WriteGate, Writes
from cargobay.metadata.models import GcRun, Lease, as_utc, as_utc_or_none, utcnow

TIME = DateTime(timezone=True)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What "old" means for one run, fixed when it starts."""

    grace: datetime  # rows created (or pushed again) before this are past the grace period
    window: datetime  # history and deletions before this no longer keep a manifest


@dataclass(frozen=True, slots=True)
class DoomedManifest:
    id: int
    repository: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class DoomedBlob:
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class RunFigures:
    manifests_removed: int = 0
    blobs_removed: int = 0
    bytes_reclaimed: int = 0
    uploads_purged: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    node: str
    actor: str | None
    dry_run: bool
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    figures: RunFigures
    error: str | None


# Every keeper edge (keeper id, kept id): an index keeps its children, a subject its referrers.
_EDGES_SQL = """
SELECT r.manifest_id, c.id
FROM manifest_references r
JOIN manifests p ON p.id = r.manifest_id
JOIN manifests c ON c.repository_id = p.repository_id AND c.digest = r.digest
WHERE r.kind = 'child'
UNION ALL
SELECT s.id, m.id
FROM manifests m
JOIN manifests s ON s.repository_id = m.repository_id AND s.digest = m.subject_digest
WHERE m.subject_digest IS NOT NULL
"""

# A manifest is a root of the kept set if it is tagged, young (grace), deleted within the
# history window, or named by a tag history entry within the window. Everything a kept
# manifest keeps is kept too: an index its children, a subject its referrers (same repository).
_KEPT = (
    """
WITH RECURSIVE
edges(keeper, kept) AS (
"""
    + _EDGES_SQL
    + """),
kept(id) AS (
    SELECT id FROM manifests WHERE created_at >= :grace OR deleted_at >= :window
    UNION
    SELECT manifest_id FROM tags
    UNION
    SELECT m.id FROM tag_history h
    JOIN manifests m ON m.repository_id = h.repository_id AND m.digest = h.old_digest
    WHERE h.at >= :window
    UNION
    SELECT m.id FROM tag_history h
    JOIN manifests m ON m.repository_id = h.repository_id AND m.digest = h.new_digest
    WHERE h.at >= :window
    UNION
    SELECT e.kept FROM edges e JOIN kept k ON k.id = e.keeper
)
"""
)

_DOOMED_MANIFESTS = text(
    _KEPT
    + """
SELECT m.id, rp.name, m.digest, m.size
FROM manifests m JOIN repositories rp ON rp.id = m.repository_id
WHERE m.id NOT IN (SELECT id FROM kept)
ORDER BY m.id
"""
).bindparams(bindparam("grace", type_=TIME), bindparam("window", type_=TIME))

# The order removal must follow among the doomed.
_EDGES = text(_EDGES_SQL)

# The same rules, checked again on locked rows against the live state: a root now, or kept
# by any manifest that still exists (its keepers, if doomed, were removed in an earlier step).
_STILL_GARBAGE = text(
    """
SELECT m.id, rp.name, m.digest, m.size
FROM manifests m JOIN repositories rp ON rp.id = m.repository_id
WHERE m.id IN :ids
  AND m.created_at < :grace
  AND (m.deleted_at IS NULL OR m.deleted_at < :window)
  AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
  AND NOT EXISTS (
      SELECT 1 FROM tag_history h
      WHERE h.repository_id = m.repository_id AND h.at >= :window
        AND (h.old_digest = m.digest OR h.new_digest = m.digest))
  AND NOT EXISTS (
      SELECT 1 FROM manifest_references r JOIN manifests p ON p.id = r.manifest_id
      WHERE r.kind = 'child' AND r.digest = m.digest AND p.repository_id = m.repository_id)
  AND NOT EXISTS (
      SELECT 1 FROM manifests s
      WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest)
ORDER BY m.id
"""
).bindparams(
    bindparam("ids", expanding=True),
    bindparam("grace", type_=TIME),
    bindparam("window", type_=TIME),
)
_LOCK_MANIFESTS = text(
    "SELECT id FROM manifests WHERE id IN :ids ORDER BY id FOR UPDATE"
).bindparams(bindparam("ids", expanding=True))
_DELETE_REFERENCES = text("DELETE FROM manifest_references WHERE manifest_id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_DELETE_MANIFESTS = text("DELETE FROM manifests WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)

# Blobs: past the grace period and referred to by no manifest (by no kept one, in a dry run,
# where the doomed manifests are still there).
_DOOMED_BLOBS = text(
    """
SELECT b.digest, b.size FROM blobs b
WHERE b.created_at < :grace
  AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest)
ORDER BY b.digest
"""
).bindparams(bindparam("grace", type_=TIME))
_DOOMED_BLOBS_AFTER_MANIFESTS = text(
    _KEPT
    + """
SELECT b.digest, b.size FROM blobs b
WHERE b.created_at < :grace
  AND NOT EXISTS (
      SELECT 1 FROM manifest_references r
      WHERE r.digest = b.digest AND r.manifest_id IN (SELECT id FROM kept))
ORDER BY b.digest
"""
).bindparams(bindparam("grace", type_=TIME), bindparam("window", type_=TIME))
_LOCK_BLOBS = text(
    "SELECT digest FROM blobs WHERE digest IN :digests ORDER BY digest FOR UPDATE"
).bindparams(bindparam("digests", expanding=True))
_BLOBS_STILL_GARBAGE = text(
    """
SELECT b.digest, b.size FROM blobs b
WHERE b.digest IN :digests
  AND b.created_at < :grace
  AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest)
ORDER BY b.digest
"""
).bindparams(bindparam("digests", expanding=True), bindparam("grace", type_=TIME))
_DELETE_LINKS = text("DELETE FROM repository_blobs WHERE digest IN :digests").bindparams(
    bindparam("digests", expanding=True)
)
_DELETE_BLOBS = text("DELETE FROM blobs WHERE digest IN :digests").bindparams(
    bindparam("digests", expanding=True)
)
_BLOB_EXISTS = text("SELECT 1 FROM blobs WHERE digest = :digest")


class GcStore:
    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self.gate = gate
        self._write = Writes(engine, self.gate)
        self._locks = engine.dialect.name == "postgresql"
        self._dialect = postgresql if self._locks else sqlite

    # -- the lease: one collector at a time across nodes -------------------------------------

    def claim(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take the lease unless another holder has it and it has not expired."""
        now = utcnow()
        with self._write() as connection:
            taken = connection.execute(
                update(Lease)
                .where(
                    Lease.name == name,
                    (Lease.holder.is_(None)) | (Lease.expires_at < now) | (Lease.holder == holder),
                )
                .values(holder=holder, expires_at=now + ttl)
            )
            if taken.rowcount:
                return True
            created = connection.execute(
                self._dialect.insert(Lease)
                .values(name=name, holder=holder, expires_at=now + ttl)
                .on_conflict_do_nothing()
                .returning(Lease.name)
            )
            return created.first() is not None

    def renew(self, name: str, holder: str, ttl: timedelta) -> bool:
        with self._write() as connection:
            result = connection.execute(
                update(Lease)
                .where(Lease.name == name, Lease.holder == holder)
                .values(expires_at=utcnow() + ttl)
            )
            return result.rowcount == 1

    def release(self, name: str, holder: str) -> None:
        with self._write() as connection:
            connection.execute(
                update(Lease)
                .where(Lease.name == name, Lease.holder == holder)
                .values(holder=None, expires_at=None)
            )

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, node: str, actor: str | None, dry_run: bool, started_at: datetime) -> int:
        with self._write() as connection:
            result = connection.execute(
                insert(GcRun).values(
                    node=node,
                    actor=actor,
                    dry_run=dry_run,
                    status="running",
                    started_at=started_at,
                    manifests_removed=0,
                    blobs_removed=0,
                    bytes_reclaimed=0,
                    uploads_purged=0,
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_run(
        self, run_id: int, figures: RunFigures, duration: float, error: str | None
    ) -> None:
        with self._write() as connection:
            connection.execute(
                update(GcRun)
                .where(GcRun.id == run_id)
                .values(
                    status="failed" if error else "finished",
                    finished_at=utcnow(),
                    duration_seconds=duration,
                    error=error,
                    manifests_removed=figures.manifests_removed,
                    blobs_removed=figures.blobs_removed,
                    bytes_reclaimed=figures.bytes_reclaimed,
                    uploads_purged=figures.uploads_purged,
                )
            )

    def runs(self, limit: int, before: int | None = None) -> list[RunRecord]:
        """Runs newest first, those with an id below `before` if given."""
        query = select(GcRun).order_by(GcRun.id.desc()).limit(limit)
        if before is not None:
            query = query.where(GcRun.id < before)
        with self.engine.connect() as connection:
            return [_run(row) for row in connection.execute(query)]

    # -- manifests ---------------------------------------------------------------------------

    def doomed_manifests(self, cutoffs: Cutoffs) -> list[DoomedManifest]:
        """Every manifest nothing keeps, as of now."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                _DOOMED_MANIFESTS, {"grace": cutoffs.grace, "window": cutoffs.window}
            )
            return [DoomedManifest(row[0], row[1], row[2], row[3]) for row in rows]

    def keeper_edges(self) -> list[tuple[int, int]]:
        """(keeper, kept) for every index child and every referrer of a present subject."""
        with self.engine.connect() as connection:
            return [(row[0], row[1]) for row in connection.execute(_EDGES)]

    def remove_manifests(self, ids: Sequence[int], cutoffs: Cutoffs) -> list[DoomedManifest]:
        """Lock these manifests, and delete those that are still garbage; return them."""
        with self._write() as connection:
            if self._locks:
                connection.execute(_LOCK_MANIFESTS, {"ids": list(ids)})
            # A new statement, so on PostgreSQL it sees what committed while we waited.
            rows = connection.execute(
                _STILL_GARBAGE,
                {"ids": list(ids), "grace": cutoffs.grace, "window": cutoffs.window},
            ).all()
            doomed = [DoomedManifest(row[0], row[1], row[2], row[3]) for row in rows]
            uncounted: dict[int, int] = {}
            if doomed:
                gone = [manifest.id for manifest in doomed]
                uncounted = usage.forget_manifests(connection, gone)
                connection.execute(_DELETE_REFERENCES, {"ids": gone})
                connection.execute(_DELETE_MANIFESTS, {"ids": gone})
        self._uncount(uncounted)
        return doomed

    # -- blobs -------------------------------------------------------------------------------

    def doomed_blobs(self, cutoffs: Cutoffs, manifests_pending: bool) -> list[DoomedBlob]:
        """Blobs past the grace period that no manifest refers to; with `manifests_pending`
        (a dry run), references from manifests that would be removed do not count."""
        query = _DOOMED_BLOBS_AFTER_MANIFESTS if manifests_pending else _DOOMED_BLOBS
        with self.engine.connect() as connection:
            rows = connection.execute(query, {"grace": cutoffs.grace, "window": cutoffs.window})
            return [DoomedBlob(row[0], row[1]) for row in rows]

    def remove_blobs(
        self,
        digests: Sequence[str],
        cutoffs: Cutoffs,
        quarantine: Callable[[str], str | None],
        restore: Callable[[str], None],
    ) -> tuple[list[DoomedBlob], list[str]]:
        """Lock these blobs' rows, and delete those still garbage: links, row, and (through
        `quarantine`, before the commit) the bytes. Return them and the quarantine tokens,
        to purge once this has committed; if it does not commit, the bytes are restored."""
        tokens: list[str] = []
        try:
            with self._write() as connection:
                if self._locks:
                    connection.execute(_LOCK_BLOBS, {"digests": list(digests)})
                rows = connection.execute(
                    _BLOBS_STILL_GARBAGE, {"digests": list(digests), "grace": cutoffs.grace}
                ).all()
                doomed = [DoomedBlob(row[0], row[1]) for row in rows]
                uncounted: dict[int, int] = {}
                if doomed:
                    gone = [blob.digest for blob in doomed]
                    uncounted = usage.forget_blobs(connection, gone)
                    connection.execute(_DELETE_LINKS, {"digests": gone})
                    connection.execute(_DELETE_BLOBS, {"digests": gone})
                    for digest in gone:
                        token = quarantine(digest)
                        if token is not None:
                            tokens.append(token)
        except BaseException:
            for token in tokens:
                restore(token)
            raise
        self._uncount(uncounted)
        return doomed, tokens

    def _uncount(self, amounts: dict[int, int]) -> None:
        """The projects' counters, after the batch committed (see `usage.forget_blobs`)."""
        if amounts:
            with self._write() as connection:
                usage.uncount(connection, amounts)

    def blob_exists(self, digest: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(_BLOB_EXISTS, {"digest": digest}).first() is not None


def _run(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        node=row.node,
        actor=row.actor,
        dry_run=bool(row.dry_run),
        status=row.status,
        started_at=as_utc(row.started_at),
        finished_at=as_utc_or_none(row.finished_at),
        duration_seconds=row.duration_seconds,
        figures=RunFigures(
            row.manifests_removed, row.blobs_removed, row.bytes_reclaimed, row.uploads_purged
        ),
        error=row.error,
    )
