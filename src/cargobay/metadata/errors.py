"""The metadata layer's errors."""

from __future__ import annotations


class MetadataError(Exception):
    """Base of every error the metadata layer raises on purpose."""


class ManifestReferencesMissing(MetadataError):
    """A manifest refers to blobs or child manifests the repository does not hold."""

    def __init__(self, digests: list[str]) -> None:
        super().__init__(f"unknown references: {', '.join(digests)}")
        self.digests = digests


class Conflict(MetadataError):
    """The row to create exists already (a user, project, member, robot or token name)."""
