"""Apply the Alembic history programmatically (CLI and app start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import replaydeck.migrations

# The history ships inside the package (pyproject maps migrations/ there), so an
# installed wheel migrates from any working directory, without alembic.ini.
SCRIPT_LOCATION = Path(replaydeck.migrations.__file__).parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    # env.py runs on this connection instead of opening its own engine.
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.connect() as connection:
        connection = await connection.execution_options(sqlite_begin="IMMEDIATE")
        async with connection.begin():
            await connection.run_sync(_upgrade, revision)
