"""An agent on the OpenAI SDK, tested against its recorded upstream with a golden file.

The recording, upstreams/test_agent_upstream/weather.json, is the LLM service's own
bytes for the turn's two streaming calls. It was made by running these tests once
with `pytest tests/examples --upstream-record-mode=once`; then `llm_url` starts the
stand-in service of tests/examples/llm.py (a real project points at the real API).
In the default mode, `none`, the recording answers and nothing reaches a network:
the base URL below does not even resolve.
"""

from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from replaydeck.testing.plugin import Golden
from replaydeck.testing.upstream_fixture import Upstream
from tests.examples.agent import run_turn
from tests.examples.llm import llm_app
from tests.servers import serve

QUESTION = "What's the weather in Paris?"

pytestmark = pytest.mark.recorded_upstream("weather")


@pytest.fixture
def llm_url(recorded_upstream: Upstream) -> Iterator[str]:
    if not recorded_upstream.recording:
        yield "http://llm.invalid"
        return
    with serve(llm_app()) as llm:  # type: ignore[arg-type]
        recorded_upstream.upstream = llm.url
        yield llm.url


def test_agent_through_the_httpx_transport(
    recorded_upstream: Upstream, llm_url: str, golden: Golden
) -> None:
    client = OpenAI(
        base_url=f"{llm_url}/v1",
        api_key="sk-test",
        http_client=httpx.Client(transport=recorded_upstream.transport),
    )
    golden.assert_match(run_turn(client, QUESTION), "weather_agent")
    assert not recorded_upstream.transport.playlist.unplayed()


def test_agent_through_a_real_port(
    recorded_upstream: Upstream, llm_url: str, golden: Golden
) -> None:
    # What a client in another language would do: point its base URL at the server.
    client = OpenAI(base_url=f"{recorded_upstream.url}/v1", api_key="sk-test", max_retries=0)
    golden.assert_match(run_turn(client, QUESTION), "weather_agent")
    assert not recorded_upstream.transport.playlist.unplayed()
