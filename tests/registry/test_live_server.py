"""The served registry: restarts, crashes (SIGKILL), concurrent clients, abandoned uploads."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path

import httpx
import pytest

from conformance.helpers import (
    descriptor,
    digest_of,
    encode,
    make_image_manifest,
    push_blob,
    push_image,
    random_bytes,
)
from liveserver import ADMIN, LiveRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def http(registry: LiveRegistry) -> httpx.Client:
    return httpx.Client(base_url=registry.url, timeout=60, auth=ADMIN)


def start_upload(client: httpx.Client, name: str) -> str:
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    return response.headers["location"]


def test_a_chunked_upload_resumes_after_a_restart(live_registry: LiveRegistry) -> None:
    data = os.urandom(3 * 1024 * 1024)
    with http(live_registry) as client:
        location = start_upload(client, "app")
        first = client.patch(
            location, content=data[:1_000_000], headers={"Content-Range": "0-999999"}
        )
        assert first.status_code == 202
    assert live_registry.stop() == 0
    live_registry.start()
    with http(live_registry) as client:
        status = client.get(location)
        assert (status.status_code, status.headers["range"]) == (204, "0-999999")
        client.patch(
            location,
            content=data[1_000_000:],
            headers={"Content-Range": f"1000000-{len(data) - 1}"},
        )
        done = client.put(f"{location}?digest={digest_of(data)}")
        assert done.status_code == 201
        assert client.get(f"/v2/app/blobs/{digest_of(data)}").content == data


def _slow_body(data: bytes, sent: threading.Event):  # type: ignore[no-untyped-def]
    """Send half the body, then stall, so the server is killed mid-upload."""
    yield data[: len(data) // 2]
    sent.set()
    time.sleep(30)
    yield data[len(data) // 2 :]


def _push_in_background(url: str, data: bytes, sent: threading.Event) -> threading.Thread:
    def push() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server dies under us: the point
            httpx.post(url, content=_slow_body(data, sent), timeout=60, auth=ADMIN)

    thread = threading.Thread(target=push, daemon=True)
    thread.start()
    return thread


def test_kill_9_mid_upload_keeps_committed_state_and_hides_the_partial_blob(
    live_registry: LiveRegistry,
) -> None:
    with http(live_registry) as client:
        image = push_image(client, "app", "stable")
    data = os.urandom(8 * 1024 * 1024)
    digest = digest_of(data)
    sent = threading.Event()
    _push_in_background(f"{live_registry.url}/v2/app/blobs/uploads/?digest={digest}", data, sent)
    assert sent.wait(30)
    time.sleep(0.5)  # let the server write what it received
    live_registry.kill()
    live_registry.start()
    with http(live_registry) as client:
        pulled = client.get("/v2/app/manifests/stable", headers={"Accept": OCI_MANIFEST})
        assert pulled.content == image.body
        assert client.head(f"/v2/app/blobs/{digest}").status_code == 404
        assert push_blob(client, "app", data) == digest
        assert (
            hashlib.sha256(client.get(f"/v2/app/blobs/{digest}").content).hexdigest()
            == (digest.split(":")[1])
        )
    blobs = list((live_registry.data_dir / "blobs").rglob("*"))
    assert all(p.is_dir() or _file_matches_name(p) for p in blobs)


def _file_matches_name(path: Path) -> bool:
    """Every stored blob file holds exactly the bytes its name promises."""
    return hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def test_kill_9_during_a_burst_of_manifest_pushes_leaves_every_manifest_whole(
    live_registry: LiveRegistry,
) -> None:
    with http(live_registry) as client:
        config = push_blob(client, "app", b"{}")
        layer = random_bytes(64)
        push_blob(client, "app", layer)

    def manifest(i: int) -> bytes:
        document = make_image_manifest(
            {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
            annotations={"n": str(i)},
        )
        return encode(document)

    acknowledged: dict[str, bytes] = {}
    stop = threading.Event()

    def pusher() -> None:
        with http(live_registry) as client:
            for i in range(100_000):
                if stop.is_set():
                    return
                body = manifest(i)
                try:
                    response = client.put(
                        f"/v2/app/manifests/t{i}",
                        content=body,
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    acknowledged[f"t{i}"] = body

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    time.sleep(1.5)
    live_registry.kill()
    stop.set()
    thread.join(10)
    live_registry.start()
    assert acknowledged, "no push finished before the kill"
    with http(live_registry) as client:
        for tag, body in acknowledged.items():
            assert (
                client.get(f"/v2/app/manifests/{tag}", headers={"Accept": OCI_MANIFEST}).content
                == body
            )
        tags = client.get("/v2/app/tags/list").json()["tags"]
        for tag in tags:  # anything visible, acknowledged or not, is whole
            response = client.get(f"/v2/app/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
            assert response.headers["docker-content-digest"] == digest_of(response.content)


@pytest.fixture
def two_worker_registry(tmp_path: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    registry = LiveRegistry(tmp_path / "data", database_url, workers=2)
    registry.start()
    yield registry
    registry.kill()


def test_two_clients_pushing_the_same_blob_at_once_both_succeed(
    two_worker_registry: LiveRegistry,
) -> None:
    data = os.urandom(4 * 1024 * 1024)

    def push(_: int) -> str:
        with http(two_worker_registry) as client:
            return push_blob(client, "app", data)

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(push, range(8))) == {digest_of(data)}
    with http(two_worker_registry) as client:
        assert client.get(f"/v2/app/blobs/{digest_of(data)}").content == data


def test_clients_racing_for_one_tag_leave_it_on_one_of_their_manifests(
    two_worker_registry: LiveRegistry,
) -> None:
    with http(two_worker_registry) as client:
        images = [push_image(client, "app") for _ in range(6)]

    def tag(index: int) -> int:
        with http(two_worker_registry) as client:
            image = images[index]
            return client.put(
                "/v2/app/manifests/race",
                content=image.body,
                headers={"Content-Type": image.media_type},
            ).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(tag, range(6))) == {201}
    with http(two_worker_registry) as client:
        final = client.get("/v2/app/manifests/race", headers={"Accept": OCI_MANIFEST})
        assert final.content in {image.body for image in images}


def test_many_clients_push_and_pull_at_once(two_worker_registry: LiveRegistry) -> None:
    def push_then_pull(index: int) -> bool:
        name = f"team/app{index % 4}"
        with http(two_worker_registry) as client:
            image = push_image(client, name, f"v{index}")
            pulled = client.get(f"/v2/{name}/manifests/v{index}", headers={"Accept": OCI_MANIFEST})
            return pulled.content == image.body

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(push_then_pull, range(48)))


def test_abandoned_uploads_are_purged(live_registry: LiveRegistry) -> None:
    with http(live_registry) as client:
        location = start_upload(client, "app")
    live_registry.stop()
    upload_file = next((live_registry.data_dir / "uploads").iterdir())
    two_hours_ago = time.time() - 7200
    os.utime(upload_file, (two_hours_ago, two_hours_ago))
    live_registry.env = {
        "CARGOBAY_UPLOAD_MAX_AGE_SECONDS": "3600",
        "CARGOBAY_UPLOAD_PURGE_INTERVAL_SECONDS": "1",
    }
    live_registry.start()
    deadline = time.monotonic() + 10
    while upload_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not upload_file.exists()
    with http(live_registry) as client:
        assert client.get(location).status_code == 404


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_uvicorn_serves_the_same_registry(tmp_path: Path, database_url: str | None) -> None:
    registry = LiveRegistry(
        tmp_path / "data", database_url, workers=2, extra_args=["--server", "uvicorn"]
    )
    registry.start()
    try:
        with http(registry) as client:
            image = push_image(client, "app", "v1")
            pulled = client.get("/v2/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
            assert pulled.content == image.body
            layer = random_bytes(3 * 1024 * 1024)
            digest = push_blob(client, "app", layer)
            assert client.get(f"/v2/app/blobs/{digest}").content == layer
    finally:
        assert registry.stop() == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sigterm_finishes_in_flight_requests_then_exits_cleanly(
    two_worker_registry: LiveRegistry,
) -> None:
    with http(two_worker_registry) as client:
        location = start_upload(client, "app")
    started = threading.Event()

    def slow_body():  # type: ignore[no-untyped-def]
        for _ in range(15):
            yield b"x" * 100_000
            started.set()
            time.sleep(0.1)

    outcome: dict[str, int] = {}

    def patch() -> None:
        response = httpx.patch(
            f"{two_worker_registry.url}{location}", content=slow_body(), timeout=30, auth=ADMIN
        )
        outcome["status"] = response.status_code

    thread = threading.Thread(target=patch)
    thread.start()
    assert started.wait(10)
    # In flight means the server is already writing the body, not merely connected.
    upload = two_worker_registry.data_dir / "uploads" / location.rsplit("/", 1)[1]
    deadline = time.monotonic() + 20
    while upload.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert two_worker_registry.stop(timeout=60) == 0
    thread.join(10)
    assert outcome == {"status": 202}


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()}


def test_a_refused_upload_chunk_leaves_its_connection_usable(live_registry: LiveRegistry) -> None:
    # oras-py sends each request without credentials first, then again on the same
    # connection: the refused chunk must not break the connection for the retry.
    with http(live_registry) as client:
        location = start_upload(client, "app")
    connection = HTTPConnection(live_registry.host, timeout=30)
    connection.request("PATCH", location, body=os.urandom(64 * 1024))
    refused = connection.getresponse()
    refused.read()
    assert refused.status == 401
    connection.request("GET", "/v2/", headers=_basic())
    assert connection.getresponse().status == 200
    connection.close()


def test_a_refused_large_body_closes_its_connection(live_registry: LiveRegistry) -> None:
    with http(live_registry) as client:
        location = start_upload(client, "app")
    connection = HTTPConnection(live_registry.host, timeout=30)
    connection.request("PATCH", location, body=os.urandom(3 * 1024 * 1024))
    refused = connection.getresponse()
    refused.read()
    assert (refused.status, refused.getheader("connection")) == (401, "close")
    connection.close()
