"""`cargobay immutability list|add|remove PROJECT ...`: the rules that protect tags."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.cli.api_client import ApiClient
from cargobay.cli.output import show

COLUMNS = ["id", "kind", "pattern", "repositories", "description", "created_by", "created_at"]
KINDS = ["glob", "regex", "semver"]


def add_commands(commands: Any) -> None:
    parser = commands.add_parser(
        "immutability", help="manage the rules that keep a project's tags from moving"
    )
    sub = parser.add_subparsers(dest="immutability_command", required=True)
    listing = sub.add_parser("list", help="list a project's rules")
    listing.add_argument("project")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    add = sub.add_parser("add", help="add a rule")
    add.add_argument("project")
    add.add_argument("pattern", help="v*  |  release-[0-9]+  |  >=1.0.0")
    add.add_argument("--kind", choices=KINDS, default="glob", help="how PATTERN reads")
    add.add_argument("--repositories", metavar="GLOB", help="only these repositories (app*)")
    add.add_argument("--description")
    add.add_argument("--json", action="store_true")
    add.set_defaults(run=_add)
    remove = sub.add_parser("remove", help="remove a rule")
    remove.add_argument("project")
    remove.add_argument("id", type=int)
    remove.set_defaults(run=_remove)


def _rules(project: str) -> str:
    return f"/projects/{project}/immutability-rules"


def _list(args: argparse.Namespace) -> None:
    show(list(ApiClient.from_config().items(_rules(args.project))), COLUMNS, args.json)


def _add(args: argparse.Namespace) -> None:
    body = {
        "kind": args.kind,
        "pattern": args.pattern,
        "repositories": args.repositories,
        "description": args.description,
    }
    rule = ApiClient.from_config().request("POST", _rules(args.project), json=body)
    show(rule, COLUMNS, args.json)


def _remove(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"{_rules(args.project)}/{args.id}")
    print(f"removed immutability rule {args.id} of {args.project}")
