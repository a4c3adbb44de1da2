"""What the commands share: options, settings, the local database, errors and exit codes.

Exit codes: 0 done, 1 a runtime error (a sentence on stderr), 2 a usage error.
Nothing here imports the server's dependencies at import time: `pip install
replaydeck` (the client) runs the client commands, and a server command run
without the `[server]` extra says what to install.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from replaydeck.config import Settings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/replaydeck.db"
# Importable names of the `[server]` extra's packages.
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "aiosqlite", "alembic", "pydantic_settings")


def require_server(what: str) -> None:
    """Refuse, with the install command, when the `[server]` extra is missing."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(
            f"{what} needs replaydeck's server, which is not installed here (missing: "
            f"{', '.join(missing)}). Install it with: pip install 'replaydeck[server]'"
        )


def database_option(function: F) -> F:
    return click.option(
        "--database-url",
        metavar="URL",
        help=f"Database URL (env REPLAYDECK_DATABASE_URL). Default: {DEFAULT_DATABASE_URL}",
    )(function)


def server_options(function: F) -> F:
    """--url and --api-key: talk to a running server instead of a database."""
    function = click.option(
        "--api-key",
        envvar="REPLAYDECK_API_KEY",
        help="API key for --url (env REPLAYDECK_API_KEY).",
    )(function)
    return click.option(
        "--url",
        metavar="URL",
        help="A running replaydeck server, e.g. http://127.0.0.1:8000.",
    )(function)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus command-line options, or a clean exit."""
    require_server("Using a database directly")
    from pydantic import ValidationError

    from replaydeck.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        messages = "; ".join(
            str(error["msg"]).removeprefix("Value error, ") for error in e.errors()
        )
        raise click.ClickException(messages) from None


def check_exists(settings: Settings) -> None:
    """A command that only reads must not create an empty database as a side effect."""
    path = settings.sqlite_path
    if path is not None and not path.exists():
        raise click.ClickException(
            f"There is no database at {path.resolve()}; pass --database-url (or set "
            "REPLAYDECK_DATABASE_URL) to the one `replaydeck serve` uses."
        )


@asynccontextmanager
async def local_engine(settings: Settings, *, create: bool) -> AsyncIterator[AsyncEngine]:
    """The database's engine, migrated; a SQLite file is made only when `create`
    (a command that creates something), never by one that reads or deletes."""
    from replaydeck.store.engine import make_engine
    from replaydeck.store.migrate import upgrade

    if not create:
        check_exists(settings)
    engine = make_engine(settings)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


def run(coroutine: Coroutine[Any, Any, T], *, database: str | None = None) -> T:
    """Run a command's work; refusals and unreachable databases become exit 1 with
    their sentence, never a traceback."""
    from replaydeck.errors import ReplaydeckError
    from replaydeck.share.masking import mask_credentials

    # Error output ends up in logs: never the database password.
    database = None if database is None else mask_credentials(database)
    try:
        return asyncio.run(coroutine)
    except ReplaydeckError as e:
        raise click.ClickException(e.detail) from None
    except OSError as e:
        where = f" at {database}" if database else ""
        raise click.ClickException(f"Could not reach the database{where}: {e}") from None
    except Exception as e:
        if type(e).__module__.startswith(("sqlalchemy", "asyncpg")):
            where = f" at {database}" if database else ""
            raise click.ClickException(
                f"The database{where} could not be used: {str(e).splitlines()[0]}"
            ) from None
        raise
