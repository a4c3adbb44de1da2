"""Waiting on a condition with a deadline, never on a guessed sleep."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def until(condition: Callable[[], bool], *, within: float = 30.0) -> None:
    """Poll `condition()` until true; TimeoutError after `within` seconds."""
    with anyio.fail_after(within):
        # Polling: the condition is another process's or thread's state, which
        # no anyio.Event of ours can signal.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)
