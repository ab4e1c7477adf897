"""Completion webhooks and retention.

`runtime_executions.webhook_*`: where an asynchronous execution's record is POSTed when it ends,
and how its delivery stands (pending, delivered, failed; attempts, the next attempt's time, the
last attempt's outcome). The partial index holds only the deliveries still pending, so the
replicas' look for due ones reads nothing else.
`ix_runtime_executions_created_at`, `ix_runtime_idempotency_keys_created_at`: what the retention
prune deletes by (records and idempotency keys older than TERRARIUM_RETENTION_DAYS).

Revision ID: 0005_webhooks_retention
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_webhooks_retention"
down_revision = "0003"
branch_labels = None
depends_on = None

PENDING = sa.text("webhook_state = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("runtime_executions") as batch:
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("webhook_state", sa.String(length=12), nullable=True))
        batch.add_column(
            sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("webhook_next_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("webhook_outcome", sa.String(length=300), nullable=True))
    op.create_index(
        "ix_runtime_executions_webhook_due",
        "runtime_executions",
        ["webhook_next_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_runtime_executions_created_at", "runtime_executions", ["created_at"])
    op.create_index(
        "ix_runtime_idempotency_keys_created_at", "runtime_idempotency_keys", ["created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_runtime_idempotency_keys_created_at", table_name="runtime_idempotency_keys")
    op.drop_index("ix_runtime_executions_created_at", table_name="runtime_executions")
    op.drop_index("ix_runtime_executions_webhook_due", table_name="runtime_executions")
    with op.batch_alter_table("runtime_executions") as batch:
        batch.drop_column("webhook_outcome")
        batch.drop_column("webhook_next_at")
        batch.drop_column("webhook_attempts")
        batch.drop_column("webhook_state")
        batch.drop_column("webhook_url")
