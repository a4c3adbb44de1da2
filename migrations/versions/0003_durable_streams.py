"""Durable Streams: one row per stream beside its session (content type, expiry,
closure, writer state, fork parent). The stream's data is the session's events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ds_streams",
        sa.Column("name", sa.String(1024), primary_key=True),
        sa.Column("session_id", sa.String(128), nullable=False, unique=True),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("ttl_s", sa.BigInteger),
        sa.Column("expires_at_us", sa.BigInteger),
        sa.Column("touched_at_us", sa.BigInteger, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("closed_by", sa.JSON),
        sa.Column("stream_seq", sa.String(256)),
        sa.Column("producers", sa.JSON, nullable=False),
        sa.Column("forked_from", sa.String(1024)),
        sa.Column("fork_seq", sa.BigInteger),
        sa.Column("fork_sub", sa.BigInteger),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_ds_streams_forked_from", "ds_streams", ["forked_from"])


def downgrade() -> None:
    op.drop_index("ix_ds_streams_forked_from", table_name="ds_streams")
    op.drop_table("ds_streams")
