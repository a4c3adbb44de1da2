"""The golden plugin, run by a real pytest in a subprocess on generated test files."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_MODULE = """
import json, os

def events():
    return [
        {"seq": 1, "type": "tool.call",
         "data": {"name": "web.search", "args": {"q": os.environ.get("QUERY", "sse")},
                  "call_id": "c1"}},
        *[{"seq": i + 2, "type": "message.delta", "data": {"text": chunk}}
          for i, chunk in enumerate(os.environ.get("CHUNKS", "Hello, world").split("|"))],
    ]

def test_turn(golden):
    golden.assert_match(events(), "turn")
"""


def run_pytest(
    folder: Path, *args: str, env: dict[str, str] | None = None, autoload: bool = False
) -> subprocess.CompletedProcess[str]:
    # Loading every installed plugin costs seconds a run; one test keeps autoload on
    # to prove the pytest11 entry point, the others load just this plugin.
    plugins = [] if autoload else ["-p", "replaydeck.testing.plugin"]
    isolation = {} if autoload else {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    # The generated project lives in a temporary folder; make `replaydeck` importable
    # from there even where it is not installed in the interpreter.
    path = os.pathsep.join(p for p in (str(REPO_ROOT / "app"), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *plugins, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": path,
            **isolation,
            **(env or {}),
        },
        timeout=60,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_agent.py").write_text(textwrap.dedent(TEST_MODULE))
    return tmp_path


def test_missing_golden_fails_with_a_hint(project: Path) -> None:
    result = run_pytest(project)
    assert result.returncode == 1, result.stdout
    assert "golden file golden/turn.jsonl does not exist" in result.stdout
    assert "--golden-update" in result.stdout


def test_update_creates_then_the_run_passes(project: Path) -> None:
    result = run_pytest(project, "--golden-update", autoload=True)
    assert result.returncode == 0, result.stdout
    assert "created: golden/turn.jsonl" in result.stdout
    assert (project / "golden" / "turn.jsonl").read_text().splitlines() == [
        '{"data":{"args":{"q":"sse"},"call_id":"c1","name":"web.search"},"type":"tool.call"}',
        '{"data":{"text":"Hello, world"},"type":"message"}',
    ]
    assert run_pytest(project).returncode == 0


def test_rechunked_equal_answer_passes(project: Path) -> None:
    run_pytest(project, "--golden-update")
    result = run_pytest(project, env={"CHUNKS": "Hel|lo, w|orld"})
    assert result.returncode == 0, result.stdout


def test_changed_tool_argument_fails_naming_index_and_path(project: Path) -> None:
    run_pytest(project, "--golden-update")
    result = run_pytest(project, env={"QUERY": "websockets"})
    assert result.returncode == 1, result.stdout
    assert "output differs from golden file golden/turn.jsonl" in result.stdout
    assert "event 0 (tool.call) differs at $[0].data.args.q" in result.stdout
    assert 'expected: "sse"' in result.stdout
    assert 'actual:   "websockets"' in result.stdout


def test_update_reports_updated_and_unused_files(project: Path) -> None:
    run_pytest(project, "--golden-update")
    (project / "golden" / "stale.jsonl").write_text('{"type":"status"}\n')
    result = run_pytest(project, "--golden-update", env={"QUERY": "websockets"})
    assert result.returncode == 0, result.stdout
    assert "updated: golden/turn.jsonl" in result.stdout
    assert "unused: golden/stale.jsonl" in result.stdout
    assert "created:" not in result.stdout
    assert '"q":"websockets"' in (project / "golden" / "turn.jsonl").read_text()
    again = run_pytest(project, "--golden-update", env={"QUERY": "websockets"})
    assert "updated:" not in again.stdout
    assert "unused: golden/stale.jsonl" in again.stdout


def test_ini_option_sets_the_folder(project: Path) -> None:
    (project / "pytest.ini").write_text("[pytest]\ngolden_dir = fixtures/expected\n")
    result = run_pytest(project, "--golden-update")
    assert "created: fixtures/expected/turn.jsonl" in result.stdout
    assert (project / "fixtures" / "expected" / "turn.jsonl").exists()
    assert not (project / "golden").exists()


def test_a_name_escaping_the_folder_is_refused(project: Path) -> None:
    (project / "test_agent.py").write_text(
        "def test_escape(golden):\n    golden.assert_match([], '../outside')\n"
    )
    result = run_pytest(project, "--golden-update")
    assert result.returncode == 1
    assert "must be a relative name" in result.stdout
    assert not (project / "outside.jsonl").exists()


def test_an_unused_golden_fails_a_whole_run_and_prune_deletes_it(project: Path) -> None:
    run_pytest(project, "--golden-update")
    stale = project / "golden" / "stale.jsonl"
    stale.write_text('{"type":"status"}\n')
    failed = run_pytest(project)
    assert failed.returncode == 1, failed.stdout
    assert "unused: golden/stale.jsonl" in failed.stdout
    assert "--golden-prune" in failed.stdout
    allowed = run_pytest(project, "--golden-allow-unused")
    assert allowed.returncode == 0, allowed.stdout
    # A node id runs part of a file: the other goldens are not judged.
    assert run_pytest(project, "test_agent.py::test_turn").returncode == 0
    pruned = run_pytest(project, "--golden-prune")
    assert pruned.returncode == 0, pruned.stdout
    assert "deleted, as no test used it: golden/stale.jsonl" in pruned.stdout
    assert not stale.exists()
    assert (project / "golden" / "turn.jsonl").exists()


def test_two_tests_writing_one_golden_differently_fail_naming_both(project: Path) -> None:
    (project / "test_two.py").write_text(
        textwrap.dedent(
            """
            def test_one(golden):
                golden.assert_match([{"type": "status", "data": {"label": "a"}}], "shared")

            def test_same(golden):
                golden.assert_match([{"type": "status", "data": {"label": "a"}}], "shared")

            def test_other(golden):
                golden.assert_match([{"type": "status", "data": {"label": "b"}}], "shared")
            """
        )
    )
    result = run_pytest(project, "--golden-update", "test_two.py")
    assert result.returncode == 1, result.stdout
    assert (
        "golden file golden/shared.jsonl is written by two tests with different output, "
        "test_two.py::test_one and test_two.py::test_other"
    ) in result.stdout
    assert result.stdout.count("created: golden/shared.jsonl") == 1
    assert "updated: golden/shared.jsonl" not in result.stdout


def test_an_async_iterable_is_awaited(project: Path) -> None:
    (project / "test_async.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            async def events():
                for label in ("a", "b"):
                    yield {"type": "status", "data": {"label": label}}

            def test_async(golden):
                async def main():
                    await golden.assert_match(events(), "async")
                asyncio.run(main())
            """
        )
    )
    assert run_pytest(project, "--golden-update", "test_async.py").returncode == 0
    assert (project / "golden" / "async.jsonl").read_text().count("\n") == 2
    assert run_pytest(project, "test_async.py").returncode == 0


