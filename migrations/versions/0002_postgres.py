"""PostgreSQL: sessions.metadata as JSONB.

Revision 0001 uses portable types, which on PostgreSQL already give BIGINT
seqs and bytea envelopes. Envelopes stay bytea on purpose: they are streamed
byte for byte and never queried, and JSONB would re-format them and cost a
parse on every read. Session metadata is filtered on, so it becomes JSONB.
The existing indexes (events' primary key on session + seq, unique session +
id, sessions by created time and by status) serve every query on both
dialects. On SQLite this revision does nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "sessions",
        "metadata",
        type_=postgresql.JSONB(),
        existing_type=sa.JSON(),
        existing_nullable=False,
        postgresql_using="metadata::jsonb",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "sessions",
        "metadata",
        type_=sa.JSON(),
        existing_type=postgresql.JSONB(),
        existing_nullable=False,
        postgresql_using="metadata::json",
    )
