"""Runtime keys an operator can manage: several per tenant, each with an id, a label, an expiry
and a time it was last used; and the operator key of the admin API.

`runtime_keys.id` (`key_...`): how operators name a key. Existing keys get one, the label
"default", no expiry: they keep working as before.
`runtime_keys.label`, `expires_at`, `last_used_at`.
`runtime_operator_keys`: the hash of the operator key a server made (when
TERRARIUM_OPERATOR_KEY is not set), so another server on the database makes no other.

Revision ID: 0004_keys
Revises: 0003
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004_keys"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runtime_keys") as batch:
        batch.add_column(sa.Column("id", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column(
                "label",
                sa.String(length=100),
                nullable=False,
                server_default=sa.text("'default'"),
            )
        )
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    keys = sa.table("runtime_keys", sa.column("key_hash", sa.String), sa.column("id", sa.String))
    connection = op.get_bind()
    for (key_hash,) in connection.execute(sa.select(keys.c.key_hash)).all():
        connection.execute(
            keys.update()
            .where(keys.c.key_hash == key_hash)
            .values(id="key_" + secrets.token_hex(8))
        )
    with op.batch_alter_table("runtime_keys") as batch:
        batch.alter_column("id", existing_type=sa.String(length=40), nullable=False)
        batch.create_unique_constraint(op.f("uq_runtime_keys_id"), ["id"])
    op.create_table(
        "runtime_operator_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_runtime_operator_keys")),
    )


def downgrade() -> None:
    op.drop_table("runtime_operator_keys")
    with op.batch_alter_table("runtime_keys") as batch:
        batch.drop_constraint(op.f("uq_runtime_keys_id"), type_="unique")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("label")
        batch.drop_column("id")
