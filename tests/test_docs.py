"""Docs are tested: every route, setting and command is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.web.app import create_app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
UNDOCUMENTED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    found = []
    for route in app.routes:
        # Newer FastAPI keeps included routers as one entry that expands lazily.
        expand = getattr(route, "effective_route_contexts", None)
        for leaf in expand() if expand is not None else [route]:
            methods = getattr(leaf, "methods", None) or set()
            if leaf.path not in UNDOCUMENTED_PATHS:
                found.extend((method, leaf.path) for method in sorted(methods - {"HEAD"}))
    assert len(found) > 10, found
    return found


def _commands(group: click.Group, prefix: str = "replaydeck") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            names.extend(_commands(command, full))
        else:
            names.append(full)
    return names


@pytest.mark.parametrize(("method", "path"), _routes())
def test_every_route_is_documented(method: str, path: str) -> None:
    # Path parameters may be named differently in prose: {id} vs {session_id}.
    pattern = re.escape(path)
    pattern = re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]+\\}", pattern)
    assert re.search(rf"{method} {pattern}(?![\w/])", README), f"{method} {path} not in README"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented(field: str) -> None:
    assert f"REPLAYDECK_{field.upper()}" in README


@pytest.mark.parametrize("command", _commands(main))
def test_every_command_is_documented(command: str) -> None:
    assert command in README
