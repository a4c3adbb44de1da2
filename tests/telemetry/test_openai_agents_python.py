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
from tests.telemetry.agents_app import tracing_to, weather_agent
from tests.telemetry.recorded_run import ANSWER, QUESTION, check_recorded_run

pytestmark = pytest.mark.anyio


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
                result = await Runner.run(weather_agent(), QUESTION)
            processor.force_flush()
        assert result.final_output == ANSWER
        session_id = current.trace_id
        read = {"authorization": f"Bearer {reader.secret}"}
        async with httpx.AsyncClient(base_url=running.url, headers=read, timeout=10) as client:
            await check_recorded_run(client, session_id)
            last_seq = (await client.get(f"/v1/sessions/{session_id}")).json()["last_seq"]

        # The exporter's retry of the same batches adds nothing.
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
