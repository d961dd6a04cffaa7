"""Content discovery: tags list (end-8a, end-8b) and the Docker `_catalog`, with `n`/`last`
pagination and `Link` headers."""

from __future__ import annotations

import re

import httpx
import pytest

from .helpers import (
    Manifest,
    assert_error,
    describe,
    follow_pages,
    list_tags,
    next_link,
    push_image,
    push_manifest,
    unique_repo,
    with_query,
)

TAGS = ["t0", "t1", "t2", "t3", "t4"]
#: Matches the RFC 5988 form the spec and issue 2 ask for: `<url>; rel="next"`.
LINK_FORMAT = re.compile(r'^<(?P<url>[^>]+)>; *rel="next"$')


@pytest.fixture
def repo() -> str:
    return unique_repo()


def tag_all(client: httpx.Client, repo: str, tags: list[str]) -> Manifest:
    """Push one image under every tag, one PUT per tag."""
    manifest = push_image(client, repo, tags[0])
    for tag in tags[1:]:
        push_manifest(client, repo, manifest, tag)
    return manifest


@pytest.fixture
def tagged(client: httpx.Client, repo: str) -> list[str]:
    tag_all(client, repo, [TAGS[i] for i in (3, 0, 4, 1, 2)])
    return TAGS


def is_lexical(items: list[str]) -> bool:
    """Spec: "lexical (i.e. case-insensitive alphanumeric order) or "ASCIIbetical" (Go's
    `sort.Strings`) order"."""
    folded = [item.casefold() for item in items]
    return items == sorted(items) or folded == sorted(folded)


# --- tags list -------------------------------------------------------------------------------


