"""Cancel requests across replicas.

`runtime_executions.cancel_requested_at`: when a cancel was asked of a replica other than the one
running the execution; the owning replica finds it (notified on PostgreSQL, and by its heartbeat)
and cancels it.

Revision ID: 0007_cancel_requests
Revises: 0006_merge
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_cancel_requests"
down_revision = "0006_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runtime_executions") as batch:
        batch.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("runtime_executions") as batch:
        batch.drop_column("cancel_requested_at")
