"""Join the keys history and the webhooks-and-retention history into one head.

Both grew from 0003 and touch different tables; this revision changes nothing itself.

Revision ID: 0006_merge
Revises: 0004_keys, 0005_webhooks_retention
"""

from __future__ import annotations

revision = "0006_merge"
down_revision = ("0004_keys", "0005_webhooks_retention")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
