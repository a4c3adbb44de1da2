"""One session, many model calls: the capture's view of a session across requests.

An agent run makes several model calls, each one HTTP request, and gives them all the
same `X-Replaydeck-Session` id (or the same `session_id` path parameter): they are one
session. So is a conversation that sends each user message as a request of its own (an
AI SDK chat, AG-UI runs on one thread). Each call ends a *turn* (`turn.end`):

- a model-call protocol's (OpenAI Responses, Chat Completions), with that call's usage;
- under an id the client chose, any other stream's too (AI SDK, AG-UI, plain SSE): its
  protocol's end (`finish`, `RUN_FINISHED`, a plain `final` frame) is recorded as
  `turn.end` with what it carried (usage, raw); middleware.py's StreamTee does so;
- a call cut short, or over without such an end (after an AG-UI `RUN_ERROR`, itself
  recorded as `error`; a plain stream's end), gets a `turn.end` marked
  `"synthetic": true` with the reason.

The session's `final` comes when the run ends:

- a request without a session id of its own is a run of one call: `final` follows its
  turn at once; a stream that is not a model call (AI SDK, AG-UI, plain SSE) is then
  the whole session, its protocol's end its `final`;
- a run whose id the client chose ends when no call of it has been in flight for
  `idle` seconds, or when the capture shuts down (`reason` "idle", "shutdown");
- a producer that knows its run is over appends `final` to the store itself (the
  recorder SDK's `session()` block does so on exit); the capture's own `final` that
  comes later is then refused by the store, which is expected and not counted.

The capture's `final` is `{"reason": …, "turns": n, "usage": …}`, `usage` being the sum
of the turns' usages; it is also marked `"synthetic": true` when the run's last call was
cut short (or it had none), as a stream that ended without its protocol's end is, so a
replay in a protocol leaves that end out as the client saw it. All calls of a run share one
RecordingSession, so their events reach the store in the order they were recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from replaydeck.capture.sdk import Recorder, RecordingSession
from replaydeck.formats.base import add_usage

# Seconds a run whose id the client chose stays open with no call in flight: an agent
# runs its tools between two model calls, which may take a while.
DEFAULT_SESSION_IDLE = 60.0


@dataclass(eq=False)
class Run:
    """One session as the capture records it: the calls made under its id so far."""

    session: RecordingSession
    shared: bool  # the client chose the id: more calls may follow
    turns: int = 0
    usage: dict[str, Any] | None = None
    completed: bool = False  # the last call ended with its protocol's own end
    calls: int = 0  # requests of this run in flight
    ended: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def turn_ended(self, data: Mapping[str, Any]) -> None:
        self.turns += 1
        self.completed = not data.get("synthetic")
        usage = data.get("usage")
        if isinstance(usage, Mapping) and self.completed:
            self.usage = add_usage(self.usage, usage)

    def final_data(self, reason: str) -> dict[str, Any]:
        data: dict[str, Any] = {"reason": reason}
        if not self.completed:
            data = {"synthetic": True, **data}
        if self.turns:
            data["turns"] = self.turns
        if self.usage is not None:
            data["usage"] = self.usage
        return data


class Runs:
    """The open runs of one middleware or proxy, by session id."""

    def __init__(self, recorder: Recorder, *, idle: float = DEFAULT_SESSION_IDLE) -> None:
        if idle <= 0:
            raise ValueError(f"session_idle must be a positive number of seconds, not {idle!r}")
        self.recorder = recorder
        self.idle = idle
        self._open: dict[str, Run] = {}
        self._ending: set[asyncio.Task[None]] = set()

    def begin(self, session_id: str, *, shared: bool) -> Run:
        """A call of the run starts: the open run under this id, or a new one."""
        run = self._open.get(session_id) if shared else None
        if run is None:
            # A decoder's event that fails the store's rules is dropped and counted,
            # never the end of the recording (nor of the app's stream).
            run = Run(self.recorder.open(session_id, on_invalid="drop"), shared)
            # Should the recorder close first (the app shuts down), the run still ends.
            run.session.final_on_close = lambda: run.final_data("shutdown")
            if shared:
                self._open[session_id] = run
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        run.calls += 1
        return run

    async def end_call(self, run: Run, *, reason: str | None) -> None:
        """A call is over; `reason` when the session ends with it (None: a turn of a
        run that may go on), else the run ends once it has been idle."""
        run.calls -= 1
        if reason is not None or not run.shared:
            await self.end(run, reason or "complete")
        elif run.calls == 0 and not run.ended:
            run.timer = asyncio.get_running_loop().call_later(self.idle, self._idle, run)

    def _idle(self, run: Run) -> None:
        task = asyncio.get_running_loop().create_task(self.end(run, "idle"))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def end(self, run: Run, reason: str) -> None:
        """Write the run's `final` (unless a stream already did) and close its session."""
        if self._open.get(run.session.id) is run:
            del self._open[run.session.id]
        if run.timer is not None:
            run.timer.cancel()
            run.timer = None
        if not run.ended:
            run.ended = True
            run.session.end_with_final(data=run.final_data(reason))
        await run.session.aclose()
