"""Assets (uploaded or fetched files) and the asset and action nodes put on project canvases.

Revision ID: backend_assets
Revises: backend_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "backend_assets"
down_revision = "backend_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backend_assets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("folder", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("uploaded_via", sa.String(length=20), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("upload_content_type", sa.String(length=100), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("file_id", sa.String(length=60), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("upload_token_hash", sa.String(length=64), nullable=True),
        sa.Column("upload_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_assets_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_assets")),
    )
    op.create_index(
        "ix_backend_assets_ws_created", "backend_assets", ["workspace_id", "created_at"]
    )
    op.create_index(
        op.f("ix_backend_assets_project_id"), "backend_assets", ["project_id"], unique=False
    )
    op.create_table(
        "backend_project_nodes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=True),
        sa.Column("action_id", sa.String(length=100), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("input_node_ids", sa.JSON(), nullable=True),
        sa.Column("last_run_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["backend_projects.id"],
            name=op.f("fk_backend_project_nodes_project_id_backend_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_project_nodes")),
    )
    op.create_index(
        "ix_backend_project_nodes_project", "backend_project_nodes", ["project_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_backend_project_nodes_project", table_name="backend_project_nodes")
    op.drop_table("backend_project_nodes")
    op.drop_index(op.f("ix_backend_assets_project_id"), table_name="backend_assets")
    op.drop_index("ix_backend_assets_ws_created", table_name="backend_assets")
    op.drop_table("backend_assets")
