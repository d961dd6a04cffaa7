"""`cargobay login`, `logout` and `whoami`."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.cli.api_client import (
    DEFAULT_URL,
    ApiClient,
    Login,
    forget_login,
    load_login,
    read_password,
    save_login,
)
from cargobay.cli.output import show


def add_commands(commands: Any) -> None:
    login = commands.add_parser("login", help="log in to a registry's management API")
    login.add_argument(
        "url", nargs="?", help=f"the registry (default: the last one, {DEFAULT_URL})"
    )
    login.add_argument("-u", "--username", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.set_defaults(run=_login)
    logout = commands.add_parser("logout", help="forget the stored login")
    logout.set_defaults(run=_logout)
    whoami = commands.add_parser("whoami", help="who the stored login is")
    whoami.add_argument("--json", action="store_true")
    whoami.set_defaults(run=_whoami)


def _login(args: argparse.Namespace) -> None:
    previous = load_login()
    url = args.url or (previous.url if previous else DEFAULT_URL)
    if "://" not in url:
        url = f"https://{url}"
    login = Login(url.rstrip("/"), args.username, read_password(args.password_stdin))
    me = ApiClient(login).get("/whoami")  # refuses wrong credentials before storing them
    path = save_login(login)
    print(f"logged in to {login.url} as {me['name']} (stored in {path})")


def _logout(args: argparse.Namespace) -> None:
    print("logged out" if forget_login() else "not logged in")


def _whoami(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    me = client.get("/whoami")
    me["url"] = client.login.url
    show(me, ["name", "kind", "is_admin", "roles", "url"], args.json)
