"""SQLAlchemy Core tables. The Alembic history in migrations/ creates them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    # JSONB on PostgreSQL (revision 0002): stored parsed, so metadata filters
    # need not re-parse text on every row.
    sa.Column("metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("first_ts_us", sa.BigInteger),
    sa.Column("last_ts_us", sa.BigInteger),
    sa.Column("final_seq", sa.BigInteger),
    sa.Column("trace_id", sa.String(32)),
    sa.Column("traceparent", sa.String(64)),
    sa.Index("ix_sessions_created", "created_at_us", "id"),
    sa.Index("ix_sessions_status_created", "status", "created_at_us"),
)

events = sa.Table(
    "events",
    metadata,
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
    # The whole envelope, serialized once at append and streamed as is.
    sa.Column("envelope", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("session_id", "id", name="uq_events_session_event_id"),
)

shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "session_id",
        sa.String(128),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("expires_at_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_at_us", sa.BigInteger),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at_us", sa.BigInteger, nullable=False),
    sa.Column("revoked_at_us", sa.BigInteger),
    sa.Column("last_used_at_us", sa.BigInteger),
)

# A Durable Streams stream's own state (/ds); its data is the session's events.
ds_streams = sa.Table(
    "ds_streams",
    metadata,
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("session_id", sa.String(128), nullable=False, unique=True),
    sa.Column("content_type", sa.String(256), nullable=False),
    sa.Column("ttl_s", sa.BigInteger),
    sa.Column("expires_at_us", sa.BigInteger),
    sa.Column("touched_at_us", sa.BigInteger, nullable=False),
    sa.Column("closed", sa.Boolean, nullable=False, server_default=sa.false()),
    # [producer id, epoch, seq] of the append that closed the stream.
    sa.Column("closed_by", sa.JSON),
    sa.Column("stream_seq", sa.String(256)),
    # {producer id: [epoch, last seq]}
    sa.Column("producers", sa.JSON, nullable=False),
    sa.Column("forked_from", sa.String(1024)),
    sa.Column("fork_seq", sa.BigInteger),
    sa.Column("fork_sub", sa.BigInteger),
    # Deleted while forks still read from it: answers 410 until they are gone.
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_ds_streams_forked_from", "forked_from"),
)
