"""Health checks and the management API's published contract."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_healthz_answers_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_answers_ok_when_the_database_is_reachable(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_the_management_api_publishes_its_openapi_document(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert "/system/info" in document["paths"]


def test_system_info_names_the_backends(client: TestClient) -> None:
    info = client.get("/api/v1/system/info").json()
    assert info["database"] in {"sqlite", "postgresql"}
    assert info["storage"] == "FilesystemBlobStore"


def test_unknown_v2_paths_answer_in_the_oci_error_format(client: TestClient) -> None:
    response = client.get("/v2/app/nothing-here")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_unsupported_methods_answer_in_the_oci_error_format(client: TestClient) -> None:
    response = client.post("/v2/app/tags/list")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
