"""`cargobay token ...`: your personal access tokens."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.auth.policy import Action
from cargobay.cli.api_client import ApiClient, expiry
from cargobay.cli.output import show

COLUMNS = ["name", "permissions", "expires_at", "revoked", "last_used_at"]
PATH = "/users/me/tokens"


def add_commands(commands: Any) -> None:
    token = commands.add_parser("token", help="manage your personal access tokens")
    sub = token.add_subparsers(dest="token_command", required=True)
    listing = sub.add_parser("list", help="list your tokens")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    create = sub.add_parser("create", help="create a token; prints it once")
    create.add_argument("name")
    create.add_argument("--project", action="append", required=True, help="repeatable")
    create.add_argument(
        "--action", action="append", required=True, choices=[a.value for a in Action]
    )
    create.add_argument("--expires-in", metavar="30d")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_create)
    for name, help_text, run in (
        ("revoke", "revoke a token: it stops working at once", _revoke),
        ("delete", "delete a token", _delete),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("name")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)


def _list(args: argparse.Namespace) -> None:
    show(list(ApiClient.from_config().items(PATH)), COLUMNS, args.json)


def _create(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {
        "name": args.name,
        "permissions": [{"project": p, "actions": args.action} for p in args.project],
    }
    if args.expires_in:
        body["expires_at"] = expiry(args.expires_in)
    token = ApiClient.from_config().request("POST", PATH, json=body)
    show(token, [*COLUMNS, "secret"], args.json)
    if not args.json:
        print("\nThe token is shown only now; use it as the password with your username.")


def _revoke(args: argparse.Namespace) -> None:
    show(ApiClient.from_config().request("POST", f"{PATH}/{args.name}/revoke"), COLUMNS, args.json)


def _delete(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"{PATH}/{args.name}")
    print(f"deleted token {args.name}")
