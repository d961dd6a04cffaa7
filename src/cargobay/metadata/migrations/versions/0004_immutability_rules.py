"""immutability rules, and an index for a repository's history newest first

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "immutability_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("repositories", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("created_by", NAME, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_immutability_rules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_immutability_rules")),
    )
    op.create_index("ix_immutability_rules_project_id", "immutability_rules", ["project_id"])
    op.create_index("ix_tag_history_repository_id_id", "tag_history", ["repository_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_tag_history_repository_id_id", table_name="tag_history")
    op.drop_index("ix_immutability_rules_project_id", table_name="immutability_rules")
    op.drop_table("immutability_rules")
