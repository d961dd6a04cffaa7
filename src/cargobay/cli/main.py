"""Command-line entry point. Flags override `CARGOBAY_*` variables, which override the file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cargobay import __version__
from cargobay.cli import (
    catalog,
    gc,
    history,
    immutability,
    ldap,
    projects,
    promotion,
    retention,
    robots,
    session,
    tokens,
    users,
    versions,
)
from cargobay.cli.api_client import CliError
from cargobay.config import CONFIG_FILE_ENV, Settings

# Flags of `serve`, each the name of a Settings field.
_SERVE_FLAGS = {
    "listen": ("--listen", {"metavar": "HOST:PORT"}),
    "data_dir": ("--data-dir", {"metavar": "DIR"}),
    "database_url": ("--database-url", {"metavar": "URL"}),
    "workers": ("--workers", {"metavar": "N", "type": int}),
    "server": ("--server", {"choices": ["granian", "uvicorn"]}),
    "log_level": ("--log-level", {"choices": ["debug", "info", "warning", "error"]}),
    "log_format": ("--log-format", {"choices": ["text", "json"]}),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cargobay", description="Cargobay container registry")
    parser.add_argument("--version", action="version", version=f"cargobay {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the registry server")
    serve.add_argument("--config", metavar="FILE", help="TOML settings file")
    for field, (flag, options) in _SERVE_FLAGS.items():
        serve.add_argument(
            flag, dest=field, help=Settings.model_fields[field].description, **options
        )
    _database_flags(commands.add_parser("migrate", help="bring the metadata schema up to date"))
    commands.add_parser("config-reference", help="print the settings reference (Markdown)")
    secrets = commands.add_parser("secrets", help="manage the master key of stored secrets")
    secrets_commands = secrets.add_subparsers(dest="secrets_command", required=True)
    rotate = secrets_commands.add_parser(
        "rotate", help="switch to a new master key and re-encrypt every secret under it"
    )
    _database_flags(rotate)
    rotate.add_argument(
        "--new-key-file",
        dest="new_key_file",
        metavar="FILE",
        help="the new key (32 bytes, base64); default a new random key",
    )
    keys = commands.add_parser("keys", help="the keys that sign registry tokens")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    _database_flags(keys_commands.add_parser("list", help="list the keys (the last one signs)"))
    _database_flags(
        keys_commands.add_parser("rotate", help="add a new signing key; the old ones still verify")
    )
    ldap.add_parser(commands, _database_flags)
    # The management commands: over the HTTP API (after `cargobay login`).
    session.add_commands(commands)
    users.add_commands(commands, _database_flags)
    projects.add_commands(commands)
    robots.add_commands(commands)
    tokens.add_commands(commands)
    history.add_commands(commands)
    immutability.add_commands(commands)
    retention.add_commands(commands)
    versions.add_commands(commands)
    promotion.add_commands(commands)
    gc.add_commands(commands, _database_flags)
    catalog.add_commands(commands)
    return parser


def _database_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of commands that work on the metadata database directly."""
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")
    parser.add_argument("--data-dir", dest="data_dir", metavar="DIR")
    parser.add_argument("--database-url", dest="database_url", metavar="URL")


def settings_from(args: argparse.Namespace) -> Settings:
    return _settings(args)


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "config", None):
        if not Path(args.config).is_file():
            sys.exit(f"cargobay: config file {args.config} does not exist")
        os.environ[CONFIG_FILE_ENV] = args.config
    flags = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    try:
        return Settings(**flags)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        sys.exit(f"cargobay: invalid settings: {problems}")


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if hasattr(args, "run"):
        try:
            args.run(args)
        except CliError as exc:
            sys.exit(f"cargobay: {exc}")
        except KeyboardInterrupt:
            sys.exit(130)
        return
    if args.command == "serve":
        from cargobay.cli.serve import serve

        serve(_settings(args))
    elif args.command == "migrate":
        from cargobay.metadata.db import create_db_engine, migrate

        settings = _settings(args)
        engine = create_db_engine(settings)
        migrate(engine, settings.data_dir)
        print("metadata schema is up to date", file=sys.stderr)
        _say_how_to_make_an_admin(engine, settings)
    elif args.command == "secrets":
        from cargobay.cli.secrets import rotate

        rotate(_settings(args), args.new_key_file)
    elif args.command == "keys":
        _keys(_settings(args), args.keys_command)
    elif args.command == "ldap":
        ldap.run(_settings(args), args)
    elif args.command == "config-reference":
        from cargobay.docs_reference import settings_reference

        print(settings_reference(), end="")


def _keys(settings: Settings, command: str) -> None:
    from cargobay.auth.tokens import TokenKeys, ensure_key, generate_key

    directory = settings.effective_token_keys_dir
    if command == "rotate":
        ensure_key(directory)
        path = generate_key(directory)
        print(
            f"cargobay: new signing key {path}; restart every node to sign with it (tokens "
            "signed by the older keys stay valid until they expire; remove an old key file "
            "once the longest token lifetime has passed)",
            file=sys.stderr,
        )
    keys = TokenKeys(directory) if any(directory.glob("*.pem")) else None
    if keys is None:
        sys.exit(f"cargobay: no signing key in {directory} yet (one is made on first start)")
    for path, kid in keys.files():
        marker = "signs" if kid == keys.signing_kid else "verifies"
        print(f"{kid}  {marker:8}  {path}")


def _say_how_to_make_an_admin(engine: Any, settings: Settings) -> None:
    from cargobay.app import NO_ADMIN_YET
    from cargobay.metadata.access_store import AccessStore
    from cargobay.metadata.db import write_gate

    if (
        settings.admin_password is None
        and not AccessStore(engine, write_gate(engine)).admin_exists()
    ):
        print(f"cargobay: {NO_ADMIN_YET}", file=sys.stderr)
