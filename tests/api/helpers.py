"""Making users, projects and members through the API, as an administrator would."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/api/v1"
PASSWORD = "a-good-password"


def make_user(client: TestClient, name: str, *, admin: bool = False) -> tuple[str, str]:
    """Create a user; return the credentials to pass as `auth=`."""
    response = client.post(
        f"{API}/users", json={"name": name, "password": PASSWORD, "is_admin": admin}
    )
    assert response.status_code == 201, response.text
    return name, PASSWORD


def make_project(client: TestClient, name: str, *, public: bool = False) -> None:
    response = client.post(f"{API}/projects", json={"name": name, "public": public})
    assert response.status_code == 201, response.text


def add_member(client: TestClient, project: str, name: str, role: str, kind: str = "user") -> None:
    response = client.post(
        f"{API}/projects/{project}/members", json={"kind": kind, "name": name, "role": role}
    )
    assert response.status_code == 201, response.text


def is_problem(response: object, status: int) -> bool:
    """Whether a response is an RFC 9457 problem detail with this status."""
    assert hasattr(response, "status_code") and hasattr(response, "json")
    if response.status_code != status:  # type: ignore[attr-defined]
        return False
    body = response.json()  # type: ignore[attr-defined]
    content_type = response.headers["content-type"]  # type: ignore[attr-defined]
    return (
        content_type.startswith("application/problem+json")
        and body["status"] == status
        and {"type", "title", "detail"} <= body.keys()
    )
