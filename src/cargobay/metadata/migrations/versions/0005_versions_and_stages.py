"""repository settings (floating tags) and project stages

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "repository_settings",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("floating_tags", sa.Boolean(), nullable=False),
        sa.Column("float_prereleases", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repository_settings_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_repository_settings")),
    )
    op.create_table(
        "project_stages",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_stages_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "position", name=op.f("pk_project_stages")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_project_stages_project_id_name")),
    )


def downgrade() -> None:
    op.drop_table("project_stages")
    op.drop_table("repository_settings")
