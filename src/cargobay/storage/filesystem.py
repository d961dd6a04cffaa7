"""Blobs on a local filesystem, content-addressed: `blobs/<algorithm>/<2 hex>/<hex>`.

Writes go to `uploads/<id>`, are verified, fsynced and linked into place, so a crash at any
point leaves either the old state or the new one, never a partial blob under a digest.
Garbage collection moves a blob to `trash/` first and deletes it there once its metadata
transaction has committed, so an interrupted delete can be undone (`quarantined`).
Hashing and writing run in a worker thread, a batch at a time, while the event loop keeps
receiving the next batch: the two cores work on one upload, and memory stays at two batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import itertools
import os
import shutil
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from cargobay.oci import digest as digests
from cargobay.oci.errors import OCIError
from cargobay.storage.base import BlobInfo, BlobStore
from cargobay.storage.errors import (
    BlobNotFound,
    DigestMismatch,
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
)

BATCH_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024
# Hash states kept per process so a chunked upload is hashed once, as it arrives.
MAX_HASH_STATES = 1024
DEFAULT_ALGORITHM = "sha256"


def _load_sync_file_range():  # type: ignore[no-untyped-def]
    """Linux's sync_file_range starts writeback without waiting, so the final fsync is short."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    return function


_sync_file_range = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


class _HashState:
    __slots__ = ("algorithm", "hasher", "size")

    def __init__(self, algorithm: str, size: int = 0) -> None:
        self.algorithm = algorithm
        self.hasher = hashlib.new(algorithm)
        self.size = size


def _write_batch(fd: int, chunks: list[bytes], state: _HashState | None, offset: int) -> int:
    written = 0
    view_chunks = chunks
    while view_chunks:
        n = os.writev(fd, view_chunks)
        written += n
        # writev may write less than asked; drop what went out and retry the rest.
        while view_chunks and n >= len(view_chunks[0]):
            n -= len(view_chunks[0])
            view_chunks = view_chunks[1:]
        if n:
            view_chunks = [view_chunks[0][n:], *view_chunks[1:]]
    if state is not None:
        for chunk in chunks:
            state.hasher.update(chunk)
        state.size += written
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, written, _SYNC_FILE_RANGE_WRITE)
    return written


