"""`cargobay robot ...`: project robots (`--project P`) and system robots."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.auth.policy import Action
from cargobay.cli.api_client import ApiClient, CliError, expiry
from cargobay.cli.output import show

COLUMNS = ["name", "project", "permissions", "expires_at", "revoked", "last_used_at"]
ACTIONS = [action.value for action in Action]


def add_commands(commands: Any) -> None:
    robot = commands.add_parser("robot", help="manage robot accounts")
    sub = robot.add_subparsers(dest="robot_command", required=True)

    def command(name: str, help_text: str, run: Any, named: bool = True) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text)
        if named:
            parser.add_argument("name")
        parser.add_argument("--project", help="a robot of this project (default: system robots)")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(run=run)
        return parser

    command("list", "list robots", _list, named=False)
    create = command("create", "create a robot; prints its secret once", _create)
    create.add_argument(
        "--action", action="append", choices=ACTIONS, help="(project robots) what it may do"
    )
    create.add_argument(
        "--grant",
        action="append",
        metavar="PROJECT=ACTION,...",
        help='(system robots) e.g. "team=pull,push" or "*=pull"',
    )
    create.add_argument("--expires-in", metavar="30d")
    create.add_argument("--description")
    command("show", "show a robot", _show)
    command("revoke", "revoke a robot: its secret stops working", _revoke)
    command("delete", "delete a robot", _delete)
    command("regenerate", "give a robot a new secret; prints it once", _regenerate)


def _base(args: argparse.Namespace) -> str:
    return f"/projects/{args.project}/robots" if args.project else "/robots"


def _permissions(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    if args.project:
        if args.grant:
            raise CliError("--grant is for system robots; project robots take --action")
        return [{"project": args.project, "actions": args.action}] if args.action else None
    if args.action:
        raise CliError("--action needs --project; system robots take --grant PROJECT=ACTIONS")
    grants = []
    for grant in args.grant or []:
        project, sep, actions = grant.partition("=")
        if not sep or not actions:
            raise CliError(f"--grant {grant}: use PROJECT=ACTION,ACTION")
        grants.append({"project": project, "actions": actions.split(",")})
    if not grants:
        raise CliError("a system robot needs at least one --grant PROJECT=ACTIONS")
    return grants


def _print_secret(robot: dict[str, Any], as_json: bool) -> None:
    show(robot, [*COLUMNS, "secret"], as_json)
    if not as_json:
        print("\nThe secret is shown only now; log in with the robot's name and it.")


def _list(args: argparse.Namespace) -> None:
    show(list(ApiClient.from_config().items(_base(args))), COLUMNS, args.json)


def _create(args: argparse.Namespace) -> None:
    body = {
        "name": args.name,
        "permissions": _permissions(args),
        "expires_at": expiry(args.expires_in),
        "description": args.description,
    }
    body = {key: value for key, value in body.items() if value is not None}
    _print_secret(ApiClient.from_config().request("POST", _base(args), json=body), args.json)


def _show(args: argparse.Namespace) -> None:
    show(ApiClient.from_config().get(f"{_base(args)}/{args.name}"), COLUMNS, args.json)


def _revoke(args: argparse.Namespace) -> None:
    robot = ApiClient.from_config().request("POST", f"{_base(args)}/{args.name}/revoke")
    show(robot, COLUMNS, args.json)


def _delete(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"{_base(args)}/{args.name}")
    print(f"deleted robot {args.name}")


def _regenerate(args: argparse.Namespace) -> None:
    robot = ApiClient.from_config().request("POST", f"{_base(args)}/{args.name}/secret")
    _print_secret(robot, args.json)
