"""pytest plugin (entry point ``replaydeck``): the ``golden`` fixture.

``golden.assert_match(events, name)`` normalizes ``events`` and compares them with
``<golden_dir>/<name>.jsonl`` beside the test module (``golden_dir`` is an ini
option, ``golden`` by default). ``pytest --golden-update`` writes the files
instead and reports, at the end of the run, which were created, updated, and
which golden files in the folders it looked at no test used.

This module is loaded into every pytest run in an environment where replaydeck
is installed, so it imports only the pure golden modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from replaydeck.testing import golden as golden_files
from replaydeck.testing.diff import diff
from replaydeck.testing.normalize import Normalizer

UPDATE_FLAG = "--golden-update"
DIR_INI = "golden_dir"
SUFFIX = ".jsonl"


@dataclass
class _Registry:
    update: bool
    rootpath: Path
    created: list[Path] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    used: set[Path] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)
    deselected: int = 0

    def show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.rootpath))
        except ValueError:
            return str(path)

    def unused(self) -> Iterator[Path]:
        for folder in sorted(self.folders):
            if folder.is_dir():
                for path in sorted(folder.rglob(f"*{SUFFIX}")):
                    if path.resolve() not in self.used:
                        yield path


_REGISTRY = pytest.StashKey[_Registry]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("replaydeck", "replaydeck golden files")
    group.addoption(
        UPDATE_FLAG,
        action="store_true",
        default=False,
        help="create or refresh golden files from this run's output instead of comparing",
    )
    parser.addini(
        DIR_INI,
        "folder of golden files, relative to each test module (default: golden)",
        default="golden",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REGISTRY] = _Registry(
        update=bool(config.getoption(UPDATE_FLAG)), rootpath=config.rootpath
    )


def pytest_collection_modifyitems(items: list[pytest.Item], config: pytest.Config) -> None:
    registry = config.stash[_REGISTRY]
    for item in items:
        if "golden" in getattr(item, "fixturenames", ()):
            registry.folders.add(_folder(config, item.path).resolve())


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    if items:
        registry = items[0].config.stash[_REGISTRY]
        registry.deselected += len(items)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    registry = config.stash[_REGISTRY]
    if not registry.update:
        return
    terminalreporter.write_sep("-", "golden files")
    for label, paths in (("created", registry.created), ("updated", registry.updated)):
        for path in paths:
            terminalreporter.write_line(f"{label}: {registry.show(path)}")
    unused = list(registry.unused())
    for path in unused:
        terminalreporter.write_line(f"unused: {registry.show(path)}")
    if unused and registry.deselected:
        terminalreporter.write_line(
            f"({registry.deselected} tests were deselected; their goldens may show as unused)"
        )
    if not (registry.created or registry.updated or unused):
        terminalreporter.write_line("all golden files up to date")


class Golden:
    """The ``golden`` fixture's value: one test's view of its golden folder."""

    def __init__(self, folder: Path, registry: _Registry) -> None:
        self.folder = folder
        self._registry = registry

    def path(self, name: str) -> Path:
        relative = PurePosixPath(name if name.endswith(SUFFIX) else name + SUFFIX)
        if relative.is_absolute() or ".." in relative.parts or not relative.stem:
            raise ValueError(
                f"golden name {name!r} must be a relative name like 'agent/weather' "
                "without '..'; it names a file inside the golden folder"
            )
        return self.folder.joinpath(*relative.parts)

    def assert_match(
        self,
        events: Iterable[Mapping[str, Any]],
        name: str,
        *,
        strict: bool = False,
        mask_paths: Mapping[str, str] | Iterable[str] = (),
        patterns: Sequence[tuple[Any, str]] | None = None,
    ) -> None:
        """Fail the test unless ``events``, normalized, equal the golden file ``name``."""
        __tracebackhide__ = True
        normalizer = Normalizer.build(strict=strict, mask_paths=mask_paths, patterns=patterns)
        actual = normalizer(events)
        path = self.path(name)
        registry = self._registry
        registry.used.add(path.resolve())
        shown = registry.show(path)
        if registry.update:
            outcome = golden_files.write(path, actual)
            if outcome == "created":
                registry.created.append(path)
            elif outcome == "updated":
                registry.updated.append(path)
            return
        if not path.exists():
            pytest.fail(
                f"golden file {shown} does not exist; run `pytest {UPDATE_FLAG}` to create it "
                "from this test's output, review it, and commit it",
                pytrace=False,
            )
        report = diff(golden_files.read(path), actual)
        if report is not None:
            pytest.fail(
                f"output differs from golden file {shown}\n{report}\n"
                f"if the new output is right, run `pytest {UPDATE_FLAG}` and commit the change",
                pytrace=False,
            )


def _folder(config: pytest.Config, module_path: Path) -> Path:
    return module_path.parent / str(config.getini(DIR_INI))


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(_folder(request.config, request.path), request.config.stash[_REGISTRY])
