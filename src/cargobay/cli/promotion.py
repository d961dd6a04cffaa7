"""`cargobay promote` and `cargobay stage list|set`."""

from __future__ import annotations

import argparse
from typing import Any

from cargobay.cli.api_client import ApiClient, CliError
from cargobay.cli.output import show
from cargobay.cli.versions import repository_path

COLUMNS = [
    "source_repository",
    "digest",
    "target_repository",
    "tag",
    "stage",
    "previous_digest",
    "manifests_added",
    "blobs_linked",
    "referrers",
    "floated",
]


def add_commands(commands: Any) -> None:
    promote = commands.add_parser(
        "promote",
        help="promote an artifact to a stage, a tag or another repository (no bytes copied)",
    )
    promote.add_argument("artifact", metavar="REPOSITORY@DIGEST")
    where = promote.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--to", metavar="REPOSITORY[:TAG]", help="the target repository, with a tag to point"
    )
    where.add_argument("--stage", help="a stage of the project (dev, test, prod...)")
    promote.add_argument(
        "--referrers", action="store_true", help="bring signatures and SBOMs along"
    )
    promote.add_argument("--json", action="store_true")
    promote.set_defaults(run=_promote)

    stage = commands.add_parser("stage", help="a project's stages")
    sub = stage.add_subparsers(dest="stage_command", required=True)
    listing = sub.add_parser("list", help="list a project's stages")
    listing.add_argument("project")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_stages)
    change = sub.add_parser("set", help="set a project's stages, in promotion order")
    change.add_argument("project")
    change.add_argument("stages", nargs="+", metavar="STAGE")
    change.add_argument("--json", action="store_true")
    change.set_defaults(run=_set_stages)


def split_artifact(text: str) -> tuple[str, str]:
    repository, at, digest = text.partition("@")
    if not at or not repository or not digest:
        raise CliError(f"{text}: give the artifact as REPOSITORY@DIGEST")
    return repository, digest


def split_target(text: str) -> tuple[str, str | None]:
    """`team/app:1.0` is (team/app, 1.0); a colon before the last slash is a registry port."""
    head, colon, tag = text.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return text, None


def _promote(args: argparse.Namespace) -> None:
    repository, digest = split_artifact(args.artifact)
    body: dict[str, Any] = {"referrers": args.referrers}
    if args.stage:
        body["stage"] = args.stage
    else:
        body["target_repository"], tag = split_target(args.to)
        if tag:
            body["tag"] = tag
    path = f"{repository_path(repository)}/artifacts/{digest}/promote"
    show(ApiClient.from_config().request("POST", path, json=body), COLUMNS, args.json)


def _stages(args: argparse.Namespace) -> None:
    body = ApiClient.from_config().get(f"/projects/{args.project}/stages")
    _show_stages(body, args.json)


def _set_stages(args: argparse.Namespace) -> None:
    path = f"/projects/{args.project}/stages"
    body = ApiClient.from_config().request("PUT", path, json={"stages": args.stages})
    _show_stages(body, args.json)


def _show_stages(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        show(body, ["stages"], True)
    else:
        print("\n".join(body["stages"]))
