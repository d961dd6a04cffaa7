"""Search across the projects a caller may list: parsing the filters, choosing the projects."""

from __future__ import annotations

import re

from cargobay.auth.principal import Principal
from cargobay.auth.service import AccessService
from cargobay.lifecycle.labels import LabelInvalid, check_key, check_value
from cargobay.metadata.search import ANNOTATION_PREFIX, Found, SearchQuery, search
from cargobay.registry.service import RegistryService

_TAG_GLOB = re.compile(r"^[A-Za-z0-9_.*?-]{1,128}$")


class SearchInvalid(ValueError):
    """A filter that cannot be understood; the message says which and why."""


def parse_label_filter(text: str) -> tuple[str, str | None]:
    """`key=value`, or `key` alone for any value."""
    key, sep, value = text.partition("=")
    try:
        return check_key(key), check_value(value) if sep else None
    except LabelInvalid as exc:
        raise SearchInvalid(f"label={text}: {exc}") from None


def parse_annotation_filter(text: str) -> tuple[str, str | None]:
    """`org.opencontainers.image.KEY=value` or, shorter, `KEY=value`; `KEY` alone: any."""
    key, sep, value = text.partition("=")
    if "." not in key:
        key = ANNOTATION_PREFIX + key
    if not key.startswith(ANNOTATION_PREFIX) or len(key) > 128 or key == ANNOTATION_PREFIX:
        raise SearchInvalid(
            f"annotation={text}: only {ANNOTATION_PREFIX}* annotations are searchable"
        )
    return key, value if sep else None


def check_tag_filter(tag: str) -> str:
    if not _TAG_GLOB.match(tag):
        raise SearchInvalid(
            f"tag={tag}: use tag characters (A-Z a-z 0-9 _ . -) with * and ? as wildcards"
        )
    return tag


class SearchService:
    def __init__(self, registry: RegistryService, access: AccessService) -> None:
        self.registry = registry
        self.access = access

    async def search(
        self,
        caller: Principal,
        *,
        q: str | None = None,
        repository: str | None = None,
        tag: str | None = None,
        labels: list[str] | None = None,
        annotations: list[str] | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> list[Found]:
        query = SearchQuery(
            # Only projects the caller may list: public ones for anonymous callers.
            projects=await self.access.listable_projects(caller),
            q=q or None,
            repository=repository or None,
            tag=check_tag_filter(tag) if tag else None,
            labels=[parse_label_filter(text) for text in labels or ()],
            annotations=[parse_annotation_filter(text) for text in annotations or ()],
            limit=limit,
            after=after,
        )
        return await self.registry.db.read(self._search, query)

    def _search(self, query: SearchQuery) -> list[Found]:
        with self.registry.metadata.engine.connect() as connection:
            return search(connection, query)
