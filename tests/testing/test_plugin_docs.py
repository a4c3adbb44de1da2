"""Every option, ini setting, marker and fixture of the pytest plugin is in the README."""

import re
from pathlib import Path

import pytest

from replaydeck.testing import plugin

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
NAMES = [
    plugin.UPDATE_FLAG,
    plugin.UPDATE_NEW_FLAG,
    plugin.PRUNE_FLAG,
    plugin.ALLOW_UNUSED_FLAG,
    plugin.DIR_INI,
    plugin.NORMALIZER_INI,
    plugin.RECORD_MODE_FLAG,
    plugin.RECORD_MODE_INI,
    plugin.UPSTREAM_DIR_INI,
    f"pytest.mark.{plugin.UPSTREAM_MARK}",
]
# Short words, so a code span of their own: `once`, `golden`.
WORDS = [*plugin.RECORD_MODES, "golden", "recorded_upstream"]


@pytest.mark.parametrize("name", NAMES)
def test_the_plugin_is_documented(name: str) -> None:
    # In a code span: `pytest --golden-update`, `@pytest.mark.recorded_upstream("x")` …
    assert re.search(rf"`[^`\n]*{re.escape(name)}[^`\n]*`", README), f"{name} is not in README.md"


@pytest.mark.parametrize("word", WORDS)
def test_the_record_modes_and_fixtures_are_documented(word: str) -> None:
    assert f"`{word}`" in README, f"{word} is not in README.md"
