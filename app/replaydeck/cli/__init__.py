"""The `replaydeck` command: one group; each command lives in a module of its own."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

import click

from replaydeck.cli.gc import gc
from replaydeck.cli.golden import export, golden, import_
from replaydeck.cli.keys import keys
from replaydeck.cli.proxy import proxy
from replaydeck.cli.server import db, demo, serve
from replaydeck.cli.share import share
from replaydeck.cli.trace import trace


def _version() -> str:
    try:
        return version("replaydeck")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", "-V", prog_name="replaydeck")
def main() -> None:
    """replaydeck: record, trace, tail and replay the event streams of LLM apps."""


for command in (serve, db, demo, gc, keys, share, trace, golden, export, import_, proxy):
    main.add_command(command)


def run() -> None:
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