def _hash_file(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with path.open("rb") as file:
        while block := file.read(READ_BYTES):
            hasher.update(block)
    return f"{algorithm}:{hasher.hexdigest()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._uploads = root / "uploads"
        self._trash = root / "trash"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._trash.mkdir(parents=True, exist_ok=True)
        self._blobs_dir = str(self._blobs)
        self._trash_dir = str(self._trash)
        self._quarantine_prefix = uuid.uuid4().hex[:8]
        self._quarantined = itertools.count()
        self._hash_states: OrderedDict[str, _HashState] = OrderedDict()

    # -- blobs ---------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        algorithm, encoded = digests.parse(digest)
        return self._blobs / algorithm / encoded[:2] / encoded

    def local_path(self, digest: str) -> Path | None:
        return self._blob_path(digest)

    async def stat(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None

    async def read(
        self, digest: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            file = self._blob_path(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        with file:
            file.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                size = READ_BYTES if remaining is None else min(READ_BYTES, remaining)
                block = await asyncio.to_thread(file.read, size)
                if not block:
                    break
                if remaining is not None:
                    remaining -= len(block)
                yield block

    async def delete(self, digest: str) -> bool:
        try:
            self._blob_path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    async def list(self) -> AsyncIterator[str]:
        for algorithm_dir in sorted(self._blobs.iterdir()):
            for prefix_dir in sorted(algorithm_dir.iterdir()):
                for blob in sorted(prefix_dir.iterdir()):
                    yield f"{algorithm_dir.name}:{blob.name}"

    # -- uploads -------------------------------------------------------------------------

    def _upload_path(self, upload_id: str) -> Path:
        # Upload ids are generated by the registry, but never trust them as path parts.
        if not upload_id or "/" in upload_id or upload_id.startswith("."):
            raise UploadNotFound(upload_id)
        return self._uploads / upload_id

    async def start_upload(self, upload_id: str, algorithm: str = DEFAULT_ALGORITHM) -> None:
        path = self._upload_path(upload_id)
        with path.open("xb"):
            pass
        self._remember(upload_id, _HashState(algorithm))

    async def upload_size(self, upload_id: str) -> int:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    async def append_upload(
        self, upload_id: str, chunks: AsyncIterable[bytes], offset: int | None = None
    ) -> int:
        try:
            fd = os.open(self._upload_path(upload_id), os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise UploadBusy(upload_id) from None
                raise
            size = os.fstat(fd).st_size
            if offset is not None and offset != size:
                raise UploadOffsetMismatch(size)
            state = self._hash_states.pop(upload_id, None)
            if state is not None and state.size != size:
                state = None  # another process appended; hash the file at commit instead
            try:
                size = await self._pump(fd, chunks, state, size)
            finally:
                if state is not None and state.size == os.fstat(fd).st_size:
                    self._remember(upload_id, state)
            return size
        finally:
            os.close(fd)

    async def _pump(
        self, fd: int, chunks: AsyncIterable[bytes], state: _HashState | None, size: int
    ) -> int:
        pending: asyncio.Future[int] | None = None
        batch: list[bytes] = []
        batch_bytes = 0
        loop = asyncio.get_running_loop()
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                batch.append(chunk)
                batch_bytes += len(chunk)
                if batch_bytes >= BATCH_BYTES:
                    if pending is not None:
                        size += await pending
                    pending = loop.run_in_executor(None, _write_batch, fd, batch, state, size)
                    batch, batch_bytes = [], 0
        finally:
            # Whatever arrived before a failure is kept: the client may resume after it.
            if pending is not None:
                size += await pending
        if batch:
            size += await loop.run_in_executor(None, _write_batch, fd, batch, state, size)
        return size

    async def commit_upload(self, upload_id: str, digest: str) -> BlobInfo:
        path = self._upload_path(upload_id)
        if not path.exists():
            raise UploadNotFound(upload_id)
        state = self._hash_states.pop(upload_id, None)
        return await asyncio.to_thread(self._commit, path, digest, state)

    def _commit(self, path: Path, digest: str, state: _HashState | None) -> BlobInfo:
        info = self._verify(path, digest, state)
        destination = self._blob_path(digest)
        if destination.exists():
            path.unlink()  # the same bytes are already stored: keep one copy
            return info
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, destination)
        _fsync_dir(destination.parent)
        return info

    async def verify_upload(self, upload_id: str, digest: str) -> BlobInfo:
        path = self._upload_path(upload_id)
        if not path.exists():
            raise UploadNotFound(upload_id)
        state = self._hash_states.pop(upload_id, None)
        return await asyncio.to_thread(self._verify, path, digest, state)

    def _verify(self, path: Path, digest: str, state: _HashState | None) -> BlobInfo:
        algorithm = digests.algorithm_of(digest)
        with path.open("rb") as file:
            os.fsync(file.fileno())
            size = os.fstat(file.fileno()).st_size
        if state is not None and state.algorithm == algorithm and state.size == size:
            actual = f"{algorithm}:{state.hasher.hexdigest()}"
        else:
            actual = _hash_file(path, algorithm)
        if actual != digest:
            path.unlink(missing_ok=True)
            raise DigestMismatch(digest, actual)
        return BlobInfo(digest, size)

    def place(self, upload_id: str, digest: str) -> bool:
        destination = self._blob_path(digest)
        if destination.exists():
            return False
        source = self._upload_path(upload_id)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A hard link, not a rename: the upload must stay until the metadata transaction
            # that publishes the blob has checked, under the blob's row lock, that the bytes
            # are still there (garbage collection may have removed them in between).
            os.link(source, destination)
        except FileExistsError:
            return False
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        except OSError:  # a filesystem without hard links: copy, then rename into place
            temporary = self._uploads / f".place-{uuid.uuid4().hex}"
            shutil.copyfile(source, temporary)
            with temporary.open("rb") as file:
                os.fsync(file.fileno())
            os.replace(temporary, destination)
        _fsync_dir(destination.parent)
        return True

    def holds(self, digest: str) -> bool:
        return self._blob_path(digest).exists()

    # -- deleting in steps (garbage collection) ---------------------------------------------

    def quarantine(self, digest: str) -> str | None:
        # Plain strings, not Paths: a collection moves tens of thousands of blobs.
        algorithm, encoded = digests.parse(digest)
        token = f"{algorithm}-{encoded}-{self._quarantine_prefix}{next(self._quarantined)}"
        try:
            os.rename(
                f"{self._blobs_dir}/{algorithm}/{encoded[:2]}/{encoded}",
                f"{self._trash_dir}/{token}",
            )
        except FileNotFoundError:
            return None
        return token

    def restore(self, token: str) -> None:
        path = self._trash_path(token)
        destination = self._blob_path(_token_digest(token))
        if destination.exists():
            path.unlink(missing_ok=True)  # stored again meanwhile: the same bytes
            return
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, destination)
            _fsync_dir(destination.parent)

    def purge(self, token: str) -> None:
        if "/" in token or token.startswith("."):
            raise ValueError(token)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{self._trash_dir}/{token}")

    def quarantined(self) -> list[tuple[str, str]]:
        found = []
        for entry in os.scandir(self._trash):
            with contextlib.suppress(ValueError):
                found.append((entry.name, _token_digest(entry.name)))
        return found

    def _trash_path(self, token: str) -> Path:
        _token_digest(token)  # refuses anything that is not a token this store made
        return self._trash / token

    async def abort_upload(self, upload_id: str) -> None:
        self._hash_states.pop(upload_id, None)
        with contextlib.suppress(FileNotFoundError, UploadNotFound):
            self._upload_path(upload_id).unlink()

    async def list_uploads(self) -> AsyncIterator[tuple[str, float]]:
        for entry in os.scandir(self._uploads):
            with contextlib.suppress(FileNotFoundError):
                yield entry.name, entry.stat().st_mtime

    def _remember(self, upload_id: str, state: _HashState) -> None:
        self._hash_states[upload_id] = state
        self._hash_states.move_to_end(upload_id)
        while len(self._hash_states) > MAX_HASH_STATES:
            self._hash_states.popitem(last=False)


def _token_digest(token: str) -> str:
    """The digest a quarantine token holds (`sha256-<hex>-<random>`); ValueError otherwise."""
    algorithm, _, rest = token.partition("-")
    encoded, _, suffix = rest.rpartition("-")
    digest = f"{algorithm}:{encoded}"
    try:
        digests.parse(digest)
    except OCIError:
        raise ValueError(token) from None
    if not suffix or "/" in token:
        raise ValueError(token)
    return digest
