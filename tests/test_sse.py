"""SSE framing is pure bytes, checked exactly."""

from __future__ import annotations

from app.sse import encode_comment, encode_event, encode_frame, encode_retry


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
