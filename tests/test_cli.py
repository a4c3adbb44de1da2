"""The replaydeck command, run as a user would run it."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from replaydeck.cli import main
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from replaydeck.web.serve import freeze_startup_heap


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaydeck", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("command", [[], ["serve"], ["db"], ["db", "upgrade"], ["demo"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_db_upgrade_and_demo(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    upgraded = run("db", "upgrade", "--database-url", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    demo = run("demo", "--database-url", url)
    assert demo.returncode == 0, demo.stderr
    assert "Recorded session 'demo'" in demo.stdout
    again = run("demo", "--database-url", url)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_bad_database_url_is_a_sentence() -> None:
    result = run("db", "upgrade", "--database-url", "mysql://x")
    assert result.returncode == 1
    assert "is not supported" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_loopback_bind_without_keys_refuses(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    result = run("serve", "--host", "0.0.0.0", "--database-url", url)
    assert result.returncode == 1
    assert "--insecure" in result.stderr


def test_serving_freezes_the_start_up_heap_out_of_full_collections() -> None:
    create_app(Settings())  # what `serve` builds before it freezes
    try:
        freeze_startup_heap()
        # The imported frameworks and the app: far more objects than any request makes.
        assert gc.get_freeze_count() > 50_000
    finally:
        gc.unfreeze()
