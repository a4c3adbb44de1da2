"""pytest plugin (entry point ``replaydeck``): the ``golden`` fixture.

``golden.assert_match(events, name)`` normalizes ``events`` and compares them with
``<golden_dir>/<name>.jsonl`` beside the test module (``golden_dir`` is an ini
option, ``golden`` by default). ``pytest --golden-update`` writes the files
instead and reports, at the end of the run, which were created and updated.

A golden file in a folder the run looked at that no test used fails a run that
ran whole test files (no node ids, ``-k`` or ``-m`` deselecting some, no xdist
controller, which sees no fixture): ``--golden-prune`` deletes such files,
``--golden-allow-unused`` only lists them. Two tests that use one golden name
fail, naming both.

The ``recorded_upstream`` fixture (upstream_fixture.py) plays a test's recorded
upstream; ``--upstream-record-mode`` (ini ``upstream_record_mode``) says whether it
may record, and ``@pytest.mark.recorded_upstream(...)`` passes it options.

This module is loaded into every pytest run in an environment where replaydeck
is installed, so it imports only the pure golden modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from replaydeck.testing import golden as golden_files
from replaydeck.testing.diff import diff
from replaydeck.testing.normalize import Normalizer, Transform, import_callable

UPDATE_FLAG = "--golden-update"
UPDATE_NEW_FLAG = "--golden-update-new-only"
PRUNE_FLAG = "--golden-prune"
ALLOW_UNUSED_FLAG = "--golden-allow-unused"
DIR_INI = "golden_dir"
NORMALIZER_INI = "golden_normalizer"
SUFFIX = ".jsonl"
# Not pytest-recording's --record-mode: both plugins may be installed in one project.
RECORD_MODE_FLAG = "--upstream-record-mode"
RECORD_MODE_INI = "upstream_record_mode"
RECORD_MODES = ("none", "once", "new_episodes", "rewrite")
UPSTREAM_DIR_INI = "upstream_dir"
UPSTREAM_MARK = "recorded_upstream"


@dataclass
class _Registry:
    update: bool
    rootpath: Path
    create_new: bool = False
    project_normalizer: Transform | None = None
    verbose: bool = False
    prune: bool = False
    allow_unused: bool = False
    # Whether this run ran whole test files, so an unused golden is truly unused.
    whole_files: bool = True
    created: list[Path] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)
    used: set[Path] = field(default_factory=set)
    # Under --golden-update: each file written, by the test that wrote it and what.
    written: dict[Path, tuple[str, list[Any]]] = field(default_factory=dict)
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

    def checks_unused(self) -> bool:
        return self.whole_files and not self.deselected


_REGISTRY = pytest.StashKey[_Registry]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("replaydeck", "replaydeck golden files")
    group.addoption(
        UPDATE_FLAG,
        action="store_true",
        default=False,
        help="create or refresh golden files from this run's output instead of comparing",
    )
    group.addoption(
        UPDATE_NEW_FLAG,
        action="store_true",
        default=False,
        help="create missing golden files from this run's output; compare the others",
    )
    group.addoption(
        PRUNE_FLAG,
        action="store_true",
        default=False,
        help="delete golden files that no test of this run used (whole test files only)",
    )
    group.addoption(
        ALLOW_UNUSED_FLAG,
        action="store_true",
        default=False,
        help="list golden files no test used instead of failing the run",
    )
    upstreams = parser.getgroup("replaydeck-upstreams", "replaydeck recorded upstreams")
    upstreams.addoption(
        RECORD_MODE_FLAG,
        choices=RECORD_MODES,
        default=None,
        help="none (default): play recorded upstreams only, refuse the rest; once: record "
        "the tests that have no recording yet; new_episodes: record what is missing; "
        "rewrite: record everything afresh",
    )
    parser.addini(RECORD_MODE_INI, "record mode when the command line gives none", default="none")
    parser.addini(
        UPSTREAM_DIR_INI,
        "folder of recorded upstreams, relative to each test module (default: upstreams)",
        default="upstreams",
    )
    parser.addini(
        DIR_INI,
        "folder of golden files, relative to each test module (default: golden)",
        default="golden",
    )
    parser.addini(
        NORMALIZER_INI,
        "a callable, as module:name, run on every golden comparison's normalized events "
        "(takes and returns the list), after the built-in normalization",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{UPSTREAM_MARK}(name=None, *, match='order', body=None, speed='max', upstream=None): "
        "options of the recorded_upstream fixture",
    )
    config.stash[_REGISTRY] = _Registry(
        update=bool(config.getoption(UPDATE_FLAG)),
        rootpath=config.rootpath,
        create_new=bool(config.getoption(UPDATE_NEW_FLAG)),
        project_normalizer=_load_normalizer(str(config.getini(NORMALIZER_INI))),
        verbose=config.get_verbosity() > 0,
        prune=bool(config.getoption(PRUNE_FLAG)),
        allow_unused=bool(config.getoption(ALLOW_UNUSED_FLAG)),
        # A node id ("test_x.py::test_y") runs part of a file; an xdist controller
        # collects but runs no test, and its workers each see a share of the tests.
        whole_files=not any("::" in str(arg) for arg in config.args)
        and not config.pluginmanager.hasplugin("dsession")
        and not hasattr(config, "workerinput"),
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


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    registry = session.config.stash[_REGISTRY]
    if not registry.checks_unused():
        return
    unused = list(registry.unused())
    if registry.prune:
        for path in unused:
            path.unlink()
            registry.pruned.append(path)
    elif unused and not (registry.allow_unused or registry.update) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    registry = config.stash[_REGISTRY]
    unused = list(registry.unused()) if registry.checks_unused() else []
    if not (registry.update or registry.created or registry.pruned or unused):
        return
    terminalreporter.write_sep("-", "golden files")
    for label, paths in (
        ("created", registry.created),
        ("updated", registry.updated),
        ("deleted, as no test used it", registry.pruned),
    ):
        for path in paths:
            terminalreporter.write_line(f"{label}: {registry.show(path)}")
    for path in unused:
        terminalreporter.write_line(f"unused: {registry.show(path)}")
    if unused:
        terminalreporter.write_line(
            f"no test of this run used {len(unused)} golden file(s): delete them with "
            f"`pytest {PRUNE_FLAG}`, or pass {ALLOW_UNUSED_FLAG} to keep them"
            + ("" if registry.allow_unused or registry.update else " (this fails the run)")
        )
    if registry.update and not registry.checks_unused():
        terminalreporter.write_line(
            "(only part of the tests ran: unused golden files were not looked for)"
        )
    if registry.update and not (registry.created or registry.updated or unused):
        terminalreporter.write_line("all golden files up to date")


class Golden:
    """The ``golden`` fixture's value: one test's view of its golden folder."""

    def __init__(self, folder: Path, registry: _Registry, nodeid: str = "") -> None:
        self.folder = folder
        self._registry = registry
        self._nodeid = nodeid

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
        events: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
        name: str | None = None,
        *,
        strict: bool = False,
        mask_paths: Mapping[str, str] | Iterable[str] = (),
        patterns: Sequence[tuple[Any, str]] | None = None,
        default_masks: bool = True,
        normalize: Transform | None = None,
    ) -> Any:
        """Fail the test unless ``events``, normalized, equal the golden file ``name``.

        ``patterns`` add to the default masks (``default_masks=False`` drops
        those); ``normalize`` runs last, after the project's ``golden_normalizer``.
        ``events`` may be an async iterable (what ``replay()`` returns): then
        ``await golden.assert_match(...)``. Without a ``name``, the test's own
        name is used (``test_agent[gpt]`` → ``test_agent-gpt``).
        """
        __tracebackhide__ = True
        name = name if name is not None else self._default_name()
        transforms = [t for t in (self._registry.project_normalizer, normalize) if t is not None]
        options = {
            "strict": strict,
            "mask_paths": mask_paths,
            "patterns": patterns,
            "default_masks": default_masks,
            "transforms": transforms,
        }
        if isinstance(events, AsyncIterable):
            return self._assert_match_async(events, name, options)
        self._compare(list(events), name, options)
        return None

    async def _assert_match_async(
        self, events: AsyncIterable[Mapping[str, Any]], name: str, options: dict[str, Any]
    ) -> None:
        __tracebackhide__ = True
        self._compare([event async for event in events], name, options)

    def _default_name(self) -> str:
        test = self._nodeid.rpartition("::")[2] or "golden"
        # Parameter ids become part of a file name: only characters every file system takes.
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", test).strip("-.") or "golden"

    def _compare(self, events: list[Mapping[str, Any]], name: str, options: dict[str, Any]) -> None:
        __tracebackhide__ = True
        try:
            normalizer = Normalizer.build(**options)
            actual = normalizer(events)
        except ValueError as e:
            pytest.fail(str(e), pytrace=False)
        normalization = normalizer.describe()
        path = self.path(name)
        registry = self._registry
        shown = registry.show(path)
        registry.used.add(path.resolve())
        if registry.update:
            # Tests may share a golden file to say they must agree; two that would
            # write different contents to it are an error, not an update.
            owner, written = registry.written.setdefault(
                path.resolve(), (self._nodeid, [normalization, *actual])
            )
            if written != [normalization, *actual]:
                pytest.fail(
                    f"golden file {shown} is written by two tests with different output, "
                    f"{owner} and {self._nodeid}; give each its own name",
                    pytrace=False,
                )
            if owner != self._nodeid:
                return
            outcome = golden_files.write(path, actual, normalization)
            if outcome == "created":
                registry.created.append(path)
            elif outcome == "updated":
                registry.updated.append(path)
            return
        if not path.exists() and registry.create_new:
            golden_files.write(path, actual, normalization)
            registry.created.append(path)
            return
        if not path.exists():
            preview = golden_files.dumps(actual, normalization=normalization).decode()
            pytest.fail(
                f"golden file {shown} does not exist; run `pytest {UPDATE_FLAG}` to create it "
                "from this test's output, review it, and commit it. It would hold:\n"
                + (preview if len(preview) <= 4000 else preview[:4000] + "…\n"),
                pytrace=False,
            )
        entries = golden_files.read_all(path)
        recorded = golden_files.normalization_of(entries)
        if recorded != normalization:
            # The file would otherwise claim a normalization that did not make it, and
            # `replaydeck golden check` would apply the wrong one.
            pytest.fail(
                f"golden file {shown} was made with normalization {_show(recorded)}; this "
                f"test now uses {_show(normalization)}. If that is intended, run "
                f"`pytest {UPDATE_FLAG}` and commit the change",
                pytrace=False,
            )
        report = diff(golden_files.without_header(entries), actual, verbose=registry.verbose)
        if report is not None:
            pytest.fail(
                f"output differs from golden file {shown}\n{report}\n"
                f"if the new output is right, run `pytest {UPDATE_FLAG}` and commit the change",
                pytrace=False,
            )


def _show(normalization: Mapping[str, Any]) -> str:
    return json.dumps(normalization, sort_keys=True) if normalization else "(the defaults)"


def _load_normalizer(spec: str) -> Transform | None:
    if not spec:
        return None
    try:
        return import_callable(spec)
    except ValueError as e:
        raise pytest.UsageError(f"{NORMALIZER_INI} = {spec!r}: {e}") from None


def _folder(config: pytest.Config, module_path: Path) -> Path:
    return module_path.parent / str(config.getini(DIR_INI))


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(
        _folder(request.config, request.path),
        request.config.stash[_REGISTRY],
        request.node.nodeid,
    )


@pytest.fixture
def recorded_upstream(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's recorded upstream (replaydeck.testing.upstream_fixture.Upstream)."""
    from replaydeck.testing.upstream_fixture import Upstream

    mode = request.config.getoption(RECORD_MODE_FLAG) or str(request.config.getini(RECORD_MODE_INI))
    if mode not in RECORD_MODES:
        raise pytest.UsageError(
            f"{RECORD_MODE_INI} = {mode!r} is not a record mode; use one of "
            + ", ".join(RECORD_MODES)
        )
    marker = request.node.get_closest_marker(UPSTREAM_MARK)
    options = dict(marker.kwargs) if marker is not None else {}
    name = (marker.args[0] if marker is not None and marker.args else None) or options.pop(
        "name", None
    )
    options.pop("name", None)
    folder = request.path.parent / str(request.config.getini(UPSTREAM_DIR_INI))
    # A name with a folder in it ("test_agent/weather") is another module's recording.
    stem = str(name) if name else re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-.")
    if "/" not in stem:
        stem = f"{request.path.stem}/{stem}"
    upstream = Upstream(folder / f"{stem}.json", mode=mode, **options)
    try:
        yield upstream
    finally:
        upstream.close()
    refused = upstream.transport.refused
    if refused:
        pytest.fail(
            f"{len(refused)} request(s) had no recorded exchange in "
            f"{_shown(request.config, upstream.path)}:\n- "
            + "\n- ".join(refused)
            + f"\nrecord them with `pytest {RECORD_MODE_FLAG}=once` (no recording yet), "
            "new_episodes (add the missing ones) or rewrite (start afresh)",
            pytrace=False,
        )


def _shown(config: pytest.Config, path: Path) -> str:
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)
