"""The blob-store contract. Every backend runs this same suite (filesystem today)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargobay.storage import (
    BlobStore,
    DigestMismatch,
    UploadNotFound,
    UploadOffsetMismatch,
)
from cargobay.storage.filesystem import FilesystemBlobStore


@pytest.fixture(params=["filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FilesystemBlobStore(tmp_path)


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


async def read_all(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([block async for block in store.read(digest, start, end)])


async def listed(iterator: AsyncIterator[str]) -> list[str]:
    return [item async for item in iterator]


def test_put_stores_a_blob_under_its_digest(store: BlobStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    info = run(store.put("u1", sha256(data), stream(data[:1000], data[1000:])))
    assert (info.digest, info.size) == (sha256(data), len(data))
    assert run(store.stat(sha256(data))) == len(data)
    assert run(read_all(store, sha256(data))) == data


def test_put_with_a_wrong_digest_stores_nothing(store: BlobStore) -> None:
    wrong = sha256(b"other")
    with pytest.raises(DigestMismatch):
        run(store.put("u1", wrong, stream(b"content")))
    assert run(store.stat(wrong)) is None
    assert run(store.stat(sha256(b"content"))) is None


def test_sha512_digests_are_verified(store: BlobStore) -> None:
    data = b"sha512 content"
    digest = f"sha512:{hashlib.sha512(data).hexdigest()}"
    assert run(store.put("u1", digest, stream(data))).digest == digest
    assert run(read_all(store, digest)) == data


def test_read_returns_the_requested_range(store: BlobStore) -> None:
    data = bytes(range(256)) * 8
    run(store.put("u1", sha256(data), stream(data)))
    assert run(read_all(store, sha256(data), 10, 20)) == data[10:20]


def test_chunked_upload_commits_the_concatenation(store: BlobStore) -> None:
    parts = [os.urandom(n) for n in (5, 2 * 1024 * 1024, 1)]
    data = b"".join(parts)
    run(store.start_upload("u1"))
    offset = 0
    for part in parts:
        offset = run(store.append_upload("u1", stream(part), offset=offset))
    assert run(store.upload_size("u1")) == len(data)
    run(store.commit_upload("u1", sha256(data)))
    assert run(read_all(store, sha256(data))) == data
    with pytest.raises(UploadNotFound):
        run(store.upload_size("u1"))


def test_append_at_the_wrong_offset_is_refused_and_reports_the_size(store: BlobStore) -> None:
    run(store.start_upload("u1"))
    run(store.append_upload("u1", stream(b"12345")))
    with pytest.raises(UploadOffsetMismatch) as caught:
        run(store.append_upload("u1", stream(b"x"), offset=3))
    assert caught.value.size == 5
    assert run(store.upload_size("u1")) == 5


def test_a_fresh_store_resumes_an_upload_left_by_another(store: BlobStore, tmp_path: Path) -> None:
    """Upload state survives a restart: a new process has no hash state, only the bytes."""
    run(store.start_upload("u1"))
    run(store.append_upload("u1", stream(b"first half, ")))
    restarted = FilesystemBlobStore(tmp_path)
    run(restarted.append_upload("u1", stream(b"second half"), offset=12))
    data = b"first half, second half"
    assert run(restarted.commit_upload("u1", sha256(data))).size == len(data)


def test_commit_with_a_wrong_digest_discards_the_upload(store: BlobStore) -> None:
    run(store.start_upload("u1"))
    run(store.append_upload("u1", stream(b"data")))
    with pytest.raises(DigestMismatch):
        run(store.commit_upload("u1", sha256(b"not data")))
    with pytest.raises(UploadNotFound):
        run(store.upload_size("u1"))


def test_the_same_blob_is_stored_once(store: BlobStore) -> None:
    data = b"shared layer"
    run(store.put("u1", sha256(data), stream(data)))
    run(store.put("u2", sha256(data), stream(data)))
    assert run(listed(store.list())) == [sha256(data)]


def test_delete_removes_a_blob(store: BlobStore) -> None:
    run(store.put("u1", sha256(b"x"), stream(b"x")))
    assert run(store.delete(sha256(b"x"))) is True
    assert run(store.delete(sha256(b"x"))) is False
    assert run(store.stat(sha256(b"x"))) is None


def test_abort_removes_an_upload(store: BlobStore) -> None:
    run(store.start_upload("u1"))
    run(store.abort_upload("u1"))
    run(store.abort_upload("u1"))  # twice is fine
    assert run(listed_uploads(store)) == []


async def listed_uploads(store: BlobStore) -> list[str]:
    return [upload_id async for upload_id, _ in store.list_uploads()]


def test_a_failed_stream_keeps_what_arrived_so_the_client_can_resume(store: BlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (2 * 1024 * 1024)
        raise ConnectionResetError

    run(store.start_upload("u1"))
    with pytest.raises(ConnectionResetError):
        run(store.append_upload("u1", broken()))
    assert run(store.upload_size("u1")) == 2 * 1024 * 1024


def test_upload_ids_cannot_escape_the_store(store: BlobStore) -> None:
    for bad in ("../x", "a/b", ".hidden"):
        with pytest.raises(UploadNotFound):
            run(store.upload_size(bad))


# -- committing and deleting in steps (what online garbage collection relies on) ----------


def verified_upload(store: BlobStore, upload_id: str, data: bytes) -> str:
    run(store.start_upload(upload_id))
    run(store.append_upload(upload_id, stream(data)))
    return run(store.verify_upload(upload_id, sha256(data))).digest


def test_verify_checks_the_digest_and_keeps_the_upload(store: BlobStore) -> None:
    digest = verified_upload(store, "u1", b"verified")
    assert run(store.upload_size("u1")) == len(b"verified")
    assert run(store.stat(digest)) is None  # not a blob until placed


def test_verify_with_a_wrong_digest_discards_the_upload(store: BlobStore) -> None:
    run(store.start_upload("u1"))
    run(store.append_upload("u1", stream(b"data")))
    with pytest.raises(DigestMismatch):
        run(store.verify_upload("u1", sha256(b"other")))
    with pytest.raises(UploadNotFound):
        run(store.upload_size("u1"))


def test_place_makes_the_blob_readable_and_keeps_the_upload(store: BlobStore) -> None:
    digest = verified_upload(store, "u1", b"placed")
    assert store.place("u1", digest) is True
    assert store.holds(digest) and run(read_all(store, digest)) == b"placed"
    assert run(store.upload_size("u1")) == len(b"placed")
    assert store.place("u1", digest) is False  # already there: nothing written
    run(store.abort_upload("u1"))
    assert run(read_all(store, digest)) == b"placed"  # the blob outlives its upload


def test_place_puts_back_bytes_removed_since_it_last_placed_them(store: BlobStore) -> None:
    digest = verified_upload(store, "u1", b"again")
    store.place("u1", digest)
    token = store.quarantine(digest)
    assert token is not None and not store.holds(digest)
    assert store.place("u1", digest) is True
    assert run(read_all(store, digest)) == b"again"


def test_a_quarantined_blob_is_gone_until_restored(store: BlobStore) -> None:
    run(store.put("u1", sha256(b"q"), stream(b"q")))
    token = store.quarantine(sha256(b"q"))
    assert token is not None
    assert run(store.stat(sha256(b"q"))) is None
    assert store.quarantined() == [(token, sha256(b"q"))]
    store.restore(token)
    assert run(read_all(store, sha256(b"q"))) == b"q"
    assert store.quarantined() == []


def test_a_purged_blob_is_gone_for_good(store: BlobStore) -> None:
    run(store.put("u1", sha256(b"p"), stream(b"p")))
    token = store.quarantine(sha256(b"p"))
    assert token is not None
    store.purge(token)
    store.purge(token)  # twice is fine
    assert store.quarantined() == [] and not store.holds(sha256(b"p"))


def test_quarantining_an_absent_blob_gives_no_token(store: BlobStore) -> None:
    assert store.quarantine(sha256(b"never stored")) is None


def test_restoring_a_blob_stored_again_meanwhile_keeps_the_new_copy(store: BlobStore) -> None:
    run(store.put("u1", sha256(b"r"), stream(b"r")))
    token = store.quarantine(sha256(b"r"))
    assert token is not None
    run(store.put("u2", sha256(b"r"), stream(b"r")))
    store.restore(token)
    assert run(read_all(store, sha256(b"r"))) == b"r" and store.quarantined() == []