def test_a_missing_golden_shows_what_would_be_written(project: Path) -> None:
    result = run_pytest(project)
    assert '{"data":{"text":"Hello, world"},"type":"message"}' in result.stdout


def test_a_project_normalizer_and_a_mistyped_mask_path(project: Path) -> None:
    (project / "pytest.ini").write_text("[pytest]\ngolden_normalizer = conftest:no_status\n")
    (project / "conftest.py").write_text(
        "def no_status(events):\n    return [e for e in events if e['type'] != 'status']\n"
    )
    (project / "test_norm.py").write_text(
        textwrap.dedent(
            """
            EVENTS = [{"type": "status", "data": {"label": "x"}},
                      {"type": "tool.result", "data": {"result": {"id": "r-1"}}}]

            def test_norm(golden):
                golden.assert_match(EVENTS, "norm", mask_paths=["data.result.id"])

            def test_typo(golden):
                golden.assert_match(EVENTS, "typo", mask_paths=["data.reslt.id"])
            """
        )
    )
    result = run_pytest(project, "--golden-update", "test_norm.py")
    assert result.returncode == 1, result.stdout
    assert "mask path 'data.reslt.id' matches nothing" in result.stdout
    # The header records the normalization that made the file (see test_golden_cli.py).
    assert (project / "golden" / "norm.jsonl").read_text() == (
        '{"format":"replaydeck.golden","normalize":{"mask_paths":{"data.result.id":"<masked>"},'
        '"transforms":["conftest:no_status"]},"version":1}\n'
        '{"data":{"result":{"id":"<masked>"}},"type":"tool.result"}\n'
    )
    assert run_pytest(project, "test_norm.py::test_norm").returncode == 0
    # A test whose normalization changed fails until its golden file is updated.
    (project / "pytest.ini").write_text("[pytest]\n")
    changed = run_pytest(project, "test_norm.py::test_norm")
    assert changed.returncode == 1
    assert (
        "golden file golden/norm.jsonl was made with normalization "
        '{"mask_paths": {"data.result.id": "<masked>"}, "transforms": ["conftest:no_status"]}; '
        'this test now uses {"mask_paths": {"data.result.id": "<masked>"}}'
    ) in changed.stdout.replace("\n", "")


def test_unnamed_goldens_take_the_test_name_and_new_only_creates_just_those(
    project: Path,
) -> None:
    run_pytest(project, "--golden-update")
    (project / "test_named.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.parametrize("model", ["gpt/4o", "claude"])
            def test_agent(golden, model):
                golden.assert_match([{"type": "status", "data": {"label": model}}])
            """
        )
    )
    result = run_pytest(project, "--golden-update-new-only", env={"QUERY": "websockets"})
    # turn.jsonl exists and now differs: compared, not rewritten; the new ones are made.
    assert result.returncode == 1, result.stdout
    assert "output differs from golden file golden/turn.jsonl" in result.stdout
    assert "created: golden/test_agent-gpt-4o.jsonl" in result.stdout
    assert "created: golden/test_agent-claude.jsonl" in result.stdout
    assert '"q":"sse"' in (project / "golden" / "turn.jsonl").read_text()
    assert run_pytest(project).returncode == 0
