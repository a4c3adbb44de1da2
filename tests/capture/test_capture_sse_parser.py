from __future__ import annotations

from replaydeck.formats.sse import SSEFrame, SSEParser, frame_bytes, parse_all


def test_frames_fields_comments_and_multiline_data() -> None:
    body = (
        b"\xef\xbb\xbfretry: 3000\n\n"
        b": keep-alive\n\n"
        b'id: 7\nevent: tool.call\ndata: {"a":\ndata: 1}\n\n'
        b"data:no space\r\n\r\n"
        b"event: only-event\n\n"
    )
    assert parse_all(body) == [
        SSEFrame(data='{"a":\n1}', event="tool.call", id="7"),
        SSEFrame(data="no space", event=None, id="7"),
    ]


def test_every_split_point_gives_the_same_frames() -> None:
    body = b"event: a\r\ndata: x\r\n\r\ndata: y\rdata: z\r\rid: 3\ndata: w\n\n"
    whole = parse_all(body)
    assert [f.data for f in whole] == ["x", "y\nz", "w"]
    for cut in range(len(body) + 1):
        parser = SSEParser()
        assert parser.feed(body[:cut]) + parser.feed(body[cut:]) == whole, cut


def test_byte_by_byte_and_incomplete_frame_waits() -> None:
    parser = SSEParser()
    body = "data: héllo\n\n".encode()
    out = [frame for byte in body for frame in parser.feed(bytes([byte]))]
    assert out == [SSEFrame(data="héllo")]
    assert parser.feed(b"data: pending\n") == []


def test_encode_round_trips() -> None:
    frame = SSEFrame(data="line1\nline2", event="status", id="4")
    assert frame_bytes(frame) == b"id: 4\nevent: status\ndata: line1\ndata: line2\n\n"
    assert parse_all(frame_bytes(frame)) == [frame]
