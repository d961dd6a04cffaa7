"""The registry's operations, shared by the /v2 handlers and the management API.

The service puts blob bytes in the blob store and facts in the metadata store, in the order
that keeps a crash harmless: bytes first (verified, linked into place), then the metadata
that makes them visible, then the domain event. The metadata transaction that publishes a
blob checks again, under the blob's row lock, that its bytes are in place: that is what makes
online garbage collection safe (`cargobay.lifecycle.gc`). `metadata.runner` decides where each
database call runs so the event loop never waits on a lock.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cargobay.auth.principal import DEFAULT_PROJECT
from cargobay.events import Dispatcher, Event, EventType
from cargobay.metadata.db import is_sqlite
from cargobay.metadata.errors import QuotaExceeded
from cargobay.metadata.history import Operation
from cargobay.metadata.runner import Runner
from cargobay.metadata.store import (
    ManifestPut,
    ManifestRecord,
    MetadataStore,
    Referrer,
    TagChange,
)
from cargobay.metadata.usage import UsageStore
from cargobay.oci import digest as digests
from cargobay.oci import manifest as oci_manifest
from cargobay.oci import names
from cargobay.registry.cache import GenerationCache
from cargobay.registry.errors import RegistryError
from cargobay.storage import BlobInfo, BlobStore, DigestMismatch


@dataclass(frozen=True, slots=True)
class PushedManifest:
    digest: str
    manifest: oci_manifest.Manifest
    result: ManifestPut
    tags: tuple[str, ...]


def is_digest(reference: str) -> bool:
    return ":" in reference


def check_reference(reference: str) -> bool:
    """Validate a manifest reference; return True when it is a digest, False for a tag."""
    if is_digest(reference):
        digests.parse(reference)
        return True
    names.check_tag(reference)
    return False


class RegistryService:
    def __init__(
        self,
        metadata: MetadataStore,
        blobs: BlobStore,
        events: Dispatcher,
        cache: GenerationCache[tuple[str, str, str], Any],
        *,
        max_manifest_bytes: int,
        sparse_indexes: bool,
    ) -> None:
        self.metadata = metadata
        self.db = Runner(is_sqlite(metadata.engine))
        self.blobs = blobs
        self.events = events
        self.cache = cache
        self.max_manifest_bytes = max_manifest_bytes
        self.sparse_indexes = sparse_indexes
        self.usage = UsageStore(metadata)

    def _emit(self, type_: EventType, repository: str, **fields: Any) -> None:
        if self.events.has_subscribers:
            self.events.emit(Event(type_, repository, **fields))

    # -- blobs -----------------------------------------------------------------------------

    async def blob_size(self, name: str, digest: str) -> int:
        """Size of a blob visible in `name`; BLOB_UNKNOWN otherwise."""
        digests.parse(digest)
        key = ("blob", name, digest)
        size = self.cache.get(key)
        if size is None:
            snapshot = self.cache.snapshot()
            size = await self.db.read(self.metadata.blob_size, name, digest)
            if size is None:
                raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
            self.cache.put(key, size, snapshot)
        return size

    def blob_path(self, digest: str) -> Path | None:
        return self.blobs.local_path(digest)

    def blob_pulled(self, name: str, digest: str, size: int) -> None:
        self._emit(EventType.BLOB_PULLED, name, digest=digest, size=size)

    async def delete_blob(self, name: str, digest: str) -> None:
        digests.parse(digest)
        if not await self.db.write(self.metadata.unlink_blob, name, digest):
            raise RegistryError("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest})
        self.cache.invalidate()
        # The bytes stay: other repositories may link them; garbage collection reclaims them.
        self._emit(EventType.BLOB_DELETED, name, digest=digest)

    async def _publish(self, name: str, upload_id: str, info: BlobInfo, session: bool) -> None:
        """Make a verified upload blob `info.digest` of repository `name`.

        The bytes are placed first, outside any lock (the slow part: a link and an fsync);
        then the transaction that records the blob places them again if garbage collection
        removed them meanwhile, which it can only have done before that transaction took
        the blob's row. The upload's own file stays until then, so the bytes are at hand.
        """
        await asyncio.to_thread(self.blobs.place, upload_id, info.digest)
        await self.db.write(
            self.metadata.link_blob,
            name,
            info.digest,
            info.size,
            upload_id if session else None,
            functools.partial(self.blobs.place, upload_id, info.digest),
        )
        await self.blobs.abort_upload(upload_id)
        self.cache.invalidate()
        self._emit(EventType.BLOB_PUSHED, name, digest=info.digest, size=info.size)

    # -- uploads ---------------------------------------------------------------------------

    async def start_upload(self, name: str) -> str:
        upload_id = str(uuid.uuid4())
        await self.blobs.start_upload(upload_id)
        await self.db.write(self.metadata.create_upload, upload_id, name)
        return upload_id

    async def check_quota(self, name: str, digest: str, size: int) -> None:
        """Refuse (QuotaExceeded) a blob of known size that would take the project past its
        quota, before its bytes are read. The link transaction checks again, exactly."""
        await self.db.read(self.usage.check, name, digest, size)

    async def monolithic_upload(
        self, name: str, digest: str, chunks: AsyncIterable[bytes], size: int | None = None
    ) -> BlobInfo:
        """`size`: the Content-Length, when the client sent one."""
        digests.parse(digest)
        if size is not None:
            await self.check_quota(name, digest, size)
        # The bytes go to a private upload the database never hears of: if the process
        # dies here, the purge finds the file by its age alone.
        upload_id = f"mono-{uuid.uuid4()}"
        await self.blobs.start_upload(upload_id, digests.algorithm_of(digest))
        try:
            await self.blobs.append_upload(upload_id, chunks, offset=0)
            info = await self.blobs.verify_upload(upload_id, digest)
            await self._publish(name, upload_id, info, session=False)
        except BaseException:
            await self.blobs.abort_upload(upload_id)
            raise
        return info

    async def mount(
        self,
        name: str,
        digest: str,
        source: str | None,
        readable: Callable[[str], Awaitable[bool]],
    ) -> BlobInfo | None:
        """Link a blob another repository holds; None when it cannot (then upload instead).

        The caller must be able to read the source (`readable`): without `from`, the blob is
        taken from the first repository holding it that the caller may read.
        """
        digests.parse(digest)
        size = None
        if source is not None:
            names.check_name(source)
            if await readable(source):
                size = await self.db.read(self.metadata.blob_size, source, digest)
        else:
            for holder, holder_size in await self.db.read(self.metadata.blob_holders, digest, 100):
                if await readable(holder):
                    size = holder_size
                    break
        if size is None:
            return None
        # The row is touched and the bytes checked in one transaction, so garbage collection
        # cannot remove the blob between the check and the link.
        present = functools.partial(self.blobs.holds, digest)
        size = await self.db.write(self.metadata.mount_blob, name, digest, present)
        if size is None:
            return None
        self.cache.invalidate()
        self._emit(EventType.BLOB_MOUNTED, name, digest=digest, size=size)
        return BlobInfo(digest, size)

    async def _own_upload(self, name: str, upload_id: str) -> None:
        if not await self.db.read(self.metadata.upload_belongs, upload_id, name):
            raise RegistryError(
                "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", {"uuid": upload_id}
            )

    async def append(
        self, name: str, upload_id: str, chunks: AsyncIterable[bytes], offset: int | None
    ) -> int:
        await self._own_upload(name, upload_id)
        size = await self.blobs.append_upload(upload_id, chunks, offset)
        await self.db.write(self.metadata.touch_upload, upload_id)
        return size

    async def upload_size(self, name: str, upload_id: str) -> int:
        await self._own_upload(name, upload_id)
        return await self.blobs.upload_size(upload_id)

    async def finish_upload(
        self,
        name: str,
        upload_id: str,
        digest: str,
        chunks: AsyncIterable[bytes] | None,
        offset: int | None,
        length: int | None = None,
    ) -> BlobInfo:
        """`length`: the Content-Length of the last chunk, when the client sent one."""
        digests.parse(digest)
        await self._own_upload(name, upload_id)
        if chunks is not None and length is not None:
            # A monolithic PUT: refuse before reading a byte of it.
            held = await self.blobs.upload_size(upload_id)
            await self.check_quota(name, digest, held + length)
        if chunks is not None:
            await self.blobs.append_upload(upload_id, chunks, offset)
        try:
            # The whole size is known now: refuse before the blob is stored or linked.
            await self.check_quota(name, digest, await self.blobs.upload_size(upload_id))
        except QuotaExceeded:
            await self.cancel_upload(name, upload_id)
            raise
        try:
            info = await self.blobs.verify_upload(upload_id, digest)
        except DigestMismatch:
            # The store discarded the bytes; the session is over too.
            await self.db.write(self.metadata.delete_upload, upload_id)
            raise
        try:
            # A failure from here on leaves the session and its bytes: the client may retry.
            await self._publish(name, upload_id, info, session=True)
        except QuotaExceeded:
            # Passed the look above but lost a race for the last bytes of the quota: nothing
            # is linked, and the session is over.
            await self.cancel_upload(name, upload_id)
            raise
        return info

    async def cancel_upload(self, name: str, upload_id: str) -> None:
        await self._own_upload(name, upload_id)
        await self.blobs.abort_upload(upload_id)
        await self.db.write(self.metadata.delete_upload, upload_id)

    async def purge_uploads(self, max_age: timedelta, dry_run: bool = False) -> int:
        """Remove upload sessions and stray upload files untouched for `max_age`; with
        `dry_run`, only count them."""
        cutoff = datetime.now(UTC) - max_age
        stale = set(await self.db.read(self.metadata.stale_uploads, cutoff))
        if not dry_run:
            for upload_id in stale:
                await self.blobs.abort_upload(upload_id)
                await self.db.write(self.metadata.delete_upload, upload_id)
        purged = len(stale)
        async for upload_id, modified in self.blobs.list_uploads():
            if modified < cutoff.timestamp() and upload_id not in stale:
                if not dry_run:
                    await self.blobs.abort_upload(upload_id)
                purged += 1
        return purged

    # -- manifests -------------------------------------------------------------------------

    async def get_manifest(self, name: str, reference: str) -> ManifestRecord:
        key = ("manifest", name, reference)
        record = self.cache.get(key)
        if record is None:
            by_digest = check_reference(reference)
            snapshot = self.cache.snapshot()
            record = await self.db.read(self.metadata.get_manifest, name, reference, by_digest)
            if record is None:
                raise RegistryError(
                    "MANIFEST_UNKNOWN",
                    "manifest unknown to registry",
                    {"name": name, "reference": reference},
                )
            self.cache.put(key, record, snapshot)
        return record

    def manifest_pulled(self, name: str, reference: str, record: ManifestRecord) -> None:
        tag = None if is_digest(reference) else reference
        self._emit(
            EventType.MANIFEST_PULLED,
            name,
            digest=record.digest,
            tag=tag,
            media_type=record.media_type,
            size=len(record.payload),
        )

    async def put_manifest(
        self,
        name: str,
        reference: str,
        payload: bytes,
        content_type: str | None,
        extra_tags: list[str],
        actor: str | None = None,
    ) -> PushedManifest:
        by_digest = check_reference(reference)
        if by_digest:
            digest = digests.compute(payload, digests.algorithm_of(reference))
            if digest != reference:
                raise RegistryError(
                    "DIGEST_INVALID",
                    "manifest digest does not match its content",
                    {"expected": reference, "actual": digest},
                )
            tags = tuple(dict.fromkeys(names.check_tag(tag) for tag in extra_tags))
        else:
            digest = digests.compute(payload)
            tags = (reference,)
        manifest = oci_manifest.parse(payload, content_type)
        result = await self.db.write(
            self.metadata.put_manifest,
            name,
            digest,
            manifest,
            payload,
            tags,
            self.sparse_indexes,
            actor=actor,
            operation=Operation.PUSH,
        )
        self.cache.invalidate()
        self._announce_push(name, digest, manifest, payload, result, actor)
        return PushedManifest(digest, manifest, result, tags)

    def _announce_push(
        self,
        name: str,
        digest: str,
        manifest: oci_manifest.Manifest,
        payload: bytes,
        result: ManifestPut,
        actor: str | None,
    ) -> None:
        if result.created:
            self._emit(
                EventType.MANIFEST_PUSHED,
                name,
                digest=digest,
                media_type=manifest.media_type,
                size=len(payload),
                actor=actor,
            )
        self.announce_tag_changes(name, digest, result.tag_changes, Operation.PUSH, actor)
        self.announce_tag_changes(name, digest, result.floated, Operation.FLOATING, actor)

    def announce_tag_changes(
        self,
        name: str,
        digest: str,
        changes: tuple[TagChange, ...],
        operation: Operation,
        actor: str | None,
    ) -> None:
        """The events of tags pointed at `digest` (by a push, a promotion, a rollback...)."""
        for change in changes:
            if change.old_digest is None:
                self._emit(
                    EventType.TAG_CREATED,
                    name,
                    digest=digest,
                    tag=change.tag,
                    operation=operation,
                    actor=actor,
                )
            else:
                self._emit(
                    EventType.TAG_MOVED,
                    name,
                    digest=digest,
                    tag=change.tag,
                    previous_digest=change.old_digest,
                    operation=operation,
                    actor=actor,
                )

    async def delete_manifest(
        self,
        name: str,
        reference: str,
        actor: str | None = None,
        operation: Operation = Operation.DELETE,
    ) -> str:
        """Delete a manifest (by digest) or only a tag; return the manifest's digest."""
        if check_reference(reference):
            tags = await self.db.write(
                self.metadata.delete_manifest, name, reference, actor, operation
            )
            if tags is None:
                raise RegistryError(
                    "MANIFEST_UNKNOWN",
                    "manifest unknown to registry",
                    {"name": name, "reference": reference},
                )
            self.cache.invalidate()
            for tag in tags:
                self._emit(
                    EventType.TAG_DELETED,
                    name,
                    digest=reference,
                    tag=tag,
                    operation=operation,
                    actor=actor,
                )
            self._emit(EventType.MANIFEST_DELETED, name, digest=reference, actor=actor)
            return reference
        digest = await self.db.write(self.metadata.delete_tag, name, reference, actor, operation)
        if digest is None:
            raise RegistryError(
                "MANIFEST_UNKNOWN",
                "manifest unknown to registry",
                {"name": name, "reference": reference},
            )
        self.cache.invalidate()
        self._emit(
            EventType.TAG_DELETED,
            name,
            digest=digest,
            tag=reference,
            operation=operation,
            actor=actor,
        )
        return digest

    async def delete_repository(self, name: str, actor: str | None = None) -> None:
        """Delete a repository with its manifests and tags (the management API)."""
        if not await self.db.write(self.metadata.delete_repository, name):
            raise RegistryError(
                "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
            )
        self.cache.invalidate()
        self._emit(EventType.REPOSITORY_DELETED, name, actor=actor)

    # -- listings --------------------------------------------------------------------------

    async def list_tags(self, name: str, limit: int | None, last: str | None) -> list[str]:
        key = ("tags", name, f"{limit}/{last}")
        tags = self.cache.get(key)
        if tags is None:
            snapshot = self.cache.snapshot()
            tags = await self.db.read(self.metadata.list_tags, name, limit, last)
            if tags is None:
                raise RegistryError(
                    "NAME_UNKNOWN", "repository name not known to registry", {"name": name}
                )
            self.cache.put(key, tags, snapshot)
        return tags

    async def catalog(
        self, limit: int, last: str | None, projects: set[str] | None = None
    ) -> list[str]:
        """Repository names in lexical order; only those of `projects` unless it is None."""
        if projects is None:
            return await self.db.read(self.metadata.list_repositories, limit, last)
        if not projects:
            return []
        prefixes = sorted(f"{project}/" for project in projects)
        unnamespaced = DEFAULT_PROJECT in projects  # `busybox` is in project `library`
        return await self.db.read(
            self.metadata.list_repositories, limit, last, prefixes, unnamespaced
        )

    async def referrers(self, name: str, digest: str, artifact_type: str | None) -> list[Referrer]:
        digests.parse(digest)
        return await self.db.read(self.metadata.referrers, name, digest, artifact_type)
