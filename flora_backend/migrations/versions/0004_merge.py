"""One history again: the assets branch (backend_assets) and the canvas branch
(backend_canvas), both made on backend_0002, joined here. Nothing changes in the schema.

Revision ID: backend_0004
Revises: backend_assets, backend_canvas
"""

from __future__ import annotations

revision = "backend_0004"
down_revision = ("backend_assets", "backend_canvas")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
