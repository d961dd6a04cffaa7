"""`cargobay project ...` and `cargobay member ...`."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.auth.policy import Role
from cargobay.cli.api_client import ApiClient
from cargobay.cli.output import show

COLUMNS = ["name", "public", "description", "created_by", "created_at"]
MEMBER_COLUMNS = ["kind", "name", "role", "created_at"]
ROLES = [role.value for role in Role]


def add_commands(commands: Any) -> None:
    project = commands.add_parser("project", help="manage projects")
    sub = project.add_subparsers(dest="project_command", required=True)
    listing = sub.add_parser("list", help="list the projects you can see")
    listing.add_argument("-q", "--filter", dest="q")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    create = sub.add_parser("create", help="create a project")
    create.add_argument("name")
    create.add_argument("--public", action="store_true", help="anyone may pull (default private)")
    create.add_argument("--description")
    create.add_argument("--json", action="store_true")
    create.set_defaults(run=_create)
    for name, run in (("show", _show), ("delete", _delete)):
        command = sub.add_parser(
            name,
            help=f"{name} a project" + (" and all its repositories" if name == "delete" else ""),
        )
        command.add_argument("name")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)
    update = sub.add_parser("update", help="change a project's visibility or description")
    update.add_argument("name")
    visibility = update.add_mutually_exclusive_group()
    visibility.add_argument("--public", dest="public", action="store_true", default=None)
    visibility.add_argument("--private", dest="public", action="store_false")
    update.add_argument("--description")
    update.add_argument("--json", action="store_true")
    update.set_defaults(run=_update)

    member = commands.add_parser("member", help="manage a project's members")
    msub = member.add_subparsers(dest="member_command", required=True)
    mlist = msub.add_parser("list", help="list a project's members")
    mlist.add_argument("project")
    mlist.add_argument("--json", action="store_true")
    mlist.set_defaults(run=_members)
    add = msub.add_parser("add", help="give a user or a group a role in a project")
    add.add_argument("project")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--group", action="store_true", help="NAME is a group (from LDAP)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(run=_add_member)
    role = msub.add_parser("set-role", help="change a member's role")
    role.add_argument("project")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.add_argument("--group", action="store_true")
    role.add_argument("--json", action="store_true")
    role.set_defaults(run=_set_role)
    remove = msub.add_parser("remove", help="remove a member")
    remove.add_argument("project")
    remove.add_argument("name")
    remove.add_argument("--group", action="store_true")
    remove.set_defaults(run=_remove_member)


def _list(args: argparse.Namespace) -> None:
    show(list(ApiClient.from_config().items("/projects", q=args.q)), COLUMNS, args.json)


def _create(args: argparse.Namespace) -> None:
    body = {"name": args.name, "public": args.public, "description": args.description}
    show(ApiClient.from_config().request("POST", "/projects", json=body), COLUMNS, args.json)


def _show(args: argparse.Namespace) -> None:
    show(ApiClient.from_config().get(f"/projects/{args.name}"), COLUMNS, args.json)


def _update(args: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    if args.public is not None:
        body["public"] = args.public
    if args.description is not None:
        body["description"] = args.description
    project = ApiClient.from_config().request("PATCH", f"/projects/{args.name}", json=body)
    show(project, COLUMNS, args.json)


def _delete(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"/projects/{args.name}")
    print(f"deleted project {args.name} and its repositories")


def _member_path(args: argparse.Namespace) -> str:
    kind = "group" if args.group else "user"
    return f"/projects/{args.project}/members/{kind}/{args.name}"


def _members(args: argparse.Namespace) -> None:
    members = list(ApiClient.from_config().items(f"/projects/{args.project}/members"))
    show(members, MEMBER_COLUMNS, args.json)


def _add_member(args: argparse.Namespace) -> None:
    body = {"kind": "group" if args.group else "user", "name": args.name, "role": args.role}
    member = ApiClient.from_config().request("POST", f"/projects/{args.project}/members", json=body)
    show(member, MEMBER_COLUMNS, args.json)


def _set_role(args: argparse.Namespace) -> None:
    member = ApiClient.from_config().request("PATCH", _member_path(args), json={"role": args.role})
    show(member, MEMBER_COLUMNS, args.json)


def _remove_member(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", _member_path(args))
    print(f"removed {args.name} from {args.project}")
