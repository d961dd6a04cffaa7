"""Garbage collection under load: clients push and pull without pause while another node
collects in a loop with a one-second grace period; afterwards every image whose push
succeeded must be served byte for byte.

Two `cargobay serve` processes share the database and the data directory: node A serves the
clients, node B collects (and serves some clients too). Pushes reuse old blobs that only
deleted images used, after a HEAD says they are there and without uploading them again:
exactly the blobs the collector is deleting at that moment. A push that loses that race
must fail cleanly (MANIFEST_BLOB_UNKNOWN), and then the client uploads and pushes again.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conformance.helpers import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, encode
from liveserver import ADMIN, LiveRegistry

SECONDS = 12
PUSHERS = 4
PULLERS = 2
ENV = {
    "CARGOBAY_GC_GRACE_SECONDS": "1",
    "CARGOBAY_HISTORY_WINDOW_DAYS": "0",
    "CARGOBAY_ACCESS_LOG": "false",
}
ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Pushed:
    repo: str
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]  # every blob of the image (and of an index's children)
    children: tuple[bytes, ...] = ()


@dataclass
class Load:
    """What the clients did, shared between their threads."""

    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kept: list[Pushed] = field(default_factory=list)  # never deleted: must survive
    old_blobs: list[bytes] = field(default_factory=list)  # used only by deleted images
    shared: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    reused: int = 0
    pulls: int = 0
    runs: list[dict] = field(default_factory=list)

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def client_for(node: LiveRegistry) -> httpx.Client:
    return httpx.Client(base_url=node.url, auth=ADMIN, timeout=60)


def upload(http: httpx.Client, repo: str, data: bytes) -> None:
    started = http.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = http.put(started.headers["location"], params={"digest": digest(data)}, content=data)
    assert done.status_code == 201, done.text


def ensure_blob(http: httpx.Client, repo: str, data: bytes, load: Load, trust_head: bool) -> None:
    """As clients do: skip the upload when a HEAD says the registry has the blob."""
    if trust_head and http.head(f"/v2/{repo}/blobs/{digest(data)}").status_code == 200:
        with load.lock:
            load.reused += 1
        return
    upload(http, repo, data)


def put_manifest(
    http: httpx.Client, repo: str, reference: str, body: bytes, media_type: str
) -> httpx.Response:
    return http.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )


def push_with_retry(
    http: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    media_type: str,
    blobs: list[bytes],
    children: list[bytes],
    load: Load,
    pause: float,
) -> bool:
    """Push blobs (trusting HEAD) and the manifest; on MANIFEST_BLOB_UNKNOWN upload what it
    needs without trusting HEAD and try again, as a client that lost a race with GC would."""
    for attempt in range(4):
        for data in blobs:
            ensure_blob(http, repo, data, load, trust_head=attempt == 0)
        time.sleep(pause)  # other layers uploading: the window in which GC may strike
        for child in children:
            response = put_manifest(http, repo, digest(child), child, OCI_MANIFEST)
            if response.status_code != 201:
                break
        response = put_manifest(http, repo, reference, body, media_type)
        if response.status_code == 201:
            return True
        codes = [error["code"] for error in response.json().get("errors", [])]
        if response.status_code != 400 or codes != ["MANIFEST_BLOB_UNKNOWN"]:
            load.fail(f"push {repo}:{reference} -> {response.status_code} {response.text}")
            return False
        with load.lock:
            load.retries += 1
    load.fail(f"push {repo}:{reference} kept losing to GC")
    return False


def image(config: bytes, layers: list[bytes]) -> bytes:
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    )


def pick_layers(rng: random.Random, load: Load) -> list[bytes]:
    layers = [rng.randbytes(rng.randint(1, 48 * 1024))]
    with load.lock:
        if load.shared and rng.random() < 0.5:
            layers.append(rng.choice(load.shared))
        if load.old_blobs and rng.random() < 0.7:
            layers.append(rng.choice(load.old_blobs))
    return list({digest(layer): layer for layer in layers}.values())


def pusher(node: LiveRegistry, number: int, load: Load) -> None:
    rng = random.Random(number)
    repo = f"library/stress{number % 2}"
    with client_for(node) as http:
        count = 0
        while not load.stop.is_set():
            count += 1
            tag = f"w{number}-{count}"
            config = encode({"architecture": "amd64", "os": "linux", "n": f"{number}-{count}"})
            layers = pick_layers(rng, load)
            body = image(config, layers)
            blobs = {digest(b): b for b in [config, *layers]}
            children: list[bytes] = []
            media_type = OCI_MANIFEST
            if rng.random() < 0.2:  # an index over this image, pushed by digest first
                children = [body]
                media_type = OCI_INDEX
                body = encode(
                    {
                        "schemaVersion": 2,
                        "mediaType": OCI_INDEX,
                        "manifests": [
                            {"mediaType": OCI_MANIFEST, "digest": digest(c), "size": len(c)}
                            for c in children
                        ],
                    }
                )
            ok = push_with_retry(
                http,
                repo,
                tag,
                body,
                media_type,
                list(blobs.values()),
                children,
                load,
                rng.random() * 0.2,
            )
            if not ok:
                continue
            pushed = Pushed(repo, tag, body, blobs, tuple(children))
            if rng.random() < 0.35:  # garbage: delete it, its blobs become old candidates
                gone = http.delete(f"/v2/{repo}/manifests/{digest(body)}")
                if gone.status_code != 202:
                    load.fail(f"delete {repo}@{digest(body)} -> {gone.status_code}")
                for child in children:
                    http.delete(f"/v2/{repo}/manifests/{digest(child)}")
                with load.lock:
                    load.old_blobs.extend(layers)
                    del load.old_blobs[:-200]
            else:
                with load.lock:
                    load.kept.append(pushed)
                    if rng.random() < 0.3:
                        load.shared.append(layers[0])


def check_image(http: httpx.Client, pushed: Pushed) -> str | None:
    """None if the image is served exactly as pushed; else what is wrong."""
    response = http.get(f"/v2/{pushed.repo}/manifests/{pushed.tag}", headers=ACCEPT)
    if response.status_code != 200 or response.content != pushed.manifest:
        return f"{pushed.repo}:{pushed.tag} manifest -> {response.status_code}"
    for child in pushed.children:
        got = http.get(f"/v2/{pushed.repo}/manifests/{digest(child)}", headers=ACCEPT)
        if got.status_code != 200 or got.content != child:
            return f"{pushed.repo}@{digest(child)} child -> {got.status_code}"
    for blob in pushed.blobs:
        got = http.get(f"/v2/{pushed.repo}/blobs/{blob}", follow_redirects=True)
        if got.status_code != 200 or digest(got.content) != blob:
            return f"{pushed.repo} blob {blob} -> {got.status_code}"
    return None


def puller(node: LiveRegistry, number: int, load: Load) -> None:
    rng = random.Random(100 + number)
    with client_for(node) as http:
        while not load.stop.is_set():
            with load.lock:
                candidate = rng.choice(load.kept) if load.kept else None
            if candidate is None:
                time.sleep(0.05)
                continue
            problem = check_image(http, candidate)
            if problem:
                load.fail(f"pull during GC: {problem}")
            with load.lock:
                load.pulls += 1


def collector(node: LiveRegistry, load: Load) -> None:
    with client_for(node) as http:
        while not load.stop.is_set():
            response = http.post("/api/v1/gc", json={"dry_run": False})
            if response.status_code == 200:
                report = response.json()
                with load.lock:
                    load.runs.append({k: v for k, v in report.items() if not isinstance(v, list)})
            elif response.status_code != 409:
                load.fail(f"gc -> {response.status_code} {response.text}")
            time.sleep(0.05)


@pytest.fixture
def nodes(tmp_path: Path, database_url: str | None) -> tuple[LiveRegistry, LiveRegistry]:
    data = tmp_path / "data"
    a = LiveRegistry(data, database_url, env=ENV)
    a.start()
    b = LiveRegistry(data, database_url, env=ENV)
    try:
        b.start()
    except Exception:
        a.kill()
        raise
    yield a, b
    a.kill()
    b.kill()


def test_every_image_pushed_while_gc_loops_is_served_byte_for_byte(
    nodes: tuple[LiveRegistry, LiveRegistry],
) -> None:
    a, b = nodes
    load = Load()
    threads = [threading.Thread(target=collector, args=(b, load))]
    threads += [
        threading.Thread(target=pusher, args=(a if i % 3 else b, i, load)) for i in range(PUSHERS)
    ]
    threads += [threading.Thread(target=puller, args=(a, i, load)) for i in range(PULLERS)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    load.stop.set()
    for thread in threads:
        thread.join(60)
    with client_for(b) as http:  # once more, with nothing in flight
        final = http.post("/api/v1/gc", json={})
        assert final.status_code == 200, final.text
        load.runs.append(final.json())
    with client_for(a) as http:
        problems = [p for pushed in load.kept if (p := check_image(http, pushed))]
    summary = {
        "kept images": len(load.kept),
        "pulls": load.pulls,
        "blob reuses after HEAD": load.reused,
        "pushes retried after losing to GC": load.retries,
        "gc runs": len(load.runs),
        "blobs removed": sum(run["blobs_removed"] for run in load.runs),
        "manifests removed": sum(run["manifests_removed"] for run in load.runs),
    }
    print(json.dumps(summary))
    assert not load.errors, load.errors[:10]
    assert not problems, problems[:10]
    # The run must have exercised what it claims to.
    assert len(load.kept) > 20 and load.pulls > 20
    assert summary["gc runs"] > 3 and summary["blobs removed"] > 0
    assert summary["manifests removed"] > 0 and load.reused > 0
