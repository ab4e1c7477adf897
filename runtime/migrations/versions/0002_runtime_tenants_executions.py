"""Runtime tables: tenants, runtime API keys, execution records, replica heartbeats.

The first revision of the runtime's history. It once followed the built-in backend's tables
(0001) in a single history; the backend now migrates its tables in its own
(`flora_backend/migrations`), so this revision depends on nothing.

Revision ID: 0002
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_tenants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("flora_kind", sa.String(length=20), nullable=False),
        sa.Column("flora_key_enc", sa.Text(), nullable=True),
        sa.Column("workspaces", sa.JSON(), nullable=False),
        sa.Column("max_timeout_s", sa.Float(), nullable=True),
        sa.Column("max_memory_mb", sa.Integer(), nullable=True),
        sa.Column("max_calls", sa.Integer(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_runtime_tenants_name")),
    )
    op.create_table(
        "runtime_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["runtime_tenants.id"],
            name=op.f("fk_runtime_keys_tenant_id_runtime_tenants"),
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_runtime_keys")),
    )
    op.create_index(op.f("ix_runtime_keys_tenant_id"), "runtime_keys", ["tenant_id"])
    op.create_table(
        "runtime_instances",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_instances")),
    )
    op.create_table(
        "runtime_executions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("instance_id", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("intent", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("result_truncated", sa.Boolean(), nullable=False),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stdout_truncated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("calls", sa.JSON(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("cpu_ms", sa.Float(), nullable=False),
        sa.Column("call_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["runtime_tenants.id"],
            name=op.f("fk_runtime_executions_tenant_id_runtime_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_executions")),
    )
    op.create_index(
        "ix_runtime_executions_tenant_created", "runtime_executions", ["tenant_id", "created_at"]
    )
    op.create_index(
        "ix_runtime_executions_state_instance", "runtime_executions", ["state", "instance_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_runtime_executions_state_instance", table_name="runtime_executions")
    op.drop_index("ix_runtime_executions_tenant_created", table_name="runtime_executions")
    op.drop_table("runtime_executions")
    op.drop_table("runtime_instances")
    op.drop_index(op.f("ix_runtime_keys_tenant_id"), table_name="runtime_keys")
    op.drop_table("runtime_keys")
    op.drop_table("runtime_tenants")
