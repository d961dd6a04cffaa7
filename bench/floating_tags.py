"""What floating tags cost a tag push, at the metadata store (no HTTP), on SQLite or
PostgreSQL: the same manifest pushed under N new tags, in four setups.

    .venv/bin/python bench/floating_tags.py [--pushes 2000] [--postgres ADMIN_URL]

With --postgres (e.g. postgresql://postgres@127.0.0.1:5432/test) it creates a scratch
database there and drops it at the end; otherwise SQLite in a temporary directory.

- `other tags`: tags that are not semver (`build-17`): the floating code returns at once.
- `semver, off`: semver tags in a repository with floating off: one primary-key lookup.
- `semver, no hook`: the same with the floating hook replaced by nothing (the baseline).
- `semver, on`: floating on, each push moving `1.N`, `1` and `latest`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine

from cargobay.config import Settings
from cargobay.metadata import store as store_module
from cargobay.metadata.db import create_db_engine, migrate
from cargobay.metadata.store import MetadataStore
from cargobay.metadata.versions import FloatingSettings, VersionStore
from cargobay.oci import manifest as oci_manifest

CONFIG = "sha256:" + "c" * 64
PAYLOAD = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
    + CONFIG.encode()
    + b'","size":2},"layers":[]}'
)
DIGEST = "sha256:" + "d" * 64


def run(store: MetadataStore, repository: str, tags: list[str]) -> float:
    manifest = oci_manifest.parse(PAYLOAD, "application/vnd.oci.image.manifest.v1+json")
    store.link_blob(repository, CONFIG, 2)
    started = time.perf_counter()
    for tag in tags:
        store.put_manifest(repository, DIGEST, manifest, PAYLOAD, (tag,), False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="default: SQLite")
    parser.add_argument("--work-dir", help="where the SQLite directory goes (e.g. /dev/shm)")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="cargobay-floating-", dir=args.work_dir))
    # The server's own engine: WAL and its synchronous setting on SQLite.
    scratch = f"cargobay_bench_{uuid.uuid4().hex[:8]}"
    url = None
    if args.postgres:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{scratch}"')
        url = args.postgres.rsplit("/", 1)[0] + f"/{scratch}"
    engine = create_db_engine(Settings(data_dir=directory, database_url=url))
    migrate(engine, directory)
    try:
        measure(engine, args.pushes)
    finally:
        engine.dispose()
        if args.postgres:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{scratch}" WITH (FORCE)')


def measure(engine: Engine, n: int) -> None:
    store = MetadataStore(engine)
    semver_tags = [f"1.{i}.0" for i in range(n)]
    setups: list[tuple[str, str, list[str], Callable[[], Any] | None]] = [
        ("other tags", "bench/other", [f"build-{i}" for i in range(n)], None),
        ("semver, off", "bench/off", semver_tags, None),
        ("semver, no hook", "bench/nohook", semver_tags, None),
        ("semver, on", "bench/on", semver_tags, None),
    ]
    VersionStore(store).save_settings("bench/on", FloatingSettings(floating_tags=True))
    hook = store_module.float_tags
    print(f"{engine.dialect.name}, {n} tag pushes each")
    run(store, "bench/warm-up", [f"warm-{i}" for i in range(200)])  # pool, caches, file
    for name, repository, tags, _ in setups:
        store_module.float_tags = (lambda *a: ()) if name == "semver, no hook" else hook
        seconds = run(store, repository, tags)
        print(f"{name:16} {n / seconds:8.0f} pushes/s  {seconds / n * 1e6:7.0f} us/push")
    store_module.float_tags = hook


if __name__ == "__main__":
    main()
