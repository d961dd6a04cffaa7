"""labels and annotations of artifacts, project quotas and usage, pull counts

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-02 08:30:00

Existing data is brought in here: each project's usage is counted from the blob links and
manifests it has, and the `org.opencontainers.image.*` annotations of every stored manifest
are copied into `artifact_annotations`, so search finds what was pushed before the upgrade.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")
ANNOTATION_PREFIX = "org.opencontainers.image."
BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("used_bytes", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(
            sa.Column("pull_count", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("last_pulled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "artifact_labels",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("created_by", NAME, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_artifact_labels_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", "key", name=op.f("pk_artifact_labels")),
    )
    op.create_index("ix_artifact_labels_key_value", "artifact_labels", ["key", "value"])
    op.create_table(
        "artifact_annotations",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_artifact_annotations_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", "key", name=op.f("pk_artifact_annotations")),
    )
    op.create_index("ix_artifact_annotations_key_value", "artifact_annotations", ["key", "value"])
    op.create_table(
        "project_blobs",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_blobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["digest"],
            ["blobs.digest"],
            name=op.f("fk_project_blobs_digest_blobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "digest", name=op.f("pk_project_blobs")),
    )
    op.create_index("ix_project_blobs_digest", "project_blobs", ["digest"])
    _count_usage()
    _copy_annotations()


# A repository is in project P when its name starts with "P/"; names without a slash are in
# `library`. substr, not LIKE: `_` in a project name is a LIKE wildcard.
_IN_PROJECT = (
    "(substr(r.name, 1, length(p.name) + 1) = p.name || '/'"
    " OR (p.name = 'library' AND r.name NOT LIKE '%/%'))"
)


def _count_usage() -> None:
    op.execute(
        "INSERT INTO project_blobs (project_id, digest, size, links) "
        "SELECT p.id, rb.digest, b.size, count(*) FROM repository_blobs rb "
        "JOIN repositories r ON r.id = rb.repository_id "
        "JOIN blobs b ON b.digest = rb.digest "
        f"JOIN projects p ON {_IN_PROJECT} "
        "GROUP BY p.id, rb.digest, b.size"
    )
    op.execute(
        "UPDATE projects SET used_bytes = "
        "(SELECT coalesce(sum(pb.size), 0) FROM project_blobs pb WHERE pb.project_id = projects.id)"
        " + (SELECT coalesce(sum(m.size), 0) FROM manifests m "
        "JOIN repositories r ON r.id = m.repository_id "
        f"JOIN projects p ON {_IN_PROJECT} WHERE p.id = projects.id)"
    )


def _copy_annotations() -> None:
    connection = op.get_bind()
    manifests = sa.table("manifests", sa.column("id"), sa.column("payload"))
    annotations = sa.table(
        "artifact_annotations", sa.column("manifest_id"), sa.column("key"), sa.column("value")
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(manifests.c.id, manifests.c.payload)
            .where(manifests.c.id > last)
            .order_by(manifests.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [
            {"manifest_id": row.id, "key": key, "value": value}
            for row in rows
            for key, value in _annotations(bytes(row.payload)).items()
        ]
        if values:
            connection.execute(sa.insert(annotations), values)
        last = rows[-1].id


def _annotations(payload: bytes) -> dict[str, str]:
    # The same rule as cargobay.metadata.search.searchable_annotations, frozen here.
    try:
        found: Any = json.loads(payload).get("annotations")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        key: value[:512]
        for key, value in found.items()
        if isinstance(key, str)
        and isinstance(value, str)
        and key.startswith(ANNOTATION_PREFIX)
        and len(key) <= 128
    }


def downgrade() -> None:
    op.drop_index("ix_project_blobs_digest", table_name="project_blobs")
    op.drop_table("project_blobs")
    op.drop_index("ix_artifact_annotations_key_value", table_name="artifact_annotations")
    op.drop_table("artifact_annotations")
    op.drop_index("ix_artifact_labels_key_value", table_name="artifact_labels")
    op.drop_table("artifact_labels")
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("last_pulled_at")
        batch.drop_column("pull_count")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("used_bytes")
        batch.drop_column("quota_bytes")
