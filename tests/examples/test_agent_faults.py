"""The weather agent's recorded upstream, spoiled on purpose: what the agent must survive.

Each test injects one fault into the recording of test_agent_upstream.py and shows
what the official openai SDK makes of it, through the httpx transport and through
the real port.
"""

import httpx
import openai
import pytest
from openai import OpenAI

from replaydeck.testing.faults import disconnect, latency, malformed_frame, rate_limit
from replaydeck.testing.plugin import Golden
from replaydeck.testing.upstream_fixture import Upstream
from tests.examples.agent import run_turn

QUESTION = "What's the weather in Paris?"

pytestmark = pytest.mark.recorded_upstream("test_agent_upstream/weather")


def sdk(upstream: Upstream, **options: object) -> OpenAI:
    transport = httpx.Client(transport=upstream.transport)
    return OpenAI(
        base_url="http://llm.invalid/v1", api_key="sk-test", http_client=transport, **options
    )  # type: ignore[arg-type]


def test_a_429_is_retried_after_its_retry_after(
    recorded_upstream: Upstream, golden: Golden
) -> None:
    recorded_upstream.inject(rate_limit(retry_after=0.05))
    golden.assert_match(run_turn(sdk(recorded_upstream), QUESTION), "weather_agent")
    assert not recorded_upstream.transport.playlist.unplayed()


def test_a_429_without_retries_is_the_agents_error(recorded_upstream: Upstream) -> None:
    recorded_upstream.inject(rate_limit(retry_after=0.05))
    with pytest.raises(openai.RateLimitError) as caught:
        list(run_turn(sdk(recorded_upstream, max_retries=0), QUESTION))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.headers["retry-after-ms"] == "50"


def dropped(error: BaseException) -> bool:
    """The SDK's APIConnectionError over the HTTP client's own "peer closed" error."""
    cause = error.__cause__
    names = [kind.__name__ for kind in type(cause).__mro__]
    return "RemoteProtocolError" in names and "peer closed" in str(cause)


def test_a_disconnect_mid_stream(recorded_upstream: Upstream) -> None:
    recorded_upstream.inject(disconnect(after_chunks=2))
    events: list[dict[str, object]] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        events.extend(run_turn(sdk(recorded_upstream), QUESTION))
    assert dropped(caught.value)
    # Headers came, so the SDK cannot retry: the agent had started its turn.
    assert [e["type"] for e in events] == ["status"]


def test_a_disconnect_mid_stream_on_the_real_port(recorded_upstream: Upstream) -> None:
    recorded_upstream.inject(disconnect(after_chunks=2))
    client = OpenAI(base_url=f"{recorded_upstream.url}/v1", api_key="sk-test")
    with pytest.raises(openai.APIConnectionError) as caught:
        list(run_turn(client, QUESTION))
    assert dropped(caught.value)


def test_a_malformed_frame(recorded_upstream: Upstream) -> None:
    recorded_upstream.inject(malformed_frame(before_chunk=1))
    with pytest.raises(ValueError, match="Unterminated string"):
        list(run_turn(sdk(recorded_upstream), QUESTION))


def test_latency_past_the_clients_timeout(recorded_upstream: Upstream) -> None:
    recorded_upstream.inject(latency(ms=5000))
    with pytest.raises(openai.APITimeoutError):
        list(run_turn(sdk(recorded_upstream, timeout=0.2, max_retries=0), QUESTION))


def test_latency_on_the_real_port(recorded_upstream: Upstream, golden: Golden) -> None:
    recorded_upstream.inject(latency(ms=5000))
    client = OpenAI(base_url=f"{recorded_upstream.url}/v1", api_key="sk-test", timeout=0.2)
    # The SDK retries a timeout (twice by default); the retry gets the recording.
    golden.assert_match(run_turn(client, QUESTION), "weather_agent")
