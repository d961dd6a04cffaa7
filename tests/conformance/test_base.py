"""Determining support: ``GET /v2/`` (end-1)."""

from __future__ import annotations

import re

import httpx

from .helpers import push_blob, random_bytes, start_upload, unique_repo


def test_get_v2_returns_200(client: httpx.Client) -> None:
    """Spec: "If the response is `200 OK`, then the registry implements this specification." """
    response = client.get("/v2/")
    assert response.status_code == 200


def test_get_v2_sends_docker_distribution_api_version(client: httpx.Client) -> None:
    """Issue 2: "`GET /v2/` with `Docker-Distribution-API-Version: registry/2.0`".

    The spec lists this as a legacy Docker header that clients "MAY encounter"; Docker
    clients look for it, so issue 2 requires it.
    """
    response = client.get("/v2/")
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"


def test_head_v2_returns_200(client: httpx.Client) -> None:
    """RFC 9110 (which the spec says to follow where it is silent): a resource answering GET
    should answer HEAD the same way, without a body.
    """
    response = client.head("/v2/")
    assert response.status_code == 200
    assert response.content == b""


WARNING = re.compile(r'^299 - "(?:[^"\\]|\\.)*"$')


def test_warning_headers_have_the_spec_form(client: httpx.Client) -> None:
    """Spec: "If included, `Warning` headers MUST specify a `warn-code` of `299` and a
    `warn-agent` of `-`, and MUST NOT specify a `warn-date` value." and "A registry MUST NOT
    send more than 4096 bytes of warning data from all headers combined."  Checked on the
    responses of a small push and pull.
    """
    repo = unique_repo()
    data = random_bytes()
    responses = [client.get("/v2/"), start_upload(client, repo)]
    digest = push_blob(client, repo, data)
    responses += [client.get(f"/v2/{repo}/blobs/{digest}"), client.get(f"/v2/{repo}/tags/list")]
    for response in responses:
        warnings = response.headers.get_list("warning")
        assert all(WARNING.match(value) for value in warnings), warnings
        assert sum(len(value) for value in warnings) <= 4096
