"""`cargobay history REPOSITORY` and `cargobay restore ...`: a repository's tag history and
restores from it (through the management API)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cargobay.cli.api_client import ApiClient, CliError
from cargobay.cli.output import show
from cargobay.oci.names import project_of

COLUMNS = ["at", "tag", "operation", "actor", "old_digest", "new_digest"]


def add_commands(commands: Any) -> None:
    history = commands.add_parser("history", help="show a repository's tag history")
    history.add_argument("repository", help="team/app")
    history.add_argument("--tag", help="only this tag")
    history.add_argument("--limit", type=int, default=50, help="at most this many (newest)")
    history.add_argument("--json", action="store_true")
    history.set_defaults(run=_history)

    restore = commands.add_parser(
        "restore",
        help="restore a tag to an earlier digest (REPOSITORY:TAG DIGEST), or a repository's "
        "tags to a time (REPOSITORY --at TIME)",
    )
    restore.add_argument("target", metavar="REPOSITORY[:TAG]")
    restore.add_argument("digest", nargs="?", help="the digest to point TAG at")
    restore.add_argument(
        "--at",
        metavar="TIME",
        help="RFC 3339 (2026-12-02T08:00:00Z; without an offset: local time) or a duration "
        "ago (30m, 2h, 1d)",
    )
    restore.add_argument("--dry-run", action="store_true", help="show what would change")
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(run=_restore)


def split_reference(target: str) -> tuple[str, str | None]:
    """`team/app:v1` -> (`team/app`, `v1`); `team/app` -> (`team/app`, None)."""
    repository, colon, tag = target.rpartition(":")
    if not colon or "/" in tag:
        return target, None
    return repository, tag


def moment(text: str) -> str:
    """An RFC 3339 time for the API, from what the user typed."""
    ago = re.fullmatch(r"(\d{1,6})([smhd])", text)
    if ago is not None:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[ago[2]]
        return (datetime.now(UTC) - timedelta(**{unit: int(ago[1])})).isoformat()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--at {text}: not a time (2026-12-02T08:00:00Z, or 30m, 2h, 1d ago)"
        ) from None
    return (parsed if parsed.tzinfo else parsed.astimezone()).isoformat()


def _path(word: str, repository: str) -> str:
    return f"/projects/{project_of(repository)}/{word}/{quote(repository)}"


def _short(digest: str | None) -> str | None:
    return digest[:19] if digest else digest  # sha256: and 12 hex digits, as in `podman images`


def _history(args: argparse.Namespace) -> None:
    client = ApiClient.from_config()
    page = client.get(_path("history", args.repository), tag=args.tag, limit=args.limit)
    entries = page["items"]
    if not args.json:
        entries = [
            {**e, "old_digest": _short(e["old_digest"]), "new_digest": _short(e["new_digest"])}
            for e in entries
        ]
    show(entries, COLUMNS, args.json)


def _restore(args: argparse.Namespace) -> None:
    repository, tag = split_reference(args.target)
    body: dict[str, Any] = {"dry_run": args.dry_run}
    if args.digest is not None:
        if tag is None or args.at is not None:
            raise CliError("give REPOSITORY:TAG DIGEST, or REPOSITORY --at TIME")
        body.update(tag=tag, digest=args.digest)
    elif args.at is not None:
        body.update(at=moment(args.at), tag=tag)
    else:
        raise CliError("restore what? give REPOSITORY:TAG DIGEST, or REPOSITORY --at TIME")
    result = ApiClient.from_config().request("POST", _path("restore", repository), json=body)
    if args.json:
        show(result, [], True)
        return
    verb = "would change" if result["dry_run"] else "changed"
    for change in result["changes"]:
        old, new = change["old_digest"] or "(absent)", change["new_digest"] or "(deleted)"
        print(f"{repository}:{change['tag']}  {old} -> {new}")
    for digest in result["restored_manifests"]:
        print(f"{repository}@{digest}  restored")
    print(f"{verb} {len(result['changes'])} tags" + (" (dry run)" if result["dry_run"] else ""))
