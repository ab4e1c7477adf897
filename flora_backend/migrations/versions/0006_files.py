"""File bytes in the database: `backend_blobs` holds each file's bytes by the name the file
store knows it by, so every replica sharing a PostgreSQL database serves every file. On
PostgreSQL the bytes are stored uncompressed out of line (STORAGE EXTERNAL), so a range of a
large file is read without reading the rest. SQLite keeps files on disk and leaves the table
empty. Files already on a replica's disk are not touched here: the replica copies them into
the table when it starts (flora_backend/files.py), and serves them from its disk until then.

Revision ID: backend_0006
Revises: backend_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "backend_0006"
down_revision = "backend_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backend_blobs",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_backend_blobs")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE backend_blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("backend_blobs")
