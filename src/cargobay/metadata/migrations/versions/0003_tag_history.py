"""tag history, and manifests kept after a delete for the history window

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tag_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tag", NAME, nullable=False),
        sa.Column("old_digest", sa.String(length=200), nullable=True),
        sa.Column("new_digest", sa.String(length=200), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("actor", NAME, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_tag_history_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_history")),
    )
    op.create_index(
        "ix_tag_history_repository_id_tag_id", "tag_history", ["repository_id", "tag", "id"]
    )
    op.create_index("ix_tag_history_repository_id_at", "tag_history", ["repository_id", "at"])
    op.create_index("ix_tag_history_at", "tag_history", ["at"])
    with op.batch_alter_table("manifests") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("deleted_at")
    op.drop_index("ix_tag_history_at", table_name="tag_history")
    op.drop_index("ix_tag_history_repository_id_at", table_name="tag_history")
    op.drop_index("ix_tag_history_repository_id_tag_id", table_name="tag_history")
    op.drop_table("tag_history")
