"""`replaydeck keys create|list|revoke`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from replaydeck.cli.options import database_option, load_settings, local_engine, run

if TYPE_CHECKING:
    from replaydeck.auth.keys import ApiKey, KeyStore

T = TypeVar("T")
SCOPES = ("ingest", "read", "admin")


def with_keys(
    database_url: str | None, action: Callable[[KeyStore], Awaitable[T]], *, create: bool = False
) -> T:
    """Run `action` on the key table; only `keys create` may make a new database."""
    from replaydeck.auth.keys import KeyStore

    settings = load_settings(database_url=database_url)

    async def work() -> T:
        async with local_engine(settings, create=create) as engine:
            with contextlib.closing(KeyStore(engine)) as keys:
                return await action(keys)

    return run(work(), database=settings.database_url)


def _when(us: int | None) -> str:
    if us is None:
        return "-"
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _as_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "label": key.label,
        "scope": key.scope.value,
        "created_at": _when(key.created_at_us),
        "last_used_at": None if key.last_used_at_us is None else _when(key.last_used_at_us),
        "revoked_at": None if key.revoked_at_us is None else _when(key.revoked_at_us),
    }


@click.group()
def keys() -> None:
    """API keys: Authorization: Bearer <key> on every /v1 route."""


@keys.command("create")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    required=True,
    help="ingest: create sessions and append; read: read, stream, replay, trace; "
    "admin: everything, including delete and share links.",
)
@click.option("--label", default="", help="A note to tell keys apart, e.g. 'ci' or 'prod app'.")
@database_option
def create(scope: str, label: str, database_url: str | None) -> None:
    """Create a key and print it. It is shown only this once."""
    from replaydeck.auth.keys import Scope

    new = with_keys(database_url, lambda store: store.create(Scope(scope), label), create=True)
    # The notice goes to stderr so that `KEY=$(replaydeck keys create ...)` captures
    # only the key.
    click.echo(
        f"Created API key {new.record.id} (scope {scope}). Store it now; it is shown "
        "only once and replaydeck keeps only its hash:",
        err=True,
    )
    click.echo(new.secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
@database_option
def list_keys(as_json: bool, database_url: str | None) -> None:
    """List keys (never the keys themselves), oldest first."""
    found = with_keys(database_url, lambda store: store.list())
    if as_json:
        for key in found:
            click.echo(json.dumps(_as_json(key)))
        return
    if not found:
        click.echo("No API keys: the API is open on a loopback bind. Create one with "
                   "`replaydeck keys create --scope admin`.")  # fmt: skip
        return
    click.echo(f"{'ID':<18} {'SCOPE':<7} {'STATUS':<8} {'CREATED':<21} {'LAST USED':<21} LABEL")
    for key in found:
        status = "active" if key.active else "revoked"
        click.echo(
            f"{key.id:<18} {key.scope.value:<7} {status:<8} {_when(key.created_at_us):<21} "
            f"{_when(key.last_used_at_us):<21} {key.label}"
        )


@keys.command("revoke")
@click.argument("key_id")
@database_option
def revoke(key_id: str, database_url: str | None) -> None:
    """Revoke a key by its id (see `keys list`); it stops working at once."""

    async def revoke_one(store: KeyStore) -> tuple[ApiKey, bool]:
        return await store.revoke(key_id), await store.has_active_keys()

    key, others = with_keys(database_url, revoke_one)
    click.echo(f"Revoked API key {key.id} (scope {key.scope.value}).")
    if not others:
        click.echo(
            "No active key is left, so /v1 now answers 401 to every request. Create a key "
            "with `replaydeck keys create`, or serve with --open-without-keys to open it."
        )
