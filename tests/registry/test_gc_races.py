"""Each dangerous interleaving of a push with garbage collection, forced step by step.

The collector stops at a named step (`hook`) while the test makes a client do its part; the
old, unreferenced blob being reused is the case that loses data in a naive collector.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from gchelpers import age, blob_intact, bytes_stored, manifest_exists
from starlette.testclient import TestClient

from cargobay.lifecycle.gc import GcReport
from conformance.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    config_blob,
    descriptor,
    digest_of,
    encode,
    error_codes,
    make_image_manifest,
    push_blob,
    push_image,
    push_index,
    push_manifest,
    put_manifest,
    random_bytes,
)

REPO = "library/app"


class Pause:
    """Stops the collector the first time it reaches `step`, until `release`."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.reached = threading.Event()
        self._go = threading.Event()

    def __call__(self, name: str) -> None:
        if name == self.step and not self.reached.is_set():
            self.reached.set()
            assert self._go.wait(60), "the test never released the collector"

    def release(self) -> None:
        self._go.set()


class Background:
    """A call running in a thread; `result()` waits for it."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._result: list[Any] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._result.append(call())
        except BaseException as exc:  # handed to the test thread
            self._error.append(exc)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 60) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "still running"
        if self._error:
            raise self._error[0]
        return self._result[0]


@pytest.fixture
def paused(client: TestClient) -> Iterator[Callable[[str], tuple[Pause, Background]]]:
    """Start a collection that stops at a step; always let it finish."""
    started: list[Pause] = []
    collector = client.app.state.gc

    def start(step: str) -> tuple[Pause, Background]:
        pause = Pause(step)
        started.append(pause)
        collector.hook = pause
        run = Background(lambda: asyncio.run(collector.run(actor="test")))
        assert pause.reached.wait(60), f"the collector never reached {step}"
        return pause, run

    yield start
    for pause in started:
        pause.release()
    collector.hook = None


def image_over(config: bytes, layer: bytes) -> Manifest:
    document = make_image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)])
    return Manifest(encode(document), OCI_MANIFEST)


def old_unreferenced_blobs(client: TestClient) -> tuple[bytes, bytes]:
    """A config and a layer pushed long ago that no manifest uses: garbage, until reused."""
    config, layer = config_blob(), random_bytes()
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    age(client)
    return config, layer


def still_waiting(task: Background, seconds: float = 0.5) -> bool:
    task._thread.join(seconds)
    return not task.done()


def test_a_manifest_put_racing_the_delete_of_its_blob_fails_cleanly_then_succeeds(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    config, layer = old_unreferenced_blobs(client)
    image = image_over(config, layer)
    # The client saw the blobs (HEAD 200) and skipped their upload; GC is inside its delete.
    pause, gc = paused("blob-bytes-removed")
    put = Background(lambda: put_manifest(client, REPO, "v1", image.body, OCI_MANIFEST))
    assert still_waiting(put), "the manifest PUT must wait for the blob rows GC holds"
    pause.release()
    report: GcReport = gc.result()
    response: httpx.Response = put.result()
    assert {blob.digest for blob in report.blobs} == {digest_of(config), digest_of(layer)}
    assert response.status_code == 400 and error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
    # What the client does next: upload the blobs, and push again.
    push_blob(client, REPO, config)
    push_blob(client, REPO, layer)
    push_manifest(client, REPO, image, "v1")
    assert blob_intact(client, REPO, digest_of(layer)) and manifest_exists(
        client, REPO, image.digest
    )


def test_a_manifest_put_between_the_scan_and_the_delete_spares_its_blobs(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    config, layer = old_unreferenced_blobs(client)
    image = image_over(config, layer)
    pause, gc = paused("blobs-found")  # the candidates include both blobs
    push_manifest(client, REPO, image, "v1")
    pause.release()
    assert gc.result().blobs == []
    assert blob_intact(client, REPO, digest_of(config))
    assert blob_intact(client, REPO, digest_of(layer))


def test_a_reupload_while_gc_deletes_the_same_blob_keeps_row_and_bytes(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    _, layer = old_unreferenced_blobs(client)
    pause, gc = paused("blob-bytes-removed")  # bytes moved out, row locked, not committed
    upload = Background(lambda: push_blob(client, REPO, layer))
    assert still_waiting(upload), "recording the blob must wait for GC's row lock"
    pause.release()
    gc.result()
    assert upload.result() == digest_of(layer)
    assert bytes_stored(client, digest_of(layer))
    assert blob_intact(client, REPO, digest_of(layer))


def test_a_reupload_whose_bytes_gc_removed_before_it_committed_puts_them_back(
    client: TestClient,
) -> None:
    """The interleaving a row lock alone does not cover: the upload finds the bytes already
    in place (so keeps none of its own), GC then deletes row and bytes, then the upload
    records the row. Placing again under the row lock, from the kept upload, repairs it."""
    _, layer = old_unreferenced_blobs(client)
    registry = client.app.state.registry
    digest = digest_of(layer)

    async def upload_until_placed() -> None:
        async def body() -> Any:
            yield layer

        await registry.blobs.start_upload("racing")
        await registry.blobs.append_upload("racing", body(), offset=0)
        await registry.blobs.verify_upload("racing", digest)
        assert registry.blobs.place("racing", digest) is False  # already there

    asyncio.run(upload_until_placed())
    report = asyncio.run(client.app.state.gc.run())
    assert digest in {blob.digest for blob in report.blobs}
    assert not bytes_stored(client, digest)
    registry.metadata.link_blob(
        REPO, digest, len(layer), None, functools.partial(registry.blobs.place, "racing", digest)
    )
    assert blob_intact(client, REPO, digest)


def test_a_mount_racing_the_delete_of_its_blob_falls_back_to_an_upload(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    _, layer = old_unreferenced_blobs(client)
    digest = digest_of(layer)
    pause, gc = paused("blob-bytes-removed")
    mount = Background(
        lambda: client.post(f"/v2/library/other/blobs/uploads/?mount={digest}&from={REPO}")
    )
    assert still_waiting(mount)
    pause.release()
    gc.result()
    response = mount.result()
    assert response.status_code == 202  # not mounted: the client uploads instead
    assert client.head(f"/v2/library/other/blobs/{digest}").status_code == 404


def test_a_mount_before_the_delete_spares_the_blob(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    _, layer = old_unreferenced_blobs(client)
    digest = digest_of(layer)
    pause, gc = paused("blobs-found")
    response = client.post(f"/v2/library/other/blobs/uploads/?mount={digest}&from={REPO}")
    assert response.status_code == 201
    pause.release()
    assert digest not in {blob.digest for blob in gc.result().blobs}  # young again
    assert blob_intact(client, "library/other", digest)


def test_an_index_pushed_between_the_scan_and_the_delete_spares_its_children(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    child = push_image(client, REPO)  # untagged, soon old: a candidate
    age(client)
    pause, gc = paused("manifests-found")
    index = push_index(client, REPO, [child], "multi")
    pause.release()
    assert gc.result().manifests == []
    assert manifest_exists(client, REPO, child.digest)
    assert manifest_exists(client, REPO, index.digest)


def test_a_tag_put_between_the_scan_and_the_delete_spares_the_manifest(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    image = push_image(client, REPO)
    age(client)
    pause, gc = paused("manifests-found")
    push_manifest(client, REPO, image, "now-tagged")
    pause.release()
    report = gc.result()
    assert report.manifests == [] and report.blobs == []
    assert manifest_exists(client, REPO, "now-tagged")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_pushes_of_other_blobs_do_not_wait_for_a_collection(
    client: TestClient, paused: Callable[[str], tuple[Pause, Background]]
) -> None:
    old_unreferenced_blobs(client)
    pause, gc = paused("blob-bytes-removed")  # GC holds its rows, mid-transaction
    push = Background(lambda: push_image(client, REPO, "unrelated"))
    push.result(timeout=20)  # finishes while the collector is still stopped
    assert not gc.done()
    pause.release()
    gc.result()
    assert manifest_exists(client, REPO, "unrelated")
