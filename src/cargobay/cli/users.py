"""`cargobay user ...`: over the API, except `user create` before anyone is logged in.

`user create` works on the database directly (to make the first administrator, like
`cargobay migrate` it takes --config, --data-dir and --database-url, and migrates first)
when one of those flags is given or no login is stored; otherwise through the API.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from cargobay.cli.api_client import ApiClient, CliError, load_login, read_password, save_login
from cargobay.cli.output import show

COLUMNS = ["name", "email", "is_admin", "disabled", "source", "created_at"]


def add_commands(commands: Any, database_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    user = commands.add_parser("user", help="manage users")
    sub = user.add_subparsers(dest="user_command", required=True)
    listing = sub.add_parser("list", help="list users")
    listing.add_argument("-q", "--filter", dest="q", help="only names or emails containing this")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    create = sub.add_parser("create", help="create a user")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="a system administrator")
    create.add_argument("--email")
    create.add_argument("--password-stdin", action="store_true")
    create.add_argument("--json", action="store_true")
    database_flags(create)
    create.set_defaults(run=_create)
    for name, help_text, run in (
        ("show", "show a user", _show),
        ("disable", "refuse a user's logins and tokens", _disable),
        ("enable", "let a disabled user in again", _enable),
        ("delete", "delete a user with their memberships and tokens", _delete),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("name")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)
    passwd = sub.add_parser("passwd", help="set a password (your own by default)")
    passwd.add_argument("name", nargs="?")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(run=_passwd)


def _list(args: argparse.Namespace) -> None:
    users = list(ApiClient.from_config().items("/users", q=args.q))
    show(users, COLUMNS, args.json)


def _create(args: argparse.Namespace) -> None:
    direct = any(getattr(args, flag, None) for flag in ("config", "data_dir", "database_url"))
    password = read_password(args.password_stdin)
    if direct or load_login() is None:
        _create_in_database(args, password)
        return
    body = {"name": args.name, "password": password, "email": args.email, "is_admin": args.admin}
    show(ApiClient.from_config().request("POST", "/users", json=body), COLUMNS, args.json)


def _create_in_database(args: argparse.Namespace, password: str) -> None:
    from cargobay.auth.accounts import Invalid, check_email, check_name, check_password
    from cargobay.auth.passwords import hash_password
    from cargobay.cli.main import settings_from
    from cargobay.metadata.access_store import AccessStore
    from cargobay.metadata.db import create_db_engine, migrate, write_gate
    from cargobay.metadata.errors import Conflict

    try:
        check_name(args.name)
        check_password(password)
        check_email(args.email)
    except Invalid as exc:
        raise CliError(f"{exc.field}: {exc.message}") from None
    settings = settings_from(args)
    engine = create_db_engine(settings)
    try:
        migrate(engine, settings.data_dir)
        store = AccessStore(engine, write_gate(engine))
        store.create_user(args.name, hash_password(password), email=args.email, is_admin=args.admin)
    except Conflict as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    kind = "administrator" if args.admin else "user"
    print(f"created {kind} {args.name} in {settings.effective_database_url.split(':', 1)[0]}")


def _show(args: argparse.Namespace) -> None:
    show(ApiClient.from_config().get(f"/users/{args.name}"), COLUMNS, args.json)


def _patch(args: argparse.Namespace, body: dict[str, Any]) -> None:
    user = ApiClient.from_config().request("PATCH", f"/users/{args.name}", json=body)
    show(user, COLUMNS, args.json)


def _disable(args: argparse.Namespace) -> None:
    _patch(args, {"disabled": True})


def _enable(args: argparse.Namespace) -> None:
    _patch(args, {"disabled": False})


def _delete(args: argparse.Namespace) -> None:
    ApiClient.from_config().request("DELETE", f"/users/{args.name}")
    print(f"deleted user {args.name}")


def _passwd(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    name = args.name or client.login.username
    password = read_password(args.password_stdin, "New password: ")
    body = {"password": password}
    if name == client.login.username:
        body["current_password"] = client.login.password
    client.request("PUT", f"/users/{name}/password", json=body)
    if name == client.login.username and not client.login.password.startswith("cbt_"):
        save_login(type(client.login)(client.login.url, name, password))
    print(f"password of {name} changed")
