"""Tag history: every creation, move and deletion of a tag, written in the transaction
that makes the change, so the history can never disagree with the tags."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, insert

from cargobay.metadata.models import TagHistory, utcnow


class Operation(StrEnum):
    """What changed a tag."""

    PUSH = "push"  # a manifest PUT on /v2
    DELETE = "delete"  # a DELETE on /v2 (of the tag, or of the manifest it pointed at)
    API = "api"  # the management API
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    RETENTION = "retention"
    FLOATING = "floating"  # a floating tag (`1.4`, `latest`) following a release


_RECORD = insert(TagHistory)


def record(
    connection: Connection,
    repository_id: int,
    tag: str,
    old_digest: str | None,
    new_digest: str | None,
    operation: Operation,
    actor: str | None,
) -> None:
    connection.execute(
        _RECORD,
        {
            "repository_id": repository_id,
            "tag": tag,
            "old_digest": old_digest,
            "new_digest": new_digest,
            "operation": operation.value,
            "actor": actor,
            "at": utcnow(),
        },
    )
