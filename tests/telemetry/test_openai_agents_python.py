"""The Python Agents SDK's own exporter records a run into a real replaydeck server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from agents import Runner, trace
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor

from replaydeck.auth.keys import Scope
from replaydeck.config import Settings
from replaydeck.web.app import create_app
from tests.keys import create_keys
from tests.servers import serve
from tests.telemetry.agents_app import ANSWER, tracing_to, weather_agent

pytestmark = pytest.mark.anyio


async def _events(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    page = await client.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000})
    assert page.status_code == 200, page.text
    events: list[dict[str, Any]] = page.json()["events"]
    return events


async def test_an_agent_run_with_a_tool_call_becomes_one_complete_session(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/agents.db")
    app = create_app(settings)
    with serve(app) as running:
        ingest_key, reader = await create_keys(settings, Scope.INGEST, Scope.READ)
        exporter = KeepingExporter(
            api_key=ingest_key.secret, endpoint=f"{running.url}/v1/traces/ingest", max_retries=1
        )
        processor = BatchTraceProcessor(exporter, schedule_delay=60)
        with tracing_to(processor):
            with trace("Weather workflow") as current:
                result = await Runner.run(weather_agent(), "What is the weather in Paris?")
            processor.force_flush()
        assert result.final_output == ANSWER
        session_id = current.trace_id
        read = {"authorization": f"Bearer {reader.secret}"}
        async with httpx.AsyncClient(base_url=running.url, headers=read, timeout=10) as client:
            events = await _events(client, session_id)
            session = (await client.get(f"/v1/sessions/{session_id}")).json()
            types = [e["type"] for e in events]
            assert types[-1] == "final"
            assert session["status"] == "complete"
            assert session["metadata"]["workflow_name"] == "Weather workflow"
            (said,) = [e for e in events if e["type"] == "user.message"]
            assert said["data"]["text"] == "What is the weather in Paris?"
            (call,) = [e for e in events if e["type"] == "tool.call"]
            (done,) = [e for e in events if e["type"] == "tool.result"]
            assert call["data"]["name"] == "get_weather"
            assert call["data"]["args"] == {"city": "Paris"}
            assert done["data"]["call_id"] == call["data"]["call_id"]
            assert done["data"]["result"] == "sunny, 21 C in Paris"
            assert done["data"]["duration_ms"] >= 0
            assert done["offset_ms"] >= call["offset_ms"]
            deltas = [e for e in events if e["type"] == "message.delta"]
            assert "".join(d["data"]["text"] for d in deltas) == ANSWER
            assert types.index("tool.result") < types.index("message.delta")
            final = events[-1]["data"]
            assert final["usage"]["input_tokens"] == 42
            assert final["usage"]["output_tokens"] == 14
            # The events keep the SDK's times: offsets never run backwards.
            offsets = [e["offset_ms"] for e in events]
            assert offsets == sorted(offsets)

            # The trace has the tool span, and the replay plays the session.
            document = (await client.get(f"/v1/sessions/{session_id}/trace")).json()
            spans = [
                span
                for resource in document["resourceSpans"]
                for scope in resource["scopeSpans"]
                for span in scope["spans"]
            ]
            names = {span["name"] for span in spans}
            assert "execute_tool get_weather" in names
            assert "invoke_agent Weather workflow" in names
            replay = await client.get(f"/v1/sessions/{session_id}/replay", params={"speed": "max"})
            assert replay.status_code == 200
            assert replay.text.count("event: message.delta") == len(deltas)
            assert "event: final" in replay.text

        # The exporter's retry of the same batches adds nothing.
        last_seq = session["last_seq"]
        again = BackendSpanExporter(
            api_key=ingest_key.secret, endpoint=f"{running.url}/v1/traces/ingest", max_retries=1
        )
        for batch in exporter.sent:
            with anyio.fail_after(20):
                await anyio.to_thread.run_sync(again.export, batch)
        again.close()
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            # What the exporter posts for a batch, sent once more: nothing new is stored.
            for batch in exporter.sent:
                resent = await client.post(
                    "/v1/traces/ingest",
                    json={"data": [item.export() for item in batch]},
                    headers={"authorization": f"Bearer {ingest_key.secret}"},
                )
                assert resent.status_code == 200, resent.text
                assert all(s["appended"] == 0 for s in resent.json()["sessions"])
            session = (await client.get(f"/v1/sessions/{session_id}", headers=read)).json()
            assert session["last_seq"] == last_seq
        exporter.close()


class KeepingExporter(BackendSpanExporter):
    """The SDK's exporter, keeping each batch it sent so a test can send it again."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sent: list[list[Any]] = []

    def export(self, items: list[Any]) -> None:
        self.sent.append(list(items))
        super().export(items)
