"""`replaydeck golden export|diff|check`, `replaydeck export` and `replaydeck import`.

A SESSION argument is a session id (read from REPLAYDECK_DATABASE_URL, or from
the server given by --url), a session or share URL, or a file (an export
archive or a golden file). Exit codes follow diff(1) for `golden diff|check`:
0 equal, 1 a difference, 2 trouble (a usage error or a source that cannot be
read); `export` and `import` exit 1 on a runtime error and 2 on a usage error.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from replaydeck.cli.options import check_exists, database_option, load_settings, server_options
from replaydeck.testing import archive
from replaydeck.testing import golden as golden_files
from replaydeck.testing.diff import diff
from replaydeck.testing.normalize import PATH_PLACEHOLDER, Normalizer
from replaydeck.testing.sources import (
    Progress,
    Recording,
    SourceError,
    api_client,
    is_normal_form,
    is_url,
    load_file,
    load_url,
    session_url,
)

if TYPE_CHECKING:
    from replaydeck.config import Settings
    from replaydeck.testing.transfer import Imported

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class SourceProblem(click.ClickException):
    # For golden diff/check, 1 means "the sequences differ" (as diff(1)); a source
    # that cannot be read is trouble, 2.
    exit_code = 2


def _run(
    coroutine: Coroutine[Any, Any, T], problem: type[click.ClickException] = SourceProblem
) -> T:
    from replaydeck.errors import ReplaydeckError

    try:
        return asyncio.run(coroutine)
    except SourceError as e:
        raise problem(str(e)) from None
    except ReplaydeckError as e:
        # The store refused an imported event; its detail says which and why.
        raise problem(e.detail) from None


def source_options(function: F) -> F:
    return server_options(database_option(function))


def normalizer_options(function: F) -> F:
    function = click.option(
        "--no-default-masks", is_flag=True, help="Keep dates and UUIDs instead of masking them."
    )(function)
    function = click.option(
        "--mask-regex",
        multiple=True,
        metavar="REGEX[=PLACEHOLDER]",
        help="Replace matches in every string value (repeatable).",
    )(function)
    function = click.option(
        "--mask",
        multiple=True,
        metavar="PATH",
        help="Replace the value at a JSON path such as data.result.id or data.items[*].id.",
    )(function)
    return click.option("--strict", is_flag=True, help="Keep message.delta chunks as they are.")(
        function
    )


def build_normalizer(
    strict: bool, mask: tuple[str, ...], mask_regex: tuple[str, ...], no_default_masks: bool
) -> Normalizer:
    patterns: list[tuple[re.Pattern[str] | str, str]] = []
    for spec in mask_regex:
        regex, _, placeholder = spec.rpartition("=") if "=" in spec else (spec, "", "")
        try:
            patterns.append((re.compile(regex), placeholder or PATH_PLACEHOLDER))
        except re.error as e:
            raise click.BadParameter(
                f"{regex!r} is not a regular expression ({e})", param_hint="--mask-regex"
            ) from None
    try:
        return Normalizer.build(
            strict=strict, mask_paths=mask, patterns=patterns, default_masks=not no_default_masks
        )
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--mask") from None


class ProgressBar:
    """A click progress bar on stderr, opened on the first report, when the total is known."""

    def __init__(self, stack: ExitStack, label: str) -> None:
        self._stack = stack
        self._label = label
        self._bar: Any = None

    def __call__(self, count: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._stack.enter_context(
                click.progressbar(length=total, label=self._label, file=sys.stderr)
            )
        self._bar.update(count)


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    with ExitStack() as stack:
        yield ProgressBar(stack, label)


def read_source(
    source: str,
    *,
    url: str | None,
    api_key: str | None,
    database_url: str | None,
    progress: Progress | None = None,
    problem: type[click.ClickException] = SourceProblem,
) -> Recording:
    """A recording from a file, a URL, a server given by --url, or the local database."""
    if not is_url(source) and Path(source).is_file():
        return load_file_or_fail(Path(source), problem)
    return _run(_read_remote_or_local(source, url, api_key, database_url, progress), problem)


async def _read_remote_or_local(
    source: str,
    url: str | None,
    api_key: str | None,
    database_url: str | None,
    progress: Progress | None,
) -> Recording:
    if is_url(source) or url is not None:
        target = source if is_url(source) else session_url(str(url), source)
        async with api_client(api_key) as client:
            return await load_url(target, client, progress=progress)
    from replaydeck.testing.transfer import read_local

    settings = _settings(database_url)
    try:
        check_exists(settings)
    except click.ClickException as e:
        raise SourceError(e.message) from None
    return await read_local(settings, source, progress=progress)


def _settings(database_url: str | None) -> Settings:
    try:
        return load_settings(database_url=database_url)
    except click.ClickException as e:
        raise SourceProblem(e.message) from None


def normal_form(source: str, normalizer: Normalizer, **options: Any) -> list[dict[str, Any]]:
    """A golden file as it is; anything else read and normalized."""
    path = Path(source)
    if not is_url(source) and path.is_file():
        try:
            header, events = archive.read(path)
        except ValueError as e:
            raise SourceProblem(str(e)) from None
        if header is None and is_normal_form(events):
            return events
    return normalizer(read_source(source, **options).events)


@click.group()
def golden() -> None:
    """Golden files: the normalized event sequences that agent tests compare against."""


@golden.command("export")
@click.argument("session")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Golden file to write, e.g. tests/golden/weather.jsonl.",
)
@normalizer_options
@source_options
def golden_export(session: str, output: Path, **options: Any) -> None:
    """Write SESSION's normal form as a golden file."""
    normalizer = _pop_normalizer(options)
    with progress_bar("reading events") as progress:
        recording = read_source(session, progress=progress, **options)
    entries = normalizer(recording.events)
    outcome = golden_files.write(output, entries, normalizer.describe())
    click.echo(f"{outcome} {output}: {len(entries)} entries from {len(recording.events)} events")


