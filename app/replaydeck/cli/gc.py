"""`replaydeck gc`: delete sessions idle for longer than an age, or list them (--dry-run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from replaydeck.cli.options import database_option, load_settings, local_engine, run
from replaydeck.durations import parse_duration

if TYPE_CHECKING:
    from replaydeck.config import Settings
    from replaydeck.store.base import GcReport

_SHOWN = 20


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


async def _collect(settings: Settings, dry_run: bool) -> GcReport:
    from replaydeck.store.backends import open_store

    assert settings.retention is not None
    async with local_engine(settings, create=False) as engine:
        return await open_store(engine).delete_idle(older_than=settings.retention, dry_run=dry_run)


@click.command("gc")
@click.option(
    "--older-than",
    metavar="AGE",
    callback=_age,
    help="Delete sessions idle for longer than this: 30d, 12h, 90m (default: "
    "REPLAYDECK_RETENTION).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@database_option
def gc(older_than: timedelta | None, dry_run: bool, database_url: str | None) -> None:
    """Delete old sessions with their events and shares (safe while the server runs)."""
    settings = load_settings(database_url=database_url, retention=older_than)
    if settings.retention is None:
        raise click.UsageError(
            "Say how old a session must be: pass --older-than 30d or set REPLAYDECK_RETENTION."
        )
    report = run(_collect(settings, dry_run), database=settings.database_url)
    cutoff = datetime.fromtimestamp(report.cutoff_us / 1e6, UTC).isoformat(timespec="seconds")
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {len(report.session_ids)} sessions ({report.events} events) "
        f"idle since before {cutoff}."
    )
    for session_id in report.session_ids[:_SHOWN]:
        click.echo(f"  {session_id}")
    if len(report.session_ids) > _SHOWN:
        click.echo(f"  … and {len(report.session_ids) - _SHOWN} more")
