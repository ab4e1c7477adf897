"""Money an execution cannot lose: what it cost, a tenant's default cap, idempotency keys.

`runtime_executions.cost_usd`: what the execution's paid calls cost (FLORA's charged_cost).
`runtime_tenants.max_cost_usd`: the tenant's default `max_cost_usd` per execution.
`runtime_idempotency_keys`: one row per (tenant, key), the execution the key started.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runtime_executions") as batch:
        batch.add_column(
            sa.Column("cost_usd", sa.Float(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("runtime_tenants") as batch:
        batch.add_column(sa.Column("max_cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "runtime_idempotency_keys",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("execution_id", sa.String(length=40), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["runtime_tenants.id"],
            name=op.f("fk_runtime_idempotency_keys_tenant_id_runtime_tenants"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_runtime_idempotency_keys")),
    )


def downgrade() -> None:
    op.drop_table("runtime_idempotency_keys")
    with op.batch_alter_table("runtime_tenants") as batch:
        batch.drop_column("max_cost_usd")
    with op.batch_alter_table("runtime_executions") as batch:
        batch.drop_column("cost_usd")
