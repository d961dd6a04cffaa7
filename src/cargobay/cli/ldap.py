"""`cargobay ldap set|show|test|unset`: the LDAP configuration, kept encrypted in the database.

These work on the metadata database directly, like `migrate`, so a registry can be pointed at
its directory before anyone can log in. Every node picks a change up within 30 seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a command runs: `cargobay serve` builds this parser too
    from cargobay.auth.ldap import LdapConfig
    from cargobay.config import Settings

_FIELDS = ("url", "user_base_dn", "user_filter", "group_base_dn", "group_filter")
_MORE = ("group_name_attribute", "email_attribute", "username_attribute", "ca_certs_file")


def add_parser(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    database_flags: Callable[[argparse.ArgumentParser], None],
) -> None:
    ldap = commands.add_parser("ldap", help="configure logins through an LDAP directory")
    actions = ldap.add_subparsers(dest="ldap_command", required=True)
    set_ = actions.add_parser("set", help="store the LDAP configuration (encrypted)")
    database_flags(set_)
    set_.add_argument("--url", required=True, help="ldap://host:389 or ldaps://host:636")
    set_.add_argument("--bind-dn", help="service account that searches the directory")
    set_.add_argument(
        "--bind-password-stdin", action="store_true", help="read its password from stdin"
    )
    set_.add_argument("--user-base-dn", required=True)
    set_.add_argument("--user-filter", default=None, help="default (uid={username})")
    set_.add_argument("--group-base-dn", default=None, help="unset: groups are not read")
    set_.add_argument("--group-filter", default=None)
    for name in _MORE:
        set_.add_argument(f"--{name.replace('_', '-')}", default=None)
    set_.add_argument("--start-tls", action="store_true")
    set_.add_argument("--timeout-seconds", type=float, default=None)
    for name, text in (
        ("show", "print the configuration (without the password)"),
        ("unset", "remove the configuration: only local accounts log in"),
    ):
        database_flags(actions.add_parser(name, help=text))
    test = actions.add_parser("test", help="check the configuration, optionally a login")
    database_flags(test)
    test.add_argument("--username", help="also log this user in (password from stdin)")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from cargobay.auth.ldap import delete_ldap_config, load_ldap_config, save_ldap_config
    from cargobay.auth.secrets import SecretsError, load_box
    from cargobay.metadata.db import create_db_engine, migrate
    from cargobay.metadata.secret_store import SecretStore

    engine = create_db_engine(settings)
    try:
        migrate(engine, settings.data_dir)
        store = SecretStore(engine)
        box = load_box(settings)
        if args.ldap_command == "set":
            config = _config_from(args)
            save_ldap_config(store, box, config)
            print("cargobay: LDAP configuration stored (encrypted)", file=sys.stderr)
        elif args.ldap_command == "unset":
            deleted = delete_ldap_config(store)
            print(
                "cargobay: LDAP configuration removed" if deleted else "cargobay: none was set",
                file=sys.stderr,
            )
        else:
            config = load_ldap_config(store, box)
            if config is None:
                sys.exit("cargobay: LDAP is not configured (cargobay ldap set ...)")
            if args.ldap_command == "show":
                shown = dataclasses.asdict(config)
                shown["bind_password"] = "(set)" if config.bind_password else None
                print(json.dumps(shown, indent=2))
            else:
                _test(config, args.username)
    except SecretsError as exc:
        sys.exit(f"cargobay: cannot use the master key: {exc}")
    finally:
        engine.dispose()


def _config_from(args: argparse.Namespace) -> LdapConfig:
    from cargobay.auth.ldap import LdapConfig

    password = sys.stdin.readline().rstrip("\n") if args.bind_password_stdin else None
    values = {
        name: getattr(args, name)
        for name in (*_FIELDS, *_MORE, "timeout_seconds")
        if getattr(args, name, None) is not None
    }
    return LdapConfig(
        bind_dn=args.bind_dn,
        bind_password=password,
        start_tls=args.start_tls,
        **values,  # type: ignore[arg-type]
    )


def _test(config: LdapConfig, username: str | None) -> None:
    from cargobay.auth.ldap import LdapUnavailable
    from cargobay.auth.ldap_directory import LdapDirectory

    directory = LdapDirectory(config)
    try:
        directory.check()
        print("cargobay: the directory answers and the service account can search it")
        if username:
            password = sys.stdin.readline().rstrip("\n") or getpass.getpass()
            identity = directory.authenticate(username, password)
            if identity is None:
                sys.exit(f"cargobay: {username} was refused (wrong password or unknown user)")
            print(f"cargobay: {identity.username} logs in; groups: {', '.join(identity.groups)}")
    except LdapUnavailable as exc:
        sys.exit(f"cargobay: LDAP check failed: {exc}")
