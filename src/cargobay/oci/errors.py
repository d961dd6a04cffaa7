"""The OCI layer's one error type: it carries the distribution-spec error code it maps to."""

from __future__ import annotations

from typing import Any


class OCIError(Exception):
    """Content or a request that breaks the OCI specifications.

    `code` is one of the distribution-spec error codes (DIGEST_INVALID, MANIFEST_INVALID, ...);
    the registry layer turns it into the HTTP status and JSON body in one place.
    """

    def __init__(self, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
