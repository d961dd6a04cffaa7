"""`cargobay gc`: over the API when logged in, directly on the data directory otherwise."""

from __future__ import annotations

from pathlib import Path

import httpx

from conformance.helpers import push_blob, random_bytes
from liveserver import ADMIN, LiveRegistry

from .conftest import Cli, as_json


def test_gc_over_the_api_reports_and_records_the_run(
    admin_cli: Cli, live_registry: LiveRegistry
) -> None:
    with httpx.Client(base_url=live_registry.url, auth=ADMIN) as http:
        push_blob(http, "library/app", random_bytes())  # young: the grace period keeps it
    dry = as_json(admin_cli("gc", "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["blobs"] == []
    text = admin_cli("gc").stdout
    assert "removed 0 manifests, 0 blobs" in text
    runs = as_json(admin_cli("gc", "--runs", "--json"))
    assert [run["dry_run"] for run in runs] == [False, True]


def test_gc_runs_directly_on_a_data_directory(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    report = as_json(cli("gc", "--data-dir", str(data), "--dry-run", "--json"))
    assert report["dry_run"] is True and report["manifests_removed"] == 0
    assert "gc run 2:" in cli("gc", "--data-dir", str(data)).stdout
