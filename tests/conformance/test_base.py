"""Determining support: ``GET /v2/`` (end-1)."""

from __future__ import annotations

import httpx


def test_get_v2_returns_200(client: httpx.Client) -> None:
    """Spec: "If the response is `200 OK`, then the registry implements this specification."
    """
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
