"""Project canvases, project folders (and the projects filed in them), library folders and
their saved items.

Revision ID: backend_canvas
Revises: backend_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "backend_canvas"
down_revision = "backend_0002"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "backend_canvases",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("edges", sa.JSON(), nullable=False),
        sa.Column("node_inputs", sa.JSON(), nullable=False),
        sa.Column("node_outputs", sa.JSON(), nullable=False),
        sa.Column("layer_editor_documents", sa.JSON(), nullable=True),
        sa.Column("short_ids", sa.JSON(), nullable=False),
        sa.Column("next_short", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _fk("backend_canvases", "project_id", "backend_projects"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_backend_canvases")),
    )
    for table in ("backend_project_folders", "backend_library_folders"):
        op.create_table(
            table,
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("workspace_id", sa.String(length=40), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            _fk(table, "workspace_id", "backend_workspaces"),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_workspace_id"), table, ["workspace_id"])
    op.create_table(
        "backend_folder_projects",
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("folder_id", sa.String(length=40), nullable=False),
        _fk("backend_folder_projects", "project_id", "backend_projects"),
        _fk("backend_folder_projects", "folder_id", "backend_project_folders"),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_backend_folder_projects")),
    )
    op.create_index(
        op.f("ix_backend_folder_projects_folder_id"), "backend_folder_projects", ["folder_id"]
    )
    op.create_table(
        "backend_library_items",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("folder_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("file_id", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("backend_library_items", "workspace_id", "backend_workspaces"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_library_items")),
    )
    op.create_index(
        op.f("ix_backend_library_items_folder_id"), "backend_library_items", ["folder_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_backend_library_items_folder_id"), table_name="backend_library_items")
    op.drop_table("backend_library_items")
    op.drop_index(
        op.f("ix_backend_folder_projects_folder_id"), table_name="backend_folder_projects"
    )
    op.drop_table("backend_folder_projects")
    for table in ("backend_library_folders", "backend_project_folders"):
        op.drop_index(op.f(f"ix_{table}_workspace_id"), table_name=table)
        op.drop_table(table)
    op.drop_table("backend_canvases")
