"""The `ds_streams` table: each Durable Streams stream's state beside its session."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from replaydeck.store.tables import ds_streams
from replaydeck.store.transactions import reading, transaction


@dataclass(frozen=True, slots=True)
class StreamRecord:
    name: str
    session_id: str
    content_type: str
    touched_at_us: int
    ttl_s: int | None = None
    expires_at_us: int | None = None
    closed: bool = False
    # (producer id, epoch, seq) of the append that closed the stream.
    closed_by: tuple[str, int, int] | None = None
    stream_seq: str | None = None
    # producer id -> (epoch, last accepted seq)
    producers: dict[str, tuple[int, int]] = field(default_factory=dict)
    forked_from: str | None = None
    fork_seq: int | None = None
    fork_sub: int | None = None
    deleted: bool = False

    def with_(self, **changes: Any) -> StreamRecord:
        return replace(self, **changes)


def _row(record: StreamRecord) -> dict[str, Any]:
    row = asdict(record)
    row["closed_by"] = list(record.closed_by) if record.closed_by else None
    row["producers"] = {pid: list(state) for pid, state in record.producers.items()}
    return row


def _record(row: Any) -> StreamRecord:
    values = dict(row._mapping)
    closed_by = values["closed_by"]
    values["closed_by"] = tuple(closed_by) if closed_by else None
    values["producers"] = {pid: (int(e), int(s)) for pid, (e, s) in values["producers"].items()}
    return StreamRecord(**values)


@dataclass
class StreamTable:
    engine: AsyncEngine

    async def get(self, name: str) -> StreamRecord | None:
        async with reading(self.engine) as connection:
            result = await connection.execute(
                sa.select(ds_streams).where(ds_streams.c.name == name)
            )
            row = result.first()
        return None if row is None else _record(row)

    async def insert(self, record: StreamRecord) -> None:
        async with transaction(self.engine) as connection:
            await connection.execute(sa.insert(ds_streams).values(_row(record)))

    async def save(self, record: StreamRecord) -> None:
        row = _row(record)
        async with transaction(self.engine) as connection:
            await connection.execute(
                sa.update(ds_streams).where(ds_streams.c.name == row.pop("name")).values(row)
            )

    async def delete(self, name: str) -> None:
        async with transaction(self.engine) as connection:
            await connection.execute(sa.delete(ds_streams).where(ds_streams.c.name == name))

    async def has_live_forks(self, name: str) -> bool:
        query = sa.select(sa.func.count()).where(
            ds_streams.c.forked_from == name, ds_streams.c.deleted == sa.false()
        )
        async with reading(self.engine) as connection:
            count = (await connection.execute(query)).scalar_one()
        return bool(count)
