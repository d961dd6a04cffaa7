"""The auth layer's one error type; `registry.errors` turns it into an OCI error response."""

from __future__ import annotations


class AuthError(Exception):
    """A request that may not go on: UNAUTHORIZED, DENIED, TOOMANYREQUESTS or NAME_UNKNOWN.

    `error` is the RFC 6750 error a Bearer challenge carries (invalid_token when a token was
    refused, insufficient_scope when a valid token lacks the access asked for); `scope` is
    the Docker scope the client should ask the token endpoint for.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        scope: str | None = None,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.scope = scope
        self.error = error
        self.retry_after = retry_after
