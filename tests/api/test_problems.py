"""Bad input of every kind is a 4xx problem detail, never a 500 or a traceback."""

from __future__ import annotations

from starlette.testclient import TestClient

from .helpers import API, is_problem


def test_malformed_json_is_a_422_problem(client: TestClient) -> None:
    response = client.post(
        f"{API}/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert is_problem(response, 422)


def test_a_wrong_type_is_a_422_problem_naming_the_field(client: TestClient) -> None:
    response = client.post(f"{API}/projects", json={"name": "team", "public": "perhaps"})
    assert is_problem(response, 422)
    assert response.json()["errors"][0]["loc"] == ["body", "public"]


def test_an_out_of_range_limit_is_a_422_problem(client: TestClient) -> None:
    assert is_problem(client.get(f"{API}/users", params={"limit": 501}), 422)
    assert is_problem(client.get(f"{API}/users", params={"limit": 0}), 422)


def test_an_unknown_path_is_a_404_problem(client: TestClient) -> None:
    assert is_problem(client.get(f"{API}/nothing/here"), 404)


def test_an_unknown_method_is_a_405_problem(client: TestClient) -> None:
    assert is_problem(client.put(f"{API}/whoami"), 405)


def test_a_malformed_authorization_header_is_a_401_problem(client: TestClient) -> None:
    response = client.get(f"{API}/whoami", headers={"Authorization": "Basic !!!"}, auth=None)
    assert is_problem(response, 401)
    assert "www-authenticate" in response.headers


def test_a_bad_cursor_is_a_422_problem(client: TestClient) -> None:
    client.post(f"{API}/projects", json={"name": "team"})
    assert is_problem(client.get(f"{API}/projects/team/members", params={"after": "x"}), 422)


def test_the_openapi_document_is_public(client: TestClient) -> None:
    document = client.get(f"{API}/openapi.json", auth=None).json()
    assert "/projects/{project}/members" in document["paths"]