def test_tags_list_returns_200_with_name_and_tags(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "Assuming a repository is found, this request MUST return a `200 OK` response
    code." ... "the response MUST be a json body in the following format:
    `{"name": "<name>", "tags": [...]}`"
    """
    response = list_tags(client, repo)
    assert response.status_code == 200, describe(response)
    body = response.json()
    assert body["name"] == repo
    assert sorted(body["tags"]) == sorted(tagged)


def test_tags_list_is_in_lexical_order(client: httpx.Client, repo: str) -> None:
    """Spec: "If the list is not empty, the tags MUST be in lexical (i.e. case-insensitive
    alphanumeric order) or "ASCIIbetical" (Go's `sort.Strings`) order."
    """
    tags = ["b", "a", "C", "10", "9", "_x", "a-1", "a.1", "A1", "latest", "Z"]
    tag_all(client, repo, tags)
    listed = list_tags(client, repo).json()["tags"]
    assert sorted(listed) == sorted(tags)
    assert is_lexical(listed), listed


def test_tags_list_n_returns_the_first_n(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "Without the `last` query parameter ..., the list returned will start at the
    beginning of the list and include `<int>` results." (fewer only "when the total number
    of tags ... is less than `<int>` or a `Link` header is provided")
    """
    response = list_tags(client, repo, n="2")
    assert response.status_code == 200, describe(response)
    page = response.json()["tags"]
    assert page == tagged[: len(page)]
    assert len(page) == 2 or (0 < len(page) < 2 and next_link(response))


def test_tags_list_link_header_format(client: httpx.Client, repo: str, tagged: list[str]) -> None:
    """Spec: "If included, the `Link` header MUST be set according to RFC 5988 with the
    Relation Type `rel="next"`." -- issue 2: `</v2/<name>/tags/list?n=<n>&last=<last>>;
    rel="next"`.
    """
    response = list_tags(client, repo, n="2")
    header = response.headers.get("link")
    assert header is not None, describe(response)
    match = LINK_FORMAT.match(header)
    assert match, header
    url = httpx.URL(match.group("url"))
    assert url.path == f"/v2/{repo}/tags/list", header
    assert url.params.get("n") == "2", header
    assert url.params.get("last") == response.json()["tags"][-1], header


def test_tags_list_links_lead_through_every_tag(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "A `Link` header MAY be included in the response when additional tags are
    available." -- following `rel="next"` from `n=2` yields every tag once, in order.
    """
    pages = follow_pages(client, list_tags(client, repo, n="2"), "tags")
    assert [tag for page in pages for tag in page] == tagged
    assert all(len(page) <= 2 for page in pages), pages


def test_tags_list_n_larger_than_the_list_returns_all_without_link(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "The response to such a request MAY return fewer than `<int>` results ... when
    the total number of tags attached to the repository is less than `<int>`"; no further
    tags are available, so there is no `Link`.
    """
    response = list_tags(client, repo, n="100")
    assert response.json()["tags"] == tagged
    assert next_link(response) is None, describe(response)


def test_tags_list_n_equal_to_the_list_returns_all(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """`n` equal to the number of tags returns them all (a trailing `Link`, if any, leads
    to an empty page)."""
    pages = follow_pages(client, list_tags(client, repo, n=str(len(tagged))), "tags")
    assert pages[0] == tagged
    assert all(page == [] for page in pages[1:]), pages


def test_tags_list_n_zero_returns_empty_list_without_link(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "When `n` is zero, this endpoint MUST return an empty list, and MUST NOT include
    a `Link` header."
    """
    response = list_tags(client, repo, n="0")
    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] in ([], None)
    assert "link" not in response.headers, describe(response)


def test_tags_list_last_starts_after_last(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "A request of this sort will return up to `<int>` tags, beginning
    non-inclusively with `<tagname>`."
    """
    response = list_tags(client, repo, n="2", last="t1")
    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] == ["t2", "t3"]


def test_tags_list_last_without_n(client: httpx.Client, repo: str, tagged: list[str]) -> None:
    """Spec: "When using the `last` query parameter, the `n` parameter is OPTIONAL." """
    pages = follow_pages(client, list_tags(client, repo, last="t2"), "tags")
    assert [tag for page in pages for tag in page] == ["t3", "t4"]


def test_tags_list_last_need_not_be_an_existing_tag(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Spec: "`<tagname>` MUST NOT be a numerical index, but rather it MUST be a proper tag."
    -- a well-formed tag that sorts between t1 and t2 starts the list at t2.
    """
    pages = follow_pages(client, list_tags(client, repo, n="10", last="t1a"), "tags")
    assert [tag for page in pages for tag in page] == ["t2", "t3", "t4"]


def test_tags_list_last_after_every_tag_is_empty(
    client: httpx.Client, repo: str, tagged: list[str]
) -> None:
    """Nothing sorts after `last=zzz`: 200 with an empty list (which "MAY be empty")."""
    response = list_tags(client, repo, last="zzz")
    assert response.status_code == 200, describe(response)
    assert response.json()["tags"] in ([], None)
    assert next_link(response) is None


def test_tags_list_of_repository_without_tags_is_an_empty_list(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "Assuming a repository is found, this request MUST return a `200 OK` response
    code. The list of tags MAY be empty if there are no tags on the repository." -- a
    repository holding only an untagged manifest answers 200 with `"tags": []`.
    """
    push_image(client, repo)
    response = list_tags(client, repo)
    assert response.status_code == 200, describe(response)
    assert response.json() == {"name": repo, "tags": []}


def test_tags_list_of_unknown_repository_is_404_name_unknown(client: httpx.Client) -> None:
    """End-8a fails with 404; code-9 `NAME_UNKNOWN`: "repository name not known to
    registry"."""
    assert_error(list_tags(client, unique_repo("missing")), 404, "NAME_UNKNOWN")


# --- catalog ---------------------------------------------------------------------------------
# Not in the OCI spec; Docker's Registry HTTP API V2 (the spec's apdx-1): `GET /v2/_catalog`
# returns `{"repositories": [...]}` in lexical order, paginated with `n`, `last` and a
# `Link: <...?n=<n>&last=<last>>; rel="next"` header, like the tags list.


@pytest.fixture
def catalog_prefix(client: httpx.Client) -> str:
    """Push four repositories under a unique prefix; return the prefix.

    Tests page from `last=<prefix>`, so other repositories on a shared server do not
    interfere; on a fresh registry they are the whole catalog.
    """
    prefix = unique_repo("catalog")
    for name in ("c", "a", "b/nested", "b"):
        push_image(client, f"{prefix}/{name}", "v1")
    return prefix


def catalog(client: httpx.Client, **params: str) -> httpx.Response:
    return client.get(with_query("/v2/_catalog", **params) if params else "/v2/_catalog")


def expected(prefix: str) -> list[str]:
    return [f"{prefix}/{name}" for name in ("a", "b", "b/nested", "c")]


def test_catalog_returns_200_with_repositories(client: httpx.Client, catalog_prefix: str) -> None:
    """Docker API "Listing Repositories": `GET /v2/_catalog` answers `200 OK` with
    `{"repositories": [<name>, ...]}`."""
    pages = follow_pages(client, catalog(client), "repositories", limit=1000)
    names = [name for page in pages for name in page]
    assert set(expected(catalog_prefix)) <= set(names)


def test_catalog_is_in_lexical_order(client: httpx.Client, catalog_prefix: str) -> None:
    """Docker API: the catalog is returned in lexical order, across pages too."""
    pages = follow_pages(client, catalog(client), "repositories", limit=1000)
    names = [name for page in pages for name in page]
    assert names == sorted(names)


def test_catalog_n_and_last_page_through_repositories(
    client: httpx.Client, catalog_prefix: str
) -> None:
    """Docker API: `?n=2&last=<name>` returns at most two repositories after `<name>`."""
    response = catalog(client, n="2", last=catalog_prefix)
    assert response.status_code == 200, describe(response)
    assert response.json()["repositories"] == expected(catalog_prefix)[:2]


def test_catalog_link_header_format(client: httpx.Client, catalog_prefix: str) -> None:
    """Docker API: `Link: </v2/_catalog?n=<n>&last=<last>>; rel="next"` when more follow."""
    response = catalog(client, n="2", last=catalog_prefix)
    header = response.headers.get("link")
    assert header is not None, describe(response)
    match = LINK_FORMAT.match(header)
    assert match, header
    url = httpx.URL(match.group("url"))
    assert url.path == "/v2/_catalog", header
    assert url.params.get("n") == "2", header
    assert url.params.get("last") == f"{catalog_prefix}/b", header


def test_catalog_links_lead_through_every_repository(
    client: httpx.Client, catalog_prefix: str
) -> None:
    """Following `rel="next"` from `n=1` yields each repository once, in order."""
    response = catalog(client, n="1", last=catalog_prefix)
    names: list[str] = []
    for _ in range(10):
        assert response.status_code == 200, describe(response)
        page = response.json()["repositories"] or []
        names += page
        link = next_link(response)
        if link is None or not page or not page[-1].startswith(catalog_prefix):
            break
        response = client.get(link)
    assert [name for name in names if name.startswith(catalog_prefix)] == expected(catalog_prefix)


def test_catalog_n_zero_returns_empty_list_without_link(
    client: httpx.Client, catalog_prefix: str
) -> None:
    """As for tags: `n=0` is an empty list and no `Link`."""
    response = catalog(client, n="0")
    assert response.status_code == 200, describe(response)
    assert response.json()["repositories"] in ([], None)
    assert "link" not in response.headers, describe(response)


def test_catalog_last_is_exclusive(client: httpx.Client, catalog_prefix: str) -> None:
    """Docker API: the list begins after `last`, never with it."""
    response = catalog(client, n="2", last=f"{catalog_prefix}/b")
    assert response.json()["repositories"] == expected(catalog_prefix)[2:]
