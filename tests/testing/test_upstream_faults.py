"""faults.plan: what a fault makes of a recorded response (pure)."""

from replaydeck.testing.cassette import Chunk, RecordedResponse
from replaydeck.testing.faults import (
    MALFORMED_FRAME,
    disconnect,
    latency,
    malformed_frame,
    plan,
    rate_limit,
    status,
)

RECORDED = RecordedResponse(
    200,
    (("content-type", "text/event-stream"),),
    at_ms=5.0,
    chunks=(Chunk(10.0, b"data: 1\n\n"), Chunk(20.0, b"data: 2\n\n")),
)


def test_no_fault_plays_the_recording() -> None:
    assert plan(RECORDED, None).response == RECORDED


def test_a_disconnect_keeps_the_response_and_cuts_the_body() -> None:
    planned = plan(RECORDED, disconnect(after_chunks=1))
    assert (planned.response, planned.disconnect_after) == (RECORDED, 1)


def test_a_malformed_frame_goes_in_before_its_chunk_at_that_chunks_time() -> None:
    chunks = plan(RECORDED, malformed_frame(before_chunk=1)).response.chunks
    assert chunks == (RECORDED.chunks[0], Chunk(20.0, MALFORMED_FRAME), RECORDED.chunks[1])
    at_end = plan(RECORDED, malformed_frame(before_chunk=9, data=b"x")).response.chunks
    assert at_end[-1] == Chunk(5.0, b"x")


def test_latency_is_added_whatever_the_recording() -> None:
    planned = plan(RECORDED, latency(ms=250))
    assert (planned.response, planned.delay_ms) == (RECORDED, 250)


def test_a_429_says_when_to_retry_in_seconds_and_in_milliseconds() -> None:
    answer = plan(RECORDED, rate_limit(retry_after=1.5)).response
    headers = dict(answer.headers)
    assert answer.status == 429
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")
    assert b"rate_limit_exceeded" in answer.body


def test_any_status_with_its_own_headers_and_body() -> None:
    answer = plan(RECORDED, status(503, headers={"x-why": "maintenance"}, body={"e": 1})).response
    assert (answer.status, dict(answer.headers)["x-why"], answer.body) == (
        503,
        "maintenance",
        b'{"e": 1}',
    )
