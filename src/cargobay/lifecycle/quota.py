"""Storage quotas per project: sizes people write, and the service the API calls.

The bookkeeping and the checks on push are in metadata.usage (in the transactions that link
blobs and store manifests) and RegistryService.check_quota (before bytes are read).
"""

from __future__ import annotations

import re
from decimal import Decimal

from cargobay.events import Event, EventType
from cargobay.metadata.usage import ProjectUsage, Recounted, RepositoryUsage
from cargobay.registry.service import RegistryService

_SIZE = re.compile(r"^\s*(\d{1,20}(?:\.\d{1,9})?)\s*(?:([kmgtp])(i)?)?b?\s*$", re.IGNORECASE)
MAX_QUOTA = 2**63 - 1


class SizeInvalid(ValueError):
    pass


def parse_size(text: str) -> int:
    """`500MB` (decimal), `10GiB` (binary), `1.5T`, `1024`: a number of bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise SizeInvalid(f"{text!r} is not a size: write 500MB, 10GiB or a number of bytes")
    prefix = (match[2] or "").lower()
    base = 1024 if match[3] else 1000
    size = int(Decimal(match[1]) * (base ** "_kmgtp".index(prefix) if prefix else 1))
    if size > MAX_QUOTA:
        raise SizeInvalid(f"{text!r} is too large")
    return size


class QuotaService:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry

    async def set_quota(self, project: str, quota_bytes: int | None, actor: str | None) -> bool:
        """Set (None: remove) a project's quota; False if there is no such project."""
        if quota_bytes is not None and not 0 <= quota_bytes <= MAX_QUOTA:
            raise SizeInvalid(f"a quota is between 0 and {MAX_QUOTA} bytes")
        changed = await self.registry.db.write(self.registry.usage.set_quota, project, quota_bytes)
        if changed and self.registry.events.has_subscribers:
            self.registry.events.emit(
                Event(EventType.QUOTA_CHANGED, project=project, size=quota_bytes, actor=actor)
            )
        return changed

    async def project_usage(self, project: str) -> ProjectUsage | None:
        return await self.registry.db.read(self.registry.usage.project_usage, project)

    async def repository_usage(self, name: str) -> RepositoryUsage | None:
        return await self.registry.db.read(self.registry.usage.repository_usage, name)

    async def recount(self, project: str | None = None) -> list[Recounted]:
        return await self.registry.db.write(self.registry.usage.recount, project)
