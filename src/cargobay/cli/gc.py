"""`cargobay gc`: garbage collection, over the API or directly on the database.

Like `cargobay migrate`, it works on the database and data directory directly when given
--config, --data-dir or --database-url (or when no login is stored): GC is safe while the
registry serves, so there is nothing to stop first. Otherwise it asks the logged-in registry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from cargobay.cli.api_client import ApiClient, CliError, load_login
from cargobay.cli.output import table

RUN_COLUMNS = [
    "id",
    "status",
    "dry_run",
    "started_at",
    "duration_seconds",
    "manifests_removed",
    "blobs_removed",
    "bytes_reclaimed",
    "uploads_purged",
]


def add_commands(commands: Any, database_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    gc = commands.add_parser(
        "gc", help="garbage collection: remove what nothing keeps (safe while serving)"
    )
    gc.add_argument("--dry-run", action="store_true", help="report what would go; remove nothing")
    gc.add_argument("--list", action="store_true", help="also list every manifest and blob")
    gc.add_argument("--runs", action="store_true", help="list past runs instead of running")
    gc.add_argument("--json", action="store_true")
    database_flags(gc)
    gc.set_defaults(run=_run)


def _direct(args: argparse.Namespace) -> bool:
    flags = ("config", "data_dir", "database_url")
    return any(getattr(args, flag, None) for flag in flags) or load_login() is None


def _run(args: argparse.Namespace) -> None:
    if args.runs:
        runs = _runs_in_database(args) if _direct(args) else _runs_over_api()
        if args.json:
            print(json.dumps(runs, indent=2))
        else:
            table(runs, RUN_COLUMNS)
        return
    report = _collect_in_database(args) if _direct(args) else _collect_over_api(args.dry_run)
    _print(report, args)


def _collect_over_api(dry_run: bool) -> dict[str, Any]:
    return ApiClient.from_config().request("POST", "/gc", json={"dry_run": dry_run})


def _runs_over_api() -> list[dict[str, Any]]:
    return list(ApiClient.from_config().items("/gc/runs"))


def _collect_in_database(args: argparse.Namespace) -> dict[str, Any]:
    from cargobay.api.gc import report_out
    from cargobay.app import build_registry
    from cargobay.cli.main import settings_from
    from cargobay.lifecycle.gc import GcBusy, build_collector

    settings = settings_from(args)
    registry = build_registry(settings)
    try:
        collector = build_collector(registry, settings)
        try:
            report = asyncio.run(collector.run(dry_run=args.dry_run, actor="cli"))
        except GcBusy as exc:
            raise CliError(str(exc)) from None
        return report_out(report).model_dump(mode="json")
    finally:
        registry.db.close()
        registry.metadata.engine.dispose()


def _runs_in_database(args: argparse.Namespace) -> list[dict[str, Any]]:
    from cargobay.api.gc import run_out
    from cargobay.app import build_registry
    from cargobay.cli.main import settings_from
    from cargobay.lifecycle.gc import build_collector

    settings = settings_from(args)
    registry = build_registry(settings)
    try:
        runs = asyncio.run(build_collector(registry, settings).runs(50))
        return [run_out(run).model_dump(mode="json") for run in runs]
    finally:
        registry.db.close()
        registry.metadata.engine.dispose()


def _print(report: dict[str, Any], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        return
    verb = "would remove" if report["dry_run"] else "removed"
    print(
        f"gc run {report['run_id']}{' (dry run)' if report['dry_run'] else ''}: {verb} "
        f"{report['manifests_removed']} manifests, {report['blobs_removed']} blobs "
        f"({report['bytes_reclaimed']} bytes), {report['uploads_purged']} uploads "
        f"in {report['duration_seconds']:.2f}s"
    )
    if args.list:
        for manifest in report["manifests"]:
            print(f"manifest  {manifest['repository']}@{manifest['digest']}  {manifest['size']}")
        for blob in report["blobs"]:
            print(f"blob      {blob['digest']}  {blob['size']}")
