"""Worked example: a recorded session drives the code under test; a golden file pins its output.

Record once (`replaydeck export SESSION -o tests/examples/sessions/weather-lyon.ndjson`),
then `replay()` feeds the recording to the consumer and `golden.assert_match`
compares what it builds with `golden/weather_transcript.jsonl`. After an
intended change, `pytest tests/examples --golden-update` rewrites the golden
file, and the pull request shows the change line by line.
"""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from replaydeck.testing import replay, serve_fake_stream
from replaydeck.testing.plugin import Golden
from tests.examples.transcript import build_transcript

RECORDING = Path(__file__).parent / "sessions" / "weather-lyon.ndjson"

pytestmark = pytest.mark.anyio


async def test_transcript_matches_the_golden_file(golden: Golden) -> None:
    transcript = await build_transcript(replay(RECORDING))
    golden.assert_match(transcript, "weather_transcript")


async def sse_events(url: str) -> AsyncIterator[dict[str, Any]]:
    """How the consumer reads its upstream in production: SSE over HTTP."""
    async with httpx.AsyncClient(timeout=10) as client, aconnect_sse(client, "GET", url) as source:
        async for sse in source.aiter_sse():
            if sse.data:
                yield json.loads(sse.data)


async def test_the_same_recording_as_a_fake_sse_upstream(golden: Golden) -> None:
    # VCR for SSE: the consumer talks HTTP to a real port, the recording answers.
    with serve_fake_stream(RECORDING, speed="max") as url:
        transcript = await build_transcript(sse_events(f"{url}/v1/agent/stream"))
    golden.assert_match(transcript, "weather_transcript")


async def test_the_recorded_stream_itself_has_a_golden_form(golden: Golden) -> None:
    # Chunk boundaries, ids and timestamps are gone; tool arguments and results stay.
    golden.assert_match([event async for event in replay(RECORDING)], "weather_session")
