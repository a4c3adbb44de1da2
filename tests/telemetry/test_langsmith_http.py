"""/langsmith at its edges: keys, bad bodies, odd runs, huge and compressed payloads.

Every refusal is a 4xx problem+json with a sentence; nothing half-written is stored.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import zstandard
from fastapi import FastAPI

from replaydeck.auth.keys import Scope
from replaydeck.config import Settings
from replaydeck.ingest import langsmith as langsmith_service
from replaydeck.ingest.langsmith_body import Batch, read_batch
from replaydeck.web.app import create_app
from tests.servers import serve
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

ROOT = "0190a5c2-0000-7000-8000-00000000000a"
TOOL = "0190a5c2-0000-7000-8000-00000000000b"
BOUNDARY = "b0undary"


def run(run_id: str = ROOT, **fields: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "trace_id": ROOT,
        "name": "agent",
        "run_type": "chain",
        "start_time": "2026-11-23T10:00:00.000000+00:00",
        **fields,
    }


def tool(**fields: Any) -> dict[str, Any]:
    return run(
        TOOL,
        parent_run_id=ROOT,
        name="lookup",
        run_type="tool",
        start_time="2026-11-23T10:00:01+00:00",
        **fields,
    )


def multipart(parts: list[tuple[str, bytes, str]]) -> bytes:
    out = io.BytesIO()
    for name, body, kind in parts:
        out.write(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode())
        out.write(f"Content-Type: {kind}\r\n\r\n".encode() + body + b"\r\n")
    out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail


async def events(client: httpx.AsyncClient, session_id: str = ROOT) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/sessions/{session_id}/events")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


async def test_info_answers_the_sdk_handshake(client: httpx.AsyncClient) -> None:
    info = (await client.get("/langsmith/info")).json()
    assert info["batch_ingest_config"]["use_multipart_endpoint"] is True
    assert info["batch_ingest_config"]["size_limit_bytes"] == Settings().max_request_bytes // 2
    assert info["instance_flags"]["zstd_compression_enabled"] is True


async def test_a_run_in_pieces_across_requests_in_any_order(client: httpx.AsyncClient) -> None:
    # The tool's end first, then its start (with the arguments), then the root's pieces.
    ended = tool(end_time="2026-11-23T10:00:01.250+00:00", outputs={"output": "found"})
    assert (await client.patch(f"/langsmith/runs/{TOOL}", json=ended)).status_code == 202
    started = tool(inputs={"q": "sse"})
    assert (await client.post("/langsmith/runs", json=started)).status_code == 202
    root_start = run(inputs={"input": "look it up"})
    root_end = run(end_time="2026-11-23T10:00:02+00:00", outputs={"output": "done"})
    batch = {"post": [root_start], "patch": [root_end]}
    answer = await client.post("/langsmith/runs/batch", content=orjson.dumps(batch))
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"runs": 1, "stored": 2, "late": 0, "skipped": 0}
    got = await events(client)
    assert [(e["type"], e["ts"][11:23]) for e in got] == [
        ("tool.call", "10:00:01.000"),
        ("tool.result", "10:00:01.250"),
        ("user.message", "10:00:00.000"),
        ("final", "10:00:02.000"),
    ]
    # The call stored from the end lacks the arguments that came later with the start.
    assert got[0]["data"]["args"] == {}
    assert got[1]["data"]["duration_ms"] == 250.0
    # A piece after the end is late: answered, counted, not stored.
    late = run(
        "0190a5c2-0000-7000-8000-00000000000c",
        parent_run_id=ROOT,
        run_type="tool",
        end_time="2026-11-23T10:00:03+00:00",
    )
    answer = await client.post("/langsmith/runs", json=late)
    assert answer.status_code == 202
    assert answer.json()["late"] == 2
    assert len(await events(client)) == 4


async def test_errors_are_reported_once_however_deep(client: httpx.AsyncClient) -> None:
    trace = "Traceback (most recent call last):\n  File ...\nValueError: no station"
    llm = run(
        "0190a5c2-0000-7000-8000-0000000000d1",
        parent_run_id=ROOT,
        run_type="llm",
        end_time="2026-11-23T10:00:01+00:00",
        error=trace,
    )
    node = run(
        "0190a5c2-0000-7000-8000-0000000000d2",
        parent_run_id=ROOT,
        end_time="2026-11-23T10:00:01.5+00:00",
        error="Traceback:\n  outer frame\nValueError: no station",
    )
    root = run(end_time="2026-11-23T10:00:02+00:00", error="ValueError: no station")
    failing_tool = tool(end_time="2026-11-23T10:00:01.1+00:00", error="RuntimeError: down")
    body = {"post": [llm, node, root, failing_tool]}
    assert (await client.post("/langsmith/runs/batch", json=body)).status_code == 202
    got = await events(client)
    errors = [e for e in got if e["type"] == "error"]
    assert [e["data"]["message"] for e in errors] == ["ValueError: no station"]
    result = next(e for e in got if e["type"] == "tool.result")
    assert result["data"]["is_error"] is True
    assert result["data"]["result"] == "RuntimeError: down"
    assert got[-1]["type"] == "final"
    assert got[-1]["data"]["reason"] == "error"


async def test_odd_but_valid_runs_are_recorded(client: httpx.AsyncClient) -> None:
    body = {
        "post": [
            # No zone: UTC, as LangSmith reads it. Epoch milliseconds work too.
            run(start_time="2026-11-23T10:00:00", inputs={"messages": [["user", "hi"]]}),
            run(TOOL, parent_run_id=ROOT, run_type="banana", start_time=1795428000500),
        ],
        "patch": [],
        "upsert": "ignored",
    }
    assert (await client.post("/langsmith/runs/batch", json=body)).status_code == 202
    got = await events(client)
    assert [(e["type"], e["data"].get("text")) for e in got] == [("user.message", "hi")]
    assert got[0]["ts"] == "2026-11-23T10:00:00.000000Z"
    empty = await client.post("/langsmith/runs/batch", json={})
    assert empty.json() == {"runs": 0, "stored": 0, "late": 0, "skipped": 0}
    nothing = await client.post(
        "/langsmith/runs/multipart", content=multipart([]), headers=MULTIPART
    )
    assert nothing.status_code == 202, nothing.text


async def test_secrets_in_runs_are_redacted(client: httpx.AsyncClient) -> None:
    key = "sk-proj-" + "a1B2c3D4" * 6
    body = {
        "post": [
            tool(
                inputs={"api_key": "x", "q": key},
                end_time="2026-11-23T10:00:02Z",
                outputs={"output": f"used {key}"},
            )
        ]
    }
    assert (await client.post("/langsmith/runs/batch", json=body)).status_code == 202
    text = orjson.dumps(await events(client)).decode()
    assert key not in text
    assert "[REDACTED]" in text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"[]", 422, ["JSON list", '"post"']),
        (b"{", 422, ["not valid JSON"]),
        (b'{"post": {}}', 422, ["'post' is a JSON dict"]),
        (b'{"post": [5]}', 422, ["Run 0 of 'post' is a JSON int"]),
        (b'{"post": [{"trace_id": "x"}]}', 422, ["Run 0 of 'post'", "not a run id"]),
        (b'{"post": [{"id": "a\\u0000b"}]}', 422, ["not a run id"]),
        (b'{"post": [{"id": "r", "parent_run_id": "p"}]}', 422, ["no 'trace_id'"]),
        (b'{"patch": [{"id": "r", "inputs": []}]}', 422, ["'inputs' of type list"]),
        (b'{"post": [{"id": "r", "start_time": "yesterday"}]}', 422, ["start_time", "RFC 3339"]),
        (b'{"post": [{"id": "r", "start_time": "9999-12-31T23:00:00-14:00"}]}', 422, ["9999"]),
        (b'{"post": [{"id": "r", "end_time": -5}]}', 422, ["end_time"]),
        (b'{"post": [{"id": "r", "end_time": true}]}', 422, ["end_time"]),
    ],
)
async def test_bad_batches_are_refused_with_a_sentence(
    client: httpx.AsyncClient, body: bytes, status: int, words: list[str]
) -> None:
    problem(await client.post("/langsmith/runs/batch", content=body), status, *words)
    assert (await client.get("/v1/sessions")).json()["sessions"] == []


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ([(f"post.{ROOT}", b"not json", "application/json")], ["not valid JSON"]),
        ([(f"post.{ROOT}", b"{}", "text/plain")], ["'text/plain'", "application/json"]),
        ([(f"post.{ROOT}", b"[1]", "application/json")], ["a run is an object"]),
        ([("hello", b"{}", "application/json")], ["'hello'", "post.<run id>"]),
        ([(f"post.{ROOT}.color", b"{}", "application/json")], ["is not one the LangSmith"]),
        ([(f"post.{ROOT}.outputs", b"{}", "application/json")], ["has no part"]),
        ([(f"post.{ROOT}", b'{"id": "other"}', "application/json")], ["must agree"]),
    ],
)
async def test_bad_multipart_parts_are_refused(
    client: httpx.AsyncClient, parts: list[tuple[str, bytes, str]], words: list[str]
) -> None:
    response = await client.post(
        "/langsmith/runs/multipart", content=multipart(parts), headers=MULTIPART
    )
    problem(response, 422, *words)


async def test_multipart_skips_attachments_and_feedback(client: httpx.AsyncClient) -> None:
    parts = [
        (f"post.{ROOT}", orjson.dumps(run(end_time="2026-11-23T10:00:01Z")), "application/json"),
        (f"post.{ROOT}.inputs", b'{"input": "hi"}', "application/json"),
        (f"attachment.{ROOT}.image", b"\x89PNG\x00", "image/png"),
        (f"feedback.{TOOL}", b'{"score": 1}', "application/json"),
    ]
    response = await client.post(
        "/langsmith/runs/multipart", content=multipart(parts), headers=MULTIPART
    )
    assert response.json() == {"runs": 1, "stored": 2, "late": 0, "skipped": 2}


async def test_wrong_types_and_encodings(client: httpx.AsyncClient) -> None:
    batch = orjson.dumps({"post": [run()]})
    text = {"content-type": "text/plain"}
    problem(
        await client.post("/langsmith/runs/batch", content=batch, headers=text), 415, "text/plain"
    )
    no_boundary = {"content-type": "multipart/form-data"}
    problem(
        await client.post("/langsmith/runs/multipart", content=b"x", headers=no_boundary),
        400,
        "boundary",
    )
    problem(
        await client.post("/langsmith/runs/multipart", content=b"--x\r\nbroken", headers=MULTIPART),
        400,
        "multipart",
    )
    problem(await client.post("/langsmith/runs", content=b"", headers={}), 400, "empty")
    problem(await client.post("/langsmith/runs", content=multipart([]), headers=MULTIPART), 415)
    brotli = {"content-encoding": "br"}
    problem(await client.post("/langsmith/runs/batch", content=batch, headers=brotli), 415, "'br'")
    bad_zstd = {"content-encoding": "zstd"}
    problem(
        await client.post("/langsmith/runs/batch", content=b"nope", headers=bad_zstd), 400, "zstd"
    )
    # Run ids are UUIDs: /runs/batch is no run to patch.
    not_a_run = await client.patch("/langsmith/runs/batch", json=run())
    assert not_a_run.status_code == 405
    assert not_a_run.headers["allow"] == "POST"
    gzipped = {"content-encoding": "gzip", "content-type": "application/json"}
    response = await client.post(
        "/langsmith/runs/batch", content=gzip.compress(batch), headers=gzipped
    )
    assert response.status_code == 202, response.text


@pytest.fixture
def small(tmp_path: Path) -> FastAPI:
    return create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/small.db",
            max_request_bytes=64 * 1024,
            max_event_bytes=4096,
            max_batch_events=2,
        )
    )


async def test_huge_bodies_and_values(small: FastAPI) -> None:
    async with small.router.lifespan_context(small):
        transport = httpx.ASGITransport(app=small)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            huge = orjson.dumps({"post": [run(inputs={"input": "x" * 70_000})]})
            problem(await client.post("/langsmith/runs/batch", content=huge), 413, "larger than")
            # A small zstd body that expands past the limit is refused as it expands.
            bomb = zstandard.ZstdCompressor().compress(b"{" + b" " * 10_000_000 + b"}")
            assert len(bomb) < 2000
            zstd = {"content-encoding": "zstd"}
            problem(await client.post("/langsmith/runs/batch", content=bomb, headers=zstd), 413)
            many = {"post": [run(), run(TOOL), run(TOOL[:-1] + "c")]}
            problem(await client.post("/langsmith/runs/batch", json=many), 413, "more than 2 runs")
            parts = [(f"post.{r['id']}", orjson.dumps(r), "application/json") for r in many["post"]]
            response = await client.post(
                "/langsmith/runs/multipart", content=multipart(parts), headers=MULTIPART
            )
            problem(response, 413, "more than 2 runs")
            # A value over the event limit is kept as a preview, not refused.
            big = {
                "post": [tool(end_time="2026-11-23T10:00:02Z", outputs={"output": "y" * 30_000})]
            }
            assert (await client.post("/langsmith/runs/batch", json=big)).status_code == 202
            result = (await events(client))[-1]
            assert result["type"] == "tool.result"
            assert result["data"]["truncated"] is True
            assert len(result["data"]["result"]) == 1024


async def test_keys_come_as_x_api_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    ingest = (await app.state.keys.create(Scope.INGEST)).secret
    read = (await app.state.keys.create(Scope.READ)).secret
    problem(await client.get("/langsmith/info"), 401, "LANGSMITH_API_KEY", "x-api-key")
    problem(
        await client.get("/langsmith/info", headers={"x-api-key": "rdk_nope"}), 401, "x-api-key"
    )
    problem(await client.get("/langsmith/info", headers={"x-api-key": read}), 403, "ingest")
    assert (await client.get("/langsmith/info", headers={"x-api-key": ingest})).status_code == 200
    bearer = {"authorization": f"Bearer {ingest}"}
    answer = await client.post("/langsmith/runs/batch", json={"post": [run()]}, headers=bearer)
    assert answer.status_code == 202
    # x-api-key is LangSmith's header: /v1 keeps to Authorization.
    listed = await client.get("/v1/sessions", headers={"x-api-key": read})
    assert listed.status_code == 401


async def test_nul_bytes_in_values_are_kept_as_sent(client: httpx.AsyncClient) -> None:
    done = tool(
        end_time="2026-11-23T10:00:02Z", inputs={"a\x00": "b\x00"}, outputs={"output": "n\x00l"}
    )
    body = {"post": [{**done, "trace_id": TOOL, "parent_run_id": None}]}
    assert (await client.post("/langsmith/runs/batch", json=body)).status_code == 202
    got = await events(client, TOOL)
    assert got[0]["data"]["args"] == {"a\x00": "b\x00"}
    assert got[1]["data"]["result"] == "n\x00l"


async def test_a_thread_id_that_looks_like_a_secret_does_not_name_the_session(
    client: httpx.AsyncClient,
) -> None:
    secret = "sk-proj-" + "Zz9Yy8Xx" * 6
    body = {"post": [run(inputs={"input": "hi"}, extra={"metadata": {"thread_id": secret}})]}
    assert (await client.post("/langsmith/runs/batch", json=body)).status_code == 202
    (session,) = (await client.get("/v1/sessions")).json()["sessions"]
    assert session["id"].startswith("thread-")
    assert secret not in orjson.dumps(session).decode()
    assert session["metadata"]["thread_id"] == "[REDACTED]"


async def test_a_root_end_waits_for_pieces_that_arrived_before_it(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's thread pool may send a frame of child pieces and, right after, the
    # frame with the root's end; here the first is held in its reading until the
    # second has had every chance to finish first.
    reading, release = threading.Event(), threading.Event()

    def held(body: bytes, *, max_runs: int) -> Batch:
        if b"lookup" in body:
            reading.set()
            release.wait(timeout=10)
        return read_batch(body, max_runs=max_runs)

    monkeypatch.setattr(langsmith_service, "read_batch", held)
    children = {"post": [tool(end_time="2026-11-23T10:00:01.5Z", outputs={"output": "ok"})]}
    first = asyncio.create_task(client.post("/langsmith/runs/batch", json=children))
    await eventually(reading.is_set)
    end = {"patch": [run(end_time="2026-11-23T10:00:02Z")]}
    second = asyncio.create_task(client.post("/langsmith/runs/batch", json=end))
    done, _ = await asyncio.wait({second}, timeout=0.5)
    assert not done, "the root's end was stored before the pieces sent before it"
    release.set()
    assert (await first).json()["late"] == 0
    assert (await second).json()["late"] == 0
    assert [e["type"] for e in await events(client)] == ["tool.call", "tool.result", "final"]


def test_a_page_of_an_allowed_origin_may_trace_here(settings: Settings) -> None:
    origin = "http://localhost:3000"
    app = create_app(settings.model_copy(update={"allowed_origins": [origin]}))
    with serve(app) as running, httpx.Client(base_url=running.url) as http:
        for method, path in (
            ("POST", "/langsmith/runs/multipart"),
            ("PATCH", f"/langsmith/runs/{ROOT}"),
        ):
            preflight = http.options(
                path,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": "x-api-key, content-type",
                },
            )
            assert preflight.status_code == 200, preflight.text
            assert preflight.headers["access-control-allow-origin"] == origin
        page = {"Origin": origin, "Sec-Fetch-Site": "same-site", "x-api-key": "any"}
        sent = http.post("/langsmith/runs/batch", json={"post": [run()]}, headers=page)
        assert sent.status_code == 202
        assert sent.headers["access-control-allow-origin"] == origin
