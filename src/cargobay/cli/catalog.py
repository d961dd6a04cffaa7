"""`cargobay label`, `cargobay search`, `cargobay quota` and `cargobay usage`."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from cargobay.auth.principal import project_of
from cargobay.cli.api_client import ApiClient, CliError
from cargobay.cli.output import show
from cargobay.lifecycle.quota import SizeInvalid, parse_size

LABEL_COLUMNS = ["key", "value", "created_by", "created_at"]
SEARCH_COLUMNS = ["repository", "digest", "tags", "labels", "pushed_at", "pull_count"]
USAGE_COLUMNS = [
    "project",
    "quota_bytes",
    "used_bytes",
    "blob_count",
    "blob_bytes",
    "manifest_count",
    "manifest_bytes",
]
REPOSITORY_USAGE_COLUMNS = [
    "repository",
    "used_bytes",
    "blob_count",
    "blob_bytes",
    "manifest_count",
    "manifest_bytes",
]
UNLIMITED = ("none", "unlimited")


def add_commands(commands: Any) -> None:
    label = commands.add_parser(
        "label",
        help="set, remove or list the labels of an artifact",
        description="With no key=value and no --remove: list the artifact's labels.",
    )
    label.add_argument("artifact", metavar="REPOSITORY@DIGEST|REPOSITORY:TAG")
    label.add_argument("assignments", nargs="*", metavar="key=value")
    label.add_argument("--remove", action="append", default=[], metavar="KEY")
    label.add_argument("--json", action="store_true")
    label.set_defaults(run=_label)

    search = commands.add_parser("search", help="search artifacts in the projects you can see")
    search.add_argument("q", nargs="?", help="part of a repository name or a tag")
    search.add_argument("--repository", help="part of the repository name")
    search.add_argument("--tag", help="a glob (v1.*) or part of a tag")
    search.add_argument("--label", action="append", default=[], metavar="KEY[=VALUE]")
    search.add_argument("--annotation", action="append", default=[], metavar="KEY[=VALUE]")
    search.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    search.add_argument("--json", action="store_true")
    search.set_defaults(run=_search)

    quota = commands.add_parser("quota", help="storage quotas of projects (administrators)")
    sub = quota.add_subparsers(dest="quota_command", required=True)
    set_quota = sub.add_parser("set", help="set a project's quota: 10GiB, 500MB, none")
    set_quota.add_argument("project")
    set_quota.add_argument("size")
    set_quota.add_argument("--json", action="store_true")
    set_quota.set_defaults(run=_set_quota)

    usage = commands.add_parser(
        "usage",
        help="storage used by a project or a repository; `usage recount [PROJECT]` repairs",
        description="`cargobay usage PROJECT [REPOSITORY]` shows usage; `cargobay usage "
        "recount [PROJECT]` counts it again from the content (administrators).",
    )
    usage.add_argument("project", metavar="PROJECT|recount")
    usage.add_argument("repository", nargs="?")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(run=_usage)


def artifact_digest(client: ApiClient, reference: str) -> tuple[str, str]:
    """(repository, digest) of `REPOSITORY@DIGEST` or `REPOSITORY:TAG`."""
    if "@" in reference:
        repository, _, digest = reference.partition("@")
        return repository, digest
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag or not repository:
        raise CliError(f"{reference}: write REPOSITORY@DIGEST or REPOSITORY:TAG")
    for item in client.items("/search", repository=repository, tag=tag):
        if item["repository"] == repository and tag in item["tags"]:
            return repository, item["digest"]
    raise CliError(f"{reference}: no such tag")


def _label(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    repository, digest = artifact_digest(client, args.artifact)
    base = f"/projects/{project_of(repository)}/repositories/{repository}/artifacts/{digest}/labels"
    for assignment in args.assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise CliError(f"{assignment}: write key=value")
        client.request("PUT", f"{base}/{quote(key, safe='/')}", json={"value": value})
    for key in args.remove:
        client.request("DELETE", f"{base}/{quote(key, safe='/')}")
    show(client.get(base), LABEL_COLUMNS, args.json)


def _search(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    params = {
        "q": args.q,
        "repository": args.repository,
        "tag": args.tag,
        "label": args.label,
        "annotation": args.annotation,
    }
    found = []
    for item in client.items("/search", **params):
        found.append(item)
        if len(found) >= args.limit:
            break
    show(found, SEARCH_COLUMNS, args.json)


def _set_quota(args: argparse.Namespace) -> None:
    if args.size.lower() in UNLIMITED:
        size = None
    else:
        try:
            size = parse_size(args.size)
        except SizeInvalid as exc:
            raise CliError(str(exc)) from None
    body = {"bytes": size}
    usage = ApiClient.from_config().request("PUT", f"/projects/{args.project}/quota", json=body)
    show(usage, USAGE_COLUMNS, args.json)


def _usage(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    if args.project == "recount":
        params = {"project": args.repository} if args.repository else None
        changes = client.request("POST", "/system/usage/recount", params=params)
        if args.json:
            show(changes, [], True)
        elif not changes:
            print("every project's usage was right")
        else:
            show(changes, ["project", "before", "after"], False)
    elif args.repository:
        path = f"/projects/{args.project}/repositories/{args.repository}/usage"
        show(client.get(path), REPOSITORY_USAGE_COLUMNS, args.json)
    else:
        show(client.get(f"/projects/{args.project}/usage"), USAGE_COLUMNS, args.json)
