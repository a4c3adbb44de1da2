"""Waiting on a condition with a deadline, never on a guessed sleep.

Polling, because the conditions are counters and states owned by another thread,
task or process (a server's stream count, a file, a port), with no event to wait on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio


def wait_until(
    condition: Callable[[], object], *, timeout: float = 5.0, interval: float = 0.005
) -> None:
    """Block until `condition()` is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition!r}")
        time.sleep(interval)  # ok: polls under the deadline above


async def eventually(
    condition: Callable[[], object], *, within: float = 30.0, interval: float = 0.005
) -> None:
    """Yield to the loop until `condition()` is true; TimeoutError after `within` s."""
    with anyio.fail_after(within):
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(interval)  # ok: polls under fail_after
