"""SSE framing is pure bytes, checked exactly; the send deadline runs on a fake clock."""

from __future__ import annotations

from collections.abc import Callable

from replaydeck.formats.sse import encode_comment, encode_event, encode_frame, encode_retry
from replaydeck.sse import SendDeadline


def test_event_frame() -> None:
    assert encode_event(7, "tool.call", b'{"seq":7}') == (
        b'id: 7\nevent: tool.call\ndata: {"seq":7}\n\n'
    )


def test_multiline_data_becomes_several_data_lines() -> None:
    assert encode_frame(b"a\nb", event="x") == b"event: x\ndata: a\ndata: b\n\n"
    assert encode_frame(b"", id=3) == b"id: 3\ndata: \n\n"


def test_retry_and_comments() -> None:
    assert encode_retry(3000) == b"retry: 3000\n\n"
    assert encode_comment("keep-alive") == b": keep-alive\n\n"
    assert encode_comment("a\nb") == b": a\n: b\n\n"


class FakeTimers:
    """A clock that moves only when told, with call_at timers."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeHandle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None], /) -> FakeHandle:
        handle = FakeHandle(when, callback)
        self.timers.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while due := [t for t in self.timers if t.when <= self.now and not t.cancelled]:
            for timer in due:
                self.timers.remove(timer)
                timer.callback()
        self.timers = [t for t in self.timers if not t.cancelled]


class FakeHandle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def make_deadline() -> tuple[FakeTimers, SendDeadline, list[float]]:
    timers = FakeTimers()
    expired: list[float] = []
    return timers, SendDeadline(timers, 10.0, lambda: expired.append(timers.now)), expired


def test_a_send_blocked_past_the_timeout_expires_the_stream() -> None:
    timers, deadline, expired = make_deadline()
    deadline.sending()
    timers.advance(9.9)
    assert expired == []
    timers.advance(0.1)
    assert expired == [10.0]


def test_quick_sends_share_one_timer_and_an_idle_stream_has_none() -> None:
    timers, deadline, expired = make_deadline()
    for _ in range(100):
        deadline.sending()
        deadline.sent()
        timers.advance(0.01)
    assert len(timers.timers) == 1  # armed by the first send, not one per send
    timers.advance(10.0)
    assert timers.timers == []
    assert expired == []


def test_the_timer_re_arms_for_a_send_that_started_later() -> None:
    timers, deadline, expired = make_deadline()
    deadline.sending()
    deadline.sent()
    timers.advance(6.0)
    deadline.sending()  # blocks from t=6: due at t=16, not at the first timer's t=10
    timers.advance(4.0)
    assert expired == []
    timers.advance(6.0)
    assert expired == [16.0]


def test_close_cancels_the_timer() -> None:
    timers, deadline, expired = make_deadline()
    deadline.sending()
    deadline.close()
    timers.advance(20.0)
    assert expired == []
