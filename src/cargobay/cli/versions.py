"""`cargobay versions`, `cargobay resolve` and `cargobay repository set|settings`."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from cargobay.auth.principal import project_of
from cargobay.cli.api_client import ApiClient
from cargobay.cli.output import show

VERSION_COLUMNS = ["tag", "version", "prerelease", "digest"]
SETTINGS_COLUMNS = ["floating_tags", "float_prereleases"]
ON_OFF = {"on": True, "off": False}


def repository_path(repository: str) -> str:
    """The API path of a repository: under its project, as the API lists it."""
    return f"/projects/{project_of(repository)}/repositories/{quote(repository)}"


def add_commands(commands: Any) -> None:
    versions = commands.add_parser(
        "versions", help="list a repository's tags in semantic version order"
    )
    versions.add_argument("repository")
    versions.add_argument("--desc", action="store_true", help="highest version first")
    versions.add_argument("--no-prereleases", action="store_true", help="leave prereleases out")
    versions.add_argument(
        "--all", action="store_true", help="also list the tags that are not semver"
    )
    versions.add_argument("--json", action="store_true")
    versions.set_defaults(run=_versions)

    resolve = commands.add_parser(
        "resolve", help="the highest tag matching a semver range (^1.2, ~1.4.0, >=2 <3)"
    )
    resolve.add_argument("repository")
    resolve.add_argument("range")
    resolve.add_argument("--prerelease", action="store_true", help="prereleases may match")
    resolve.add_argument("--json", action="store_true")
    resolve.set_defaults(run=_resolve)

    repository = commands.add_parser("repository", help="a repository's settings")
    sub = repository.add_subparsers(dest="repository_command", required=True)
    settings = sub.add_parser("settings", help="show a repository's settings")
    settings.add_argument("repository")
    settings.add_argument("--json", action="store_true")
    settings.set_defaults(run=_settings)
    change = sub.add_parser("set", help="change a repository's settings")
    change.add_argument("repository")
    change.add_argument(
        "--floating-tags",
        choices=ON_OFF,
        help="a release push moves 1.4, 1 and latest to it when it is their highest",
    )
    change.add_argument(
        "--float-prereleases", choices=ON_OFF, help="prereleases move floating tags too"
    )
    change.add_argument("--json", action="store_true")
    change.set_defaults(run=_set)


def _versions(args: argparse.Namespace) -> None:
    params = {"order": "desc" if args.desc else "asc"}
    if args.no_prereleases:
        params["prerelease"] = "false"
    body = ApiClient.from_config().get(f"{repository_path(args.repository)}/versions", **params)
    rows = body["versions"]
    if args.all:
        rows += [{**other, "version": None} for other in body["other_tags"]]
    show(rows, VERSION_COLUMNS, args.json)


def _resolve(args: argparse.Namespace) -> None:
    params = {"range": args.range, "prerelease": "true" if args.prerelease else None}
    path = f"{repository_path(args.repository)}/versions/resolve"
    found = ApiClient.from_config().get(path, **params)
    if args.json:
        show(found, VERSION_COLUMNS, True)
    else:
        print(f"{found['tag']}  {found['digest']}")


def _settings(args: argparse.Namespace) -> None:
    found = ApiClient.from_config().get(f"{repository_path(args.repository)}/settings")
    show(found, SETTINGS_COLUMNS, args.json)


def _set(args: argparse.Namespace) -> None:
    body = {
        field: ON_OFF[value]
        for field, value in (
            ("floating_tags", args.floating_tags),
            ("float_prereleases", args.float_prereleases),
        )
        if value is not None
    }
    path = f"{repository_path(args.repository)}/settings"
    show(ApiClient.from_config().request("PUT", path, json=body), SETTINGS_COLUMNS, args.json)
