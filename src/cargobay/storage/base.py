"""The blob-store interface every backend implements (filesystem now, S3-compatible later).

Blobs are addressed by digest only; which repository may see a blob is metadata's business.
Uploads are append-only byte sequences that survive restarts and become a blob on commit,
after the store has verified the digest.
"""

from __future__ import annotations

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

    @abstractmethod
    async def commit_upload(self, upload_id: str, digest: str) -> BlobInfo:
        """Verify the upload against `digest` and make it that blob; the upload is gone after.

        Raise DigestMismatch (and discard the upload) when the content does not match.
        """

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
