"""Built-in backend tables: workspaces, API keys, projects, techniques, runs, files,
idempotency keys. The same schema was revision 0001 of the runtime's history when the two
shared one; `flora_backend.db.init_db` records a database made then as being at this revision.

Revision ID: backend_0001
Revises:
Create Date: 2026-11-20 23:40:13.604755
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "backend_0001"
down_revision = None
branch_labels = ("flora_backend",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backend_idempotency_keys",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("workspace_id", "key", name=op.f("pk_backend_idempotency_keys")),
    )
    op.create_table(
        "backend_techniques",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("prompt_template", sa.Text(), nullable=False),
        sa.Column("run_cost", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_techniques")),
        sa.UniqueConstraint("slug", name=op.f("uq_backend_techniques_slug")),
    )
    op.create_table(
        "backend_workspaces",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=80), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_workspaces")),
    )
    op.create_table(
        "backend_api_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("hint", sa.String(length=40), nullable=False),
        sa.Column("is_dev", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_api_keys_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_backend_api_keys")),
    )
    with op.batch_alter_table("backend_api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backend_api_keys_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "backend_files",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_files_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_files")),
    )
    with op.batch_alter_table("backend_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backend_files_run_id"), ["run_id"], unique=False)

    op.create_table(
        "backend_projects",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_projects_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_projects")),
    )
    with op.batch_alter_table("backend_projects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_backend_projects_ws_modified", ["workspace_id", "last_modified"], unique=False
        )

    op.create_table(
        "backend_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("technique_id", sa.String(length=40), nullable=True),
        sa.Column("media_type", sa.String(length=20), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("estimated_seconds", sa.Float(), nullable=False),
        sa.Column("planned_error_code", sa.String(length=80), nullable=True),
        sa.Column("planned_error_message", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=80), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("quoted_cost", sa.Integer(), nullable=False),
        sa.Column("charged_cost", sa.Integer(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback_state", sa.String(length=20), nullable=False),
        sa.Column("callback_attempts", sa.Integer(), nullable=False),
        sa.Column("callback_next_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["backend_workspaces.id"],
            name=op.f("fk_backend_runs_workspace_id_backend_workspaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backend_runs")),
    )
    with op.batch_alter_table("backend_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_backend_runs_callback", ["callback_state", "callback_next_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_backend_runs_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index("ix_backend_runs_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_backend_runs_ws_created", ["workspace_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("backend_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_backend_runs_ws_created")
        batch_op.drop_index("ix_backend_runs_status_due")
        batch_op.drop_index(batch_op.f("ix_backend_runs_project_id"))
        batch_op.drop_index("ix_backend_runs_callback")

    op.drop_table("backend_runs")
    with op.batch_alter_table("backend_projects", schema=None) as batch_op:
        batch_op.drop_index("ix_backend_projects_ws_modified")

    op.drop_table("backend_projects")
    with op.batch_alter_table("backend_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backend_files_run_id"))

    op.drop_table("backend_files")
    with op.batch_alter_table("backend_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backend_api_keys_workspace_id"))

    op.drop_table("backend_api_keys")
    op.drop_table("backend_workspaces")
    op.drop_table("backend_techniques")
    op.drop_table("backend_idempotency_keys")
