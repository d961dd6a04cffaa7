"""The storage layer's errors. The registry layer maps them to OCI error codes."""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error a blob store raises on purpose."""


class BlobNotFound(StorageError):
    pass


class UploadNotFound(StorageError):
    pass


class UploadBusy(StorageError):
    """Another request is appending to the same upload right now."""


class UploadOffsetMismatch(StorageError):
    """A chunk did not start where the upload ends; `size` is where it does end."""

    def __init__(self, size: int) -> None:
        super().__init__(f"upload is {size} bytes long")
        self.size = size


class DigestMismatch(StorageError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"content digest {actual} does not match {expected}")
        self.expected = expected
        self.actual = actual
