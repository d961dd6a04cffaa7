"""Blob stores: where blob bytes live. One narrow interface, several backends."""

from cargobay.storage.base import BlobInfo, BlobStore
from cargobay.storage.errors import (
    BlobNotFound,
    DigestMismatch,
    StorageError,
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
)

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "DigestMismatch",
    "StorageError",
    "UploadBusy",
    "UploadNotFound",
    "UploadOffsetMismatch",
]
