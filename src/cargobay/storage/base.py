"""The blob-store interface every backend implements (filesystem now, S3-compatible later).

Blobs are addressed by digest only; which repository may see a blob is metadata's business.
Uploads are append-only byte sequences that survive restarts and become a blob on commit,
after the store has verified the digest.

Garbage collection needs the moment a blob's bytes appear and disappear to happen inside a
metadata transaction that holds the blob's row lock (see `cargobay.lifecycle.gc`). So a
commit is also offered in steps: `verify_upload` (slow: hashing), `place` (make the bytes
readable under the digest, keeping the upload, idempotent and cheap when they already are),
and `abort_upload`; and a delete in steps: `quarantine` (move the bytes out of sight,
reversibly), then `purge` once the metadata transaction committed, or `restore` if it did not.
The blocking methods (`place`, `holds`, `quarantine`, `restore`, `purge`) are called from the
worker thread that runs the transaction.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from cargobay.oci import digest as digests


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: str
    size: int


class BlobStore(ABC):
    @abstractmethod
    async def stat(self, digest: str) -> int | None:
        """The blob's size, or None if the store does not hold it."""

    @abstractmethod
    def read(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of a blob; raise BlobNotFound if absent."""

    def local_path(self, digest: str) -> Path | None:
        """A file holding the blob, for zero-copy sending; None when the store is remote."""
        return None

    @abstractmethod
    async def delete(self, digest: str) -> bool:
        """Remove a blob; False if it was not there."""

    @abstractmethod
    def list(self) -> AsyncIterator[str]:
        """Every digest the store holds, in no particular order."""

    @abstractmethod
    async def start_upload(self, upload_id: str, algorithm: str = "sha256") -> None:
        """Create an empty upload; `algorithm` is the digest it will most likely be checked by."""

    @abstractmethod
    async def append_upload(
        self, upload_id: str, chunks: AsyncIterable[bytes], offset: int | None = None
    ) -> int:
        """Append a stream to an upload and return its new size.

        With `offset`, refuse (UploadOffsetMismatch) unless the upload is exactly that long.
        """

    @abstractmethod
    async def upload_size(self, upload_id: str) -> int:
        """How many bytes an upload holds; raise UploadNotFound if absent."""

    async def commit_upload(self, upload_id: str, digest: str) -> BlobInfo:
        """Verify the upload against `digest` and make it that blob; the upload is gone after.

        Raise DigestMismatch (and discard the upload) when the content does not match.
        """
        info = await self.verify_upload(upload_id, digest)
        await asyncio.to_thread(self.place, upload_id, digest)
        await self.abort_upload(upload_id)
        return info

    @abstractmethod
    async def verify_upload(self, upload_id: str, digest: str) -> BlobInfo:
        """Check an upload's content against `digest`, durably written; the upload stays.

        Raise DigestMismatch (and discard the upload) when the content does not match.
        """

    @abstractmethod
    def place(self, upload_id: str, digest: str) -> bool:
        """Make a verified upload readable as blob `digest`, keeping the upload (blocking).

        Cheap and harmless when the blob is already there; True if it had to write.
        """

    @abstractmethod
    def holds(self, digest: str) -> bool:
        """Whether the blob is there (blocking)."""

    @abstractmethod
    def quarantine(self, digest: str) -> str | None:
        """Move a blob out of sight, reversibly (blocking); a token, or None if absent."""

    @abstractmethod
    def restore(self, token: str) -> None:
        """Put a quarantined blob back, unless the same blob was stored again meanwhile."""

    @abstractmethod
    def purge(self, token: str) -> None:
        """Delete a quarantined blob for good; no error if it is gone."""

    @abstractmethod
    def quarantined(self) -> list[tuple[str, str]]:
        """Every quarantined blob as (token, digest): left behind by an interrupted delete."""

    @abstractmethod
    async def abort_upload(self, upload_id: str) -> None:
        """Discard an upload; no error if it is already gone."""

    @abstractmethod
    def list_uploads(self) -> AsyncIterator[tuple[str, float]]:
        """Every upload as (id, last-modified Unix time), for purging abandoned ones."""

    async def put(self, upload_id: str, digest: str, chunks: AsyncIterable[bytes]) -> BlobInfo:
        """Store a whole blob from one stream (a monolithic upload)."""
        await self.start_upload(upload_id, digests.algorithm_of(digest))
        try:
            await self.append_upload(upload_id, chunks, offset=0)
            return await self.commit_upload(upload_id, digest)
        except BaseException:
            await self.abort_upload(upload_id)
            raise
