"""Sessions, events, shares and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("first_ts_us", sa.BigInteger),
        sa.Column("last_ts_us", sa.BigInteger),
        sa.Column("final_seq", sa.BigInteger),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("traceparent", sa.String(64)),
    )
    op.create_index("ix_sessions_created", "sessions", ["created_at_us", "id"])
    op.create_index("ix_sessions_status_created", "sessions", ["status", "created_at_us"])
    op.create_table(
        "events",
        sa.Column(
            "session_id",
            sa.String(128),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("ts_us", sa.BigInteger, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("session_id", "id", name="uq_events_session_event_id"),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(128),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_us", sa.BigInteger),
    )
    op.create_index("ix_shares_session_id", "shares", ["session_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_us", sa.BigInteger),
        sa.Column("last_used_at_us", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_shares_session_id", "shares")
    op.drop_table("shares")
    op.drop_table("events")
    op.drop_index("ix_sessions_status_created", "sessions")
    op.drop_index("ix_sessions_created", "sessions")
    op.drop_table("sessions")
