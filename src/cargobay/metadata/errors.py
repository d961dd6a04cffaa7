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


class QuotaExceeded(MetadataError):
    """Storing `adding` more bytes would take a project past its quota."""

    def __init__(self, project: str, quota: int, used: int, adding: int) -> None:
        super().__init__(
            f"quota exceeded in project {project}: {_size(adding)} more would make "
            f"{_size(used + adding)}, over its quota of {_size(quota)} "
            f"({_size(used)} used)"
        )
        self.project = project
        self.quota = quota
        self.used = used
        self.adding = adding


def _size(count: int) -> str:
    """Bytes for people: `512 B`, `1.5 KiB`, `10.0 GiB`."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
