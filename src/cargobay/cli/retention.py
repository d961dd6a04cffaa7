"""`cargobay retention ...`: a project's retention policies, their runs and dry runs."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from cargobay.cli.api_client import ApiClient, CliError
from cargobay.cli.output import show, table

COLUMNS = ["id", "name", "repository", "enabled", "schedule", "next_run_at", "created_by"]
RUN_COLUMNS = ["id", "status", "created_at", "finished_at", "created_by", "error"]
DECISION_COLUMNS = ["action", "repository", "item", "rule", "reason"]


def add_commands(commands: Any) -> None:
    retention = commands.add_parser("retention", help="manage a project's retention policies")
    sub = retention.add_subparsers(dest="retention_command", required=True)

    def command(name: str, help_text: str, run: Any, policy: bool = True) -> Any:
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("project")
        if policy:
            parser.add_argument("policy", type=int, help="the policy's id")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(run=run)
        return parser

    command("list", "list the project's policies", _list, policy=False)
    add = command("add", "add a policy", _add, policy=False)
    add.add_argument("name")
    add.add_argument("--repository", default="**", help="glob over repository names (`app*`)")
    add.add_argument("--schedule", metavar="CRON", help="cron expression, UTC (`0 3 * * *`)")
    add.add_argument("--disabled", action="store_true", help="do not run on the schedule")
    add.add_argument(
        "--rules", metavar="JSON|@FILE", help="filters and keep rules (see docs/lifecycle.md)"
    )
    add.add_argument("--keep-latest", type=int, metavar="N", help="keep the latest N tags")
    add.add_argument("--by", choices=["semver", "pushed"], default="semver")
    add.add_argument("--keep-pushed-days", type=float, metavar="D")
    add.add_argument("--keep-pulled-days", type=float, metavar="D")
    add.add_argument("--tag", action="append", metavar="GLOB", help="only tags matching")
    add.add_argument(
        "--untagged-days", type=float, metavar="N", help="also untagged manifests older than N days"
    )
    command("show", "show a policy", _show)
    command("remove", "remove a policy", _remove)
    run = command("run", "run a policy now (or see what it would do)", _run)
    run.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    run.add_argument("--no-wait", action="store_true", help="print the job and return")
    command("runs", "list a policy's runs", _runs)


def _base(args: argparse.Namespace) -> str:
    return f"/projects/{args.project}/retention-policies"


def _rules(args: argparse.Namespace) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    if args.rules:
        text = args.rules
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text()
            except OSError as exc:
                raise CliError(f"--rules {args.rules}: {exc.strerror}") from None
        try:
            rules = json.loads(text)
        except ValueError as exc:
            raise CliError(f"--rules is not JSON: {exc}") from None
        if not isinstance(rules, dict):
            raise CliError("--rules must be a JSON object")
    filters = rules.setdefault("filters", {})
    keep = rules.setdefault("keep", {})
    if args.tag:
        filters["tags"] = args.tag
    if args.untagged_days is not None:
        filters["untagged_days"] = args.untagged_days
    if args.keep_latest is not None:
        keep["latest"] = {"count": args.keep_latest, "by": args.by}
    if args.keep_pushed_days is not None:
        keep["pushed_within_days"] = args.keep_pushed_days
    if args.keep_pulled_days is not None:
        keep["pulled_within_days"] = args.keep_pulled_days
    return rules


def _list(args: argparse.Namespace) -> None:
    show(list(ApiClient.from_config().items(_base(args))), COLUMNS, args.json)


def _add(args: argparse.Namespace) -> None:
    body = {
        "name": args.name,
        "repository": args.repository,
        "schedule": args.schedule,
        "enabled": not args.disabled,
        "rules": _rules(args),
    }
    show(ApiClient.from_config().request("POST", _base(args), json=body), COLUMNS, args.json)


def _show(args: argparse.Namespace) -> None:
    policy = ApiClient.from_config().get(f"{_base(args)}/{args.policy}")
    if args.json:
        show(policy, COLUMNS, True)
        return
    show(policy, COLUMNS, False)
    print(f"rules:       {json.dumps(policy['rules'])}")


def _remove(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"{_base(args)}/{args.policy}")
    print(f"removed retention policy {args.policy} of {args.project}")


def _run(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    job = client.request("POST", f"{_base(args)}/{args.policy}/run", json={"dry_run": args.dry_run})
    if not args.dry_run and not args.no_wait:
        job = _wait(client, args, job["id"])
    if args.json or args.no_wait:
        show(job, RUN_COLUMNS, args.json)
        return
    if job["status"] == "failed":
        raise CliError(f"retention run {job['id']} failed: {job['error']}")
    _print_report(job["result"])


def _wait(client: ApiClient, args: argparse.Namespace, job_id: int) -> dict[str, Any]:
    runs = f"{_base(args)}/{args.policy}/runs"
    while True:
        found = [j for j in client.get(runs, limit=50)["items"] if j["id"] == job_id]
        if found and found[0]["status"] in ("succeeded", "failed"):
            return found[0]
        time.sleep(0.5)


def _print_report(result: dict[str, Any]) -> None:
    rows = [{**d, "item": d["tag"]} for d in result.get("tags", [])] + [
        {**d, "item": d["digest"]} for d in result.get("manifests", [])
    ]
    table(rows, DECISION_COLUMNS)
    summary = result.get("summary", {})
    verb = "would delete" if result.get("dry_run") else "deleted"
    print(
        f"\n{verb} {summary.get('tags_deleted', 0)} tags and "
        f"{summary.get('manifests_deleted', 0)} manifests in {result.get('repositories', 0)} "
        "repositories"
    )


def _runs(args: argparse.Namespace) -> None:
    runs = list(ApiClient.from_config().items(f"{_base(args)}/{args.policy}/runs"))
    if args.json:
        show(runs, RUN_COLUMNS, True)
        return
    for run in runs:
        summary = (run.get("result") or {}).get("summary", {})
        run["deleted"] = f"{summary.get('tags_deleted', 0)} tags, " + (
            f"{summary.get('manifests_deleted', 0)} manifests"
        )
        run["dry_run"] = bool(run["payload"].get("dry_run"))
    table(runs, [*RUN_COLUMNS[:2], "dry_run", "deleted", *RUN_COLUMNS[2:]])
