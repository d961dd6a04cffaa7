"""Online garbage collection: reclaim manifests nothing keeps, then blobs nothing refers to,
then abandoned uploads, while clients keep pushing and pulling.

What is removed
---------------
1. Manifests outside the kept set. Roots of the kept set: tagged manifests; manifests
   created (or pushed again by digest) within the grace period; manifests deleted within the
   history window (restorable); manifests a tag history entry within the window names. A kept
   manifest keeps, in its repository, the children of an index (transitively) and the
   referrers of a subject. The set is one recursive query (`metadata.gc_store`).
2. Blobs past the grace period that no remaining manifest refers to (config or layer): the
   `blobs` row, its `repository_blobs` links, then the bytes.
3. Upload sessions and files untouched for `upload_max_age_seconds`.

The protocol (why a concurrent push never loses data)
------------------------------------------------------
Candidates are computed from a snapshot against cutoffs fixed when the run starts (start
minus the grace period; start minus the history window). That alone protects a blob pushed
during the run for a manifest that arrives later: its row is younger than the cutoff. The
dangerous case is an *old* unreferenced blob that is reused while GC removes it. Every such
race is settled through the blob's row, one digest at a time, never a global lock:

* GC removes a batch in one write transaction: lock the rows (`FOR UPDATE` on PostgreSQL;
  SQLite has a single writer), check them again against the live state in a new statement
  (still unreferenced, still older than the cutoff), delete the links and rows, move the
  bytes to quarantine, commit, then purge the quarantine. If the commit fails the bytes are
  put back; if the process dies in between, the next run puts back the bytes of any
  quarantined blob whose row still exists.
* An upload (monolithic or chunked) is verified, then linked into place outside any lock,
  then recorded by a transaction that upserts the blob row (`ON CONFLICT DO UPDATE` of its
  time: the row lock, and a fresh grace period) and *then* places the bytes again if they are
  missing: cheap when present. The upload's own file is kept until that commit. So whichever
  way it interleaves with GC's transaction, the committed row has its bytes.
* A mount touches the row (lock, fresh grace) before it checks that the bytes are there.
* A manifest PUT holds the rows of the blobs and child manifests it relies on (`FOR SHARE`
  on PostgreSQL) while it checks and records its references. A concurrent GC delete either
  committed first (the PUT then fails cleanly with MANIFEST_BLOB_UNKNOWN and the client
  uploads the blob again) or waits and then finds the new reference and spares the blob.
  A manifest pushed again by digest without a tag gets a fresh grace period.
* Manifests are removed keepers first (an index before its children, a subject before its
  referrers), each batch under the same lock-and-check-again transaction, so a manifest is
  spared if a tag, history entry or keeper appeared since the snapshot.

Pushes and pulls of other digests never wait for GC. Two nodes never collect at once: a
run holds the `gc` lease (a row, taken by compare-and-set, renewed as the run goes, expiring
if its node dies). Every run is recorded in `gc_runs` and ends with a `gc.finished` event.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from cargobay.config import Settings
from cargobay.events import Event, EventType
from cargobay.metadata.gc_store import (
    Cutoffs,
    DoomedBlob,
    DoomedManifest,
    GcStore,
    RunFigures,
    RunRecord,
)
from cargobay.metadata.models import utcnow
from cargobay.registry.service import RegistryService
from cargobay.storage import BlobStore

logger = logging.getLogger("cargobay.gc")

LEASE = "gc"
LEASE_TTL = timedelta(minutes=10)
BATCH = 500
T = TypeVar("T")

#: Called at named steps of a run (tests pause there to force an interleaving); the steps
#: inside a transaction are called from the thread that runs it.
Hook = Callable[[str], None]


class GcBusy(Exception):
    """Another collection holds the lease (on this node or another)."""


@dataclass(frozen=True, slots=True)
class GcReport:
    run_id: int
    dry_run: bool
    started_at: datetime
    duration_seconds: float
    manifests: list[DoomedManifest]  # removed, or that a real run would remove
    blobs: list[DoomedBlob]
    uploads_purged: int

    @property
    def figures(self) -> RunFigures:
        return RunFigures(
            manifests_removed=len(self.manifests),
            blobs_removed=len(self.blobs),
            bytes_reclaimed=sum(blob.size for blob in self.blobs),
            uploads_purged=self.uploads_purged,
        )


@dataclass
class GcSettings:
    grace: timedelta
    history_window: timedelta
    upload_max_age: timedelta
    batch: int = BATCH


@dataclass
class _Found:
    manifests: list[DoomedManifest] = field(default_factory=list)
    blobs: list[DoomedBlob] = field(default_factory=list)
    uploads: int = 0


class GarbageCollector:
    def __init__(
        self,
        registry: RegistryService,
        store: GcStore,
        settings: GcSettings,
        node: str | None = None,
        hook: Hook | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.settings = settings
        self.node = node or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.hook = hook
        self._renewed = 0.0

    async def run(self, dry_run: bool = False, actor: str | None = None) -> GcReport:
        """Collect once; raise GcBusy if a collection is running anywhere."""
        if not await asyncio.to_thread(self.store.claim, LEASE, self.node, LEASE_TTL):
            raise GcBusy("a garbage collection is running already")
        self._renewed = time.monotonic()
        try:
            return await self._recorded_run(dry_run, actor)
        finally:
            await asyncio.to_thread(self.store.release, LEASE, self.node)

    async def runs(self, limit: int, before: int | None = None) -> list[RunRecord]:
        return await asyncio.to_thread(self.store.runs, limit, before)

    async def _recorded_run(self, dry_run: bool, actor: str | None) -> GcReport:
        started_at = utcnow()
        clock = time.perf_counter()
        cutoffs = Cutoffs(
            grace=started_at - self.settings.grace,
            window=started_at - self.settings.history_window,
        )
        run_id = await self.registry.db.write(
            self.store.start_run, self.node, actor, dry_run, started_at
        )
        found = _Found()
        try:
            if dry_run:
                await self._survey(cutoffs, found)
            else:
                await self._collect(cutoffs, found)
        except BaseException as exc:
            duration = time.perf_counter() - clock
            partial = GcReport(
                run_id, dry_run, started_at, duration, found.manifests, found.blobs, found.uploads
            )
            await self.registry.db.write(
                self.store.finish_run, run_id, partial.figures, duration, repr(exc)[:2000]
            )
            raise
        report = GcReport(
            run_id,
            dry_run,
            started_at,
            time.perf_counter() - clock,
            found.manifests,
            found.blobs,
            found.uploads,
        )
        await self.registry.db.write(
            self.store.finish_run, run_id, report.figures, report.duration_seconds, None
        )
        self._announce(report, actor)
        return report

    def _announce(self, report: GcReport, actor: str | None) -> None:
        figures = report.figures
        logger.info(
            "garbage collection %s%s: %d manifests, %d blobs (%d bytes), %d uploads in %.2fs",
            report.run_id,
            " (dry run)" if report.dry_run else "",
            figures.manifests_removed,
            figures.blobs_removed,
            figures.bytes_reclaimed,
            figures.uploads_purged,
            report.duration_seconds,
        )
        events = self.registry.events
        if events.has_subscribers:
            events.emit(
                Event(
                    EventType.GC_FINISHED,
                    size=figures.bytes_reclaimed,
                    actor=actor,
                    subject=f"gc-run:{report.run_id}" + (" (dry run)" if report.dry_run else ""),
                )
            )

    async def _step(self, name: str) -> None:
        if self.hook is not None:
            await asyncio.to_thread(self.hook, name)

    def _inner_step(self, name: str) -> None:
        if self.hook is not None:
            self.hook(name)

    async def _renew(self) -> None:
        if time.monotonic() - self._renewed > LEASE_TTL.total_seconds() / 3:
            await asyncio.to_thread(self.store.renew, LEASE, self.node, LEASE_TTL)
            self._renewed = time.monotonic()

    # -- a dry run: the same queries, nothing removed ---------------------------------------

    async def _survey(self, cutoffs: Cutoffs, found: _Found) -> None:
        found.manifests = await asyncio.to_thread(self.store.doomed_manifests, cutoffs)
        found.blobs = await asyncio.to_thread(self.store.doomed_blobs, cutoffs, True)
        found.uploads = await self.registry.purge_uploads(
            self.settings.upload_max_age, dry_run=True
        )

    # -- a real run --------------------------------------------------------------------------

    async def _collect(self, cutoffs: Cutoffs, found: _Found) -> None:
        await self._recover_quarantine()
        doomed = await asyncio.to_thread(self.store.doomed_manifests, cutoffs)
        await self._step("manifests-found")
        if doomed:
            await self._remove_manifests(doomed, cutoffs, found)
        candidates = await asyncio.to_thread(self.store.doomed_blobs, cutoffs, False)
        await self._step("blobs-found")
        for batch in _chunks([blob.digest for blob in candidates], self.settings.batch):
            removed, tokens = await self.registry.db.write(
                self.store.remove_blobs,
                batch,
                cutoffs,
                self._quarantine,
                self.registry.blobs.restore,
            )
            if tokens:  # committed: the quarantined bytes can go for good
                await asyncio.to_thread(_purge_all, self.registry.blobs, tokens)
            found.blobs.extend(removed)
            if removed:
                self.registry.cache.invalidate()
            await self._renew()
        found.uploads = await self.registry.purge_uploads(self.settings.upload_max_age)

    def _quarantine(self, digest: str) -> str | None:
        token = self.registry.blobs.quarantine(digest)
        self._inner_step("blob-bytes-removed")
        return token

    async def _remove_manifests(
        self, doomed: list[DoomedManifest], cutoffs: Cutoffs, found: _Found
    ) -> None:
        for layer in await self._layers(doomed):
            for batch in _chunks(layer, self.settings.batch):
                removed = await self.registry.db.write(self.store.remove_manifests, batch, cutoffs)
                found.manifests.extend(removed)
                if removed:
                    self.registry.cache.invalidate()
                await self._renew()

    async def _layers(self, doomed: list[DoomedManifest]) -> list[list[int]]:
        """The doomed ids in removal order: a keeper (index, subject) before what it keeps,
        so that the check under lock can spare whatever a spared keeper still keeps."""
        ids = {manifest.id for manifest in doomed}
        kept_by: dict[int, list[int]] = defaultdict(list)
        waiting: dict[int, int] = defaultdict(int)
        for keeper, kept in await asyncio.to_thread(self.store.keeper_edges):
            if keeper in ids and kept in ids and keeper != kept:
                kept_by[keeper].append(kept)
                waiting[kept] += 1
        layer = sorted(i for i in ids if not waiting[i])
        layers = []
        while layer:
            layers.append(layer)
            after = []
            for keeper in layer:
                for kept in kept_by[keeper]:
                    waiting[kept] -= 1
                    if waiting[kept] == 0:
                        after.append(kept)
            layer = sorted(after)
        return layers

    async def _recover_quarantine(self) -> None:
        """Undo what an interrupted run left: bytes whose row survived go back in place."""
        blobs = self.registry.blobs
        for token, digest in await asyncio.to_thread(blobs.quarantined):
            if await asyncio.to_thread(self.store.blob_exists, digest):
                await asyncio.to_thread(blobs.restore, token)
                logger.warning("restored %s, left in quarantine by an interrupted run", digest)
            else:
                await asyncio.to_thread(blobs.purge, token)


def _purge_all(blobs: BlobStore, tokens: list[str]) -> None:
    for token in tokens:
        blobs.purge(token)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def gc_settings(settings: Settings) -> GcSettings:
    """The collector's settings from the application's."""
    return GcSettings(
        grace=timedelta(seconds=settings.gc_grace_seconds),
        history_window=timedelta(days=settings.history_window_days),
        upload_max_age=timedelta(seconds=settings.upload_max_age_seconds),
    )


JOB_KIND = "gc"


async def collect_as_job(collector: GarbageCollector) -> dict[str, object]:
    """A scheduled collection, as the jobs worker runs it; its result is the run's figures."""
    try:
        report = await collector.run()
    except GcBusy:
        return {"skipped": "another garbage collection is running"}
    return {"run_id": report.run_id, **asdict(report.figures)}


def build_collector(registry: RegistryService, settings: Settings) -> GarbageCollector:
    store = GcStore(registry.metadata.engine, registry.metadata.gate)
    return GarbageCollector(registry, store, gc_settings(settings))