VERBOSE = click.option("-v", "--verbose", is_flag=True, help="List every difference, not a count.")


@golden.command("diff")
@click.argument("expected")
@click.argument("actual")
@normalizer_options
@source_options
@VERBOSE
def golden_diff(expected: str, actual: str, verbose: bool, **options: Any) -> None:
    """Compare two sequences (golden files, archives, sessions); exit 1 if they differ.

    Without normalization flags, a golden file's recorded normalization applies."""
    normalizer = _pop_normalizer(options, expected, actual)
    _compare(
        normal_form(expected, normalizer, **options),
        normal_form(actual, normalizer, **options),
        verbose=verbose,
    )


@golden.command("check")
@click.argument("session")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@normalizer_options
@source_options
@VERBOSE
def golden_check(session: str, file: str, verbose: bool, **options: Any) -> None:
    """Check that SESSION matches the golden FILE; exit 1 with the differences if not.

    Without normalization flags, the normalization FILE's header records applies."""
    normalizer = _pop_normalizer(options, file)
    _compare(
        normal_form(file, normalizer, **options),
        normal_form(session, normalizer, **options),
        verbose=verbose,
    )


def _pop_normalizer(options: dict[str, Any], *files: str) -> Normalizer:
    """The flags' normalizer; with no flags, the one a golden file's header records
    (the first of `files` that has one), so a check needs no flags repeated."""
    flags = (
        options.pop("strict"),
        options.pop("mask"),
        options.pop("mask_regex"),
        options.pop("no_default_masks"),
    )
    if not any(flags):
        for file in files:
            recorded = _recorded_normalization(file)
            if recorded:
                try:
                    return Normalizer.from_description(recorded)
                except ValueError as e:
                    raise SourceProblem(f"{file}: {e}") from None
    return build_normalizer(*flags)


def _recorded_normalization(source: str) -> dict[str, Any]:
    path = Path(source)
    if is_url(source) or not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            first = f.readline()
        return golden_files.normalization_of(golden_files.loads(first, source=source))
    except ValueError:
        return {}  # not a golden file; reading it as a source says what is wrong


def _compare(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]], *, verbose: bool
) -> None:
    report = diff(expected, actual, verbose=verbose)
    if report is not None:
        click.echo(report)
        raise SystemExit(1)
    click.echo(f"equal: {len(expected)} entries")


@click.command("export")
@click.argument("session")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="Archive file to write ('-' for standard output).",
)
@source_options
def export(session: str, output: Path, **options: Any) -> None:
    """Export a whole session as an NDJSON archive (a header line, then one event a line)."""
    with progress_bar("exporting") as progress:
        recording = read_source(session, progress=progress, problem=click.ClickException, **options)
    session_record = recording.session or {"id": session}
    if str(output) == "-":
        archive.write(sys.stdout.buffer, session_record, recording.events)
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as out:
        count = archive.write(out, session_record, recording.events)
    click.echo(f"exported {count} events of session {session_record.get('id')} to {output}")


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session-id", help="Import under this id instead of the archive's.")
@click.option("--url", metavar="URL", help="Import into this server instead of the local database.")
@click.option(
    "--api-key", envvar="REPLAYDECK_API_KEY", help="API key for --url (env REPLAYDECK_API_KEY)."
)
@click.option(
    "--database-url", metavar="URL", help="Database to import into (env REPLAYDECK_DATABASE_URL)."
)
def import_(
    file: Path,
    session_id: str | None,
    url: str | None,
    api_key: str | None,
    database_url: str | None,
) -> None:
    """Import an NDJSON archive into the database, or into the server given by --url."""
    from replaydeck.testing.transfer import import_local, import_remote

    recording = load_file_or_fail(file, click.ClickException)

    async def run(progress: Progress) -> Imported:
        if url is None:
            settings = _settings(database_url)
            return await import_local(settings, recording, session_id=session_id, progress=progress)
        async with api_client(api_key) as client:
            return await import_remote(
                client, url, recording, session_id=session_id, progress=progress
            )

    with progress_bar("importing") as progress:
        done = _run(run(progress), click.ClickException)
    if done.appended is None:
        click.echo(
            f"imported session {done.session_id}: {done.total} events sent; the session "
            "existed, and events it already had were skipped by their ids"
        )
    else:
        click.echo(
            f"imported session {done.session_id}: {done.appended} new of {done.total} events"
        )


def load_file_or_fail(path: Path, problem: type[click.ClickException] = SourceProblem) -> Recording:
    try:
        return load_file(path)
    except SourceError as e:
        raise problem(str(e)) from None
