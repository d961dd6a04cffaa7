"""Every error a /v2 request can meet, turned into the OCI error JSON in this one place."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from cargobay.auth.errors import AuthError
from cargobay.metadata.errors import (
    ManifestNotFound,
    ManifestReclaimed,
    ManifestReferencesMissing,
    MetadataError,
    QuotaExceeded,
    TagImmutable,
    TagUnknown,
)
from cargobay.oci.errors import OCIError
from cargobay.storage import (
    BlobNotFound,
    DigestMismatch,
    StorageError,
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
)

STATUS = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "TAG_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
}


class RegistryError(Exception):
    """An OCI error response: code, message, detail, and where needed a status and headers."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.status = status or STATUS.get(code, 400)
        self.headers = headers or {}


def from_exception(exc: Exception) -> RegistryError | None:
    """Translate the lower layers' errors; None for anything unexpected (a bug)."""
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, OCIError):
        return RegistryError(exc.code, exc.message, exc.detail)
    if isinstance(exc, StorageError):
        return _from_storage(exc)
    if isinstance(exc, MetadataError):
        return _from_metadata(exc)
    if isinstance(exc, AuthError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return RegistryError(exc.code, exc.message, headers=headers)
    return None


def _from_storage(exc: StorageError) -> RegistryError:
    if isinstance(exc, DigestMismatch):
        return RegistryError(
            "DIGEST_INVALID",
            "provided digest did not match uploaded content",
            {"expected": exc.expected, "actual": exc.actual},
        )
    if isinstance(exc, BlobNotFound):
        return RegistryError("BLOB_UNKNOWN", "blob unknown to registry")
    if isinstance(exc, UploadNotFound):
        return RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
    if isinstance(exc, UploadBusy):
        return RegistryError(
            "BLOB_UPLOAD_INVALID", "another request is writing to this upload", status=416
        )
    if isinstance(exc, UploadOffsetMismatch):
        return RegistryError(
            "BLOB_UPLOAD_INVALID",
            "chunk does not start where the upload ends",
            {"size": exc.size},
            status=416,
            headers={"Range": range_header(exc.size)},
        )
    return RegistryError("BLOB_UPLOAD_INVALID", str(exc))


def _from_metadata(exc: MetadataError) -> RegistryError:
    if isinstance(exc, ManifestReferencesMissing):
        return RegistryError(
            "MANIFEST_BLOB_UNKNOWN", "manifest references unknown content", {"digests": exc.digests}
        )
    if isinstance(exc, TagImmutable):
        detail = {"repository": exc.repository, "tag": exc.tag, "rule": exc.rule_id}
        return RegistryError("DENIED", str(exc), detail)
    if isinstance(exc, ManifestNotFound | ManifestReclaimed):
        return RegistryError("MANIFEST_UNKNOWN", str(exc), {"digest": exc.digest})
    if isinstance(exc, TagUnknown):
        return RegistryError("MANIFEST_UNKNOWN", str(exc), {"tag": exc.tag})
    if isinstance(exc, QuotaExceeded):
        return quota_exceeded(exc)
    return RegistryError("UNSUPPORTED", str(exc), status=500)


def quota_exceeded(exc: QuotaExceeded) -> RegistryError:
    """DENIED with 403: clients print a DENIED error's message as it is, and none retries
    it (TOOMANYREQUESTS makes containers/image retry, then print only "too many requests")."""
    detail = {
        "project": exc.project,
        "quota_bytes": exc.quota,
        "used_bytes": exc.used,
        "requested_bytes": exc.adding,
    }
    return RegistryError("DENIED", str(exc), detail, status=403)


def range_header(size: int) -> str:
    """The Range header of an upload that holds `size` bytes (Distribution writes 0-0 for 0)."""
    return f"0-{max(size - 1, 0)}"


def error_response(error: RegistryError, head: bool = False) -> Response:
    body = json.dumps(
        {"errors": [{"code": error.code, "message": error.message, "detail": error.detail}]}
    ).encode()
    headers = {"Docker-Distribution-API-Version": "registry/2.0", **error.headers}
    if head:
        headers["Content-Length"] = str(len(body))
        return Response(status_code=error.status, headers=headers, media_type="application/json")
    return Response(body, status_code=error.status, headers=headers, media_type="application/json")
