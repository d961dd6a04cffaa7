"""A bearer token speaks for its account on the management API only if it was issued for it
(scope `registry:api:*`): a token a CI job got to pull one repository manages nothing."""

from __future__ import annotations

from starlette.testclient import TestClient

from api.helpers import API, is_problem
from liveserver import ADMIN


def token(client: TestClient, *scopes: str, auth: tuple[str, str] | None = ADMIN) -> str:
    params = [("service", "cargobay"), *(("scope", scope) for scope in scopes)]
    response = client.get("/auth/token", params=params, auth=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_a_token_issued_for_the_api_manages_as_its_account(client: TestClient) -> None:
    value = token(client, "registry:api:*")
    response = client.get(f"{API}/users", headers=bearer(value), auth=None)
    assert response.status_code == 200, response.text


def test_a_token_issued_for_a_pull_is_refused_by_the_api(client: TestClient) -> None:
    value = token(client, "repository:team/app:pull")
    response = client.get(f"{API}/users", headers=bearer(value), auth=None)
    assert is_problem(response, 401)
    assert "registry:api:*" in response.json()["detail"]


def test_a_catalog_token_is_refused_by_the_api(client: TestClient) -> None:
    value = token(client, "registry:catalog:*")
    response = client.get(f"{API}/whoami", headers=bearer(value), auth=None)
    assert is_problem(response, 401)


def test_an_anonymous_token_is_not_granted_the_api_scope(client: TestClient) -> None:
    client.auth = None
    response = client.get("/auth/token", params={"service": "cargobay", "scope": "registry:api:*"})
    assert response.status_code == 200
    assert response.json()["token"]
    value = response.json()["token"]
    assert is_problem(client.get(f"{API}/whoami", headers=bearer(value)), 401)
