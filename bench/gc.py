"""Garbage collection at scale: `bench/gc --help`.

Builds a registry of 100,000 blobs and 10,000 manifests straight into the metadata database
and the blob store (bulk inserts and small files: no HTTP), makes a share of it garbage, and
times Cargobay's collector on it, a dry run then a real run, on SQLite and on PostgreSQL.

The layout, per default sizes: 100 repositories; 9,500 images, each a unique config, eight
unique layers and one of 5,000 shared base layers; 500 indexes over two images each; 9,500
blobs that no manifest uses. Garbage: 30% of images untagged, 5% deleted (both long ago);
half the indexes untagged (their untagged children go with them, the tagged indexes keep
theirs); half the unused blobs old. Everything is 30 days old except the young half of the
unused blobs, which the grace period keeps. The expected removals are computed while the
registry is built, and the run fails unless the collector removes exactly those.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from cargobay.app import build_registry  # noqa: E402
from cargobay.config import Settings  # noqa: E402
from cargobay.lifecycle.gc import build_collector  # noqa: E402
from cargobay.metadata.models import (  # noqa: E402
    Blob,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    TagHistory,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Layout:
    """The rows to insert, and what a correct collector removes."""

    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> content
    blob_rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    doomed_manifests: set[int] = field(default_factory=set)
    doomed_blobs: set[str] = field(default_factory=set)


def build_layout(args: argparse.Namespace, old: datetime, now: datetime) -> Layout:
    rng = random.Random(7)
    layout = Layout()
    linked: set[tuple[int, str]] = set()
    used: set[str] = set()

    def blob(content: bytes, repository_id: int, created: datetime = old) -> str:
        digest = sha256(content)
        if digest not in layout.blobs:
            layout.blobs[digest] = content
            layout.blob_rows.append({"digest": digest, "size": len(content), "created_at": created})
        if (repository_id, digest) not in linked:
            linked.add((repository_id, digest))
            layout.links.append(
                {"repository_id": repository_id, "digest": digest, "created_at": old}
            )
        return digest

    def manifest(
        repository_id: int, payload: bytes, media_type: str, refs: list[tuple[str, str]]
    ) -> int:
        manifest_id = len(layout.manifests) + 1
        layout.manifests.append(
            {
                "id": manifest_id,
                "repository_id": repository_id,
                "digest": sha256(payload),
                "media_type": media_type,
                "artifact_type": None,
                "size": len(payload),
                "payload": payload,
                "subject_digest": None,
                "created_at": old,
                "deleted_at": None,
            }
        )
        for position, (kind, digest) in enumerate(refs):
            layout.references.append(
                {"manifest_id": manifest_id, "position": position, "kind": kind, "digest": digest}
            )
        return manifest_id

    def tag(repository_id: int, manifest_id: int, name: str) -> None:
        layout.tags.append(
            {
                "repository_id": repository_id,
                "name": name,
                "manifest_id": manifest_id,
                "updated_at": old,
            }
        )
        layout.history.append(
            {
                "repository_id": repository_id,
                "tag": name,
                "old_digest": None,
                "new_digest": layout.manifests[manifest_id - 1]["digest"],
                "operation": "push",
                "actor": "bench",
                "at": old,
            }
        )

    shared = [f"shared-{i}".encode() * 4 for i in range(args.shared)]
    images_per_repo = args.images // args.repositories
    indexes_per_repo = args.indexes // args.repositories
    for r in range(args.repositories):
        repository_id = r + 1
        images: list[tuple[int, bool]] = []  # (id, tagged)
        for i in range(images_per_repo):
            config = json.dumps({"architecture": "amd64", "os": "linux", "n": f"{r}-{i}"}).encode()
            layers = [f"layer-{r}-{i}-{j}".encode() * 4 for j in range(args.layers)]
            layers.append(rng.choice(shared))
            config_digest = blob(config, repository_id)
            layer_digests = [blob(layer, repository_id) for layer in layers]
            payload = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": CONFIG, "digest": config_digest, "size": len(config)},
                    "layers": [
                        {"mediaType": LAYER, "digest": d, "size": len(layout.blobs[d])}
                        for d in layer_digests
                    ],
                },
                separators=(",", ":"),
            ).encode()
            refs = [("config", config_digest)] + [("layer", d) for d in layer_digests]
            manifest_id = manifest(repository_id, payload, OCI_MANIFEST, refs)
            fate = rng.random()
            if fate < 0.30:  # untagged long ago
                images.append((manifest_id, False))
            elif fate < 0.35:  # deleted long ago
                layout.manifests[manifest_id - 1]["deleted_at"] = old
                layout.doomed_manifests.add(manifest_id)
            else:
                tag(repository_id, manifest_id, f"v{i}")
                images.append((manifest_id, True))
            used.update(d for _, d in refs)
        untagged = [m for m, tagged in images if not tagged]
        rng.shuffle(untagged)
        for k in range(indexes_per_repo):
            children = untagged[2 * k : 2 * k + 2]
            if len(children) < 2:
                break
            payload = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {
                            "mediaType": OCI_MANIFEST,
                            "digest": layout.manifests[c - 1]["digest"],
                            "size": layout.manifests[c - 1]["size"],
                        }
                        for c in children
                    ],
                },
                separators=(",", ":"),
            ).encode()
            refs = [("child", layout.manifests[c - 1]["digest"]) for c in children]
            index_id = manifest(repository_id, payload, OCI_INDEX, refs)
            if k % 2 == 0:
                tag(repository_id, index_id, f"multi-{k}")
                for c in children:
                    images.remove((c, False))
                    images.append((c, True))  # kept by the index
            else:
                layout.doomed_manifests.add(index_id)
        for manifest_id, kept in images:
            if not kept:
                layout.doomed_manifests.add(manifest_id)
    # Blobs the kept manifests use survive; the rest of what manifests use goes.
    kept_ids = {m["id"] for m in layout.manifests} - layout.doomed_manifests
    kept_blobs = {
        ref["digest"]
        for ref in layout.references
        if ref["manifest_id"] in kept_ids and ref["kind"] != "child"
    }
    layout.doomed_blobs = {d for d in used if d not in kept_blobs}
    # Blobs no manifest uses: half old (garbage), half young (the grace period keeps them).
    orphans = args.blobs - len(layout.blobs)
    for n in range(max(orphans, 0)):
        young = n % 2 == 1
        digest = blob(f"orphan-{n}".encode() * 4, 1 + n % args.repositories, now if young else old)
        if not young:
            layout.doomed_blobs.add(digest)
    return layout


def write_blobs(root: Path, blobs: dict[str, bytes]) -> None:
    base = root / "blobs" / "sha256"
    for prefix in {digest[7:9] for digest in blobs}:
        (base / prefix).mkdir(parents=True, exist_ok=True)
    for digest, content in blobs.items():
        encoded = digest[7:]
        fd = os.open(base / encoded[:2] / encoded, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)


def load_rows(engine: Any, layout: Layout, repositories: int, old: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Repository),
            [
                {"id": r + 1, "name": f"bench/repo-{r:03d}", "created_at": old}
                for r in range(repositories)
            ],
        )
        for table, rows in (
            (Blob, layout.blob_rows),
            (RepositoryBlob, layout.links),
            (Manifest, layout.manifests),
            (ManifestReference, layout.references),
            (Tag, layout.tags),
            (TagHistory, layout.history),
        ):
            for start in range(0, len(rows), 5000):
                connection.execute(insert(table), rows[start : start + 5000])
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "SELECT setval('manifests_id_seq', (SELECT max(id) FROM manifests))"
            )
            connection.exec_driver_sql("ANALYZE")


def postgres_database() -> tuple[str, str]:
    import psycopg

    name = f"cargobay_bench_gc_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_one(database: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = work / f"data-{database}"
    pg_name = None
    database_url = None
    if database == "postgresql":
        pg_name, database_url = postgres_database()
    try:
        settings = Settings(data_dir=data, database_url=database_url, access_log=False)
        registry = build_registry(settings)  # creates the schema
        now = datetime.now(UTC)
        old = now - timedelta(days=30)
        clock = time.perf_counter()
        layout = build_layout(args, old, now)
        load_rows(registry.metadata.engine, layout, args.repositories, old)
        write_blobs(data, layout.blobs)
        built = time.perf_counter() - clock
        collector = build_collector(registry, settings)
        dry = asyncio.run(collector.run(dry_run=True))
        real = asyncio.run(collector.run())
        again = asyncio.run(collector.run())
        registry.db.close()
        registry.metadata.engine.dispose()
    finally:
        if pg_name:
            drop_postgres(pg_name)
    expected_manifests = len(layout.doomed_manifests)
    expected_blobs = len(layout.doomed_blobs)
    checks = {
        "dry run lists exactly the garbage": (
            {m.id for m in dry.manifests} == layout.doomed_manifests
            and {b.digest for b in dry.blobs} == layout.doomed_blobs
        ),
        "run removes exactly the garbage": (
            {m.id for m in real.manifests} == layout.doomed_manifests
            and {b.digest for b in real.blobs} == layout.doomed_blobs
        ),
        "bytes are gone": not any(
            (data / "blobs" / "sha256" / d[7:9] / d[7:]).exists() for d in layout.doomed_blobs
        ),
        "a second run finds nothing": not again.manifests and not again.blobs,
    }
    return {
        "database": database,
        "blobs": len(layout.blobs),
        "manifests": len(layout.manifests),
        "garbage manifests": expected_manifests,
        "garbage blobs": expected_blobs,
        "build seconds": round(built, 1),
        "dry run seconds": round(dry.duration_seconds, 2),
        "gc seconds": round(real.duration_seconds, 2),
        "second gc seconds": round(again.duration_seconds, 2),
        "bytes reclaimed": real.figures.bytes_reclaimed,
        "checks": checks,
    }


def write_distribution(root: Path, layout: Layout, repositories: int) -> None:
    """The same registry in CNCF Distribution's filesystem layout (written from scratch here
    from its documented path spec): blobs, layer links, manifest revisions and tags. Deleted
    manifests have no revision link, as after a Distribution manifest DELETE."""
    v2 = root / "docker" / "registry" / "v2"

    def put(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    for digest, content in layout.blobs.items():
        put(v2 / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data", content)
    names = {r + 1: f"bench/repo-{r:03d}" for r in range(repositories)}
    for link in layout.links:
        repo = v2 / "repositories" / names[link["repository_id"]]
        put(repo / "_layers" / "sha256" / link["digest"][7:] / "link", link["digest"].encode())
    by_id = {m["id"]: m for m in layout.manifests}
    for manifest in layout.manifests:
        digest = manifest["digest"]
        put(v2 / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data", manifest["payload"])
        if manifest["deleted_at"] is None:
            repo = v2 / "repositories" / names[manifest["repository_id"]]
            put(repo / "_manifests" / "revisions" / "sha256" / digest[7:] / "link", digest.encode())
    for tag in layout.tags:
        digest = by_id[tag["manifest_id"]]["digest"]
        tags = v2 / "repositories" / names[tag["repository_id"]] / "_manifests" / "tags"
        put(tags / tag["name"] / "current" / "link", digest.encode())
        put(tags / tag["name"] / "index" / "sha256" / digest[7:] / "link", digest.encode())


def bench_distribution(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Distribution's offline `garbage-collect --delete-untagged` on the same registry."""
    import subprocess

    now = datetime.now(UTC)
    layout = build_layout(args, now - timedelta(days=30), now)
    root = work / "distribution"
    clock = time.perf_counter()
    write_distribution(root, layout, args.repositories)
    built = time.perf_counter() - clock
    config = work / "distribution.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}\n  delete:\n    enabled: true\n"
    )
    timings = {}
    for name, extra in (("dry run", ["--dry-run"]), ("gc", [])):
        clock = time.perf_counter()
        subprocess.run(
            [args.distribution_bin, "garbage-collect", "--delete-untagged", *extra, str(config)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        timings[name] = time.perf_counter() - clock
    left = sum(1 for _ in (root / "docker/registry/v2/blobs/sha256").glob("*/*"))
    return {
        "database": "distribution (offline, filesystem)",
        "blobs": len(layout.blobs) + len(layout.manifests),
        "build seconds": round(built, 1),
        "dry run seconds": round(timings["dry run"], 2),
        "gc seconds": round(timings["gc"], 2),
        "blobs left (incl. manifests)": left,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/gc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--blobs", type=int, default=100_000, help="blobs in all")
    parser.add_argument("--images", type=int, default=9_500)
    parser.add_argument("--indexes", type=int, default=500)
    parser.add_argument("--layers", type=int, default=8, help="unique layers per image")
    parser.add_argument("--shared", type=int, default=5_000, help="shared base layers")
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--work-dir", type=Path, help="parent of the temporary directory")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--distribution",
        action="store_true",
        help="also time Distribution's offline garbage-collect on the same registry",
    )
    parser.add_argument("--distribution-bin", default="/usr/bin/docker-registry")
    args = parser.parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    work = Path(tempfile.mkdtemp(prefix="cargobay-bench-gc-", dir=args.work_dir))
    results = []
    try:
        for database in databases:
            result = bench_one(database, args, work)
            results.append(result)
            print(json.dumps(result, indent=2), flush=True)
        if args.distribution:
            result = bench_distribution(args, work)
            print(json.dumps(result, indent=2), flush=True)
            results.append({**result, "checks": {}})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(all(r["checks"].values()) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
